//! End-to-end load, chaos and peer benchmarks for tolmach.
//!
//! One run ([`run`]) goes like this:
//!
//! 1. the test kit's fake Telegram (or Discord) and fake provider start on 127.0.0.1
//!    ([`platform`]);
//! 2. the bot under test starts as a separate process pointed at them: the real `tolmach`
//!    binary, or a peer bot ([`target`]); one warm-up message proves it answers;
//! 3. virtual users post messages at the scenario's rate, open loop: an arrival never waits
//!    for a reply ([`mix`]); meanwhile the chaos kills actors through the admin API, SIGKILLs
//!    and restarts the process, breaks the provider or drops the platform connection
//!    ([`chaos`]), and the bot's memory and CPU are sampled from `/proc` ([`probe`]);
//! 4. after the load, the run waits for the last replies, stops the bot with SIGTERM, and
//!    matches everything the fake received to what was posted ([`analysis`]): lost,
//!    duplicated, out of order, latency, throughput;
//! 5. the [`report`] prints a summary and writes JSON and a PNG plot.
//!
//! Everything is measured on the fake's side, the way a user would see it.

pub mod analysis;
pub mod chaos;
pub mod mix;
pub mod overhead;
pub mod platform;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod target;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tolmach_testkit::{Behavior, FakeProvider};

use crate::analysis::{Input, Posted};
use crate::mix::{Arrival, ChatRef, Traffic};
use crate::overhead::{InBot, Scrape};
use crate::platform::Fake;
use crate::report::{Report, Resources};
use crate::scenario::{LimitsKind, Scenario};
use crate::target::{Target, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start a fake server: {0}")]
    Fake(std::io::Error),
    #[error("work directory {0}: {1}")]
    Work(String, std::io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("the bot did not answer its warm-up message within {0:?}; see its log in {1}")]
    NotReady(Duration, String),
}

/// How long the bot may take to answer its first message (a debug build, a cold SQLite).
const WARM_UP: Duration = Duration::from_secs(120);
/// After the last reply: how long to keep watching for late repeats.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs `s`, keeping the bot's logs and data under `work`; prints progress on stderr.
pub async fn run(s: Scenario, work: &Path) -> Result<Report, RunError> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(|e| RunError::Work(work.display().to_string(), e))?;

    let fake = Fake::start(s.platform).await.map_err(RunError::Fake)?;
    let provider = FakeProvider::start_with_seed(s.seed)
        .await
        .map_err(RunError::Fake)?;
    // Hundreds of thousands of calls: count them, keep only the first.
    provider.keep_requests(1_000);
    let calm = if s.provider_latency.is_zero() {
        Behavior::Echo
    } else {
        Behavior::delayed(s.provider_latency, Behavior::Echo)
    };
    provider.set_behavior(calm.clone());
    if s.limits == LimitsKind::Real {
        fake.enforce_real_limits();
    }
    let mut traffic = Traffic::new(&s, &fake.bot_username());
    fake.prepare(traffic.all_chats());

    let target = Arc::new(Target::new(&s, &fake, &provider.base_url(), work)?);
    target.spawn().await?;
    warm_up(&s, &fake, &target, work).await?;
    // The bot's own figures, for the run's messages only (compared after the drain).
    let overhead_before = target.scrape().await.map(|t| Scrape::of(&t));
    let starts = target.starts();

    let start = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The probe reads on through the drain: at saturation that is where the work is.
    let (probe_stop_tx, probe_stop_rx) = tokio::sync::watch::channel(false);
    let log = chaos::Log::new(start);
    let probe = tokio::spawn(probe::run(
        target.pid(),
        start,
        Duration::from_millis(250),
        probe_stop_rx,
    ));
    let rig = chaos::Rig {
        start,
        target: Arc::clone(&target),
        fake: fake.clone(),
        provider: provider.clone(),
        calm: calm.clone(),
        log: log.clone(),
        seed: s.seed,
    };
    let chaos = tokio::spawn(chaos::run(s.chaos.clone(), rig, stop_rx.clone()));

    let posted = offer_load(&s, &fake, &mut traffic, start).await;
    let load_secs = start.elapsed().as_secs_f64();

    // The load is over: faults end, the last replies drain.
    let _ = stop_tx.send(true);
    let chaos_stats = chaos.await.unwrap_or_default();
    provider.set_behavior(calm);
    drain(&s, &fake, &posted).await;
    let _ = probe_stop_tx.send(true);
    tokio::time::sleep(SETTLE).await;
    // A restart started the bot's counters over: no figures then.
    let overhead_after = if target.starts() == starts {
        target.scrape().await.map(|t| Scrape::of(&t))
    } else {
        None
    };
    let ending = target.stop(Duration::from_secs(20)).await?;
    let samples = probe.await.unwrap_or_default();

    let warm_chat = warm_up_chat(&s).platform_id(s.platform);
    let replies: Vec<_> = fake
        .replies()
        .into_iter()
        .filter(|r| r.chat != warm_chat)
        .collect();
    let events = log.events();
    // For each restart, the bot's first poll or connect after it.
    let connects = fake.connects();
    let reconnects = chaos::Event::times(&events, "restart")
        .into_iter()
        .map(|at| connects.get(connects.partition_point(|c| *c < at)).copied())
        .collect();
    let outcome = analysis::analyse(&Input {
        start,
        posted: &posted,
        replies: &replies,
        offers: &fake.offers(),
        events: &events,
        provider_latency: s.provider_latency,
        flood_refusals: fake.flood_refusals(),
        reconnects,
    });
    let failures = report::verdict(&s, &outcome, ending);
    Ok(Report {
        target_version: target_version(&s),
        resources: Resources::of(&samples, load_secs).per_message(
            &samples,
            outcome.last_reply_s,
            outcome.answered,
        ),
        runtime_overhead: overhead_before
            .zip(overhead_after)
            .and_then(|(before, after)| InBot::between(&before, &after)),
        scenario: s,
        outcome,
        events,
        chaos: chaos_stats,
        samples,
        ending,
        failures,
    })
}

