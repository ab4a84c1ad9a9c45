//! Tests of the replies: every language complete and well-formed, grammar, formatting.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use super::words::{PluralForm, plural_east_slavic};
use super::*;

/// The languages that translate every reply, and those that translate only `/help` (their
/// other replies are English). Every registered language must be in exactly one of the two.
const FULL: &[&str] = &["en", "es", "de", "ru", "ja"];
const HELP_ONLY: &[&str] = &["fr", "it", "pt", "uk"];

/// Templates that may read the same as in English (only punctuation and placeholders).
const MAY_MATCH_ENGLISH: &[&str] = &["favorites_line"];

/// Typed examples that must survive translation verbatim.
const EXAMPLES: &[&str] = &[
    "/tr es,fr,de good morning",
    "/tr es,fr good morning",
    "/tr es good morning",
    "/tr es,fr",
    "/lang es fr",
    "/lang off",
    "/languages",
    "/history",
    "/help",
    "translate good morning to Spanish",
    "good morning",
    "thank you",
    "HTTP",
    "UTC",
    "README",
];

fn lang(code: &str) -> &'static Lang {
    Lang::from_code(code).expect("lang")
}

fn locale(code: &str) -> Locale {
    let loc = Locale::from_tag(Some(code));
    assert_eq!(loc.code(), code);
    loc
}

fn limits() -> Limits {
    Limits {
        max_text_chars: 100,
        max_targets: 3,
    }
}

/// The `{name}`s in a template.
fn placeholders(template: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.insert(after[..close].to_string());
        rest = &after[close + 1..];
    }
    out
}

