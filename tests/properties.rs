//! Property tests: the code that reads untrusted text never panics and keeps its promises on
//! any input.

use proptest::prelude::*;
use tolmach::command::{Command, Context, Limits, ParseError, parse};
use tolmach::delivery::split::{reply_len, split_reply};
use tolmach::detect::detect;
use tolmach::lang::{LANGUAGES, Lang};
use tolmach::providers::llm::clean_answer;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Shapes close to real commands, with arbitrary bits in between.
        (
            "(translate|/tr|/tr@Bot|/translate|/lang|how do you say|what's|translate to|)",
            any::<String>(),
            "( to | into | -> |,| from | in |: )",
            any::<String>()
        )
            .prop_map(|(a, b, c, d)| format!("{a} {b}{c}{d}")),
        "[a-zA-Zéü日本語 ,./@>:-]{0,60}",
        // Flags, languages and words, in any order.
        proptest::collection::vec(
            "(🇪🇸|🇫🇷|🇦🇶|🇯|🏴|es|fr|it|no|Spanish|Frnech|to|into|in|and|,|:|->|/tr|/lang|from|this|hello)",
            0..8
        )
        .prop_map(|words| words.join(" ")),
    ]
}

fn language() -> impl Strategy<Value = &'static Lang> {
    proptest::sample::select(LANGUAGES.iter().collect::<Vec<_>>())
}

/// Up to six languages from the table, possibly repeated, possibly more than the limit.
fn defaults() -> impl Strategy<Value = Vec<&'static Lang>> {
    proptest::collection::vec(language(), 0..6)
}

fn distinct(langs: &[&'static Lang]) -> bool {
    langs
        .iter()
        .enumerate()
        .all(|(i, l)| !langs[..i].iter().any(|m| m.code == l.code))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics_and_respects_the_limits(
        input in text(),
        quoted in proptest::option::of(prop_oneof![any::<String>(), "[a-z ]{0,80}"]),
        defaults in defaults(),
        private in any::<bool>(),
        max_text_chars in 1usize..50,
        max_targets in 1usize..5,
    ) {
        let limits = Limits { max_text_chars, max_targets };
        let ctx = Context { quoted: quoted.as_deref(), default_targets: &defaults, private };
        match parse(&input, None, limits, &ctx) {
            Ok(Command::Translate(r)) => {
                prop_assert!(!r.text.is_empty());
                prop_assert!(r.text.chars().count() <= max_text_chars);
                prop_assert!(!r.targets.is_empty() && r.targets.len() <= max_targets);
                prop_assert!(distinct(&r.targets), "{:?}", r.targets);
            }
            Ok(Command::SetDefaults(langs)) => {
                prop_assert!(!langs.is_empty() && langs.len() <= max_targets);
                prop_assert!(distinct(&langs), "{langs:?}");
            }
            Ok(_) | Err(_) => {}
        }
    }

    #[test]
    fn with_defaults_a_slash_translation_never_asks_which_language(
        text in any::<String>(),
        quoted in proptest::option::of(any::<String>()),
        defaults in defaults(),
        private in any::<bool>(),
    ) {
        prop_assume!(!defaults.is_empty());
        let limits = Limits { max_text_chars: 100_000, max_targets: 10 };
        let ctx = Context { quoted: quoted.as_deref(), default_targets: &defaults, private };
        let result = parse(&format!("/tr {text}"), None, limits, &ctx);
        prop_assert_ne!(result, Err(ParseError::NoTargets));
    }

    #[test]
    fn plain_text_in_a_group_is_never_translated_by_default(
        text in "[a-zA-Z ,.!]{1,60}",
        defaults in defaults(),
    ) {
        // No command word, no arrow, no "how do you say": nothing asks for a translation.
        let lower = text.to_lowercase();
        prop_assume!(
            !lower.trim_start().starts_with("translate")
                && !lower.contains("say")
                && !lower.contains("what")
        );
        let limits = Limits { max_text_chars: 1000, max_targets: 10 };
        let ctx = Context { quoted: None, default_targets: &defaults, private: false };
        let result = parse(&text, None, limits, &ctx);
        prop_assert!(
            !matches!(result, Ok(Command::Translate(_))),
            "{text:?} -> {result:?}"
        );
    }

    #[test]
    fn detection_never_panics_and_answers_from_the_table(input in any::<String>()) {
        if let Some(d) = detect(&input) {
            prop_assert!(LANGUAGES.contains(d.lang));
            prop_assert!(input.chars().filter(|c| c.is_alphabetic()).count() >= 3);
        }
    }

    #[test]
    fn runs_of_known_flags_split_into_their_languages(
        picks in proptest::collection::vec(language(), 1..6),
        spaced in any::<bool>(),
    ) {
        let flagged: Vec<&'static Lang> = picks.into_iter().filter(|l| l.flag().is_some()).collect();
        prop_assume!(!flagged.is_empty());
        let sep = if spaced { " " } else { "" };
        let run = flagged.iter().filter_map(|l| l.flag()).collect::<Vec<_>>().join(sep);
        prop_assert_eq!(Lang::from_flags(&run), Some(flagged));
    }

    #[test]
    fn split_parts_fit_and_keep_every_visible_character(input in any::<String>(), max in 2usize..40) {
        let parts = split_reply(&input, max);
        for p in &parts {
            prop_assert!(reply_len(p) <= max, "part too long: {p:?}");
        }
        let visible = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        prop_assert_eq!(visible(&parts.concat()), visible(&input));
    }

    #[test]
    fn provider_answers_are_cleaned_or_rejected_never_a_panic(answer in any::<String>(), source in any::<String>()) {
        if let Ok(clean) = clean_answer(&answer, &source) {
            prop_assert!(!clean.trim().is_empty());
            prop_assert!(clean.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
        }
    }

}

proptest! {
    // Suggestions compare against every language name: costly in a debug build, so fewer cases.
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn language_lookup_never_panics(input in any::<String>()) {
        let _ = Lang::lookup(&input);
        prop_assert!(Lang::suggest(&input, 3).len() <= 3);
    }
}
