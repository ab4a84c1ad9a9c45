//! Guessing the language a text is written in.
//!
//! [`detect`] wraps the `whatlang` trigram detector and maps its answer (an ISO 639-3 code)
//! onto our [`LANGUAGES`] table. It says nothing about text that is too short or has no
//! letters, and tells whether its guess is reliable; callers decide what to do with a guess
//! that is not.

use crate::lang::{LANGUAGES, Lang};

/// Fewer letters than this and a guess is worthless.
const MIN_LETTERS: usize = 3;

/// Only this many characters are looked at: enough for a good guess, and it bounds the cost.
const MAX_CHARS: usize = 2000;

/// whatlang codes that differ from our table's ISO 639-3 codes: `(whatlang, ours)`.
const CODE_ALIASES: &[(&str, &str)] = &[
    // Mandarin is what whatlang knows of Chinese.
    ("cmn", "zho"),
    // Western (Iranian) Persian.
    ("pes", "fas"),
    // Norwegian Bokmål.
    ("nob", "nor"),
];

/// A guess at a text's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub lang: &'static Lang,
    /// The detector considers its guess reliable.
    pub confident: bool,
}

/// The language `text` is most likely written in; `None` when the text is too short to tell
/// (fewer than three letters: digits, emoji, punctuation and "ok" say nothing) or the detector
/// finds a language we do not have (e.g. Odia, Akan). Never panics.
pub fn detect(text: &str) -> Option<Detected> {
    let sample = match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    if sample.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
        return None;
    }
    let info = whatlang::detect(sample)?;
    let code = info.lang().code();
    let code = CODE_ALIASES
        .iter()
        .find(|(theirs, _)| *theirs == code)
        .map_or(code, |(_, ours)| ours);
    let lang = LANGUAGES.iter().find(|l| l.code3 == code)?;
    Some(Detected {
        lang,
        confident: info.is_reliable(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(text: &str) -> Option<(&'static str, bool)> {
        detect(text).map(|d| (d.lang.code, d.confident))
    }

    #[test]
    fn clear_sentences_are_recognised_confidently() {
        for (text, code) in [
            (
                "The weather is lovely today and we are going for a long walk in the park.",
                "en",
            ),
            (
                "Mañana por la mañana vamos a ir a la playa con todos nuestros amigos.",
                "es",
            ),
            (
                "Je voudrais réserver une table pour quatre personnes ce soir, s'il vous plaît.",
                "fr",
            ),
            (
                "Ich möchte morgen früh mit dem Zug nach Berlin fahren, wenn das Wetter gut ist.",
                "de",
            ),
            (
                "Я очень люблю читать книги по вечерам, когда на улице идёт дождь, а мы сидим \
                 дома и пьём горячий чай с вареньем.",
                "ru",
            ),
            ("今日はとても良い天気ですね。散歩に行きましょうか。", "ja"),
            ("我们明天早上一起去公园散步吧，天气预报说会是晴天。", "zh"),
            (
                "Dzisiaj jest piękny dzień i wszyscy idziemy na spacer do lasu.",
                "pl",
            ),
            ("Καλημέρα, τι κάνεις σήμερα;", "el"),
            (
                "من فردا صبح با دوستانم به کتابخانه می‌روم تا درس بخوانیم و بعد از ظهر \
                 با هم به پارک می‌رویم، چون هوا خیلی خوب است.",
                "fa",
            ),
        ] {
            assert_eq!(guess(text), Some((code, true)), "{text}");
        }
    }

    #[test]
    fn too_little_to_go_on() {
        for text in [
            "",
            "  ",
            "ok",
            "a1",
            "12345 678",
            "🎉🎉🎉",
            "!!! ???",
            "😀 :) 42",
            "🇪🇸🇫🇷",
        ] {
            assert_eq!(detect(text), None, "{text:?}");
        }
    }

    #[test]
    fn short_or_garbled_text_is_not_confident() {
        // Something may come back, but the detector must not claim to be sure.
        for text in ["asdf qwer zxcv", "hmm", "lol ok"] {
            if let Some(d) = detect(text) {
                assert!(!d.confident, "{text:?} -> {d:?}");
            }
        }
    }

    #[test]
    fn long_input_is_sampled() {
        let long = "Das ist ein ganz normaler deutscher Satz. ".repeat(5000);
        assert_eq!(guess(&long), Some(("de", true)));
    }

    #[test]
    fn every_whatlang_language_we_have_maps_to_our_table() {
        // Everything whatlang can answer either maps to one of ours or is knowingly absent.
        let absent = ["ori", "aka"];
        for lang in whatlang::Lang::all() {
            let code = lang.code();
            let ours = CODE_ALIASES
                .iter()
                .find(|(theirs, _)| *theirs == code)
                .map_or(code, |(_, ours)| ours);
            let found = LANGUAGES.iter().any(|l| l.code3 == ours);
            assert!(found || absent.contains(&code), "whatlang {code} unmapped");
        }
    }

    /// The vendored whatlang computes trigram distances from an inverted index (ADR 0018). Its
    /// `dev` feature computes them both ways; they must be the same integers, or scores,
    /// orders and confidences could differ from upstream's.
    fn assert_index_matches_upstream(text: &str) {
        use whatlang::Script;
        for script in [
            Script::Latin,
            Script::Cyrillic,
            Script::Arabic,
            Script::Devanagari,
            Script::Hebrew,
        ] {
            let (indexed, upstream) = whatlang::dev::distances_indexed_and_upstream(text, script)
                .expect("multi-language script");
            assert_eq!(indexed, upstream, "{script:?} distances for {text:?}");
        }
    }

    #[test]
    fn the_trigram_index_gives_upstreams_distances_on_real_text() {
        for text in [
            "",
            "a",
            "translate good morning to Spanish, French and German",
            "Mañana por la mañana vamos a ir a la playa con todos nuestros amigos.",
            "Je voudrais réserver une table pour quatre personnes ce soir, s'il vous plaît.",
            "Die Ordnung muss für immer in diesem Codebase bleiben",
            "Съешь же ещё этих мягких французских булок, да выпей чаю.",
            "Добрий ранок, як справи?",
            "مرحبا كيف حالك اليوم",
            "नमस्ते, आप कैसे हैं?",
            "שלום, מה שלומך היום?",
            "Zażółć gęślą jaźń, łódź",
            "Þetta er íslenska",
            "ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok",
        ] {
            assert_index_matches_upstream(text);
        }
        // A text with more distinct trigrams than the 600 that are ranked.
        let long: String = (0..3000u32)
            .filter_map(|i| char::from_u32(0x61 + (i * 7919) % 26))
            .collect();
        assert_index_matches_upstream(&long);
        assert_index_matches_upstream(&"Das ist ein ganz normaler deutscher Satz. ".repeat(200));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Random words from the scripts' alphabets, with spaces and punctuation.
        #[test]
        fn the_trigram_index_gives_upstreams_distances_on_any_text(
            text in "[a-zäöüßéèçñóíáúàêôøåłśżźąęčšžıİ АБВабвгдеёжзийклмнопрстуфхцчшщъыьэюяіїє اأبتثجحخدذرسشصضطظعغفقكلمنهوي अआइकखगघचछजटडतथदधनपफबमयरलवशसह אבגדהוזחטיכלמנסעפצקרשת.,!?0-9]{0,400}",
        ) {
            assert_index_matches_upstream(&text);
        }
    }
}
