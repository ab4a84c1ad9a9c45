//! Every sentence the bot says that is not a translation, in one place.
//!
//! Replies are plain text (platform adapters escape as their format requires).

use std::fmt::Write;
use std::time::Duration;

use crate::command::{Limits, ParseError};
use crate::lang::{LANGUAGES, Lang};

/// The words of `/help` in one interface language; the examples stay as typed commands.
struct HelpWords {
    intro: &'static str,
    languages: &'static str,
    help: &'static str,
    /// With `{chars}` and `{targets}`.
    limits: &'static str,
    voice: &'static str,
    demo: &'static str,
}

const HELP_EN: HelpWords = HelpWords {
    intro: "I translate text into one or more languages at once.",
    languages: "the languages I know",
    help: "this message",
    limits: "Up to {chars} characters and {targets} languages per request.",
    voice: "Send a voice message with the caption /tr es,fr to translate what you say.",
    demo: "Running on the offline demo provider: it only knows a small phrasebook of common \
           phrases (hello, good morning, thank you, goodbye...). Configure a real provider to \
           translate anything (see the README).",
};

/// Interface languages `/help` and `/start` speak, by ISO 639-1 code.
const HELP: &[(&str, HelpWords)] = &[
    ("en", HELP_EN),
    (
        "es",
        HelpWords {
            intro: "Traduzco textos a uno o varios idiomas a la vez.",
            languages: "los idiomas que conozco",
            help: "este mensaje",
            limits: "Hasta {chars} caracteres y {targets} idiomas por solicitud.",
            voice: "Envía un mensaje de voz con la leyenda /tr es,fr para traducir lo que dices.",
            demo: "Funciono con el proveedor de demostración sin conexión: solo conozco un \
                   pequeño repertorio de frases comunes (hello, good morning, thank you...). \
                   Configura un proveedor real para traducir cualquier texto (ver el README).",
        },
    ),
    (
        "fr",
        HelpWords {
            intro: "Je traduis un texte dans une ou plusieurs langues à la fois.",
            languages: "les langues que je connais",
            help: "ce message",
            limits: "Jusqu'à {chars} caractères et {targets} langues par demande.",
            voice: "Envoyez un message vocal avec la légende /tr es,fr pour traduire ce que vous dites.",
            demo: "J'utilise le fournisseur de démonstration hors ligne : il ne connaît qu'un \
                   petit recueil de phrases courantes (hello, good morning, thank you...). \
                   Configurez un vrai fournisseur pour traduire n'importe quel texte (voir le README).",
        },
    ),
    (
        "de",
        HelpWords {
            intro: "Ich übersetze Texte in eine oder mehrere Sprachen gleichzeitig.",
            languages: "die Sprachen, die ich kenne",
            help: "diese Nachricht",
            limits: "Bis zu {chars} Zeichen und {targets} Sprachen pro Anfrage.",
            voice: "Schick eine Sprachnachricht mit der Bildunterschrift /tr es,fr, um zu übersetzen, was du sagst.",
            demo: "Ich laufe mit dem Offline-Demo-Anbieter: Er kennt nur eine kleine Sammlung \
                   gängiger Sätze (hello, good morning, thank you...). Richte einen echten \
                   Anbieter ein, um beliebige Texte zu übersetzen (siehe README).",
        },
    ),
    (
        "it",
        HelpWords {
            intro: "Traduco testi in una o più lingue contemporaneamente.",
            languages: "le lingue che conosco",
            help: "questo messaggio",
            limits: "Fino a {chars} caratteri e {targets} lingue per richiesta.",
            voice: "Invia un messaggio vocale con la didascalia /tr es,fr per tradurre quello che dici.",
            demo: "Sto usando il fornitore dimostrativo offline: conosco solo un piccolo frasario \
                   di espressioni comuni (hello, good morning, thank you...). Configura un \
                   fornitore reale per tradurre qualsiasi testo (vedi il README).",
        },
    ),
    (
        "pt",
        HelpWords {
            intro: "Traduzo textos para um ou vários idiomas de uma só vez.",
            languages: "os idiomas que conheço",
            help: "esta mensagem",
            limits: "Até {chars} caracteres e {targets} idiomas por pedido.",
            voice: "Envie uma mensagem de voz com a legenda /tr es,fr para traduzir o que você disser.",
            demo: "Estou usando o provedor de demonstração offline: só conheço um pequeno guia \
                   de frases comuns (hello, good morning, thank you...). Configure um provedor \
                   real para traduzir qualquer texto (veja o README).",
        },
    ),
    (
        "ru",
        HelpWords {
            intro: "Я перевожу текст сразу на один или несколько языков.",
            languages: "языки, которые я знаю",
            help: "это сообщение",
            limits: "До {chars} символов и {targets} языков за один запрос.",
            voice: "Отправьте голосовое сообщение с подписью /tr es,fr, чтобы перевести сказанное.",
            demo: "Сейчас работает офлайн-демо: я знаю лишь небольшой разговорник \
                   распространённых фраз (hello, good morning, thank you...). Чтобы переводить \
                   любой текст, подключите настоящий сервис перевода (см. README).",
        },
    ),
    (
        "uk",
        HelpWords {
            intro: "Я перекладаю текст одразу однією або кількома мовами.",
            languages: "мови, які я знаю",
            help: "це повідомлення",
            limits: "До {chars} символів і {targets} мов за один запит.",
            voice: "Надішліть голосове повідомлення з підписом /tr es,fr, щоб перекласти сказане.",
            demo: "Зараз працює офлайн-демо: я знаю лише невеликий розмовник поширених фраз \
                   (hello, good morning, thank you...). Щоб перекладати будь-який текст, \
                   підключіть справжній сервіс перекладу (див. README).",
        },
    ),
];

