//! Every sentence the bot says that is not a translation, in one place, in the user's language.
//!
//! Each function takes the [`Locale`] first (`Locale::from_tag(inbound.user_language...)`) and
//! returns plain text (platform adapters escape as their format requires).
//!
//! # Layout
//! - this file: the messages' public API, and the grammar-free assembly (lists, dates,
//!   durations) they share;
//! - [`Locale`] (`locale.rs`): choosing a language from a platform tag, and the registry of
//!   languages the bot speaks;
//! - `words.rs`: what one language provides (a table of `{placeholder}` templates, plural forms,
//!   list conjunctions);
//! - one file per language: `en`, `es`, `de`, `ru`, `ja` translate every reply; `fr`, `it`,
//!   `pt`, `uk` translate `/help` only and fall back to English for the rest.
//!
//! Command examples (`/tr es,fr good morning`, `/lang es fr`) stay as typed in every language,
//! and so do language names (the English `Lang::name`).

pub mod admin;
mod locale;
mod words;

mod de;
mod en;
mod es;
mod fr;
mod it;
mod ja;
mod pt;
mod ru;
mod uk;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use locale::Locale;
use words::{Words, fill};

use crate::command::{Limits, ParseError};
use crate::lang::{LANGUAGES, Lang};
use crate::providers::ProviderError;

/// The longest stored text `history` shows, in characters (with the ellipsis).
const HISTORY_TEXT_CHARS: usize = 60;

/// One stored translation, as `/history` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub when: SystemTime,
    /// The source language when the user named it or it was detected.
    pub source: Option<&'static Lang>,
    pub targets: Vec<&'static Lang>,
    /// The user's original text (shortened for display).
    pub text: String,
}

/// `/help` and `/start`.
pub fn help(loc: Locale, limits: Limits, demo_only: bool, voice: bool) -> String {
    let words = loc.help_words();
    let mut s = format!(
        "{}\n\n\
         translate good morning to Spanish, French and German\n\
         /tr es,fr,de good morning\n\
         good morning -> ja\n\
         translate ciao from Italian to English\n\
         how do you say \"thank you\" in Japanese?\n\
         {}\n\n\
         /lang  {}\n\
         /favorites  {}\n\
         /history  {}\n\
         /forget  {}\n\
         /languages  {}\n\
         /help  {}\n\n{}",
        words.intro,
        words.reply,
        words.defaults,
        words.favorites,
        words.history,
        words.forget,
        words.languages,
        words.help,
        fill(
            words.limits,
            &[
                ("chars", &limits.max_text_chars.to_string()),
                ("targets", &limits.max_targets.to_string()),
            ],
        ),
    );
    if voice {
        s.push('\n');
        s.push_str(words.voice);
    }
    if demo_only {
        s.push_str("\n\n");
        s.push_str(words.demo);
    }
    s
}

/// Voice messages arrive but no transcription provider is configured.
pub fn voice_disabled(loc: Locale) -> String {
    loc.words().voice_disabled.into()
}

/// A voice message longer than `max`.
pub fn voice_too_long(loc: Locale, secs: u32, max: Duration) -> String {
    let w = loc.words();
    fill(
        w.voice_too_long,
        &[
            ("secs", &w.seconds.render(w.plural_rule, u64::from(secs))),
            ("max", &w.seconds.render(w.plural_rule, max.as_secs())),
        ],
    )
}

pub fn voice_fetch_failed(loc: Locale) -> String {
    loc.words().voice_fetch_failed.into()
}

/// `reason`: already in the user's language (see [`provider_reason`]).
pub fn voice_not_transcribed(loc: Locale, reason: &str) -> String {
    fill(loc.words().voice_not_transcribed, &[("reason", reason)])
}

/// A voice message without instructions: say what was heard and how to translate it.
pub fn transcript_only(loc: Locale, text: &str) -> String {
    fill(loc.words().transcript_only, &[("text", text)])
}

/// `/languages`.
pub fn languages(loc: Locale) -> String {
    let w = loc.words();
    let count = w.languages.render(w.plural_rule, count(LANGUAGES.len()));
    let list: Vec<String> = LANGUAGES
        .iter()
        .map(|l| format!("{} ({})", l.name, l.code))
        .collect();
    format!(
        "{}\n{}",
        fill(w.languages_header, &[("count", &count)]),
        list.join(w.and.sep)
    )
}

/// A message that is not a command.
pub fn not_a_command(loc: Locale) -> String {
    loc.words().not_a_command.into()
}

/// A message with nothing in it.
pub fn empty(loc: Locale) -> String {
    loc.words().empty.into()
}

/// A message with nothing the bot can read (a sticker, a photo without a caption...).
pub fn unreadable(loc: Locale) -> String {
    loc.words().unreadable.into()
}

/// A translation that names no language, from a user without default languages.
pub fn which_language(loc: Locale) -> String {
    loc.words().which_language.into()
}

