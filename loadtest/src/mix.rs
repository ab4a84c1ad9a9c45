//! The users: who writes where, and what.
//!
//! [`Traffic`] turns a seed into a reproducible stream of [`Arrival`]s: a chat (private or
//! group), one of its users and a text from the mix. Every text in the mix is one a bot
//! must answer exactly once (a translation, a help text, a clear error), so a missing or
//! repeated reply is always a fault of the bot, never of the mix.

use crate::scenario::{MixKind, Pattern, PlatformKind, Scenario};

/// Offset of user and chat ids, so that they never collide with the fakes' own ids.
const ID_BASE: i64 = 1_000_000;

/// Where a message is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatRef {
    /// Index in `0..chats`.
    pub index: u32,
    pub group: bool,
}

impl ChatRef {
    /// The platform's id of the chat: a private Telegram chat has its user's id, a group a
    /// negative one; Discord channels are positive snowflakes.
    pub fn platform_id(self, platform: PlatformKind) -> i64 {
        let n = ID_BASE + i64::from(self.index);
        match (platform, self.group) {
            (PlatformKind::Telegram, true) => -n,
            (PlatformKind::Telegram, false) => n,
            (PlatformKind::Discord, _) => n,
        }
    }
}

/// One message a user writes.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub chat: ChatRef,
    /// The user's id on the platform.
    pub user: i64,
    pub text: String,
    /// What kind of message it is, for the report.
    pub kind: &'static str,
}

const LANGS: &[&str] = &[
    "es", "fr", "de", "it", "pt", "ru", "uk", "ja", "zh", "ko", "pl", "nl", "tr", "sv",
];
const NAMES: &[&str] = &[
    "Spanish",
    "French",
    "German",
    "Italian",
    "Portuguese",
    "Russian",
    "Japanese",
    "Dutch",
];
const SHORT: &[&str] = &[
    "good morning",
    "where is the train station?",
    "I would like a cup of coffee, please",
    "see you tomorrow at the meeting",
    "the weather is lovely today",
    "how much does this cost?",
    "thank you for your help",
    "can you send me the report before Friday?",
    "happy birthday!",
    "the quick brown fox jumps over the lazy dog",
];
const SENTENCES: &[&str] = &[
    "The committee met on Tuesday to review the budget for the coming year.",
    "Several members raised concerns about the cost of the new building.",
    "After a long discussion, they agreed to postpone the decision until spring.",
    "Meanwhile, the library will extend its opening hours on weekends.",
    "Volunteers are welcome to help with the reading programme for children.",
    "Please write to the secretary if you would like to take part.",
];
/// Texts that test the edges: emoji with modifiers, joiners, combining marks, RTL.
const ODD: &[&str] = &[
    "👋🏽 héllo wörld",
    "e\u{301}te\u{301} a\u{300} Paris",
    "👨\u{200d}👩\u{200d}👧 family dinner",
    "مرحبا hello",
    "ＦＵＬＬＷＩＤＴＨ text",
];

/// A reproducible stream of arrivals for one scenario.
pub struct Traffic {
    rng: fastrand::Rng,
    mix: MixKind,
    pattern: Pattern,
    platform: PlatformKind,
    chats: u32,
    group_chats: u32,
    users: u32,
    /// Uniform chat choice (with real send limits a hot chat would outrun Telegram's own
    /// one-message-a-second-per-chat limit, which no bot can help).
    uniform: bool,
    bot_username: String,
    next: u64,
}

impl Traffic {
    pub fn new(s: &Scenario, bot_username: &str) -> Traffic {
        let chats = s.chats.max(1);
        let group_chats = if s.pattern == Pattern::Sweep {
            0
        } else {
            ((f64::from(chats) * s.groups.clamp(0.0, 1.0)).round() as u32).min(chats)
        };
        Traffic {
            rng: fastrand::Rng::with_seed(s.seed),
            mix: s.mix,
            pattern: s.pattern,
            platform: s.platform,
            chats,
            group_chats,
            users: s.users.max(chats),
            uniform: s.limits == crate::scenario::LimitsKind::Real,
            bot_username: bot_username.to_owned(),
            next: 0,
        }
    }

