//! Every sentence the bot says that is not a translation, in one place.
//!
//! Replies are plain text (platform adapters escape as their format requires).

use std::fmt::Write;
use std::time::Duration;

use crate::command::{Limits, ParseError};
use crate::lang::{LANGUAGES, Lang};

/// `/help`.
pub fn help(limits: Limits, demo_only: bool) -> String {
    let mut s = String::from(
        "I translate text into one or more languages at once.\n\
         \n\
         translate good morning to Spanish, French and German\n\
         /tr es,fr,de good morning\n\
         good morning -> ja\n\
         translate ciao from Italian to English\n\
         /languages  the languages I know\n\
         /help  this message\n",
    );
    let _ = write!(
        s,
        "\nUp to {} characters and {} languages per request.",
        limits.max_text_chars, limits.max_targets
    );
    if demo_only {
        s.push_str(
            "\n\nRunning on the offline demo provider: it only knows a small phrasebook of common \
             phrases (hello, good morning, thank you, goodbye...). Configure a real provider to \
             translate anything (see the README).",
        );
    }
    s
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
            "That text is {chars} characters long; I translate up to {max} characters at a time. \
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
    fn cooldown_rounds_up() {
        assert!(rate_limited(Duration::from_millis(1500)).contains("wait 2 seconds"));
        assert!(rate_limited(Duration::from_millis(10)).contains("wait 1 second "));
    }
}
