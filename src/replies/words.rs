//! What a translator fills in: the table of templates one interface language provides
//! ([`Words`], [`HelpWords`]), its plural forms and list conjunctions, and the `{placeholder}`
//! filling they rely on.
//!
//! Templates name their arguments (`{reason}`, `{wait}`...); a count always reaches a template
//! already rendered through one of the [`Plural`]s, in the grammatical case the template needs
//! (so Russian can say "подождите 1 секунду" and "5 секунд").

/// The words of `/help` in one interface language; the examples stay as typed commands.
pub(crate) struct HelpWords {
    pub intro: &'static str,
    pub languages: &'static str,
    pub help: &'static str,
    /// After `/lang` (the examples in it stay as typed).
    pub defaults: &'static str,
    /// After `/favorites`.
    pub favorites: &'static str,
    /// After `/history`.
    pub history: &'static str,
    /// After `/forget`.
    pub forget: &'static str,
    /// How to translate someone else's message (keeps `/tr de`).
    pub reply: &'static str,
    /// With `{chars}` and `{targets}` (plain numbers: phrase it so any number reads right).
    pub limits: &'static str,
    pub voice: &'static str,
    pub demo: &'static str,
}

/// Which plural form a count takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PluralForm {
    One,
    Few,
    Many,
}

/// "1 second" / "2 seconds": one count phrase in its three forms, each with `{n}`. Languages
/// with two forms repeat `many` as `few`; languages without plurals repeat one form thrice.
pub(crate) struct Plural {
    pub one: &'static str,
    pub few: &'static str,
    pub many: &'static str,
}

/// How a list ends: `sep` between items, `last` before the final one; `last_alt` replaces
/// `last` when the final item starts with one of the given prefixes (Spanish "y" → "e" before
/// "i"/"hi", "o" → "u" before "o"/"ho"), compared case-insensitively.
pub(crate) struct Conjunction {
    pub sep: &'static str,
    pub last: &'static str,
    pub last_alt: Option<(&'static [&'static str], &'static str)>,
}

/// Every message of one interface language except `/help`. A language that has these
/// translates everything; adding a field here makes every such language fail to compile until
/// it is translated.
pub(crate) struct Words {
    /// The form a count takes in this language.
    pub plural_rule: fn(u64) -> PluralForm,
    /// "A, B and C".
    pub and: Conjunction,
    /// "A, B or C".
    pub or: Conjunction,

    // Count phrases, each with `{n}`.
    pub seconds: Plural,
    pub characters: Plural,
    pub languages: Plural,
    pub items: Plural,
    pub translations: Plural,
    pub hours: Plural,
    pub minutes: Plural,
    /// Both: `{hours}` and `{minutes}`.
    pub hours_minutes: &'static str,

    pub voice_disabled: &'static str,
    /// `{secs}`, `{max}` (seconds).
    pub voice_too_long: &'static str,
    pub voice_fetch_failed: &'static str,
    /// `{reason}`.
    pub voice_not_transcribed: &'static str,
    /// `{text}`: what was heard.
    pub transcript_only: &'static str,
    /// `{count}` (languages).
    pub languages_header: &'static str,
    pub not_a_command: &'static str,
    pub empty: &'static str,
    /// A sticker, a photo, a file... without text, in a private chat.
    pub unreadable: &'static str,
    pub no_text: &'static str,
    pub which_language: &'static str,
    /// `{name}`: what the user typed.
    pub unknown_language: &'static str,
    /// `{suggestions}`, starting with the space that separates it from the sentence before
    /// (none in Japanese): `" Did you mean {suggestions}?"`.
    pub did_you_mean: &'static str,
    pub languages_hint: &'static str,
    /// `{chars}`, `{max}` (characters).
    pub too_long: &'static str,
    /// `{count}`, `{max}` (languages).
    pub too_many_targets: &'static str,
    /// `{command}`, without its slash.
    pub unknown_command: &'static str,
    /// `{wait}` (seconds).
    pub rate_limited: &'static str,
    pub timed_out: &'static str,
    pub internal_error: &'static str,
    pub store_unavailable: &'static str,