/// Why a request could not be understood.
pub fn parse_error(loc: Locale, e: &ParseError) -> String {
    let w = loc.words();
    let n = |k: usize| count(k);
    match e {
        ParseError::NoText => w.no_text.into(),
        ParseError::NoTargets => which_language(loc),
        ParseError::UnknownLanguages(items) => {
            let mut parts = Vec::new();
            for (name, suggestions) in items {
                let mut p = fill(w.unknown_language, &[("name", name)]);
                if !suggestions.is_empty() {
                    let names: Vec<String> = suggestions.iter().map(|l| describe(l)).collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    p.push_str(&fill(
                        w.did_you_mean,
                        &[("suggestions", &w.or.join(&names))],
                    ));
                }
                parts.push(p);
            }
            parts.push(w.languages_hint.into());
            parts.join("\n")
        }
        ParseError::TooLong { chars, max } => fill(
            w.too_long,
            &[
                ("chars", &w.characters.render(w.plural_rule, n(*chars))),
                ("max", &w.characters.render(w.plural_rule, n(*max))),
            ],
        ),
        ParseError::TooManyTargets { count, max } => fill(
            w.too_many_targets,
            &[
                ("count", &w.languages.render(w.plural_rule, n(*count))),
                ("max", &w.languages.render(w.plural_rule, n(*max))),
            ],
        ),
        ParseError::UnknownCommand(name) => {
            let shown: String = name.chars().take(32).collect();
            fill(w.unknown_command, &[("command", &shown)])
        }
    }
}

/// The user is sending too fast: wait `retry_after`, rounded up to whole seconds (at least 1).
pub fn rate_limited(loc: Locale, retry_after: Duration) -> String {
    let w = loc.words();
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    fill(
        w.rate_limited,
        &[("wait", &w.seconds.render(w.plural_rule, secs.max(1)))],
    )
}

/// The deadline passed before an answer.
pub fn timed_out(loc: Locale) -> String {
    loc.words().timed_out.into()
}

/// A message whose processing kept failing.
pub fn internal_error(loc: Locale) -> String {
    loc.words().internal_error.into()
}

/// The user's settings could not be read or saved right now.
pub fn store_unavailable(loc: Locale) -> String {
    loc.words().store_unavailable.into()
}