/// `/word` tokens, with multiplicity.
fn commands(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .match_indices('/')
        .filter_map(|(i, _)| {
            let word: String = text[i + 1..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            word.starts_with(|c: char| c.is_ascii_alphabetic())
                .then(|| format!("/{word}"))
        })
        .collect();
    out.sort();
    out
}

fn provider_errors() -> Vec<ProviderError> {
    vec![
        ProviderError::Timeout,
        ProviderError::Status {
            status: 429,
            retry_after: None,
        },
        ProviderError::Status {
            status: 503,
            retry_after: Some(Duration::from_secs(3)),
        },
        ProviderError::Status {
            status: 401,
            retry_after: None,
        },
        ProviderError::Transport("reset".into()),
        ProviderError::InvalidResponse("junk".into()),
        ProviderError::Unsupported("not in the offline demo phrasebook".into()),
        ProviderError::CircuitOpen {
            retry_in: Duration::from_millis(12_400),
        },
        ProviderError::CircuitOpen {
            retry_in: Duration::from_millis(10),
        },
        ProviderError::Unavailable,
        ProviderError::Busy,
        ProviderError::QuotaExhausted,
    ]
}

/// Every public message, rendered with sample arguments (several per message, to reach every
/// branch), by name.
fn every_message(loc: Locale) -> Vec<(String, String)> {
    let (es, fr, de, it, ja) = (lang("es"), lang("fr"), lang("de"), lang("it"), lang("ja"));
    let history_entry = HistoryLine {
        when: UNIX_EPOCH + Duration::from_secs(1_714_572_180),
        source: Some(it),
        targets: vec![es, fr],
        text: "ciao a tutti".into(),
    };
    let mut out: Vec<(String, String)> = vec![
        ("help".into(), help(loc, limits(), false, false)),
        ("help+demo+voice".into(), help(loc, limits(), true, true)),
        ("voice_disabled".into(), voice_disabled(loc)),
        (
            "voice_too_long".into(),
            voice_too_long(loc, 75, Duration::from_secs(60)),
        ),
        ("voice_fetch_failed".into(), voice_fetch_failed(loc)),
        (
            "voice_not_transcribed".into(),
            voice_not_transcribed(loc, "x"),
        ),
        ("transcript_only".into(), transcript_only(loc, "hello")),
        ("languages".into(), languages(loc)),
        ("not_a_command".into(), not_a_command(loc)),
        ("empty".into(), empty(loc)),
        ("unreadable".into(), unreadable(loc)),
        ("which_language".into(), which_language(loc)),
        ("timed_out".into(), timed_out(loc)),
        ("internal_error".into(), internal_error(loc)),
        ("store_unavailable".into(), store_unavailable(loc)),
        (
            "rate_limited".into(),
            rate_limited(loc, Duration::from_secs(3)),
        ),
        ("defaults_set".into(), defaults_set(loc, &[es, fr])),
        ("defaults_shown".into(), defaults_shown(loc, &[es, fr, de])),
        ("defaults_shown(none)".into(), defaults_shown(loc, &[])),
        ("defaults_cleared".into(), defaults_cleared(loc)),
        (
            "favorites".into(),
            favorites(loc, &[(es, 12), (de, 1)], &[es]),
        ),
        ("favorites(none)".into(), favorites(loc, &[], &[])),
        ("history".into(), history(loc, &[history_entry])),
        ("history(none)".into(), history(loc, &[])),
        ("history_off_in_groups".into(), history_off_in_groups(loc)),
        ("history_disabled".into(), history_disabled(loc)),
        ("forgotten".into(), forgotten(loc, 7)),
        (
            "quota_reached".into(),
            quota_reached(loc, 50, Duration::from_secs(3 * 3600 + 5 * 60)),
        ),
        ("translated_count".into(), translated_count(loc, 2, 3)),
        (
            "failed_for".into(),
            failed_for(loc, &["German", "Japanese"], "x"),
        ),
        ("translation_failed".into(), translation_failed(loc, "x")),
        ("detected_source".into(), detected_source(loc, it)),
        ("given_source".into(), given_source(loc, ja)),
        ("demo_note".into(), demo_note(loc)),
        ("demo_explained".into(), demo_explained(loc)),
    ];
    let parse_errors = [
        ParseError::NoText,
        ParseError::NoTargets,
        ParseError::UnknownLanguages(vec![("Spansh".into(), vec![es]), ("zz".into(), vec![])]),
        ParseError::TooLong {
            chars: 1200,
            max: 1000,
        },
        ParseError::TooManyTargets { count: 7, max: 5 },
        ParseError::UnknownCommand("frobnicate".into()),
    ];
    for e in &parse_errors {
        out.push((format!("parse_error({e:?})"), parse_error(loc, e)));
    }
    for e in provider_errors() {
        out.push((format!("provider_reason({e:?})"), provider_reason(loc, &e)));
    }
    out
}

#[test]
fn every_registered_language_is_full_or_explicitly_help_only() {
    let registered: Vec<&str> = Locale::all().map(Locale::code).collect();
    assert_eq!(registered.first(), Some(&"en"), "English comes first");
    let mut expected: Vec<&str> = FULL.iter().chain(HELP_ONLY).copied().collect();
    let mut sorted = registered.clone();
    expected.sort_unstable();
    sorted.sort_unstable();
    assert_eq!(
        sorted, expected,
        "a new language must be listed in FULL or HELP_ONLY"
    );
    for loc in Locale::all() {
        let full = FULL.contains(&loc.code());
        assert_eq!(loc.translates_everything(), full, "{loc}");
        if !full {
            assert!(
                std::ptr::eq(loc.words(), Locale::ENGLISH.words()),
                "{loc}: help-only languages speak English otherwise"
            );
        }
    }
}

#[test]
fn every_template_matches_english() {
    let english: Vec<(String, &str)> = Locale::ENGLISH.words().templates();
    for loc in Locale::all().filter(|l| l.translates_everything()) {
        let theirs = loc.words().templates();
        assert_eq!(theirs.len(), english.len());
        for ((name, en), (their_name, text)) in english.iter().zip(&theirs) {
            assert_eq!(name, their_name);
            assert!(!text.trim().is_empty(), "{loc}: {name} is empty");
            assert_eq!(
                placeholders(text),
                placeholders(en),
                "{loc}: {name} has other placeholders than English: {text}"
            );
            assert_eq!(
                commands(text),
                commands(en),
                "{loc}: {name} lost or added a /command: {text}"
            );
            for example in EXAMPLES {
                assert_eq!(
                    text.matches(example).count(),
                    en.matches(example).count(),
                    "{loc}: {name} must keep \"{example}\" as typed: {text}"
                );
            }
            if loc != Locale::ENGLISH
                && !name.contains('.')
                && !MAY_MATCH_ENGLISH.contains(&name.as_str())
            {
                assert_ne!(text, en, "{loc}: {name} is not translated");
            }
        }
        // Plural forms all say the count.
        for (name, text) in &theirs {
            if name.contains('.') {
                assert_eq!(text.matches("{n}").count(), 1, "{loc}: {name}");
            }
        }
    }
}

#[test]
fn help_templates_are_complete_in_every_language() {
    let english = Locale::ENGLISH.help_words().templates();
    for loc in Locale::all() {
        for ((name, en), (_, text)) in english.iter().zip(loc.help_words().templates()) {
            assert!(!text.trim().is_empty(), "{loc}: help {name}");
            assert_eq!(placeholders(text), placeholders(en), "{loc}: help {name}");
            assert_eq!(commands(text), commands(en), "{loc}: help {name}");
            if loc != Locale::ENGLISH {
                assert_ne!(text, *en, "{loc}: help {name} is not translated");
            }
        }
    }
}

#[test]
fn every_message_renders_without_leftovers_in_every_language() {
    let english = every_message(Locale::ENGLISH);
    for loc in Locale::all() {
        let rendered = every_message(loc);
        assert_eq!(rendered.len(), english.len());
        for ((name, text), (_, en)) in rendered.iter().zip(&english) {
            assert!(!text.trim().is_empty(), "{loc}: {name} is empty");
            assert!(
                !text.contains('{') && !text.contains('}'),
                "{loc}: {name} has an unfilled placeholder: {text}"
            );
            assert_eq!(commands(text), commands(en), "{loc}: {name}: {text}");
            let untranslatable = name.contains("Unsupported");
            if loc.translates_everything() && loc != Locale::ENGLISH && !untranslatable {
                assert_ne!(text, en, "{loc}: {name} is still English");
            }
            if !loc.translates_everything() && !name.starts_with("help") {
                assert_eq!(text, en, "{loc}: {name} falls back to English");
            }
        }
    }
}

/// Kana, kanji and Japanese punctuation (not symbols such as ⓘ).
fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

#[test]
fn japanese_has_no_spaces_between_japanese_words() {
    let ja = locale("ja");
    let mut texts: Vec<(String, String)> = ja
        .words()
        .templates()
        .into_iter()
        .map(|(n, t)| (n, t.to_string()))
        .collect();
    texts.extend(every_message(ja));
    for (name, text) in texts {
        let chars: Vec<char> = text.chars().collect();
        for w in chars.windows(3) {
            assert!(
                !(w[1] == ' ' && is_japanese(w[0]) && is_japanese(w[2])),
                "ja: {name} has a space between Japanese characters: {text}"
            );
        }
    }
}

#[test]
fn locale_from_platform_tags() {
    for (tag, code) in [
        (Some("es"), "es"),
        (Some("ES"), "es"),
        (Some("ru-RU"), "ru"),
        (Some("pt-br"), "pt"),
        (Some("pt_BR"), "pt"),
        (Some("ja"), "ja"),
        (Some("de-AT"), "de"),
        (Some(" uk "), "uk"),
        (Some("en-US"), "en"),
        (Some("zh-Hans"), "en"),
        (Some("jpn"), "en"),
        (Some(""), "en"),
        (Some("-"), "en"),
        (None, "en"),
    ] {
        assert_eq!(Locale::from_tag(tag).code(), code, "{tag:?}");
    }
    assert_eq!(Locale::default(), Locale::ENGLISH);
}

#[test]
fn russian_plurals() {
    let ru = locale("ru");
    for (n, form) in [
        (0, PluralForm::Many),
        (1, PluralForm::One),
        (2, PluralForm::Few),
        (4, PluralForm::Few),
        (5, PluralForm::Many),
        (11, PluralForm::Many),
        (12, PluralForm::Many),
        (14, PluralForm::Many),
        (21, PluralForm::One),
        (22, PluralForm::Few),
        (25, PluralForm::Many),
        (101, PluralForm::One),
        (111, PluralForm::Many),
        (112, PluralForm::Many),
        (1004, PluralForm::Few),
    ] {
        assert_eq!(plural_east_slavic(n), form, "{n}");
    }
    let wait = |s| rate_limited(ru, Duration::from_secs(s));
    assert!(wait(1).contains("Подождите 1 секунду "), "{}", wait(1));
    assert!(wait(2).contains("Подождите 2 секунды "), "{}", wait(2));
    assert!(wait(5).contains("Подождите 5 секунд "), "{}", wait(5));
    assert!(wait(11).contains("Подождите 11 секунд "), "{}", wait(11));
    assert!(wait(21).contains("Подождите 21 секунду "), "{}", wait(21));
    assert!(wait(23).contains("Подождите 23 секунды "), "{}", wait(23));
    assert!(forgotten(ru, 1).contains("(1 запись:"));
    assert!(forgotten(ru, 3).contains("(3 записи:"));
    assert!(forgotten(ru, 12).contains("(12 записей:"));
    let quota = |h: u64, m: u64| quota_reached(ru, 21, Duration::from_secs(h * 3600 + m * 60));
    assert!(
        quota(21, 1).contains("лимит исчерпан: 21 перевод. ")
            && quota(21, 1).contains("через 21 час 1 минуту."),
        "{}",
        quota(21, 1)
    );
    assert!(
        quota(2, 3).contains("через 2 часа 3 минуты."),
        "{}",
        quota(2, 3)
    );
    assert!(quota(5, 0).contains("через 5 часов."), "{}", quota(5, 0));
    let n = LANGUAGES.len();
    let word = match plural_east_slavic(u64::try_from(n).expect("count")) {
        PluralForm::One => "язык",
        PluralForm::Few => "языка",
        PluralForm::Many => "языков",
    };
    assert!(languages(ru).starts_with(&format!("Я знаю {n} {word}:\n")));
    let too_many = parse_error(ru, &ParseError::TooManyTargets { count: 6, max: 1 });
    assert_eq!(
        too_many,
        "Это 6 языков, а за раз я перевожу максимум на 1 язык."
    );
}

#[test]
fn english_plurals_and_rounding() {
    let en = Locale::ENGLISH;
    assert!(rate_limited(en, Duration::from_millis(1500)).contains("wait 2 seconds"));
    assert!(rate_limited(en, Duration::from_millis(10)).contains("wait 1 second "));
    assert!(rate_limited(en, Duration::ZERO).contains("wait 1 second "));
    assert_eq!(
        voice_too_long(en, 1, Duration::from_secs(60)),
        "That voice message is 1 second long; I transcribe up to 60 seconds."
    );
    assert_eq!(
        forgotten(en, 1),
        "Done: I deleted everything I stored about you (1 item: settings, history, usage counts)."
    );
}

#[test]
fn quota_shows_hours_and_minutes_until_reset() {
    let en = Locale::ENGLISH;
    let q = |d: Duration| quota_reached(en, 50, d);
    assert_eq!(
        q(Duration::from_secs(3 * 3600 + 5 * 60)),
        "You've reached today's limit of 50 translations. It resets at midnight UTC, in 3 hours \
         and 5 minutes. See you then!"
    );
    // Rounded up to whole minutes, at least one.
    assert!(q(Duration::from_secs(3 * 3600 + 4 * 60 + 1)).contains("in 3 hours and 5 minutes."));
    assert!(q(Duration::from_secs(59)).contains("in 1 minute."));
    assert!(q(Duration::ZERO).contains("in 1 minute."));
    assert!(q(Duration::from_millis(60_001)).contains("in 2 minutes."));
    assert!(q(Duration::from_secs(3600)).contains("in 1 hour."));
    assert!(q(Duration::from_secs(2 * 3600 - 30)).contains("in 2 hours."));
    assert!(q(Duration::from_secs(3600 + 60)).contains("in 1 hour and 1 minute."));
    assert!(quota_reached(en, 1, Duration::from_secs(60)).contains("limit of 1 translation."));
    let ja = quota_reached(locale("ja"), 50, Duration::from_secs(3 * 3600 + 5 * 60));
    assert!(
        ja.contains("（50件）") && ja.contains("あと3時間5分"),
        "{ja}"
    );
    let de = quota_reached(locale("de"), 50, Duration::from_secs(3600 + 2 * 60));
    assert!(de.contains("in 1 Stunde und 2 Minuten"), "{de}");
    let es = quota_reached(locale("es"), 50, Duration::from_secs(45 * 60));
    assert!(es.contains("dentro de 45 minutos"), "{es}");
}

#[test]
fn history_dates_and_truncation() {
    let en = Locale::ENGLISH;
    let at = |secs: i64| {
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    };
    for (secs, shown) in [
        (0, "1970-01-01 00:00 UTC"),
        (951_782_400, "2000-02-29 00:00 UTC"),
        (951_868_799, "2000-02-29 23:59 UTC"),
        (951_868_800, "2000-03-01 00:00 UTC"),
        (1_709_251_199, "2024-02-29 23:59 UTC"),
        (1_735_689_599, "2024-12-31 23:59 UTC"),
        (1_735_689_600, "2025-01-01 00:00 UTC"),
        (4_107_542_400, "2100-03-01 00:00 UTC"),
        (-60, "1969-12-31 23:59 UTC"),
    ] {
        assert_eq!(utc_minute(at(secs)), shown, "{secs}");
    }
    // Half a second before the epoch is still 1969.
    assert_eq!(
        utc_minute(UNIX_EPOCH - Duration::from_millis(500)),
        "1969-12-31 23:59 UTC"
    );

    let entry = |text: &str, source| HistoryLine {
        when: at(1_714_572_180),
        source,
        targets: vec![lang("es"), lang("fr")],
        text: text.into(),
    };
    assert_eq!(
        history(
            en,
            &[
                entry("ciao a tutti", Some(lang("it"))),
                entry("good\n  morning", None)
            ]
        ),
        "Your recent translations:\n\
         2024-05-01 14:03 UTC  Italian → Spanish, French: \u{201c}ciao a tutti\u{201d}\n\
         2024-05-01 14:03 UTC  → Spanish, French: \u{201c}good morning\u{201d}"
    );
    assert_eq!(history(en, &[]), "No translations stored yet.");

    // Multibyte text is cut on a character boundary: 59 characters and the ellipsis.
    let long = "日本語のテキスト🎌".repeat(10);
    let shown = history(locale("ja"), &[entry(&long, None)]);
    let quoted = shown
        .split('「')
        .nth(1)
        .and_then(|s| s.strip_suffix('」'))
        .expect("quoted text");
    assert_eq!(quoted.chars().count(), 60, "{quoted}");
    assert!(quoted.ends_with('…'));
    assert!(long.starts_with(quoted.trim_end_matches('…')));
    assert!(shown.starts_with("最近の翻訳：\n2024-05-01 14:03 UTC  → Spanish、French："));
    // Exactly 60 characters is not cut; trailing spaces before the cut are dropped.
    let sixty = "é".repeat(60);
    assert_eq!(shorten(&sixty, 60), sixty);
    assert_eq!(
        shorten(&format!("{} {}", "a".repeat(58), "b".repeat(5)), 60),
        format!("{}…", "a".repeat(58))
    );
}

#[test]
fn lists_join_in_each_language() {
    let all = ["Spanish", "French", "Italian"];
    let cases = [
        ("en", "Spanish, French and Italian"),
        ("es", "Spanish, French e Italian"),
        ("de", "Spanish, French und Italian"),
        ("ru", "Spanish, French и Italian"),
        ("ja", "Spanish、French、Italian"),
        ("pt", "Spanish, French and Italian"),
    ];
    for (code, joined) in cases {
        assert_eq!(join_and(locale(code), &all), joined, "{code}");
    }
    let es = locale("es");
    assert_eq!(join_and(es, &["German", "French"]), "German y French");
    assert_eq!(join_and(es, &["German", "Hindi"]), "German e Hindi");
    assert_eq!(join_and(es, &[]), "");
    assert_eq!(join_and(es, &["German"]), "German");
    assert_eq!(
        es.words().or.join(&["Spanish", "Occitan"]),
        "Spanish u Occitan"
    );
    assert_eq!(
        es.words().or.join(&["Spanish", "French"]),
        "Spanish o French"
    );
    let suggest = parse_error(
        es,
        &ParseError::UnknownLanguages(vec![("Inglés".into(), vec![lang("en"), lang("is")])]),
    );
    assert!(
        suggest.starts_with(
            "No conozco el idioma «Inglés». ¿Quisiste decir English (en) o \
                             Icelandic / íslenska (is)?"
        ),
        "{suggest}"
    );
}

#[test]
fn provider_reasons_are_user_reason_in_english_and_translated_otherwise() {
    for e in provider_errors() {
        assert_eq!(
            provider_reason(Locale::ENGLISH, &e),
            e.user_reason(),
            "{e:?}"
        );
    }
    let ja = locale("ja");
    assert_eq!(
        provider_reason(
            ja,
            &ProviderError::CircuitOpen {
                retry_in: Duration::from_secs(12)
            }
        ),
        "障害が続いたため翻訳サービスを一時停止しています（12秒後に再試行）"
    );
    assert_eq!(
        provider_reason(
            locale("de"),
            &ProviderError::Status {
                status: 502,
                retry_after: None
            }
        ),
        "Fehler beim Anbieter (HTTP 502)"
    );
}

#[test]
fn aggregator_building_blocks() {
    let en = Locale::ENGLISH;
    assert_eq!(translated_count(en, 2, 3), "2/3 translated");
    assert_eq!(
        failed_for(
            en,
            &["German"],
            &provider_reason(en, &ProviderError::Timeout)
        ),
        "German failed: provider timed out"
    );
    assert_eq!(
        failed_for(en, &["German", "Japanese"], "x"),
        "German and Japanese failed: x"
    );
    assert_eq!(translation_failed(en, "x"), "Translation failed: x");
    assert_eq!(detected_source(en, lang("it")), "from Italian (detected)");
    assert_eq!(given_source(en, lang("it")), "from Italian");
    assert_eq!(
        demo_note(en),
        "(offline demo phrasebook, not a real translation service)"
    );
    assert!(
        demo_explained(en).starts_with("ⓘ This is the offline demo: it knows only a phrasebook")
    );
    let ru = locale("ru");
    assert_eq!(translated_count(ru, 2, 3), "Переведено 2 из 3");
    assert_eq!(
        failed_for(
            ru,
            &["German", "Japanese"],
            &provider_reason(ru, &ProviderError::Timeout)
        ),
        "не удалось перевести на German и Japanese: сервис перевода не ответил вовремя"
    );
    assert_eq!(translated_count(locale("ja"), 2, 3), "3件中2件を翻訳");
}

#[test]
fn settings_and_favorites() {
    let en = Locale::ENGLISH;
    let (es, fr) = (lang("es"), lang("fr"));
    assert_eq!(
        defaults_set(en, &[es, fr]),
        "Done. I'll translate into Spanish and French when you don't name a language. /lang off \
         to stop."
    );
    assert_eq!(defaults_set(en, &[]), defaults_cleared(en));
    assert_eq!(
        defaults_shown(en, &[]),
        "You have no default languages. Set them with /lang es fr."
    );
    assert!(defaults_shown(en, &[es]).contains("I translate into Spanish."));
    assert_eq!(
        favorites(en, &[(fr, 1), (es, 12)], &[es, fr]),
        "Your most used languages:\nSpanish: 12 translations\nFrench: 1 translation\n\n\
         Your default languages: Spanish and French."
    );
    assert!(favorites(en, &[], &[]).starts_with("No favorites yet"));
    assert!(favorites(en, &[], &[es]).ends_with("Your default languages: Spanish."));
    assert_eq!(
        favorites(locale("ru"), &[(es, 3)], &[]),
        "Ваши самые частые языки:\nSpanish: 3 перевода"
    );
}

#[test]
fn user_text_is_never_taken_for_a_placeholder() {
    let en = Locale::ENGLISH;
    assert_eq!(
        transcript_only(en, "{text} and {reason}"),
        "You said: \u{201c}{text} and {reason}\u{201d}\nTo translate a voice message, give it a \
         caption like /tr es,fr, or set your languages once with /lang es fr."
    );
    let unknown = parse_error(
        en,
        &ParseError::UnknownLanguages(vec![("{suggestions}".into(), vec![])]),
    );
    assert!(unknown.starts_with("I don't know the language \"{suggestions}\"."));
}

#[test]
fn unknown_language_reply_suggests() {
    let text = parse_error(
        Locale::ENGLISH,
        &ParseError::UnknownLanguages(vec![("Spansh".into(), vec![lang("es")])]),
    );
    assert!(text.contains("\"Spansh\""), "{text}");
    assert!(text.contains("Did you mean Spanish"), "{text}");
    let ja = parse_error(
        locale("ja"),
        &ParseError::UnknownLanguages(vec![("Spansh".into(), vec![lang("es")])]),
    );
    assert!(
        ja.starts_with(
            "「Spansh」という言語はわかりません。もしかしてSpanish / español (es)のことですか？"
        ),
        "{ja}"
    );
}

#[test]
fn help_speaks_the_users_language_when_it_can() {
    let tag = |t| Locale::from_tag(Some(t));
    assert!(help(tag("es"), limits(), false, false).starts_with("Traduzco"));
    assert!(help(tag("pt-br"), limits(), false, false).starts_with("Traduzo"));
    assert!(help(tag("ja"), limits(), false, false).starts_with("テキストを"));
    assert!(help(tag("ko"), limits(), false, false).starts_with("I translate"));
    assert!(
        help(Locale::from_tag(None), limits(), false, false)
            .contains("Up to 100 characters and 3 languages")
    );
    assert!(help(tag("de"), limits(), true, true).contains("Offline-Demo"));
    assert!(help(tag("ru"), limits(), false, false).contains("символов — 100, языков — 3."));
    for loc in Locale::all() {
        let text = help(loc, limits(), true, true);
        assert!(
            text.contains("100") && text.contains("/tr es,fr,de good morning"),
            "{loc}"
        );
        assert!(!text.contains('{'), "{loc}: unfilled placeholder");
    }
}

#[test]
fn no_targets_asks_which_language() {
    for loc in Locale::all() {
        assert_eq!(
            parse_error(loc, &ParseError::NoTargets),
            which_language(loc)
        );
    }
    assert_eq!(
        which_language(Locale::ENGLISH),
        "Which language? e.g. /tr es good morning, or set defaults with /lang es fr."
    );
}
