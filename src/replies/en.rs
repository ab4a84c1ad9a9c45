//! English: every reply (and the fallback for the rest).

use super::locale::Language;
use super::words::{Conjunction, HelpWords, Plural, Words, plural_one_other};

pub(crate) static LANGUAGE: Language = Language {
    code: "en",
    help: HelpWords {
        intro: "I translate text into one or more languages at once.",
        languages: "the languages I know",
        help: "this message",
        defaults: "your default languages: /lang es fr, /lang off",
        favorites: "the languages you use most",
        history: "your last translations",
        forget: "delete everything I keep about you",
        reply: "Reply /tr de to any message to translate it.",
        limits: "Up to {chars} characters and {targets} languages per request.",
        voice: "Send a voice message with the caption /tr es,fr to translate what you say.",
        demo: "Running on the offline demo provider: it only knows a small phrasebook of common \
               phrases (hello, good morning, thank you, goodbye...). Configure a real provider \
               to translate anything (see the README).",
    },
    words: Some(&WORDS),
};

pub(crate) static WORDS: Words = Words {
    plural_rule: plural_one_other,
    and: Conjunction {
        sep: ", ",
        last: " and ",
        last_alt: None,
    },
    or: Conjunction {
        sep: ", ",
        last: " or ",
        last_alt: None,
    },

    seconds: Plural {
        one: "{n} second",
        few: "{n} seconds",
        many: "{n} seconds",
    },
    characters: Plural {
        one: "{n} character",
        few: "{n} characters",
        many: "{n} characters",
    },
    languages: Plural {
        one: "{n} language",
        few: "{n} languages",
        many: "{n} languages",
    },
    items: Plural {
        one: "{n} item",
        few: "{n} items",
        many: "{n} items",
    },
    translations: Plural {
        one: "{n} translation",
        few: "{n} translations",
        many: "{n} translations",
    },
    hours: Plural {
        one: "{n} hour",
        few: "{n} hours",
        many: "{n} hours",
    },
    minutes: Plural {
        one: "{n} minute",
        few: "{n} minutes",
        many: "{n} minutes",
    },
    hours_minutes: "{hours} and {minutes}",

    voice_disabled: "Voice messages are not enabled on this bot (no transcription provider is \
                     configured). Please send text.",
    voice_too_long: "That voice message is {secs} long; I transcribe up to {max}.",
    voice_fetch_failed: "I couldn't download that voice message. Please try again.",
    voice_not_transcribed: "I couldn't transcribe that voice message: {reason}.",
    transcript_only: "You said: \u{201c}{text}\u{201d}\nTo translate a voice message, give it a \
                      caption like /tr es,fr, or set your languages once with /lang es fr.",
    languages_header: "I know {count}:",
    not_a_command: "I translate text. Try: translate good morning to Spanish, or /tr es,fr good \
                    morning. /help shows everything I understand.",
    empty: "That message is empty. Send me something to translate, e.g. /tr es good morning.",
    unreadable: "I can't read that kind of message. Send me text to translate, e.g. /tr es good \
                 morning.",
    no_text: "What should I translate? Put the text after the languages, e.g. /tr es,fr good \
              morning.",
    which_language: "Which language? e.g. /tr es good morning, or set defaults with /lang es fr.",
    unknown_language: "I don't know the language \"{name}\".",
    did_you_mean: " Did you mean {suggestions}?",
    languages_hint: "/languages lists every language I know.",
    too_long: "That message is {chars} long; I translate up to {max} at a time. Please send it \
               in smaller parts.",
    too_many_targets: "That is {count}; I translate into at most {max} at once.",
    unknown_command: "I don't know the command /{command}. /help shows what I understand.",
    rate_limited: "You're sending messages faster than I can translate them. Please wait {wait} \
                   and try again. (Messages you send before then will be skipped.)",
    timed_out: "Sorry, that took too long and I gave up. Please try again in a minute.",
    internal_error: "Sorry, something went wrong while handling that message. Please try again.",
    store_unavailable: "I couldn't read or save your settings just now. Please try again in a \
                        moment.",

    defaults_set: "Done. I'll translate into {languages} when you don't name a language. /lang \
                   off to stop.",
    defaults_shown: "When you don't name a language, I translate into {languages}. Change them \
                     with /lang es fr, or stop with /lang off.",
    defaults_none: "You have no default languages. Set them with /lang es fr.",
    defaults_cleared: "Done. You have no default languages any more; name a language in each \
                       request, e.g. /tr es good morning.",
    favorites_header: "Your most used languages:",
    favorites_line: "{language}: {count}",
    favorites_defaults: "Your default languages: {languages}.",
    favorites_empty: "No favorites yet: they build up as you translate, and the languages you \
                      use most will show up here.",
    history_header: "Your recent translations:",
    history_line: "{when}  {languages}: \u{201c}{text}\u{201d}",
    history_empty: "No translations stored yet.",
    history_off_in_groups: "I don't keep translation history in group chats. Send me /history \
                            in a private chat to see yours.",
    history_disabled: "Translation history is turned off on this bot.",
    forgotten: "Done: I deleted everything I stored about you ({items}: settings, history, usage \
                counts).",
    quota_reached: "You've reached today's limit of {limit}. It resets at midnight UTC, in \
                    {wait}. See you then!",

    translated_count: "{ok}/{total} translated",
    failed_for: "{languages} failed: {reason}",
    translation_failed: "Translation failed: {reason}",
    detected_source: "from {language} (detected)",
    given_source: "from {language}",
    demo_note: "(offline demo phrasebook, not a real translation service)",
    demo_explained: "ⓘ This is the offline demo: it knows only a phrasebook of common phrases \
                     (try \"good morning\" or \"thank you\"). To translate anything, configure a \
                     provider (see the README).",

    reason_timeout: "provider timed out",
    reason_rate_limited: "provider is busy (rate limited)",
    reason_server_error: "provider error (HTTP {status})",
    reason_refused: "provider refused the request (HTTP {status})",
    reason_unreachable: "provider unreachable",
    reason_nonsense: "provider answered nonsense",
    reason_circuit_open: "provider temporarily disabled after repeated failures (retry in \
                          {secs}s)",
    reason_unavailable: "provider unavailable",
    reason_busy: "all providers busy, try again in a minute",
    reason_quota: "today's translation budget is spent, try again tomorrow",
};
