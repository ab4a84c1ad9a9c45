//! Standalone fake Telegram Bot API server: chat with the bot from the terminal.
//!
//! ```text
//! fake-telegram [--addr 127.0.0.1:8081] [--token TOKEN] [--verbose]
//! ```
//!
//! Prints the environment line to run the bot against it
//! (`TELEGRAM_API_URL=http://... TELEGRAM_BOT_TOKEN=...`), then reads stdin: each line is
//! sent to the bot as a text message from the user "You" (id 1001) in their private chat
//! (id 1001); a line starting with `group: ` is sent in the group "Test Group" (id -2002)
//! instead. Every message the bot sends is printed as `bot -> chat ID: TEXT` as it
//! arrives. EOF or Ctrl-C exits.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;
use tolmach_testkit::{FakeTelegram, TgChat, TgUser};

const DEFAULT_ADDR: &str = "127.0.0.1:8081";
const DEFAULT_TOKEN: &str = "1000001:fake-telegram-token";
const USER_ID: i64 = 1001;
const USER_NAME: &str = "You";
const GROUP_ID: i64 = -2002;
const GROUP_TITLE: &str = "Test Group";
const GROUP_PREFIX: &str = "group: ";

const USAGE: &str = "\
usage: fake-telegram [--addr ADDR] [--token TOKEN] [--verbose]

  --addr ADDR    listen address (default 127.0.0.1:8081; port 0 picks a free one)
  --token TOKEN  bot token the fake accepts (default 1000001:fake-telegram-token)
  -v, --verbose  log every Bot API call (except getUpdates) to stderr
  -h, --help     show this help

Each stdin line is a message from user 1001 (\"You\") in their private chat;
prefix a line with \"group: \" to send it in group -2002 instead. EOF or Ctrl-C exits.";

struct Args {
    addr: SocketAddr,
    token: String,
    verbose: bool,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut addr = None;
    let mut token = DEFAULT_TOKEN.to_owned();
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
            "--addr" => {
                let v = value("--addr")?;
                addr = Some(
                    v.parse()
                        .map_err(|e| format!("invalid --addr {v:?}: {e}"))?,
                );
            }
            "--token" => {
                token = value("--token")?;
                if token.is_empty() || token.contains(char::is_whitespace) {
                    return Err(format!("invalid --token {token:?}"));
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let addr = match addr {
        Some(addr) => addr,
        None => DEFAULT_ADDR
            .parse()
            .map_err(|e| format!("bad default address: {e}"))?,
    };
    Ok(Parsed::Run(Args {
        addr,
        token,
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

/// Prints each message the bot sends, as it arrives.
async fn print_sent(fake: FakeTelegram) {
    let mut seen = 0;
    loop {
        if !fake
            .wait_for_sent(seen + 1, Duration::from_secs(3600))
            .await
        {
            continue;
        }
        let sent = fake.sent();
        let mut out = std::io::stdout().lock();
        for m in sent.iter().skip(seen) {
            let reply = m
                .reply_to_message_id
                .map(|id| format!(" (reply to {id})"))
                .unwrap_or_default();
            // A closed stdout is no reason to stop serving the bot.
            let _ = writeln!(out, "bot -> chat {}{reply}: {}", m.chat_id, m.text);
        }
        let _ = out.flush();
        seen = sent.len();
    }
}

/// Logs every call except `getUpdates` (which would flood the terminal) to stderr.
async fn log_calls(fake: FakeTelegram) {
    let mut seen = 0;
    loop {
        if !fake
            .wait_for_calls("*", seen + 1, Duration::from_secs(3600))
            .await
        {
            continue;
        }
        let calls = fake.calls();
        for c in calls.iter().skip(seen) {
            if c.method != "getupdates" {
                eprintln!("fake-telegram: {} {}", c.method, c.params);
            }
        }
        seen = calls.len();
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
            eprintln!("fake-telegram: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let fake = match FakeTelegram::start_on(args.addr, &args.token).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-telegram: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let user = TgUser::new(USER_ID, USER_NAME).language("en");
    let private = TgChat::private_with(&user);
    let group = TgChat::group(GROUP_ID, GROUP_TITLE);
    fake.add_chat(&private);
    fake.add_chat(&group);

    eprintln!(
        "fake-telegram: Bot API for @{} on {}; run the bot with:",
        fake.bot_username(),
        fake.api_url()
    );
    println!(
        "TELEGRAM_API_URL={} TELEGRAM_BOT_TOKEN={}",
        fake.api_url(),
        args.token
    );
    eprintln!(
        "fake-telegram: type a line to send it from {USER_NAME} (chat {USER_ID}); \
         prefix it with {GROUP_PREFIX:?} for group {GROUP_ID}. EOF or Ctrl-C exits."
    );
    // Scripts wait for the env line; don't leave it in a buffer.
    let _ = std::io::stdout().flush();

    let printer = tokio::spawn(print_sent(fake.clone()));
    let logger = args.verbose.then(|| tokio::spawn(log_calls(fake.clone())));
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
                match line.strip_prefix(GROUP_PREFIX) {
                    Some(text) => fake.send_text(&group, &user, text),
                    None => fake.send_text(&private, &user, line),
                };
            }
            result = &mut ctrl_c => {
                break match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("fake-telegram: cannot listen for Ctrl-C: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
        }
    };
    printer.abort();
    if let Some(logger) = logger {
        logger.abort();
    }
    eprintln!(
        "fake-telegram: shutting down after {} call(s), {} message(s) from the bot",
        fake.call_count(),
        fake.sent_count()
    );
    code
}
