//! Property tests: the code that reads untrusted text never panics and keeps its promises on
//! any input.

use proptest::prelude::*;
use tolmach::command::{Limits, parse};
use tolmach::delivery::split::{reply_len, split_reply};
use tolmach::lang::Lang;
use tolmach::providers::llm::clean_answer;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Shapes close to real commands, with arbitrary bits in between.
        (
            "(translate|/tr|/tr@Bot|/translate|)",
            any::<String>(),
            "( to | into | -> |,| from )",
            any::<String>()
        )
            .prop_map(|(a, b, c, d)| format!("{a} {b}{c}{d}")),
        "[a-zA-Zéü日本語 ,./@>-]{0,60}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics_and_respects_the_limits(
        input in text(),
        max_text_chars in 1usize..50,
        max_targets in 1usize..5,
    ) {
        let limits = Limits { max_text_chars, max_targets };
        if let Ok(tolmach::command::Command::Translate(r)) = parse(&input, None, limits) {
            prop_assert!(!r.text.is_empty());
            prop_assert!(r.text.chars().count() <= max_text_chars);
            prop_assert!(!r.targets.is_empty() && r.targets.len() <= max_targets);
        }
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
