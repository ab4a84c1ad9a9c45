//! What operators see and touch: the Prometheus exposition (checked by promtool), the health
//! probes flipping with a platform's connection and with the providers' circuits, the admin
//! API (refusing bad tokens, killing actors, injecting faults, resetting breakers), the
//! admins' chat commands, and chaos mode.

mod common;

use std::time::Duration;

use serde_json::Value;
use tolmach::supervision::NodeStatus;
use tolmach::telemetry::metrics::{Metric, sample};
use tolmach_testkit::{Behavior, FakeProvider, FakeTelegram, Fault, TgChat, TgUser};

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn get(url: String) -> (u16, String) {
    let r = http().get(url).send().await.expect("answer");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn metrics_text(app: &tolmach::App) -> String {
    let addr = app.metrics_addr().expect("metrics on");
    get(format!("http://{addr}/metrics")).await.1
}

/// Polls a probe until its status is `want` (the probes read state that changes on its own:
/// a poll failing, a circuit opening), or panics after the patience.
async fn probe_until(url: &str, want: u16) -> Value {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let (status, body) = get(url.to_string()).await;
        if status == want {
            return serde_json::from_str(&body).expect("JSON body");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `promtool check metrics` on `text` when promtool is installed (CI installs it, and
/// requires it); returns whether it ran.
fn promtool(text: &str) -> bool {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required in CI (apt-get install prometheus): {e}"
            );
            eprintln!("promtool not installed; checked the conventions only");
            return false;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{text}");
    // promtool exits 0 with lint findings too; there must be none.
    assert!(report.trim().is_empty(), "promtool lint: {report}");
    true
}

#[tokio::test]
async fn the_exposition_follows_prometheus_conventions_and_passes_promtool() {
    let (app, platform) = common::start(&[]).await;
    for text in [
        "/tr es,fr thank you",
        "/tr de good morning",
        "translate hi to Klingon",
    ] {
        platform.push("chat-1", "u1", text);
    }
    assert!(platform.wait_for_replies(3, common::PATIENCE).await);
    common::settle(&app).await;
    // Sampled gauges (actors, mailbox depth, process, uptime) are there after a sample.
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let text = loop {
        let text = metrics_text(&app).await;
        if text.contains("tolmach_actors_alive") && text.contains("tolmach_actor_mailbox_depth") {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for name in [
        "tolmach_messages_received_total",
        "tolmach_replies_total",
        "tolmach_request_duration_seconds_bucket",
        "tolmach_runtime_overhead_seconds_bucket",
        "tolmach_runtime_stage_seconds_bucket",
        "tolmach_provider_call_duration_seconds_bucket",
        "tolmach_provider_calls_total",
        "tolmach_breaker_state",
        "tolmach_actors_alive",
        "tolmach_actor_mailbox_depth",
        "tolmach_roma_fanout_width_bucket",
        "tolmach_roma_requests_total",
        "tolmach_platform_connected",
        "tolmach_build_info",
        "tolmach_uptime_seconds",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // Two requests reached the coordinator: two languages and one, three subtasks in all.
    assert_eq!(
        sample(&text, "tolmach_roma_fanout_width_count", &[]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tolmach_roma_fanout_width_sum", &[]),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "tolmach_roma_requests_total",
            &[("result", "complete")]
        ),
        Some(2.0)
    );
    // Conventions, whatever promtool says: counters end in _total, every family has help
    // and a type, and no label names a user or a chat.
    for m in Metric::ALL {
        let kind = m.kind();
        assert_eq!(
            m.name().ends_with("_total"),
            kind == tolmach::telemetry::metrics::Kind::Counter,
            "{}",
            m.name()
        );
        assert!(m.name().starts_with("tolmach_"));
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for banned in ["user=", "chat=", "user_id=", "chat_id=", "u1", "chat-1"] {
            assert!(!line.contains(banned), "unbounded label: {line}");
        }
    }
    promtool(&text);
    app.shutdown().await;
}

/// `tolmach_runtime_overhead_seconds` is the runtime's own time: a slow provider shows in the
/// request duration, not in it.
#[tokio::test]
async fn the_runtime_overhead_leaves_out_the_time_spent_waiting_on_providers() {
    let slow = FakeProvider::start().await.expect("fake");
    slow.set_behavior(Behavior::delayed(
        Duration::from_millis(1500),
        Behavior::Echo,
    ));
    let env = common::providers(&[("slow", &slow)]);
    let (app, platform) = common::start(&common::with(&env, &[])).await;
    platform.push("chat-1", "u1", "/tr es,fr good morning");
    assert!(platform.wait_for_replies(1, common::PATIENCE).await);
    common::settle(&app).await;
    let text = metrics_text(&app).await;
    let memory = [("platform", "memory")];
    let series = |name: &str| sample(&text, name, &memory);
    assert_eq!(series("tolmach_request_duration_seconds_count"), Some(1.0));
    let request = series("tolmach_request_duration_seconds_sum").expect("request duration");
    assert!(request >= 1.5, "the provider took 1.5 s: {text}");
    assert_eq!(series("tolmach_runtime_overhead_seconds_count"), Some(1.0));
    let overhead = series("tolmach_runtime_overhead_seconds_sum").expect("overhead");
    // Counting the provider's 1.5 s would put it above; the runtime's own work is a small
    // fraction of it.
    assert!(
        overhead < 0.75,
        "overhead {overhead} s of {request} s: {text}"
    );
    let mut stages = 0.0;
    for stage in ["intake", "queue", "handling", "dispatch"] {
        let labels = [("platform", "memory"), ("stage", stage)];
        assert_eq!(
            sample(&text, "tolmach_runtime_stage_seconds_count", &labels),
            Some(1.0),
            "{stage}: {text}"
        );
        stages += sample(&text, "tolmach_runtime_stage_seconds_sum", &labels).expect("sum");
    }
    assert!((stages - overhead).abs() < 1e-6, "{stages} vs {overhead}");
    app.shutdown().await;
}

#[tokio::test]
async fn readiness_follows_the_telegram_connection_and_liveness_stays() {
    let fake = FakeTelegram::start("123456:TEST-token-observability")
        .await
        .expect("fake telegram");
    let api_url = fake.api_url();
    let config = common::config(&[
        ("TELEGRAM_BOT_TOKEN", "123456:TEST-token-observability"),
        ("TELEGRAM_API_URL", &api_url),
        ("TOLMACH_PLATFORMS_TELEGRAM_POLL_TIMEOUT", "1s"),
    ]);
    let metrics = tolmach::telemetry::metrics::Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir).expect("store");
    let platforms =
        tolmach::app::platforms_from_config(&config, &metrics, &store).expect("platforms");
    let app = tolmach::App::start_with(config, metrics, store, platforms)
        .await
        .expect("starts");
    let addr = app.metrics_addr().expect("metrics on");
    let (readyz, healthz) = (
        format!("http://{addr}/readyz"),
        format!("http://{addr}/healthz"),
    );
    let ready = probe_until(&readyz, 200).await;
    assert_eq!(ready["checks"]["platform:telegram"]["ok"], true, "{ready}");
    assert_eq!(ready["checks"]["providers"]["ok"], true, "{ready}");

    // Telegram refuses the token for a while: not ready, and the JSON says why; still alive.
    fake.fail_next("getUpdates", Fault::api(401, "Unauthorized"), 2);
    let not_ready = probe_until(&readyz, 503).await;
    assert_eq!(not_ready["status"], "failing");
    let check = &not_ready["checks"]["platform:telegram"];
    assert_eq!(check["ok"], false, "{not_ready}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("getUpdates failed"),
        "{not_ready}"
    );
    let (status, body) = get(healthz.clone()).await;
    assert_eq!(status, 200, "{body}");

    // Telegram answers again: ready again, and a message is answered.
    probe_until(&readyz, 200).await;
    fake.send_text(
        &TgChat::private(7, "Ann"),
        &TgUser::new(7, "Ann"),
        "/tr es thank you",
    );
    assert!(fake.wait_for_sent(1, common::PATIENCE).await);
    app.shutdown().await;
}

#[tokio::test]
async fn readiness_fails_while_every_circuit_is_open_and_a_reset_restores_it() {
    let admin_addr = "127.0.0.1:0";
    let (app, platform) = common::start(&[
        ("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("TOLMACH_ADMIN_ADDR", admin_addr),
        ("TOLMACH_RESILIENCE_RETRY_MAX_ATTEMPTS", "1"),
        ("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "2"),
        ("TOLMACH_RESILIENCE_BREAKER_WINDOW_SIZE", "2"),
        ("TOLMACH_RESILIENCE_BREAKER_WAIT_IN_OPEN", "1h"),
    ])
    .await;
    let admin = app.admin_addr().expect("admin on");
    let readyz = format!("http://{}/readyz", app.metrics_addr().expect("metrics"));
    probe_until(&readyz, 200).await;

    // Every call to the only provider fails, for a minute.
    let r = http()
        .post(format!("http://{admin}/admin/providers/demo/faults"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "error_rate": 1.0, "for": "60s" }))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 200);
    for i in 0..3 {
        platform.push("c", "u", &format!("/tr es thank you {i}"));
    }
    assert!(platform.wait_for_replies(3, common::PATIENCE).await);
    let not_ready = probe_until(&readyz, 503).await;
    assert_eq!(not_ready["checks"]["providers"]["ok"], false, "{not_ready}");

    // /breakers in chat, for an admin, shows the open circuit and the faults.
    let r = http()
        .get(format!("http://{admin}/admin/breakers"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    let breakers: Value = r.json().await.expect("JSON");
    assert_eq!(breakers[0]["provider"], "demo");
    assert_eq!(breakers[0]["state"], "open");
    assert_eq!(breakers[0]["faults"]["error_rate"], 1.0);

    // The operator ends the faults and resets the breaker: ready again, and translations work.
    for (method, path) in [
        (reqwest::Method::DELETE, "faults"),
        (reqwest::Method::POST, "breaker/reset"),
    ] {
        let r = http()
            .request(
                method,
                format!("http://{admin}/admin/providers/demo/{path}"),
            )
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    probe_until(&readyz, 200).await;
    let key = platform.push("c", "u", "/tr es thank you");
    assert!(platform.wait_for_replies(4, common::PATIENCE).await);
    let reply = platform.replies_to(&key);
    assert!(
        reply[0].text.starts_with("🇪🇸 Spanish: Gracias"),
        "{reply:?}"
    );
    let text = metrics_text(&app).await;
    for action in ["inject_faults", "clear_faults", "reset_breaker"] {
        assert_eq!(
            sample(&text, "tolmach_admin_actions_total", &[("action", action)]),
            Some(1.0),
            "{action}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_refuses_a_missing_or_wrong_token() {
    let (app, _platform) = common::start(&[
        ("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("TOLMACH_ADMIN_ADDR", "127.0.0.1:0"),
    ])
    .await;
    let admin = app.admin_addr().expect("admin on");
    let url = format!("http://{admin}/admin/tree");
    let kill = format!("http://{admin}/admin/kill");
    let c = http();
    let refused = [
        c.get(&url).send().await,
        c.get(&url)
            .bearer_auth("wrong-token-0123456789abc")
            .send()
            .await,
        c.get(&url).bearer_auth(&ADMIN_TOKEN[1..]).send().await,
        c.get(&url)
            .header("Authorization", format!("Basic {ADMIN_TOKEN}"))
            .send()
            .await,
        c.post(&kill)
            .json(&serde_json::json!({ "path": "root/coordinator" }))
            .send()
            .await,
    ];
    for r in refused {
        let r = r.expect("answer");
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(
            r.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let body = r.text().await.expect("body");
        assert!(!body.contains(ADMIN_TOKEN), "{body}");
    }
    // Nothing was killed by the refused request.
    assert_eq!(app.metrics().sum(Metric::ActorRestarts), 0.0);

    let r = c
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 200);
    let tree: Value = r.json().await.expect("JSON");
    assert_eq!(tree["id"], "root");
    let ids: Vec<&str> = tree["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "metrics_reporter",
            "rate_limiter",
            "providers",
            "coordinator",
            "platforms"
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn killing_an_actor_through_the_admin_api_shows_as_a_restart() {
    let (app, platform) = common::start(&[
        ("TOLMACH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("TOLMACH_ADMIN_ADDR", "127.0.0.1:0"),
    ])
    .await;
    let admin = app.admin_addr().expect("admin on");
    let path = "root/providers/demo";
    let before = common::running_id(&app.tree().await, path).expect("running");
    let kill = |body: Value| {
        http()
            .post(format!("http://{admin}/admin/kill"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = kill(serde_json::json!({ "path": path }))
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 200);
    let (tree, restarted) = app
        .wait_for_tree(common::PATIENCE, |t| {
            common::running_id(t, path).is_some_and(|id| id != before)
        })
        .await;
    assert!(restarted, "not restarted");
    let node = tree.find(path).expect("node");
    assert_eq!((node.status, node.restarts), (NodeStatus::Running, 1));
    let text = metrics_text(&app).await;
    assert_eq!(
        sample(
            &text,
            "tolmach_actor_restarts_total",
            &[("kind", "provider")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "tolmach_chaos_kills_total", &[("kind", "provider")]),
        Some(1.0)
    );
    // Still translating.
    let key = platform.push("c", "u", "/tr fr good night");
    assert!(platform.wait_for_replies(1, common::PATIENCE).await);
    assert!(
        platform.replies_to(&key)[0]
            .text
            .starts_with("🇫🇷 French: Bonne nuit")
    );

    // Bad paths get a clear answer.
    for (body, status) in [
        (serde_json::json!({ "path": "root" }), 400),
        (serde_json::json!({ "path": "root/nowhere" }), 404),
    ] {
        let r = kill(body).await.expect("answer");
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.expect("JSON error");
        assert!(v["error"].is_string());
    }
    app.shutdown().await;
}

#[tokio::test]
async fn status_and_breakers_answer_admins_only() {
    let (app, platform) = common::start(&[("TOLMACH_USERS_ADMINS", "memory:boss")]).await;
    let boss_status = platform.push("c1", "boss", "/status");
    let boss_breakers = platform.push("c1", "boss", "/breakers");
    let other = platform.push("c2", "someone", "/status");
    assert!(platform.wait_for_replies(3, common::PATIENCE).await);
    let status = &platform.replies_to(&boss_status)[0].text;
    assert!(status.contains("ready"), "{status}");
    assert!(status.contains("providers: usable: demo"), "{status}");
    assert!(status.contains("actors: "), "{status}");
    assert_eq!(
        platform.replies_to(&boss_breakers)[0].text,
        "🟢 demo: closed"
    );
    let refused = &platform.replies_to(&other)[0].text;
    assert!(!refused.contains("demo"), "{refused}");
    assert!(refused.contains("/status"), "{refused}");
    app.shutdown().await;
}

#[tokio::test]
async fn chaos_mode_kills_actors_and_every_message_gets_one_reply() {
    let (app, platform) = common::start(&[
        ("TOLMACH_CHAOS_ENABLED", "true"),
        ("TOLMACH_CHAOS_KILL_EVERY", "5ms"),
        ("TOLMACH_RATE_LIMIT_BURST", "1000"),
        ("TOLMACH_SUPERVISION_MAX_RESTARTS", "100000"),
        ("TOLMACH_CONVERSATION_MAX_RESTARTS", "100000"),
    ])
    .await;
    let mut keys = Vec::new();
    for i in 0..200 {
        keys.push(platform.push(&format!("chat-{}", i % 10), "u", "/tr es thank you"));
        if i % 20 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert!(platform.wait_for_replies(200, common::PATIENCE * 2).await);
    common::settle(&app).await;
    for key in &keys {
        let replies = platform.replies_to(key);
        assert_eq!(replies.len(), 1, "{key}: {replies:?}");
    }
    assert!(
        app.metrics().sum(Metric::ChaosKills) > 0.0,
        "chaos killed nothing"
    );
    app.shutdown().await;
}