/// `/lang es fr`: the defaults are now `langs` (none: the same as [`defaults_cleared`]).
pub fn defaults_set(loc: Locale, langs: &[&'static Lang]) -> String {
    if langs.is_empty() {
        return defaults_cleared(loc);
    }
    fill(
        loc.words().defaults_set,
        &[("languages", &names(loc, langs))],
    )
}

/// `/lang`: the current defaults.
pub fn defaults_shown(loc: Locale, langs: &[&'static Lang]) -> String {
    let w = loc.words();
    if langs.is_empty() {
        return w.defaults_none.into();
    }
    fill(w.defaults_shown, &[("languages", &names(loc, langs))])
}

/// `/lang off`.
pub fn defaults_cleared(loc: Locale) -> String {
    loc.words().defaults_cleared.into()
}

/// `/favorites`: the target languages used most (most first), with how often, and the
/// defaults.
pub fn favorites(loc: Locale, used: &[(&'static Lang, u64)], defaults: &[&'static Lang]) -> String {
    let w = loc.words();
    let mut s = if used.is_empty() {
        w.favorites_empty.to_string()
    } else {
        let mut used = used.to_vec();
        used.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        let mut s = w.favorites_header.to_string();
        for (lang, n) in used {
            s.push('\n');
            s.push_str(&fill(
                w.favorites_line,
                &[
                    ("language", lang.name),
                    ("count", &w.translations.render(w.plural_rule, n)),
                ],
            ));
        }
        s
    };
    if !defaults.is_empty() {
        s.push_str("\n\n");
        s.push_str(&fill(
            w.favorites_defaults,
            &[("languages", &names(loc, defaults))],
        ));
    }
    s
}

/// `/history`: one line per entry, in the order given, each text shortened to 60 characters.
pub fn history(loc: Locale, entries: &[HistoryLine]) -> String {
    let w = loc.words();
    if entries.is_empty() {
        return w.history_empty.into();
    }
    let mut s = w.history_header.to_string();
    for e in entries {
        let targets: Vec<&str> = e.targets.iter().map(|l| l.name).collect();
        let route = match e.source {
            Some(source) => format!("{} → {}", source.name, targets.join(w.and.sep)),
            None => format!("→ {}", targets.join(w.and.sep)),
        };
        s.push('\n');
        s.push_str(&fill(
            w.history_line,
            &[
                ("when", &utc_minute(e.when)),
                ("languages", &route),
                ("text", &shorten(&e.text, HISTORY_TEXT_CHARS)),
            ],
        ));
    }
    s
}

/// `/history` in a group chat, where history is not kept.
pub fn history_off_in_groups(loc: Locale) -> String {
    loc.words().history_off_in_groups.into()
}

/// `/history` when the operator turned history off.
pub fn history_disabled(loc: Locale) -> String {
    loc.words().history_disabled.into()
}

/// `/forget`: `removed` stored items are gone.
pub fn forgotten(loc: Locale, removed: u64) -> String {
    let w = loc.words();
    fill(
        w.forgotten,
        &[("items", &w.items.render(w.plural_rule, removed))],
    )
}

/// The user's daily quota of `limit` translations is spent; it resets (at UTC midnight) in
/// `resets_in`, shown in hours and minutes rounded up.
pub fn quota_reached(loc: Locale, limit: u32, resets_in: Duration) -> String {
    let w = loc.words();
    fill(
        w.quota_reached,
        &[
            (
                "limit",
                &w.translations.render(w.plural_rule, u64::from(limit)),
            ),
            ("wait", &hours_minutes(w, resets_in)),
        ],
    )
}

/// "2/3 translated".
pub fn translated_count(loc: Locale, ok: usize, total: usize) -> String {
    fill(
        loc.words().translated_count,
        &[("ok", &ok.to_string()), ("total", &total.to_string())],
    )
}

/// "German and Japanese failed: {reason}" (`reason` already localized).
pub fn failed_for(loc: Locale, names: &[&str], reason: &str) -> String {
    fill(
        loc.words().failed_for,
        &[("languages", &join_and(loc, names)), ("reason", reason)],
    )
}

/// "Translation failed: {reason}".
pub fn translation_failed(loc: Locale, reason: &str) -> String {
    fill(loc.words().translation_failed, &[("reason", reason)])
}

/// "from Italian (detected)".
pub fn detected_source(loc: Locale, lang: &'static Lang) -> String {
    fill(loc.words().detected_source, &[("language", lang.name)])
}

/// "from Italian".
pub fn given_source(loc: Locale, lang: &'static Lang) -> String {
    fill(loc.words().given_source, &[("language", lang.name)])
}

/// What to tell the user about a provider's failure, briefly: [`ProviderError::user_reason`]
/// in the user's language (identical to it in English). An `Unsupported` reason is the
/// provider's own words and stays as it is.
pub fn provider_reason(loc: Locale, e: &ProviderError) -> String {
    let w = loc.words();
    match e {
        ProviderError::Timeout => w.reason_timeout.into(),
        ProviderError::Status { status: 429, .. } => w.reason_rate_limited.into(),
        ProviderError::Status { status, .. } if *status >= 500 => {
            fill(w.reason_server_error, &[("status", &status.to_string())])
        }
        ProviderError::Status { status, .. } => {
            fill(w.reason_refused, &[("status", &status.to_string())])
        }
        ProviderError::Transport(_) => w.reason_unreachable.into(),
        ProviderError::InvalidResponse(_) => w.reason_nonsense.into(),
        ProviderError::Unsupported(reason) => reason.clone(),
        ProviderError::CircuitOpen { retry_in } => fill(
            w.reason_circuit_open,
            &[("secs", &retry_in.as_secs().max(1).to_string())],
        ),
        ProviderError::Unavailable => w.reason_unavailable.into(),
        ProviderError::Busy => w.reason_busy.into(),
        ProviderError::QuotaExhausted => w.reason_quota.into(),
    }
}

/// Under replies the offline demo answered.
pub fn demo_note(loc: Locale) -> String {
    loc.words().demo_note.into()
}

/// Under replies the offline demo could not answer (a phrase outside its phrasebook).
pub fn demo_explained(loc: Locale) -> String {
    loc.words().demo_explained.into()
}

/// "A", "A and B", "A, B and C" in the user's language ("A、B、C" in Japanese).
pub fn join_and(loc: Locale, items: &[&str]) -> String {
    loc.words().and.join(items)
}

/// The English names of `langs`, joined with "and".
fn names(loc: Locale, langs: &[&'static Lang]) -> String {
    let names: Vec<&str> = langs.iter().map(|l| l.name).collect();
    join_and(loc, &names)
}

fn describe(l: &Lang) -> String {
    if l.native.eq_ignore_ascii_case(l.name) {
        format!("{} ({})", l.name, l.code)
    } else {
        format!("{} / {} ({})", l.name, l.native, l.code)
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// "3 hours and 5 minutes", "1 hour", "1 minute": `d` rounded up to whole minutes (at least 1).
fn hours_minutes(w: &Words, d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let total = secs.div_ceil(60).max(1);
    let (h, m) = (total / 60, total % 60);
    let hours = w.hours.render(w.plural_rule, h);
    let minutes = w.minutes.render(w.plural_rule, m);
    match (h, m) {
        (0, _) => minutes,
        (_, 0) => hours,
        _ => fill(w.hours_minutes, &[("hours", &hours), ("minutes", &minutes)]),
    }
}

/// `text` on one line (whitespace runs become one space), at most `max` characters: longer
/// texts are cut on a character boundary and end with "…".
fn shorten(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(t: SystemTime) -> String {
    let secs: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            // Before 1970: round down to the whole second that contains it.
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    };
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}
