//! The real `tolmach` binary, the way a user runs it: piped input, a live metrics endpoint,
//! SIGTERM, a bad configuration.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_tolmach");
const PATIENCE: Duration = Duration::from_secs(60);

fn tolmach() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("TOLMACH_METRICS_ADDR", "127.0.0.1:0")
        .env(
            "TOLMACH_DATA_DIR",
            std::env::temp_dir().join("tolmach-cli-test"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn finish(child: Child) -> std::process::Output {
    tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("tolmach exits in time")
        .expect("output")
}

#[tokio::test]
async fn piped_input_gets_every_line_answered_then_a_clean_exit() {
    let mut child = tolmach().spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut input = Vec::new();
    input.extend_from_slice(b"translate good morning to Spanish, French and German\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(format!("translate {} to German\n", "y".repeat(100_000)).as_bytes());
    input.extend_from_slice(b"translate hi to Klingon\n");
    input.extend_from_slice(b"/tr ja thank you\xff\xfe\n");
    input.extend_from_slice(b"/tr es,fr thanks\n");
    for i in 0..30 {
        input.extend_from_slice(format!("/tr de hello {i}\n").as_bytes());
    }
    stdin.write_all(&input).await.expect("write");
    drop(stdin); // end of input
    let out = finish(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let expected = [
        "🇪🇸 Spanish: Buenos días\n🇫🇷 French: Bonjour\n🇩🇪 German: Guten Morgen",
        "That message is empty",
        "characters long; I translate up to 4000 characters",
        "I don't know the language \"Klingon\"",
        "Translation failed: not in the offline demo phrasebook",
        "🇪🇸 Spanish: Gracias\n🇫🇷 French: Merci",
    ];
    let mut rest = &stdout[..];
    for e in expected {
        let at = rest
            .find(e)
            .unwrap_or_else(|| panic!("missing {e:?} (in order) in:\n{stdout}"));
        rest = &rest[at + e.len()..];
    }
    assert_eq!(
        stdout
            .matches("Translation failed: not in the offline demo phrasebook")
            .count(),
        31
    );
    assert!(!stdout.contains("INFO"), "logs stay on stderr");
    assert!(stderr.contains("all input handled"), "{stderr}");
}

/// Runs the binary on `dir` with `input` piped in; its standard output.
async fn run_on(dir: &std::path::Path, input: &str) -> String {
    let mut child = tolmach()
        .env("TOLMACH_DATA_DIR", dir)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    let out = finish(child).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn history_carries_over_from_one_run_to_the_next() {
    let dir = std::env::temp_dir().join(format!("tolmach-cli-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    run_on(&dir, "/tr es hello\n").await;
    // The second run's first message must not pass for the first run's (both are line 1).
    let stdout = run_on(&dir, "/tr fr thank you\n/history\n").await;
    let _ = std::fs::remove_dir_all(&dir);
    let history = stdout
        .split("Your recent translations:")
        .nth(1)
        .unwrap_or_else(|| panic!("no history in:\n{stdout}"));
    assert!(history.contains("French: “thank you”"), "{history}");
    assert!(history.contains("Spanish: “hello”"), "{history}");
}

#[tokio::test]
async fn serves_metrics_while_running_and_stops_on_sigterm() {
    let mut child = tolmach()
        .env("TOLMACH_LOG_FORMAT", "json")
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();

    // The startup log line says where metrics are served.
    let metrics_url = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            if v["message"] == "tolmach started" {
                return v["metrics"].as_str().expect("metrics field").to_string();
            }
        }
        panic!("no startup line")
    })
    .await
    .expect("started in time");

    stdin
        .write_all(b"/tr fr good night\n")
        .await
        .expect("write");
    let reply = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .expect("reply in time")
        .expect("read");
    assert_eq!(reply.as_deref(), Some("🇫🇷 French: Bonne nuit"));

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let body = client
        .get(&metrics_url)
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("tolmach_messages_received_total{platform=\"console\"} 1"),
        "{body}"
    );

    let pid = child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("stops in time")
        .expect("status");
    assert!(status.success(), "graceful exit after SIGTERM: {status:?}");
    drop(stdin);
}

#[tokio::test]
async fn a_bad_configuration_is_refused_with_every_problem_and_no_secret() {
    let out = finish(
        tolmach()
            .env("TOLMACH_RATE_LIMIT_BURST", "0")
            .env("TOLMACH_PROVIDERS_X_KIND", "openai")
            .env("TOLMACH_PROVIDERS_X_BASE_URL", "ftp://nope")
            .env("TOLMACH_PROVIDERS_X_MODEL", "m")
            .env("TOLMACH_PROVIDERS_X_API_KEY_ENV", "X_KEY")
            .env("X_KEY", "sk-super-secret")
            .spawn()
            .expect("spawn"),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rate_limit.burst"), "{stderr}");
    assert!(stderr.contains("providers.x.base_url"), "{stderr}");
    assert!(!stderr.contains("sk-super-secret"), "{stderr}");
}

#[tokio::test]
async fn check_config_prints_the_effective_configuration_without_secrets() {
    let out = finish(
        tolmach()
            .arg("--check-config")
            .env("TOLMACH_PROVIDERS_GROQ_KIND", "openai")
            .env(
                "TOLMACH_PROVIDERS_GROQ_BASE_URL",
                "https://api.groq.com/openai/v1",
            )
            .env("TOLMACH_PROVIDERS_GROQ_MODEL", "llama")
            .env("TOLMACH_PROVIDERS_GROQ_API_KEY_ENV", "GROQ_API_KEY")
            .env("GROQ_API_KEY", "gsk-super-secret")
            .spawn()
            .expect("spawn"),
    )
    .await;
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("api.groq.com"), "{stdout}");
    assert!(stdout.contains("<redacted>"), "{stdout}");
    assert!(!stdout.contains("gsk-super-secret"), "{stdout}");
}

#[tokio::test]
async fn the_telegram_token_never_reaches_the_logs() {
    let token = "7000000001:SECRET-token-value-in-env";
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed); // nothing listens: every call fails and is logged
    let data = std::env::temp_dir().join(format!("tolmach-cli-token-{}", std::process::id()));
    let mut child = tolmach()
        .env("TELEGRAM_BOT_TOKEN", token)
        .env("TELEGRAM_API_URL", &api_url)
        .env("TOLMACH_RUNTIME_DATA_DIR", &data)
        .env("TOLMACH_LOG", "debug")
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            let failed = line.contains("cannot reach the Bot API");
            seen.push(line);
            if failed {
                return;
            }
        }
    })
    .await
    .expect("the failure is logged");
    let pid = child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    while let Ok(Some(line)) = stderr.next_line().await {
        seen.push(line);
    }
    let status = child.wait().await.expect("status");
    assert!(status.success(), "{status:?}");
    let log = seen.join("\n");
    assert!(!log.contains("SECRET-token"), "{log}");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_binary_serves_discord_and_never_logs_the_token() {
    let token = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.CLI.SECRET-discord-token";
    let fake = tolmach_testkit::FakeDiscord::start(token)
        .await
        .expect("fake discord");
    let (guild, channel) = (1_100_000_000_000_000_000, 1_100_000_000_000_000_001);
    fake.add_guild(guild, "Guild");
    fake.add_text_channel(guild, channel, "general");
    // The first reply is refused, and logged; the second goes through.
    fake.fail_next(
        "POST",
        "/api/v10/channels/",
        tolmach_testkit::RestFault::MissingPermissions,
        1,
    );
    let data = std::env::temp_dir().join(format!("tolmach-cli-discord-{}", std::process::id()));
    let mut child = tolmach()
        .env("DISCORD_BOT_TOKEN", token)
        .env("DISCORD_API_URL", fake.rest_url())
        .env("TOLMACH_RUNTIME_DATA_DIR", &data)
        .env("TOLMACH_LOG", "debug")
        .spawn()
        .expect("spawn");
    let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = tokio::spawn(async move {
        let mut stderr = stderr;
        let mut seen = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            seen.push(line);
        }
        seen.join("\n")
    });
    assert!(fake.wait_for_identifies(1, PATIENCE).await);
    let alice = tolmach_testkit::DcUser::new(1_300_000_000_000_000_001, "alice");
    fake.user_message(channel, &alice, "!tr es good morning");
    assert!(
        fake.wait_for_rest_calls("POST", "/api/v10/channels/", 1, PATIENCE)
            .await
    );
    let asked = fake.user_message(channel, &alice, "!tr fr thank you");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    let created = fake.created_messages();
    assert_eq!(created[0].message_reference, Some(asked));
    assert!(
        created[0].content.starts_with("🇫🇷 French: Merci"),
        "{created:?}"
    );
    // Interaction tokens are credentials too (they sit in the webhook URLs).
    let slash = fake.slash_command(
        channel,
        &alice,
        "translate",
        &[("text", "welcome"), ("to", "de")],
        "en-US",
    );
    assert!(fake.wait_for_edits(1, PATIENCE).await);
    let pid = child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    let status = child.wait().await.expect("status");
    let log = log.await.expect("log");
    assert!(!log.contains(&slash.token), "{log}");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("Missing Permissions"),
        "the refusal is logged: {log}"
    );
    assert!(!log.contains("SECRET-discord-token"), "{log}");
    assert!(
        !log.contains("good morning"),
        "user text is not logged: {log}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// The JSON log lines of a run, parsed.
fn json_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The correlation id a JSON log line carries: its own field, or its span's.
fn corr(line: &serde_json::Value) -> Option<&str> {
    line["corr"]
        .as_str()
        .or_else(|| line["span"]["corr"].as_str())
}

#[tokio::test]
async fn a_correlation_id_follows_each_message_through_every_actor() {
    let mut child = tolmach()
        .env("TOLMACH_LOG", "info,tolmach=debug")
        .env("TOLMACH_LOG_FORMAT", "json")
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"/tr es,fr thank you\n/tr de good night\n")
        .await
        .expect("write");
    drop(stdin);
    let out = finish(child).await;
    assert!(out.status.success());
    let lines = json_lines(&out.stderr);
    let accepted: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "accepted")
        .filter_map(corr)
        .collect();
    assert_eq!(accepted.len(), 2, "{lines:#?}");
    assert_ne!(accepted[0], accepted[1], "one id per message");
    for (id, provider_calls) in [(accepted[0], 2), (accepted[1], 1)] {
        let with_id: Vec<&serde_json::Value> =
            lines.iter().filter(|l| corr(l) == Some(id)).collect();
        let seen = |target: &str, message: &str| {
            with_id
                .iter()
                .filter(|l| l["target"] == target && l["message"] == message)
                .count()
        };
        assert_eq!(seen("tolmach::actors::session", "accepted"), 1);
        assert_eq!(seen("tolmach::actors::conversation", "handling message"), 1);
        assert_eq!(seen("tolmach::actors::coordinator", "planned"), 1);
        assert_eq!(
            seen("tolmach::resilience::pipeline", "provider call"),
            provider_calls,
            "{with_id:#?}"
        );
    }
    // User text stays out of the logs unless asked for.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("thank you") && !log.contains("good night"),
        "{log}"
    );
}

