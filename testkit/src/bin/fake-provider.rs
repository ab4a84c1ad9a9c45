//! Standalone fake provider for hand trials and benchmarks: OpenAI-compatible chat
//! completions (Azure routes included), Anthropic Messages, DeepL and LibreTranslate on
//! one port, with the faults of [`tolmach_testkit::Behavior`].
//!
//! ```text
//! fake-provider [--addr 127.0.0.1:8089] [--behavior BEHAVIOR] [--seed N]
//! ```
//!
//! The behavior can be changed while the fake runs, so a person can watch circuit
//! breakers open and close against it:
//!
//! ```text
//! curl -d 'chance:0.5:503' http://127.0.0.1:8089/_control/behavior
//! curl http://127.0.0.1:8089/_control/stats
//! ```
//!
//! See `--help` for the behavior grammar and the routes. Serves until Ctrl-C; each
//! request, and each client that gives up on its answer, is logged to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use tolmach_testkit::{Api, Behavior, DEFAULT_SEED, FakeProvider, ProviderStats};

const DEFAULT_ADDR: &str = "127.0.0.1:8089";

const USAGE: &str = "\
usage: fake-provider [--addr ADDR] [--behavior BEHAVIOR] [--seed N]

  --addr ADDR          listen address (default 127.0.0.1:8089; port 0 picks a free one)
  --behavior BEHAVIOR  how to answer (default echo); see below
  --seed N             seed of the random faults (random-delay, chance); the same seed
                       and the same requests give the same faults
  -h, --help           show this help

BEHAVIOR (names are case-insensitive; DURATION is 250, 250ms, 2s, 1.5s, 100us;
a bare number means milliseconds; P is 0.3 or 30%):
  echo                            200, \"[{target code}] {text}\"
  reply:TEXT                      200 with exactly TEXT
  STATUS | status:STATUS          that status (e.g. 500, 529, 456) with the API's error body
  rate-limited[:SECS]             429 with Retry-After: SECS (default 1)
  hang                            never answer
  garbage                         200 with a body that is not JSON
  invalid-utf8                    200, a well-formed answer with bytes 0xFF 0xFE in the text
  empty-choices                   200 with no choices / content / translations
  wrong-shape                     200 {\"foo\": 1}
  truncated                       200, the echo answer cut in half (Content-Length matches)
  reset-mid-body                  200, half of the echo answer, then a TCP reset
  delay:DURATION:BEHAVIOR         wait, then BEHAVIOR
  random-delay:MIN:MAX:BEHAVIOR   wait a uniformly random time in MIN..=MAX, then BEHAVIOR
  chance:P:THEN[|OTHERWISE]       THEN with probability P, else OTHERWISE (default echo);
                                  THEN ends at the first '|', so chains read left to right:
                                  chance:1%:hang|chance:30%:503|echo
  drip:DURATION:BEHAVIOR          BEHAVIOR's answer sent 16 bytes at a time, DURATION apart

ROUTES (one port serves every API shape):
  POST /v1/chat/completions, /chat/completions, /openai/v1/chat/completions   OpenAI
  POST /openai/deployments/{deployment}/chat/completions?api-version=...     Azure OpenAI
  POST /v1/messages, /messages                                                Anthropic
  POST /v2/translate                                                          DeepL
  POST /translate                                                             LibreTranslate
  GET  /v1/models;  POST /v1/audio/transcriptions                             OpenAI extras

CONTROL (while it runs):
  curl http://ADDR/_control/behavior                       the current behavior
  curl -d 'chance:0.3:500' http://ADDR/_control/behavior   change it
  curl --data-binary $'500\\n500\\necho' http://ADDR/_control/script
                                                           one-shot behaviors, one per line
  curl -X DELETE http://ADDR/_control/script               drop them
  curl -d 42 http://ADDR/_control/seed                     reseed the random faults
  curl http://ADDR/_control/stats                          requests, completed, abandoned,
                                                           reset and in flight, per API";

#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    behavior: Behavior,
    seed: u64,
}

#[derive(Debug)]
enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut addr = None;
    let mut behavior = Behavior::Echo;
    let mut seed = DEFAULT_SEED;
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
            "--seed" => {
                let v = value("--seed")?;
                seed = v
                    .trim()
                    .parse()
                    .map_err(|e| format!("invalid --seed {v:?}: {e}"))?;
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
        behavior,
        seed,
    }))
}

