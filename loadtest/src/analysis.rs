//! From what the fake saw to the verdict: replies matched to messages, lost, duplicated,
//! out of order, latency and throughput.
//!
//! A reply belongs to the message it quotes (the first part of a split reply quotes it;
//! later parts follow it in the same chat and are counted as parts). Latency runs from the
//! moment the fake first offered the message to the bot (Telegram: the `getUpdates` that
//! returned it; Discord: the gateway dispatch, at posting) to the first reply's arrival.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chaos::Event;
use crate::platform::Reply;

/// A message the load posted.
#[derive(Clone, Debug)]
pub struct Posted {
    pub chat: i64,
    pub msg: i64,
    pub kind: &'static str,
    pub at: Instant,
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Spread {
    pub fn of(mut ms: Vec<f64>) -> Spread {
        if ms.is_empty() {
            return Spread::default();
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
        Spread {
            count: ms.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// One second of the run (by the time messages were posted, replies by when they arrived).
#[derive(Clone, Debug, Serialize)]
pub struct Second {
    pub t: u64,
    pub posted: usize,
    pub answered: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A repeated reply, and whether a SIGKILL explains it (its first copy reached the
/// platform within 2 s before a kill, the second after the restart: the reply was in flight,
/// sent but not yet recorded, when the process died; docs/adr/0007-telegram-delivery.md).
#[derive(Clone, Debug, Serialize)]
pub struct Repeat {
    pub chat: i64,
    pub msg: i64,
    pub in_flight_at_kill: bool,
}

/// One SIGKILL-and-restart cycle.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    /// Seconds since the start of the load.
    pub killed_at: f64,
    /// From the restart to the bot's first call to the platform.
    pub reconnect_ms: Option<f64>,
    /// From the restart to the first reply the fake received.
    pub serving_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub posted: usize,
    pub answered: usize,
    pub lost: usize,
    /// Examples of lost messages: (chat, message id, kind).
    pub lost_examples: Vec<(i64, i64, String)>,
    pub duplicated: usize,
    /// Repeats a SIGKILL explains (see [`Repeat`]).
    pub duplicated_in_flight: usize,
    pub repeats: Vec<Repeat>,
    /// Messages whose first reply arrived before the first reply to an earlier message of
    /// the same chat.
    pub out_of_order: usize,
    /// Messages the bot sent that quote no posted message (other than the warm-up).
    pub stray_replies: usize,
    /// Later parts of split replies.
    pub reply_parts: usize,
    /// `sendMessage` refused with 429.
    pub flood_refusals: usize,
    /// Offered by the platform to the bot → first reply.
    pub latency: Spread,
    /// The same, for translations only, minus the provider's fixed latency: the runtime's
    /// own share.
    pub runtime_added: Spread,
    /// Posted → offered (Telegram's long-poll pick-up).
    pub pickup: Spread,
    pub latency_by_kind: HashMap<String, Spread>,
    /// Answered messages per second, from the first post to the last first reply.
    pub throughput: f64,
    /// Seconds from the start of the load to the last first reply.
    pub last_reply_s: f64,
    pub seconds: Vec<Second>,
    pub recoveries: Vec<Recovery>,
}

pub struct Input<'a> {
    pub start: Instant,
    pub posted: &'a [Posted],
    pub replies: &'a [Reply],
    pub offers: &'a HashMap<(i64, i64), Instant>,
    pub events: &'a [Event],
    pub provider_latency: Duration,
    pub flood_refusals: usize,
    /// For each restart event: the bot's first call to the platform after it.
    pub reconnects: Vec<Option<Instant>>,
}

impl Input<'_> {
    /// When the fake first offered `p` to the bot; its posting time when the fake offers no
    /// such record (Discord pushes at once).
    fn offered(&self, p: &Posted) -> Instant {
        self.offers
            .get(&(p.chat, p.msg))
            .copied()
            .unwrap_or(p.at)
            .max(p.at)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

pub fn analyse(input: &Input<'_>) -> Outcome {
    let known: HashMap<(i64, i64), usize> = input
        .posted
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.chat, p.msg), i))
        .collect();
    let mut answers: Vec<Vec<Instant>> = vec![Vec::new(); input.posted.len()];
    let (mut stray, mut parts) = (0, 0);
    for r in input.replies {
        match r.reply_to {
            Some(to) => match known.get(&(r.chat, to)) {
                Some(&i) => answers[i].push(r.at),
                None => stray += 1,
            },
            None => parts += 1,
        }
    }

    let kills = Event::times(input.events, "sigkill");
    let restarts = Event::times(input.events, "restart");
    let in_flight = |first: Instant, second: Instant| {
        kills.iter().zip(&restarts).any(|(k, r)| {
            first < *r
                && second >= *r
                && k.saturating_duration_since(first) < Duration::from_secs(2)
        })
    };

    let mut out_lost = Vec::new();
    let mut repeats = Vec::new();
    let mut latency = Vec::new();
    let mut added = Vec::new();
    let mut pickup = Vec::new();
    let mut by_kind: HashMap<String, Vec<f64>> = HashMap::new();
    let mut last_first = input.start;
    for (i, p) in input.posted.iter().enumerate() {
        let at = &mut answers[i];
        at.sort();
        let Some(first) = at.first().copied() else {
            out_lost.push((p.chat, p.msg, p.kind.to_owned()));
            continue;
        };
        for pair in at.windows(2) {
            repeats.push(Repeat {
                chat: p.chat,
                msg: p.msg,
                in_flight_at_kill: in_flight(pair[0], pair[1]),
            });
        }
        let offered = input.offered(p);
        pickup.push(ms(offered.saturating_duration_since(p.at)));
        let e2e = ms(first.saturating_duration_since(offered));
        latency.push(e2e);
        by_kind.entry(p.kind.to_owned()).or_default().push(e2e);
        if p.kind == "translate" {
            added.push((e2e - ms(input.provider_latency)).max(0.0));
        }
        last_first = last_first.max(first);
    }

    // Order per chat: messages by id (ids grow with posting), first replies must follow.
    let mut by_chat: HashMap<i64, Vec<(i64, Instant)>> = HashMap::new();
    for (i, p) in input.posted.iter().enumerate() {
        if let Some(first) = answers[i].first() {
            by_chat.entry(p.chat).or_default().push((p.msg, *first));
        }
    }
    let mut out_of_order = 0;
    for list in by_chat.values_mut() {
        list.sort_by_key(|(msg, _)| *msg);
        let mut latest: Option<Instant> = None;
        for (_, first) in list.iter() {
            match latest {
                Some(l) if *first < l => out_of_order += 1,
                _ => latest = Some(*first),
            }
        }
    }

    let seconds = per_second(input, &answers);
    let recoveries = restarts
        .iter()
        .zip(&kills)
        .zip(&input.reconnects)
        .map(|((r, k), reconnect)| Recovery {
            killed_at: k.saturating_duration_since(input.start).as_secs_f64(),
            reconnect_ms: reconnect.map(|c| ms(c.saturating_duration_since(*r))),
            serving_ms: input
                .replies
                .iter()
                .filter(|x| x.at >= *r)
                .map(|x| x.at)
                .min()
                .map(|x| ms(x.saturating_duration_since(*r))),
        })
        .collect();

    let answered = input.posted.len() - out_lost.len();
    let first_post = input.posted.first().map_or(input.start, |p| p.at);
    let span = last_first
        .saturating_duration_since(first_post)
        .as_secs_f64();
    Outcome {
        posted: input.posted.len(),
        answered,
        lost: out_lost.len(),
        lost_examples: out_lost.into_iter().take(20).collect(),
        duplicated: repeats.len(),
        duplicated_in_flight: repeats.iter().filter(|r| r.in_flight_at_kill).count(),
        repeats: repeats.into_iter().take(200).collect(),
        out_of_order,
        stray_replies: stray,
        reply_parts: parts,
        flood_refusals: input.flood_refusals,
        latency: Spread::of(latency),
        runtime_added: Spread::of(added),
        pickup: Spread::of(pickup),
        latency_by_kind: by_kind
            .into_iter()
            .map(|(k, v)| (k, Spread::of(v)))
            .collect(),
        throughput: if span > 0.0 {
            answered as f64 / span
        } else {
            0.0
        },
        last_reply_s: last_first
            .saturating_duration_since(input.start)
            .as_secs_f64(),
        seconds,
        recoveries,
    }
}

fn per_second(input: &Input<'_>, answers: &[Vec<Instant>]) -> Vec<Second> {
    let sec = |at: Instant| at.saturating_duration_since(input.start).as_secs();
    let mut posted: HashMap<u64, Vec<f64>> = HashMap::new();
    let mut count: HashMap<u64, usize> = HashMap::new();
    let mut answered: HashMap<u64, usize> = HashMap::new();
    for (i, p) in input.posted.iter().enumerate() {
        *count.entry(sec(p.at)).or_default() += 1;
        if let Some(first) = answers[i].first() {
            *answered.entry(sec(*first)).or_default() += 1;
            let offered = input.offered(p);
            posted
                .entry(sec(p.at))
                .or_default()
                .push(ms(first.saturating_duration_since(offered)));
        }
    }
    let last = count
        .keys()
        .chain(answered.keys())
        .copied()
        .max()
        .unwrap_or(0);
    (0..=last)
        .map(|t| {
            let s = Spread::of(posted.remove(&t).unwrap_or_default());
            Second {
                t,
                posted: count.get(&t).copied().unwrap_or(0),
                answered: answered.get(&t).copied().unwrap_or(0),
                p50_ms: s.p50,
                p99_ms: s.p99,
                max_ms: s.max,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(chat: i64, to: Option<i64>, at: Instant) -> Reply {
        Reply {
            chat,
            reply_to: to,
            text_len: 1,
            at,
        }
    }

    fn post(chat: i64, msg: i64, kind: &'static str, at: Instant) -> Posted {
        Posted {
            chat,
            msg,
            kind,
            at,
        }
    }

    /// Analyses a run that started at `start`, with no offer records (every message offered
    /// when posted) and no 429s.
    fn outcome(
        start: Instant,
        posted: &[Posted],
        replies: &[Reply],
        events: &[Event],
        provider_latency: Duration,
        reconnects: Vec<Option<Instant>>,
    ) -> Outcome {
        analyse(&Input {
            start,
            posted,
            replies,
            offers: &HashMap::new(),
            events,
            provider_latency,
            flood_refusals: 0,
            reconnects,
        })
    }

    #[test]
    fn counts_lost_repeated_and_reordered_replies() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let posted = [
            post(1, 1, "translate", s(0)),
            post(1, 2, "translate", s(1)),
            post(1, 3, "help", s(2)),
            post(2, 1, "translate", s(3)),
        ];
        let replies = [
            reply(1, Some(2), s(10)), // message 2 answered before message 1: out of order
            reply(1, Some(1), s(20)),
            reply(1, None, s(21)), // a second part
            reply(2, Some(1), s(30)),
            reply(2, Some(1), s(40)), // repeated, no kill to explain it
            reply(3, Some(9), s(50)), // quotes nothing posted
        ];
        let o = outcome(
            t0,
            &posted,
            &replies,
            &[],
            Duration::from_millis(5),
            Vec::new(),
        );
        assert_eq!((o.posted, o.answered, o.lost), (4, 3, 1));
        assert_eq!(o.lost_examples, vec![(1, 3, "help".to_owned())]);
        assert_eq!((o.duplicated, o.duplicated_in_flight), (1, 0));
        assert_eq!(o.out_of_order, 1);
        assert_eq!((o.stray_replies, o.reply_parts), (1, 1));
        assert_eq!(o.latency.count, 3);
        assert_eq!(o.latency.max, 27.0);
        // Translations only, minus the provider's 5 ms.
        assert_eq!(o.runtime_added.count, 3);
        assert_eq!(o.runtime_added.p50, 15.0);
    }

    #[test]
    fn a_repeat_across_a_kill_is_in_flight_only_if_it_was_sent_just_before() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let posted = [post(1, 1, "translate", s(0)), post(2, 1, "translate", s(0))];
        let replies = [
            reply(1, Some(1), s(4_900)), // just before the kill at 5 s
            reply(1, Some(1), s(5_300)), // again after the restart at 5.1 s: in flight
            reply(2, Some(1), s(1_000)), // long before the kill
            reply(2, Some(1), s(5_400)), // again: not explained
        ];
        let ev = |ms: u64, kind: &str| Event {
            t: ms as f64 / 1000.0,
            kind: kind.to_owned(),
            detail: String::new(),
            at: s(ms),
        };
        let events = [ev(5_000, "sigkill"), ev(5_100, "restart")];
        let o = outcome(
            t0,
            &posted,
            &replies,
            &events,
            Duration::ZERO,
            vec![Some(s(5_150))],
        );
        assert_eq!((o.duplicated, o.duplicated_in_flight), (2, 1));
        assert_eq!(o.recoveries.len(), 1);
        assert_eq!(o.recoveries[0].reconnect_ms, Some(50.0));
        assert_eq!(o.recoveries[0].serving_ms, Some(200.0));
    }
}