#[tokio::test]
async fn secrets_never_reach_the_logs_metrics_admin_api_or_sentry() {
    const TG_TOKEN: &str = "7000000002:SECRET-token-in-config-file-abcdef";
    const PROVIDER_KEY: &str = "sk-SECRET-provider-key-0123456789";
    const ADMIN_TOKEN: &str = "SECRET-admin-token-0123456789";
    const DSN_KEY: &str = "fedcba9876543210fedcba9876543210";
    let telegram = tolmach_testkit::FakeTelegram::start(TG_TOKEN)
        .await
        .expect("fake telegram");
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    provider.set_behavior(tolmach_testkit::Behavior::Status(500));
    let sentry = tolmach_testkit::FakeSentry::start()
        .await
        .expect("fake sentry");
    let dir = std::env::temp_dir().join(format!("tolmach-cli-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("tolmach.toml");
    std::fs::write(
        &config,
        format!(
            "[platforms.telegram]\ntoken = \"{TG_TOKEN}\"\napi_url = \"{}\"\n\n\
             [providers.leaky]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\n\
             api_key_env = \"LEAKY_KEY\"\npriority = 1\n\n\
             [providers.leaky.retry]\nmax_attempts = 1\n\n\
             [providers.leaky.breaker]\nminimum_calls = 2\nwindow_size = 2\n",
            telegram.api_url(),
            provider.base_url()
        ),
    )
    .expect("config file");
    let mut child = tolmach()
        .arg("--config")
        .arg(&config)
        .env("LEAKY_KEY", PROVIDER_KEY)
        .env("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TOLMACH_ADMIN_ADDR", "127.0.0.1:0")
        .env("TOLMACH_SENTRY_DSN", sentry.dsn(DSN_KEY))
        .env("TOLMACH_RUNTIME_DATA_DIR", dir.join("data"))
        .env("TOLMACH_LOG", "debug")
        .env("TOLMACH_LOG_FORMAT", "json")
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let (metrics_url, admin_url) = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            seen.push(line);
            if v["message"] == "tolmach started" {
                return (
                    v["metrics"].as_str().expect("metrics").to_string(),
                    v["admin"].as_str().expect("admin").to_string(),
                );
            }
        }
        panic!("no startup line")
    })
    .await
    .expect("started");
    let (chat, user) = (
        tolmach_testkit::TgChat::private(5, "Eve"),
        tolmach_testkit::TgUser::new(5, "Eve"),
    );
    for i in 0..4 {
        telegram.send_text(&chat, &user, &format!("/tr es secretive words {i}"));
    }
    assert!(telegram.wait_for_sent(4, PATIENCE).await, "four answers");
    // The failing provider's circuit opened: a Sentry event.
    assert!(
        sentry
            .wait_for_event(PATIENCE, |e| e.to_string().contains("circuit opened"))
            .await
            .is_some()
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let metrics = client
        .get(&metrics_url)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let tree = client
        .get(format!("{admin_url}/tree"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("tree")
        .text()
        .await
        .expect("body");
    assert!(tree.contains("\"providers\""), "{tree}");
    // The container HEALTHCHECK: `tolmach healthcheck` says the process is alive ...
    let healthz = metrics_url.replace("/metrics", "/healthz");
    let check = || async {
        Command::new(BIN)
            .args(["healthcheck", "--url", &healthz])
            .env_clear()
            .output()
            .await
            .expect("healthcheck runs")
    };
    assert!(check().await.status.success());
    let pid = child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    while let Ok(Some(line)) = stderr.next_line().await {
        seen.push(line);
    }
    assert!(child.wait().await.expect("status").success());
    // ... and that it is gone once it stopped.
    let gone = check().await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("healthcheck"));
    let logs = seen.join("\n");
    let envelopes: Vec<String> = sentry
        .envelopes()
        .into_iter()
        .map(|e| {
            e.raw
                .split_once('\n')
                .map_or(String::new(), |(_, items)| items.to_string())
        })
        .collect();
    assert!(!envelopes.is_empty());
    let places = [
        ("logs", logs.as_str()),
        ("metrics", metrics.as_str()),
        ("admin tree", tree.as_str()),
    ];
    for secret in [
        TG_TOKEN,
        "SECRET-token-in-config",
        PROVIDER_KEY,
        ADMIN_TOKEN,
        DSN_KEY,
    ] {
        for (what, text) in places {
            assert!(!text.contains(secret), "{secret} in the {what}:\n{text}");
        }
        for e in &envelopes {
            assert!(!e.contains(secret), "{secret} in a Sentry event:\n{e}");
        }
    }
    // Nor the users' text.
    assert!(!logs.contains("secretive words"), "{logs}");
    for e in &envelopes {
        assert!(!e.contains("secretive words"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// When the root supervisor exceeds its restart intensity the tree is gone; the process must
/// not linger as a zombie that looks alive: it exits, with a failure status, saying why.
#[tokio::test]
async fn a_root_that_gives_up_ends_the_process_with_a_failure_status() {
    const ADMIN_TOKEN: &str = "admin-token-for-the-give-up-test";
    let dir = std::env::temp_dir().join(format!("tolmach-cli-give-up-{}", std::process::id()));
    let mut child = tolmach()
        .env("TOLMACH_SUPERVISION_MAX_RESTARTS", "0")
        .env("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TOLMACH_ADMIN_ADDR", "127.0.0.1:0")
        .env("TOLMACH_RUNTIME_DATA_DIR", dir.join("data"))
        .env("TOLMACH_LOG_FORMAT", "json")
        .spawn()
        .expect("spawn");
    // The console platform stays up while its input is open: hold stdin.
    let _stdin = child.stdin.take().expect("stdin");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let admin_url = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "tolmach started" {
                return v["admin"].as_str().expect("admin").to_string();
            }
        }
        panic!("no startup line")
    })
    .await
    .expect("started");
    let killed = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(format!("{admin_url}/kill"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "path": "root/coordinator" }))
        .send()
        .await
        .expect("kill");
    assert_eq!(killed.status(), 200, "the admin API killed the coordinator");
    // No restarts allowed: the root gives up, and the process follows, without a signal.
    let mut rest = Vec::new();
    let status = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stderr.next_line().await.expect("stderr") {
            rest.push(line);
        }
        child.wait().await.expect("wait")
    })
    .await
    .expect("the process exits by itself once its root gave up");
    assert!(
        !status.success(),
        "a failure status, got {status}: {rest:#?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains("the root supervisor gave up")),
        "says why: {rest:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