    /// Every chat, for fakes that must know channels in advance.
    pub fn all_chats(&self) -> impl Iterator<Item = ChatRef> + '_ {
        (0..self.chats).map(|index| ChatRef {
            index,
            group: index < self.group_chats,
        })
    }

    /// The private user of a chat; a random user of the pool for a group.
    fn user_for(&mut self, chat: ChatRef) -> i64 {
        let index = if chat.group {
            self.rng.u32(0..self.users)
        } else {
            chat.index
        };
        ID_BASE + i64::from(index)
    }

    fn pick_chat(&mut self) -> ChatRef {
        let index = match self.pattern {
            Pattern::Sweep => (self.next % u64::from(self.chats)) as u32,
            Pattern::Random if self.uniform => self.rng.u32(0..self.chats),
            // Half of the traffic comes from a tenth of the chats.
            Pattern::Random => {
                if self.rng.bool() {
                    self.rng.u32(0..(self.chats / 10).max(1))
                } else {
                    self.rng.u32(0..self.chats)
                }
            }
        };
        ChatRef {
            index,
            group: index < self.group_chats,
        }
    }

    pub fn next_arrival(&mut self) -> Arrival {
        let chat = self.pick_chat();
        let user = self.user_for(chat);
        let n = self.next;
        self.next += 1;
        let (kind, text) = match self.mix {
            MixKind::Translate => {
                let k = 1 + self.rng.usize(0..3);
                ("translate", self.translate(n, k))
            }
            MixKind::Realistic => self.realistic(chat, n),
        };
        let text = self.for_platform(chat, &text);
        Arrival {
            chat,
            user,
            text,
            kind,
        }
    }

    fn langs(&mut self, k: usize) -> String {
        let mut picked: Vec<&str> = Vec::with_capacity(k);
        while picked.len() < k.min(LANGS.len()) {
            let l = LANGS[self.rng.usize(0..LANGS.len())];
            if !picked.contains(&l) {
                picked.push(l);
            }
        }
        picked.join(",")
    }

    fn short(&mut self, n: u64) -> String {
        // A serial number keeps every text distinct: no run is flattered by the cache.
        format!("{} ({n})", SHORT[self.rng.usize(0..SHORT.len())])
    }

    fn long(&mut self, n: u64, chars: usize) -> String {
        let mut text = format!("Notice {n}. ");
        while text.chars().count() < chars {
            text.push_str(SENTENCES[self.rng.usize(0..SENTENCES.len())]);
            text.push(' ');
        }
        text
    }

    fn translate(&mut self, n: u64, k: usize) -> String {
        let langs = self.langs(k);
        format!("/tr {langs} {}", self.short(n))
    }

    fn realistic(&mut self, chat: ChatRef, n: u64) -> (&'static str, String) {
        let roll = self.rng.u32(0..100);
        // Groups get commands only: a bot in privacy mode sees nothing else there.
        let private = !chat.group;
        match roll {
            0..=49 => {
                let k = match self.rng.u32(0..100) {
                    0..=29 => 1,
                    30..=54 => 2,
                    55..=74 => 3,
                    _ => 4 + self.rng.usize(0..7),
                };
                ("translate", self.translate(n, k))
            }
            50..=61 if private => {
                let a = NAMES[self.rng.usize(0..NAMES.len())];
                let b = NAMES[self.rng.usize(0..NAMES.len())];
                let text = self.short(n);
                if a == b {
                    ("natural", format!("translate {text} to {a}"))
                } else {
                    ("natural", format!("translate {text} to {a} and {b}"))
                }
            }
            62..=69 => {
                let chars = 400 + self.rng.usize(0..2_600);
                let langs = self.langs(2);
                ("long", format!("/tr {langs} {}", self.long(n, chars)))
            }
            70..=77 if private => ("plain", self.short(n)),
            78..=83 => {
                let cmd = ["/help", "/start", "/langs"][self.rng.usize(0..3)];
                ("help", cmd.to_owned())
            }
            84..=87 if private => {
                let langs = self.langs(2).replace(',', " ");
                ("defaults", format!("/lang {langs}"))
            }
            88..=89 => ("mistake", format!("/tr xx {}", self.short(n))),
            90..=91 => ("mistake", "/tr".to_owned()),
            92..=93 => ("mistake", "/tr es".to_owned()),
            94..=95 => (
                "odd",
                format!("/tr fr {} {n}", ODD[self.rng.usize(0..ODD.len())]),
            ),
            96..=97 => ("huge", format!("/tr es {}", self.long(n, 4_500))),
            98..=99 if private => ("unknown", "/frobnicate".to_owned()),
            _ => ("translate", self.translate(n, 1)),
        }
    }

    /// Platform spelling: Discord's text commands start with `!`; Telegram groups often
    /// address a command to the bot by name.
    fn for_platform(&mut self, chat: ChatRef, text: &str) -> String {
        match self.platform {
            PlatformKind::Discord => match text.strip_prefix('/') {
                Some(rest) => format!("!{rest}"),
                None => text.to_owned(),
            },
            PlatformKind::Telegram if chat.group && self.rng.bool() => match text.split_once(' ') {
                Some((cmd, rest)) if cmd.starts_with('/') => {
                    format!("{cmd}@{} {rest}", self.bot_username)
                }
                None if text.starts_with('/') => format!("{text}@{}", self.bot_username),
                _ => text.to_owned(),
            },
            PlatformKind::Telegram => text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Preset;

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        let s = Preset::Calm.scenario();
        let mut a = Traffic::new(&s, "bot");
        let mut b = Traffic::new(&s, "bot");
        for _ in 0..1_000 {
            let (x, y) = (a.next_arrival(), b.next_arrival());
            assert_eq!((x.chat, x.user, x.text), (y.chat, y.user, y.text));
        }
    }

    #[test]
    fn groups_get_only_commands_and_sweeps_visit_every_chat_once() {
        let s = Preset::Calm.scenario();
        let mut t = Traffic::new(&s, "bot");
        for _ in 0..5_000 {
            let a = t.next_arrival();
            if a.chat.group {
                assert!(a.text.starts_with('/'), "{:?}", a.text);
                assert!(a.user >= ID_BASE);
            } else {
                assert_eq!(a.user, ID_BASE + i64::from(a.chat.index));
            }
        }
        let mut s = Preset::Memory.scenario();
        s.chats = 50;
        let mut t = Traffic::new(&s, "bot");
        let seen: std::collections::BTreeSet<u32> =
            (0..50).map(|_| t.next_arrival().chat.index).collect();
        assert_eq!(seen.len(), 50);
    }
}