/// A private chat outside the scenario's, for the warm-up message.
fn warm_up_chat(s: &Scenario) -> ChatRef {
    ChatRef {
        index: s.chats + 1,
        group: false,
    }
}

async fn warm_up(s: &Scenario, fake: &Fake, target: &Target, work: &Path) -> Result<(), RunError> {
    let chat = warm_up_chat(s);
    let arrival = Arrival {
        chat,
        user: chat.platform_id(scenario::PlatformKind::Telegram),
        text: match s.platform {
            scenario::PlatformKind::Telegram => "/tr es warming up".to_owned(),
            scenario::PlatformKind::Discord => "!tr es warming up".to_owned(),
        },
        kind: "warm-up",
    };
    let not_ready = || RunError::NotReady(WARM_UP, work.display().to_string());
    let answered = async {
        // The bot may still be connecting: post again every few seconds until it answers
        // (Discord does not replay messages posted before the gateway session existed).
        loop {
            fake.post(&arrival);
            if wait_for_replies(fake, 1, Duration::from_secs(3)).await {
                return;
            }
        }
    };
    tokio::time::timeout(WARM_UP, answered)
        .await
        .map_err(|_| not_ready())?;
    if let Some(admin) = target.admin()
        && !s.chaos.is_calm()
    {
        admin.killable().await.map_err(|_| not_ready())?;
    }
    // Extra warm-up replies (to repeated warm-up posts) must not be counted later: they are
    // all in the warm-up chat, which the analysis leaves out.
    Ok(())
}

/// Waits until the fake has received at least `n` messages from the bot.
async fn wait_for_replies(fake: &Fake, n: usize, timeout: Duration) -> bool {
    match fake {
        Fake::Telegram(t) => t.wait_for_sent(n, timeout).await,
        Fake::Discord(d) => d.wait_for_created(n, timeout).await,
    }
}

/// Posts arrivals at the scenario's rate for its duration. Arrivals form a Poisson process
/// (exponential gaps), the way independent users write; the schedule is fixed in advance by
/// the seed, so a slow bot cannot slow the load down (open loop).
async fn offer_load(
    s: &Scenario,
    fake: &Fake,
    traffic: &mut Traffic,
    start: Instant,
) -> Vec<Posted> {
    let mut rng = fastrand::Rng::with_seed(s.seed ^ 0xa11);
    let rate = s.rate.max(0.001);
    let limit = match s.pattern {
        scenario::Pattern::Sweep => u64::from(s.chats),
        scenario::Pattern::Random => u64::MAX,
    };
    let mut posted = Vec::with_capacity((rate * s.duration.as_secs_f64()) as usize + 16);
    let mut t = 0.0_f64;
    let mut next_report = Duration::from_secs(5);
    while (posted.len() as u64) < limit {
        t += -(1.0 - rng.f64()).ln() / rate;
        let due = Duration::from_secs_f64(t);
        if due >= s.duration {
            break;
        }
        let when = start + due;
        if when > Instant::now() {
            tokio::time::sleep_until(when.into()).await;
        }
        let a = traffic.next_arrival();
        let msg = fake.post(&a);
        posted.push(Posted {
            chat: a.chat.platform_id(s.platform),
            msg,
            kind: a.kind,
            at: Instant::now(),
        });
        if due >= next_report {
            next_report += Duration::from_secs(5);
            eprintln!(
                "  {:>5.1}s  posted {:>7}  bot sent {:>7}",
                due.as_secs_f64(),
                posted.len(),
                fake.reply_count()
            );
        }
    }
    posted
}

/// Waits until every posted message has a reply, or the scenario's drain time is up. The
/// whole log is read only when enough replies have arrived to possibly complete it: reading it
/// for every reply would cost the harness CPU the bot is being measured on.
async fn drain(s: &Scenario, fake: &Fake, posted: &[Posted]) {
    let deadline = Instant::now() + s.drain;
    let wanted: HashSet<(i64, i64)> = posted.iter().map(|p| (p.chat, p.msg)).collect();
    // Every posted message needs a reply of its own: until there are that many, none is missing
    // for certain, so wait on the fake's counter alone.
    let mut need = posted.len();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let arrived = wait_for_replies(fake, need, left).await;
        let replies = fake.replies();
        let missing = unanswered(&wanted, &replies);
        if missing == 0 {
            return;
        }
        if !arrived {
            eprintln!(
                "  drain: {missing} messages still unanswered after {:?}",
                s.drain
            );
            return;
        }
        // From the same snapshot: replies counted after it may be the missing ones.
        need = replies.len() + missing;
    }
}

/// How many of `wanted` (chat, message) have no reply among `replies`.
fn unanswered(wanted: &HashSet<(i64, i64)>, replies: &[platform::Reply]) -> usize {
    let answered: HashSet<(i64, i64)> = replies
        .iter()
        .filter_map(|r| r.reply_to.map(|to| (r.chat, to)))
        .collect();
    wanted.difference(&answered).count()
}

fn target_version(s: &Scenario) -> String {
    match s.target {
        scenario::TargetKind::Tolmach => s
            .tolmach_bin
            .clone()
            .or_else(|| target::sibling_binary("tolmach"))
            .and_then(|bin| {
                std::process::Command::new(bin)
                    .arg("--version")
                    .output()
                    .ok()
            })
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
        other => other.as_str().to_owned(),
    }
}
