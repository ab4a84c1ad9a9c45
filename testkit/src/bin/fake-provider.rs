//! Standalone fake OpenAI-compatible provider for hand trials and benchmarks.
//!
//! ```text
//! fake-provider [--addr 127.0.0.1:8089] [--behavior BEHAVIOR]
//! ```
//!
//! BEHAVIOR is one of `echo` (default), `reply:TEXT`, a status code such as `500`,
//! `rate-limited[:SECS]`, `delay:MILLIS:BEHAVIOR`, `hang`, `garbage`, `invalid-utf8`,
//! `empty-choices`, `wrong-shape`. Serves until Ctrl-C; each request is logged to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use tolmach_testkit::{Behavior, FakeProvider};

const DEFAULT_ADDR: &str = "127.0.0.1:8089";

const USAGE: &str = "\
usage: fake-provider [--addr ADDR] [--behavior BEHAVIOR]

  --addr ADDR          listen address (default 127.0.0.1:8089; port 0 picks a free one)
  --behavior BEHAVIOR  echo (default) | reply:TEXT | STATUS (e.g. 500) |
                       rate-limited[:SECS] | delay:MILLIS:BEHAVIOR | hang | garbage |
                       invalid-utf8 | empty-choices | wrong-shape
  -h, --help           show this help";

struct Args {
    addr: SocketAddr,
    behavior: Behavior,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut addr = None;
    let mut behavior = Behavior::Echo;
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
            "--addr" => {
                let v = value("--addr")?;
                addr = Some(
                    v.parse()
                        .map_err(|e| format!("invalid --addr {v:?}: {e}"))?,
                );
            }
            "--behavior" => {
                behavior = value("--behavior")?
                    .parse()
                    .map_err(|e| format!("invalid --behavior: {e}"))?;
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
    Ok(Parsed::Run(Args { addr, behavior }))
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
            eprintln!("fake-provider: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let fake = match FakeProvider::start_on(args.addr).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-provider: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    fake.set_behavior(args.behavior.clone());
    println!("fake provider listening on {}", fake.base_url());
    // Callers (scripts, benchmarks) wait for this line; don't leave it in a buffer.
    let _ = std::io::stdout().flush();
    eprintln!("fake-provider: behavior {:?}", args.behavior);

    let logger = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                fake.wait_for_requests(seen + 1).await;
                let requests = fake.requests();
                for r in &requests[seen..] {
                    eprintln!(
                        "fake-provider: {} model={} user={:?}",
                        r.path,
                        r.model.as_deref().unwrap_or("-"),
                        r.user_text.as_deref().unwrap_or(""),
                    );
                }
                seen = requests.len();
            }
        })
    };

    let result = tokio::signal::ctrl_c().await;
    logger.abort();
    match result {
        Ok(()) => {
            eprintln!(
                "fake-provider: shutting down after {} request(s)",
                fake.request_count()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fake-provider: cannot listen for Ctrl-C: {e}");
            ExitCode::FAILURE
        }
    }
}
