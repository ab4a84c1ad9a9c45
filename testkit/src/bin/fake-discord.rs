//! Standalone fake Discord (REST API and gateway): chat with the bot from the terminal.
//!
//! ```text
//! fake-discord [--addr-rest 127.0.0.1:8082] [--addr-gateway 127.0.0.1:8083] [--token TOKEN]
//!              [--shards N] [--verbose]
//! ```
//!
//! Prints the environment line to run the bot against it
//! (`DISCORD_API_URL=http://... DISCORD_BOT_TOKEN=...`), creates the guild "Test Guild"
//! with a #general channel and a DM channel with the user "You", then reads stdin: each
//! line is posted by "You" in #general; a line starting with `dm: ` is posted in the DM
//! instead, and a line starting with `/` runs that slash command in #general (`/translate
//! hola` runs `translate` with the option `text` = `hola`). Everything the bot posts is
//! printed as it arrives (`bot -> #general: ...`, `bot -> dm: ...`, interaction responses
//! as `bot -> /command: ...`). EOF or Ctrl-C exits.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;
use tolmach_testkit::{DcUser, FakeDiscord};

const DEFAULT_REST_ADDR: &str = "127.0.0.1:8082";
const DEFAULT_GATEWAY_ADDR: &str = "127.0.0.1:8083";
const DEFAULT_TOKEN: &str = "fake-discord-token";
const GUILD_ID: u64 = 1_300_000_000_000_000_000;
const GENERAL_ID: u64 = 1_300_000_000_000_000_001;
const DM_ID: u64 = 1_300_000_000_000_000_002;
const USER_ID: u64 = 1_300_000_000_000_000_100;
const USER_NAME: &str = "You";
const DM_PREFIX: &str = "dm: ";

const USAGE: &str = "\
usage: fake-discord [--addr-rest ADDR] [--addr-gateway ADDR] [--token TOKEN] [--shards N] [--verbose]

  --addr-rest ADDR     REST API listen address (default 127.0.0.1:8082; port 0 picks one)
  --addr-gateway ADDR  gateway listen address (default 127.0.0.1:8083; port 0 picks one)
  --token TOKEN        bot token the fake accepts (default fake-discord-token)
  --shards N           shard count GET /gateway/bot recommends (default 1)
  -v, --verbose        log every REST request and gateway event to stderr
  -h, --help           show this help

Each stdin line is a message from \"You\" in #general; prefix it with \"dm: \" to send it
in the DM, or start it with \"/\" to run a slash command (\"/translate hola\"). EOF or
Ctrl-C exits.";

struct Args {
    rest: SocketAddr,
    gateway: SocketAddr,
    token: String,
    shards: u32,
    verbose: bool,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_addr(flag: &str, v: &str) -> Result<SocketAddr, String> {
    v.parse().map_err(|e| format!("invalid {flag} {v:?}: {e}"))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut rest = parse_addr("--addr-rest", DEFAULT_REST_ADDR)?;
    let mut gateway = parse_addr("--addr-gateway", DEFAULT_GATEWAY_ADDR)?;
    let mut token = DEFAULT_TOKEN.to_owned();
    let mut shards = 1;
    let mut verbose = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-v" | "--verbose" => verbose = true,
            "--addr-rest" => rest = parse_addr("--addr-rest", &value("--addr-rest")?)?,
            "--addr-gateway" => {
                gateway = parse_addr("--addr-gateway", &value("--addr-gateway")?)?;
            }
            "--token" => {
                token = value("--token")?;
                if token.is_empty() || token.contains(char::is_whitespace) {
                    return Err(format!("invalid --token {token:?}"));
                }
            }
            "--shards" => {
                let v = value("--shards")?;
                shards = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("invalid --shards {v:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(Args {
        rest,
        gateway,
        token,
        shards,
        verbose,
    }))
}

/// Reads stdin on a plain thread (a blocked tokio stdin read would keep the runtime from
/// shutting down on Ctrl-C). The channel closes at EOF or on a read error.
fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout is no reason to stop serving the bot.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn channel_name(channel_id: u64) -> String {
    match channel_id {
        GENERAL_ID => "#general".to_owned(),
        DM_ID => "dm".to_owned(),
        other => format!("channel {other}"),
    }
}

/// Prints each message the bot creates, as it arrives.
async fn print_created(fake: FakeDiscord) {
    let mut seen = 0;
    loop {
        if !fake
            .wait_for_created(seen + 1, Duration::from_secs(3600))
            .await
        {
            continue;
        }
        let created = fake.created_messages();
        for m in created.iter().skip(seen) {
            let reply = m
                .message_reference
                .map(|id| format!(" (reply to {id})"))
                .unwrap_or_default();
            print_line(&format!(
                "bot -> {}{reply}: {}",
                channel_name(m.channel_id),
                m.content
            ));
        }
        seen = created.len();
    }
}