/// `openai 3 (2 completed, 1 abandoned, 0 reset, 0 in flight); ...`, shapes with traffic only.
fn summary(stats: &ProviderStats) -> String {
    let parts: Vec<String> = Api::ALL
        .iter()
        .map(|&api| (api, stats.api(api)))
        .filter(|(_, s)| s.requests > 0)
        .map(|(api, s)| {
            format!(
                "{api} {} ({} completed, {} abandoned, {} reset, {} in flight)",
                s.requests,
                s.completed,
                s.abandoned,
                s.reset,
                s.in_flight()
            )
        })
        .collect();
    if parts.is_empty() {
        "no requests".to_owned()
    } else {
        parts.join("; ")
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
    fake.set_seed(args.seed);
    println!("fake provider listening on {}", fake.base_url());
    // Callers (scripts, benchmarks) wait for this line; don't leave it in a buffer.
    let _ = std::io::stdout().flush();
    let root = fake.root_url();
    eprintln!(
        "fake-provider: behavior {} (seed {})\n\
         fake-provider: OpenAI     {}\n\
         fake-provider: Azure      {}\n\
         fake-provider: Anthropic  {}\n\
         fake-provider: DeepL      {}\n\
         fake-provider: Libre      {}\n\
         fake-provider: change the behavior with `curl -d 'chance:0.5:503' {root}/_control/behavior`, \
         watch `curl {root}/_control/stats`",
        args.behavior,
        args.seed,
        fake.chat_completions_url(),
        fake.azure_chat_completions_url("DEPLOYMENT", "2024-10-21"),
        fake.anthropic_messages_url(),
        fake.deepl_translate_url(),
        fake.libretranslate_url(),
    );

    let request_logger = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                fake.wait_for_requests(seen + 1).await;
                let requests = fake.requests();
                for (n, r) in requests.iter().enumerate().skip(seen) {
                    let query = r
                        .query
                        .as_deref()
                        .map_or(String::new(), |q| format!("?{q}"));
                    eprintln!(
                        "fake-provider: #{} {} {}{query} model={} target={} key={} text={:?}",
                        n + 1,
                        r.api,
                        r.path,
                        r.model
                            .as_deref()
                            .or(r.deployment.as_deref())
                            .unwrap_or("-"),
                        r.target_lang.as_deref().unwrap_or("-"),
                        if r.credential.is_some() { "yes" } else { "no" },
                        r.user_text.as_deref().unwrap_or(""),
                    );
                }
                seen = requests.len();
            }
        })
    };
    let outcome_logger = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut last = fake.stats().total();
            loop {
                fake.wait_for_stats(|s| {
                    let t = s.total();
                    t.abandoned != last.abandoned || t.reset != last.reset
                })
                .await;
                let now = fake.stats().total();
                if now.abandoned > last.abandoned {
                    eprintln!(
                        "fake-provider: {} client(s) gave up before the answer was complete ({} so far)",
                        now.abandoned - last.abandoned,
                        now.abandoned
                    );
                }
                if now.reset > last.reset {
                    eprintln!(
                        "fake-provider: reset {} connection(s) mid-body ({} so far)",
                        now.reset - last.reset,
                        now.reset
                    );
                }
                last = now;
            }
        })
    };

    let result = tokio::signal::ctrl_c().await;
    request_logger.abort();
    outcome_logger.abort();
    match result {
        Ok(()) => {
            eprintln!(
                "fake-provider: shutting down after {} request(s): {}",
                fake.request_count(),
                summary(&fake.stats())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fake-provider: cannot listen for Ctrl-C: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tolmach_testkit::{ApiStats, DRIP_CHUNK_BYTES};

    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults() {
        let Ok(Parsed::Run(args)) = parse(&[]) else {
            panic!("not a run");
        };
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(args.behavior, Behavior::Echo);
        assert_eq!(args.seed, DEFAULT_SEED);
    }

    #[test]
    fn flags_with_spaces_and_equals() {
        let Ok(Parsed::Run(args)) = parse(&[
            "--addr",
            "127.0.0.1:0",
            "--behavior=chance:30%:status:503|drip:20ms:echo",
            "--seed",
            "42",
        ]) else {
            panic!("not a run");
        };
        assert_eq!(args.addr.port(), 0);
        assert_eq!(
            args.behavior,
            Behavior::chance(
                0.3,
                Behavior::Status(503),
                Behavior::drip(Duration::from_millis(20), Behavior::Echo)
            )
        );
        assert_eq!(args.seed, 42);
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse(&["--seed", "1", "-h"]), Ok(Parsed::Help)));
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
        for (bad, needle) in [
            (&["--behavior", "sometimes"][..], "invalid --behavior"),
            (&["--seed", "-3"], "invalid --seed"),
            (&["--seed"], "--seed needs a value"),
            (&["--addr", "nowhere"], "invalid --addr"),
            (&["--verbose"], "unknown argument"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn usage_documents_every_behavior_and_route() {
        for word in [
            "echo",
            "reply:",
            "rate-limited",
            "hang",
            "garbage",
            "invalid-utf8",
            "empty-choices",
            "wrong-shape",
            "truncated",
            "reset-mid-body",
            "delay:",
            "random-delay:",
            "chance:",
            "drip:",
            "/v1/messages",
            "/v2/translate",
            "/translate",
            "/openai/deployments/",
            "/_control/behavior",
            "/_control/stats",
            "--seed",
        ] {
            assert!(USAGE.contains(word), "{word}");
        }
        assert!(USAGE.contains(&format!("{DRIP_CHUNK_BYTES} bytes at a time")));
        // Every example in the usage parses.
        for example in [
            "chance:1%:hang|chance:30%:503|echo",
            "chance:0.3:500",
            "chance:0.5:503",
        ] {
            example.parse::<Behavior>().unwrap();
        }
    }

    #[test]
    fn summary_lists_shapes_with_traffic() {
        assert_eq!(summary(&ProviderStats::default()), "no requests");
        let stats = ProviderStats {
            deepl: ApiStats {
                requests: 3,
                completed: 1,
                abandoned: 1,
                reset: 0,
            },
            ..ProviderStats::default()
        };
        assert_eq!(
            summary(&stats),
            "deepl 3 (1 completed, 1 abandoned, 0 reset, 1 in flight)"
        );
    }
}
