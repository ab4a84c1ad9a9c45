//! Fuzzes the command parser and the language detector with arbitrary bytes.
//!
//! The input, read as lossy UTF-8, is split at the first U+0000: the message before it, the
//! quoted message after it (none without one). The first byte also picks the chat kind, the
//! limits and the user's default languages. Run with `cargo +nightly fuzz run parse`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tolmach::command::{Command, Context, Limits, parse};
use tolmach::detect::detect;
use tolmach::lang::{LANGUAGES, Lang};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (message, quoted) = match text.split_once('\0') {
        Some((message, quoted)) => (message, Some(quoted)),
        None => (text.as_ref(), None),
    };
    let defaults: Vec<&'static Lang> = LANGUAGES
        .iter()
        .skip(usize::from(knobs >> 4))
        .step_by(17)
        .take(usize::from(knobs & 0b11))
        .collect();
    let limits = Limits {
        max_text_chars: if knobs & 0b100 == 0 { 4000 } else { 8 },
        max_targets: 1 + usize::from((knobs >> 3) & 0b11),
    };
    let ctx = Context {
        quoted,
        default_targets: &defaults,
        private: knobs & 0b1000_0000 != 0,
    };
    match parse(message, None, limits, &ctx) {
        Ok(Command::Translate(r)) => {
            assert!(!r.text.is_empty());
            assert!(r.text.chars().count() <= limits.max_text_chars);
            assert!(!r.targets.is_empty() && r.targets.len() <= limits.max_targets);
        }
        Ok(Command::SetDefaults(langs)) => {
            assert!(!langs.is_empty() && langs.len() <= limits.max_targets);
        }
        _ => {}
    }
    if let Some(d) = detect(&text) {
        assert!(LANGUAGES.contains(d.lang));
    }
    let _ = Lang::from_flags(message);
});