    /// `{languages}`: the defaults, joined.
    pub defaults_set: &'static str,
    /// `{languages}`.
    pub defaults_shown: &'static str,
    pub defaults_none: &'static str,
    pub defaults_cleared: &'static str,
    pub favorites_header: &'static str,
    /// `{language}`, `{count}` (translations).
    pub favorites_line: &'static str,
    /// `{languages}`.
    pub favorites_defaults: &'static str,
    pub favorites_empty: &'static str,
    pub history_header: &'static str,
    /// `{when}`, `{languages}` ("Italian → Spanish, French"), `{text}`.
    pub history_line: &'static str,
    pub history_empty: &'static str,
    pub history_off_in_groups: &'static str,
    pub history_disabled: &'static str,
    /// `{items}`.
    pub forgotten: &'static str,
    /// `{limit}` (translations), `{wait}` (hours and minutes).
    pub quota_reached: &'static str,

    /// `{ok}`, `{total}`.
    pub translated_count: &'static str,
    /// `{languages}`, `{reason}`.
    pub failed_for: &'static str,
    /// `{reason}`.
    pub translation_failed: &'static str,
    /// `{language}`.
    pub detected_source: &'static str,
    /// `{language}`.
    pub given_source: &'static str,
    pub demo_note: &'static str,
    pub demo_explained: &'static str,

    // Why a provider gave no translation (see `ProviderError::user_reason`).
    pub reason_timeout: &'static str,
    pub reason_rate_limited: &'static str,
    /// `{status}`.
    pub reason_server_error: &'static str,
    /// `{status}`.
    pub reason_refused: &'static str,
    pub reason_unreachable: &'static str,
    pub reason_nonsense: &'static str,
    /// `{secs}`: a plain number.
    pub reason_circuit_open: &'static str,
    pub reason_unavailable: &'static str,
    pub reason_busy: &'static str,
    pub reason_quota: &'static str,
}

impl Plural {
    /// `n` in the form `rule` picks.
    pub fn render(&self, rule: fn(u64) -> PluralForm, n: u64) -> String {
        let template = match rule(n) {
            PluralForm::One => self.one,
            PluralForm::Few => self.few,
            PluralForm::Many => self.many,
        };
        fill(template, &[("n", &n.to_string())])
    }
}

impl Conjunction {
    /// The items as one list: "A", "A and B", "A, B and C".
    pub fn join(&self, items: &[&str]) -> String {
        match items {
            [] => String::new(),
            [one] => (*one).to_string(),
            [init @ .., last] => {
                let lower = last.to_lowercase();
                let last_word = match self.last_alt {
                    Some((prefixes, alt)) if prefixes.iter().any(|p| lower.starts_with(p)) => alt,
                    _ => self.last,
                };
                format!("{}{last_word}{last}", init.join(self.sep))
            }
        }
    }
}

/// English, German, Spanish...: one for exactly 1, many otherwise.
pub(crate) fn plural_one_other(n: u64) -> PluralForm {
    if n == 1 {
        PluralForm::One
    } else {
        PluralForm::Many
    }
}

/// Russian, Ukrainian: 1, 21, 101 → one; 2–4, 22–24 → few; 0, 5–20, 25–30, 111 → many.
pub(crate) fn plural_east_slavic(n: u64) -> PluralForm {
    let (ones, tens) = (n % 10, n % 100);
    if ones == 1 && tens != 11 {
        PluralForm::One
    } else if (2..=4).contains(&ones) && !(12..=14).contains(&tens) {
        PluralForm::Few
    } else {
        PluralForm::Many
    }
}

/// Japanese, Chinese...: no grammatical number.
pub(crate) fn plural_none(_: u64) -> PluralForm {
    PluralForm::Many
}

