//! [`Locale`]: the interface language a reply is written in, chosen from the user's platform
//! language tag, and the registry of the languages the bot speaks (one file each in this
//! directory).

use std::fmt;

use super::words::{HelpWords, Words};
use super::{de, en, es, fr, it, ja, pt, ru, uk};

/// One interface language, as its file defines it.
pub(crate) struct Language {
    /// ISO 639-1 code, lowercase.
    pub code: &'static str,
    pub help: HelpWords,
    /// Every other message; `None` for a language that only translates `/help` (its other
    /// replies are English).
    pub words: Option<&'static Words>,
}

/// Every interface language; the first is the fallback. Adding a language: a file next to this
/// one and a line here.
static REGISTERED: [&Language; 9] = [
    &en::LANGUAGE,
    &es::LANGUAGE,
    &de::LANGUAGE,
    &ru::LANGUAGE,
    &ja::LANGUAGE,
    &fr::LANGUAGE,
    &it::LANGUAGE,
    &pt::LANGUAGE,
    &uk::LANGUAGE,
];

/// The language a reply is written in. Cheap to copy; English by default.
#[derive(Clone, Copy)]
pub struct Locale(&'static Language);

impl Locale {
    /// English, the fallback.
    pub const ENGLISH: Locale = Locale(&en::LANGUAGE);

    /// The locale for an IETF language tag as platforms report it (`es`, `pt-br`, `ru-RU`,
    /// `zh_Hans`): its base subtag, case-insensitively. Unknown or missing tags give English.
    pub fn from_tag(tag: Option<&str>) -> Locale {
        let Some(base) = tag.and_then(|t| t.trim().split(['-', '_']).next()) else {
            return Locale::ENGLISH;
        };
        REGISTERED
            .iter()
            .find(|l| l.code.eq_ignore_ascii_case(base))
            .map_or(Locale::ENGLISH, |l| Locale(l))
    }

    /// Its ISO 639-1 code, e.g. `"ja"`.
    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// Whether every reply is in this language (otherwise only `/help` is, the rest English).
    pub fn translates_everything(self) -> bool {
        self.0.words.is_some()
    }

    /// Every interface language the bot speaks, English first.
    pub fn all() -> impl Iterator<Item = Locale> {
        REGISTERED.iter().copied().map(Locale)
    }

    pub(crate) fn help_words(self) -> &'static HelpWords {
        &self.0.help
    }

    /// The messages in this language, or in English where it only translates `/help`.
    pub(crate) fn words(self) -> &'static Words {
        self.0.words.unwrap_or(&en::WORDS)
    }
}

impl Default for Locale {
    fn default() -> Self {
        Locale::ENGLISH
    }
}

impl PartialEq for Locale {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

impl Eq for Locale {}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locale({})", self.code())
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
