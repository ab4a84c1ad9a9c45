//! What one run does: the bot under test, the platform it talks to, the load, the chaos.
//!
//! A [`Scenario`] is plain data. The command line builds one from a [`Preset`] and then
//! applies its flags on top; [`crate::run`] carries it out; the report embeds it, so a
//! JSON report says exactly what was measured.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// The program answering the fake platform's users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The real `tolmach` binary.
    Tolmach,
    /// `bare-teloxide`: the same `/tr` job on teloxide's dispatcher, no actors (the floor).
    BareTeloxide,
    /// `loadtest/peers/python/bot.py` on python-telegram-bot (installed from PyPI).
    Python,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Tolmach => "tolmach",
            TargetKind::BareTeloxide => "bare-teloxide",
            TargetKind::Python => "python",
        }
    }
}

/// The fake platform the users write on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKind {
    Telegram,
    Discord,
}

/// What users write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MixKind {
    /// Short and long texts, 1 to 10 languages, natural-language requests, help and
    /// language commands, mistakes (unknown languages, empty commands, odd Unicode),
    /// private chats and groups.
    Realistic,
    /// Only `/tr <1-3 languages> <short text>`: the one command every peer bot implements.
    Translate,
}

/// How arrivals are spread over chats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Each arrival picks a chat at random (a few chats are much busier than the rest).
    Random,
    /// One message per chat, chat after chat: every arrival opens a new conversation (for
    /// memory per conversation; `chats` is then the number of conversations).
    Sweep,
}

/// Send limits of the platform and the bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LimitsKind {
    /// The fake enforces none and the bot's outbound pacing is raised out of the way: the
    /// figure is the runtime's own cost.
    Raised,
    /// The fake Telegram enforces Telegram's flood limits (429 with `retry_after`) and the
    /// bot keeps its default pacing: the run checks that no 429 is ever provoked.
    Real,
}

/// Faults injected while the load runs. Times are offsets from the start of the load.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Chaos {
    /// Kill a random running worker actor through the admin API this often.
    #[serde(with = "opt_duration")]
    pub kill_every: Option<Duration>,
    /// SIGKILL the whole process and start it again at these offsets.
    #[serde(with = "durations")]
    pub sigkill_at: Vec<Duration>,
    /// The fake provider answers 503 for `provider_fault_for` from each of these offsets.
    #[serde(with = "durations")]
    pub provider_fail_at: Vec<Duration>,
    /// The fake provider stalls (answers after 30 s) from each of these offsets.
    #[serde(with = "durations")]
    pub provider_stall_at: Vec<Duration>,
    /// How long each provider fault lasts.
    #[serde(with = "humantime_serde_like")]
    pub provider_fault_for: Duration,
    /// Drop the platform connection at these offsets: Discord's gateway connections, or
    /// Telegram's `getUpdates` (three answered with a 502, as a proxy in front would).
    #[serde(with = "durations")]
    pub drop_platform_at: Vec<Duration>,
}

impl Chaos {
    pub fn is_calm(&self) -> bool {
        self.kill_every.is_none()
            && self.sigkill_at.is_empty()
            && self.provider_fail_at.is_empty()
            && self.provider_stall_at.is_empty()
            && self.drop_platform_at.is_empty()
    }
}

/// One run, fully described.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub name: String,
    pub target: TargetKind,
    pub platform: PlatformKind,
    /// Distinct users.
    pub users: u32,
    /// Distinct chats (a fifth of them groups, unless `groups` says otherwise).
    pub chats: u32,
    /// Share of chats that are groups, 0.0 to 1.0.
    pub groups: f64,
    /// Arrivals per second (open loop: an arrival never waits for a reply).
    pub rate: f64,
    /// How long arrivals go on.
    #[serde(with = "humantime_serde_like")]
    pub duration: Duration,
    /// After the load: how long to wait for the last replies before counting the rest lost.
    #[serde(with = "humantime_serde_like")]
    pub drain: Duration,
    pub mix: MixKind,
    pub pattern: Pattern,
    pub limits: LimitsKind,
    /// Fixed latency of the fake provider for every call.
    #[serde(with = "humantime_serde_like")]
    pub provider_latency: Duration,
    pub chaos: Chaos,
    /// Seeds the mix, the arrival times and the chaos picks: a run can be replayed.
    pub seed: u64,
    /// The `tolmach` binary (`None`: next to this program, release build preferred).
    #[serde(skip)]
    pub tolmach_bin: Option<PathBuf>,
    /// Extra environment for tolmach (`TOLMACH_*` overrides), after the harness's own.
    pub bot_env: Vec<(String, String)>,
}