/// Prints interaction responses: callbacks, edits of the original response, follow-ups.
async fn print_interactions(
    fake: FakeDiscord,
    commands: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    let name_of = |token: &str| {
        commands
            .lock()
            .map(|list| {
                list.iter()
                    .find(|(t, _)| t == token)
                    .map_or_else(|| "?".to_owned(), |(_, n)| n.clone())
            })
            .unwrap_or_default()
    };
    let (mut callbacks, mut edits, mut followups) = (0, 0, 0);
    loop {
        tokio::select! {
            true = fake.wait_for_callbacks(callbacks + 1, Duration::from_secs(3600)) => {
                for c in fake.interaction_callbacks().iter().skip(callbacks) {
                    let what = match c.kind {
                        5 => "(thinking...)".to_owned(),
                        _ => c.data["content"].as_str().unwrap_or("").to_owned(),
                    };
                    print_line(&format!("bot -> /{}: {what}", name_of(&c.token)));
                    callbacks += 1;
                }
            }
            true = fake.wait_for_edits(edits + 1, Duration::from_secs(3600)) => {
                for e in fake.interaction_edits().iter().skip(edits) {
                    print_line(&format!("bot -> /{} (edit): {}", name_of(&e.token), e.content));
                    edits += 1;
                }
            }
            true = fake.wait_for_followups(followups + 1, Duration::from_secs(3600)) => {
                for f in fake.followups().iter().skip(followups) {
                    print_line(&format!("bot -> /{} (follow-up): {}", name_of(&f.token), f.content));
                    followups += 1;
                }
            }
            // Every wait timed out (an hour of silence): wait again.
            else => {}
        }
    }
}

/// Logs every REST request and gateway event to stderr.
async fn log_activity(fake: FakeDiscord) {
    let (mut calls, mut events) = (0, 0);
    loop {
        tokio::select! {
            true = fake.wait_for_rest_calls("*", "", calls + 1, Duration::from_secs(3600)) => {}
            true = fake.wait_for_gateway_events(events + 1, Duration::from_secs(3600), |e| {
                !matches!(e, tolmach_testkit::GatewayEventKind::Heartbeat { .. })
            }) => {}
            else => {}
        }
        let all_calls = fake.rest_calls();
        for c in all_calls.iter().skip(calls) {
            eprintln!("fake-discord: {} {} {}", c.method, c.path, c.body);
        }
        calls = all_calls.len();
        let all_events: Vec<_> = fake
            .gateway_events()
            .into_iter()
            .filter(|e| !matches!(e.kind, tolmach_testkit::GatewayEventKind::Heartbeat { .. }))
            .collect();
        for e in all_events.iter().skip(events) {
            eprintln!("fake-discord: gateway #{}: {:?}", e.connection, e.kind);
        }
        events = all_events.len();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-discord: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let fake = match FakeDiscord::start_on(args.rest, args.gateway, &args.token).await {
        Ok(fake) => fake.with_shards(args.shards),
        Err(e) => {
            eprintln!(
                "fake-discord: cannot listen on {} / {}: {e}",
                args.rest, args.gateway
            );
            return ExitCode::FAILURE;
        }
    };
    let user = DcUser::new(USER_ID, USER_NAME);
    fake.add_guild(GUILD_ID, "Test Guild");
    fake.add_text_channel(GUILD_ID, GENERAL_ID, "general");
    fake.add_dm_channel(DM_ID, &user);

    eprintln!(
        "fake-discord: REST on {}/api/v10, gateway on {}; run the bot with:",
        fake.rest_url(),
        fake.gateway_url()
    );
    println!(
        "DISCORD_API_URL={} DISCORD_BOT_TOKEN={}",
        fake.rest_url(),
        args.token
    );
    eprintln!(
        "fake-discord: type a line to post it as {USER_NAME} in #general; prefix it with \
         {DM_PREFIX:?} for the DM, start it with \"/\" for a slash command. EOF or Ctrl-C exits."
    );
    // Scripts wait for the env line; don't leave it in a buffer.
    let _ = std::io::stdout().flush();

    let commands = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = vec![
        tokio::spawn(print_created(fake.clone())),
        tokio::spawn(print_interactions(fake.clone(), commands.clone())),
    ];
    if args.verbose {
        tasks.push(tokio::spawn(log_activity(fake.clone())));
    }
    let mut lines = spawn_stdin_reader();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    let code = loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { break ExitCode::SUCCESS };
                let line = line.trim_end_matches(['\r', '\n']);
                if line.trim().is_empty() {
                    continue;
                }
                if let Some(text) = line.strip_prefix(DM_PREFIX) {
                    fake.user_message(DM_ID, &user, text);
                } else if let Some(command) = line.strip_prefix('/') {
                    let (name, text) = command.split_once(' ').unwrap_or((command, ""));
                    let options: Vec<(&str, &str)> = if text.trim().is_empty() {
                        Vec::new()
                    } else {
                        vec![("text", text.trim())]
                    };
                    let i = fake.slash_command(GENERAL_ID, &user, name, &options, "en-US");
                    if let Ok(mut list) = commands.lock() {
                        list.push((i.token, name.to_owned()));
                    }
                } else {
                    fake.user_message(GENERAL_ID, &user, line);
                }
            }
            result = &mut ctrl_c => {
                break match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("fake-discord: cannot listen for Ctrl-C: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
        }
    };
    for task in tasks {
        task.abort();
    }
    eprintln!(
        "fake-discord: shutting down after {} REST request(s), {} message(s) from the bot",
        fake.rest_calls().len(),
        fake.created_messages().len()
    );
    code
}