/// Replaces each `{name}` in `template` with its value, in one pass: a value that itself
/// contains braces (user text) is copied as it is. Unknown names stay visible as `{name}`.
pub(crate) fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let name = &after[..close];
        match args.iter().find(|(k, _)| *k == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
impl HelpWords {
    /// Every template, by field name (exhaustive: a new field must be listed here).
    pub fn templates(&self) -> Vec<(&'static str, &'static str)> {
        let HelpWords {
            intro,
            languages,
            help,
            defaults,
            favorites,
            history,
            forget,
            reply,
            limits,
            voice,
            demo,
        } = self;
        vec![
            ("intro", *intro),
            ("languages", *languages),
            ("help", *help),
            ("defaults", *defaults),
            ("favorites", *favorites),
            ("history", *history),
            ("forget", *forget),
            ("reply", *reply),
            ("limits", *limits),
            ("voice", *voice),
            ("demo", *demo),
        ]
    }
}

#[cfg(test)]
impl Words {
    /// Every template, by field name, plural forms as `name.one` etc. The destructuring is
    /// exhaustive, so a new field does not compile until it is listed (and so tested).
    pub fn templates(&self) -> Vec<(String, &'static str)> {
        let Words {
            plural_rule: _,
            and: _,
            or: _,
            seconds,
            characters,
            languages,
            items,
            translations,
            hours,
            minutes,
            hours_minutes,
            voice_disabled,
            voice_too_long,
            voice_fetch_failed,
            voice_not_transcribed,
            transcript_only,
            languages_header,
            not_a_command,
            empty,
            unreadable,
            no_text,
            which_language,
            unknown_language,
            did_you_mean,
            languages_hint,
            too_long,
            too_many_targets,
            unknown_command,
            rate_limited,
            timed_out,
            internal_error,
            store_unavailable,
            defaults_set,
            defaults_shown,
            defaults_none,
            defaults_cleared,
            favorites_header,
            favorites_line,
            favorites_defaults,
            favorites_empty,
            history_header,
            history_line,
            history_empty,
            history_off_in_groups,
            history_disabled,
            forgotten,
            quota_reached,
            translated_count,
            failed_for,
            translation_failed,
            detected_source,
            given_source,
            demo_note,
            demo_explained,
            reason_timeout,
            reason_rate_limited,
            reason_server_error,
            reason_refused,
            reason_unreachable,
            reason_nonsense,
            reason_circuit_open,
            reason_unavailable,
            reason_busy,
            reason_quota,
        } = self;
        let mut out = Vec::new();
        for (name, p) in [
            ("seconds", seconds),
            ("characters", characters),
            ("languages", languages),
            ("items", items),
            ("translations", translations),
            ("hours", hours),
            ("minutes", minutes),
        ] {
            out.push((format!("{name}.one"), p.one));
            out.push((format!("{name}.few"), p.few));
            out.push((format!("{name}.many"), p.many));
        }
        let plain: [(&str, &'static str); 54] = [
            ("hours_minutes", *hours_minutes),
            ("voice_disabled", *voice_disabled),
            ("voice_too_long", *voice_too_long),
            ("voice_fetch_failed", *voice_fetch_failed),
            ("voice_not_transcribed", *voice_not_transcribed),
            ("transcript_only", *transcript_only),
            ("languages_header", *languages_header),
            ("not_a_command", *not_a_command),
            ("empty", *empty),
            ("unreadable", *unreadable),
            ("no_text", *no_text),
            ("which_language", *which_language),
            ("unknown_language", *unknown_language),
            ("did_you_mean", *did_you_mean),
            ("languages_hint", *languages_hint),
            ("too_long", *too_long),
            ("too_many_targets", *too_many_targets),
            ("unknown_command", *unknown_command),
            ("rate_limited", *rate_limited),
            ("timed_out", *timed_out),
            ("internal_error", *internal_error),
            ("store_unavailable", *store_unavailable),
            ("defaults_set", *defaults_set),
            ("defaults_shown", *defaults_shown),
            ("defaults_none", *defaults_none),
            ("defaults_cleared", *defaults_cleared),
            ("favorites_header", *favorites_header),
            ("favorites_line", *favorites_line),
            ("favorites_defaults", *favorites_defaults),
            ("favorites_empty", *favorites_empty),
            ("history_header", *history_header),
            ("history_line", *history_line),
            ("history_empty", *history_empty),
            ("history_off_in_groups", *history_off_in_groups),
            ("history_disabled", *history_disabled),
            ("forgotten", *forgotten),
            ("quota_reached", *quota_reached),
            ("translated_count", *translated_count),
            ("failed_for", *failed_for),
            ("translation_failed", *translation_failed),
            ("detected_source", *detected_source),
            ("given_source", *given_source),
            ("demo_note", *demo_note),
            ("demo_explained", *demo_explained),
            ("reason_timeout", *reason_timeout),
            ("reason_rate_limited", *reason_rate_limited),
            ("reason_server_error", *reason_server_error),
            ("reason_refused", *reason_refused),
            ("reason_unreachable", *reason_unreachable),
            ("reason_nonsense", *reason_nonsense),
            ("reason_circuit_open", *reason_circuit_open),
            ("reason_unavailable", *reason_unavailable),
            ("reason_busy", *reason_busy),
            ("reason_quota", *reason_quota),
        ];
        out.extend(plain.into_iter().map(|(k, v)| (k.to_string(), v)));
        out
    }
}