/// Starting points for the command line; flags override any field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 15 s at 100/s with chaos (actor kills every 100 ms, a provider outage, a platform
    /// drop): the CI run. Fails on anything lost or duplicated.
    Smoke,
    /// 60 s at 1,000/s, realistic mix, no faults: the baseline for latency and p99.
    Calm,
    /// The calm run with a random actor killed every 50 ms.
    Chaos,
    /// 20 SIGKILL-and-restart cycles under load.
    Crash,
    /// Telegram's real flood limits on the fake, the bot's default pacing: no 429. 15/s over
    /// 54 private chats and 6 groups, each below Telegram's own per-chat and per-group limits.
    Limits,
    /// 100,000 chats, one message each: memory per conversation.
    Memory,
    /// Saturation with `/tr` only, for the throughput comparison with the peers.
    Throughput,
}

impl Preset {
    pub fn scenario(self) -> Scenario {
        let base = Scenario {
            name: format!("{self:?}").to_lowercase(),
            target: TargetKind::Tolmach,
            platform: PlatformKind::Telegram,
            users: 5_000,
            chats: 2_000,
            groups: 0.2,
            rate: 1_000.0,
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(60),
            mix: MixKind::Realistic,
            pattern: Pattern::Random,
            limits: LimitsKind::Raised,
            provider_latency: Duration::ZERO,
            chaos: Chaos {
                provider_fault_for: Duration::from_secs(2),
                ..Chaos::default()
            },
            seed: 1,
            tolmach_bin: None,
            bot_env: Vec::new(),
        };
        match self {
            Preset::Smoke => Scenario {
                users: 300,
                chats: 120,
                rate: 100.0,
                duration: Duration::from_secs(15),
                chaos: Chaos {
                    kill_every: Some(Duration::from_millis(100)),
                    provider_fail_at: vec![Duration::from_secs(5)],
                    provider_fault_for: Duration::from_secs(1),
                    drop_platform_at: vec![Duration::from_secs(9)],
                    ..Chaos::default()
                },
                ..base
            },
            Preset::Calm => base,
            Preset::Chaos => Scenario {
                chaos: Chaos {
                    kill_every: Some(Duration::from_millis(50)),
                    ..base.chaos.clone()
                },
                ..base
            },
            Preset::Crash => Scenario {
                rate: 300.0,
                duration: Duration::from_secs(103),
                chaos: Chaos {
                    sigkill_at: (1..=20).map(|i| Duration::from_secs(i * 5)).collect(),
                    ..base.chaos.clone()
                },
                ..base
            },
            // Within what Telegram allows each chat (1/s) and group (20/min): the run is about
            // the bot never provoking a 429, not about a backlog Telegram itself imposes.
            Preset::Limits => Scenario {
                users: 200,
                chats: 60,
                groups: 0.1,
                rate: 15.0,
                duration: Duration::from_secs(30),
                limits: LimitsKind::Real,
                drain: Duration::from_secs(120),
                ..base
            },
            Preset::Memory => Scenario {
                users: 100_000,
                chats: 100_000,
                groups: 0.0,
                rate: 1_000.0,
                duration: Duration::from_secs(100),
                mix: MixKind::Translate,
                pattern: Pattern::Sweep,
                ..base
            },
            Preset::Throughput => Scenario {
                users: 1_000,
                chats: 1_000,
                groups: 0.0,
                rate: 20_000.0,
                duration: Duration::from_millis(500),
                mix: MixKind::Translate,
                drain: Duration::from_secs(300),
                ..base
            },
        }
    }
}

/// Durations as humantime strings in the JSON report ("1s 500ms").
mod humantime_serde_like {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

mod opt_duration {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

mod durations {
    use std::time::Duration;

    use serde::ser::SerializeSeq;

    pub fn serialize<S: serde::Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ds.len()))?;
        for d in ds {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }
}