/// `/help` and `/start`, in the user's interface language when the bot speaks it (`ui_language`
/// is an IETF tag such as `pt-br`), in English otherwise.
pub fn help(limits: Limits, demo_only: bool, voice: bool, ui_language: Option<&str>) -> String {
    let base = ui_language
        .and_then(|l| l.split(['-', '_']).next())
        .map(str::to_ascii_lowercase);
    let words = base
        .as_deref()
        .and_then(|b| HELP.iter().find(|(code, _)| *code == b))
        .map_or(&HELP_EN, |(_, w)| w);
    let mut s = format!(
        "{}\n\n\
         translate good morning to Spanish, French and German\n\
         /tr es,fr,de good morning\n\
         good morning -> ja\n\
         translate ciao from Italian to English\n\
         /languages  {}\n\
         /help  {}\n\n{}",
        words.intro,
        words.languages,
        words.help,
        words
            .limits
            .replace("{chars}", &limits.max_text_chars.to_string())
            .replace("{targets}", &limits.max_targets.to_string()),
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
pub fn voice_disabled() -> String {
    "Voice messages are not enabled on this bot (no transcription provider is configured). \
     Please send text."
        .into()
}

pub fn voice_too_long(secs: u32, max: Duration) -> String {
    format!(
        "That voice message is {secs} seconds long; I transcribe up to {} seconds.",
        max.as_secs()
    )
}

pub fn voice_fetch_failed() -> String {
    "I couldn't download that voice message. Please try again.".into()
}

pub fn voice_not_transcribed(reason: &str) -> String {
    format!("I couldn't transcribe that voice message: {reason}.")
}

/// A voice message without instructions: say what was heard and how to translate it.
pub fn transcript_only(text: &str) -> String {
    format!(
        "You said: \u{201c}{text}\u{201d}\nTo translate a voice message, give it a caption like \
         /tr es,fr."
    )
}

/// `/languages`.
pub fn languages() -> String {
    let mut s = format!("I know {} languages:\n", LANGUAGES.len());
    let list: Vec<String> = LANGUAGES
        .iter()
        .map(|l| format!("{} ({})", l.name, l.code))
        .collect();
    s.push_str(&list.join(", "));
    s
}

/// A message that is not a command.
pub fn not_a_command() -> String {
    "I translate text. Try: translate good morning to Spanish, or /tr es,fr good morning. \
     /help shows everything I understand."
        .into()
}

/// A message with nothing in it.
pub fn empty() -> String {
    "That message is empty. Send me something to translate, e.g. /tr es good morning.".into()
}

/// Why a request could not be understood.
pub fn parse_error(e: &ParseError) -> String {
    match e {
        ParseError::NoText => "What should I translate? Put the text after the languages, \
                               e.g. /tr es,fr good morning."
            .into(),
        ParseError::NoTargets => "Which language? Say it like: translate good morning to \
                                  Spanish, or /tr es good morning."
            .into(),
        ParseError::UnknownLanguages(items) => {
            let mut parts = Vec::new();
            for (name, suggestions) in items {
                let mut p = format!("I don't know the language \"{name}\".");
                if !suggestions.is_empty() {
                    let names: Vec<String> = suggestions.iter().map(|l| describe(l)).collect();
                    let _ = write!(p, " Did you mean {}?", join_or(&names));
                }
                parts.push(p);
            }
            parts.push("/languages lists every language I know.".into());
            parts.join("\n")
        }
        ParseError::TooLong { chars, max } => format!(
            "That message is {chars} characters long; I translate up to {max} characters at a time. \
             Please send it in smaller parts."
        ),
        ParseError::TooManyTargets { count, max } => {
            format!("That is {count} languages; I translate into at most {max} at once.")
        }
        ParseError::UnknownCommand(name) => {
            let shown: String = name.chars().take(32).collect();
            format!("I don't know the command /{shown}. /help shows what I understand.")
        }
    }
}

/// The user is sending too fast.
pub fn rate_limited(retry_after: Duration) -> String {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    format!(
        "You're sending messages faster than I can translate them. Please wait {secs} second{} \
         and try again. (Messages you send before then will be skipped.)",
        if secs == 1 { "" } else { "s" }
    )
}

/// The user's daily quota is spent.
pub fn quota_reached(limit: u32, resets_in: Duration) -> String {
    let minutes = resets_in.as_secs().div_ceil(60);
    format!(
        "You've used all {limit} translations for today. Your quota renews in {}h {:02}m \
         (at midnight UTC).",
        minutes / 60,
        minutes % 60
    )
}

/// The deadline passed before an answer.
pub fn timed_out() -> String {
    "Sorry, that took too long and I gave up. Please try again in a minute.".into()
}

/// A message whose processing kept failing.
pub fn internal_error() -> String {
    "Sorry, something went wrong while handling that message. Please try again.".into()
}

fn describe(l: &Lang) -> String {
    if l.native.eq_ignore_ascii_case(l.name) {
        format!("{} ({})", l.name, l.code)
    } else {
        format!("{} / {} ({})", l.name, l.native, l.code)
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_language_reply_suggests() {
        let es = Lang::from_code("es").expect("es");
        let text = parse_error(&ParseError::UnknownLanguages(vec![(
            "Spansh".into(),
            vec![es],
        )]));
        assert!(text.contains("\"Spansh\""), "{text}");
        assert!(text.contains("Did you mean Spanish"), "{text}");
    }

    #[test]
    fn help_speaks_the_users_language_when_it_can() {
        let limits = Limits {
            max_text_chars: 100,
            max_targets: 3,
        };
        assert!(help(limits, false, false, Some("es")).starts_with("Traduzco"));
        assert!(help(limits, false, false, Some("pt-br")).starts_with("Traduzo"));
        assert!(help(limits, false, false, Some("ja")).starts_with("I translate"));
        assert!(help(limits, false, false, None).contains("Up to 100 characters and 3 languages"));
        assert!(help(limits, true, true, Some("de")).contains("Offline-Demo"));
        for (code, _) in HELP {
            let text = help(limits, true, true, Some(code));
            assert!(
                text.contains("100") && text.contains("/tr es,fr,de good morning"),
                "{code}"
            );
            assert!(!text.contains('{'), "{code}: unfilled placeholder");
        }
    }

    #[test]
    fn cooldown_rounds_up() {
        assert!(rate_limited(Duration::from_millis(1500)).contains("wait 2 seconds"));
        assert!(rate_limited(Duration::from_millis(10)).contains("wait 1 second "));
    }
}
