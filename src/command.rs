//! Understanding what a user wrote.
//!
//! [`parse`] turns one message into a [`Command`] or a [`ParseError`] that says precisely what
//! is wrong (the conversation actor turns either into a reply). Understood forms:
//!
//! - `/tr es,fr,de good morning`, `/translate es good morning` (also `/tr@BotName ...`);
//! - `translate good morning to Spanish, French and German` (`into` works too; the text may be
//!   quoted; `from Italian` before `to` names the source language);
//! - `good morning -> es, fr`;
//! - `/help`, `/start`, `/languages`.
//!
//! Languages are ISO 639-1/639-3 codes, English names, native names or aliases, in any case
//! (see [`crate::lang`]). The parser never panics on any input (tested with arbitrary strings),
//! and it only searches ASCII patterns in an ASCII-lowercased copy, so byte offsets stay valid for
//! every UTF-8 input.

use crate::lang::Lang;

/// Room for the command and the language list around the text itself.
const OVERHEAD_CHARS: usize = 1000;

/// What a user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Languages,
    Translate(Request),
    /// Nothing but whitespace.
    Empty,
    /// Text that is not a command (the bot answers with a hint in private chats).
    NotACommand,
}

/// A translation request, validated against the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub text: String,
    pub source: Option<&'static Lang>,
    /// In the order the user gave them, without duplicates.
    pub targets: Vec<&'static Lang>,
    /// `/tr -v`: the reply names the provider behind each translation.
    pub verbose: bool,
}

/// Bounds a request must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_text_chars: usize,
    pub max_targets: usize,
}

/// Why a message could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A translate command without text.
    NoText,
    /// A translate command that names no target language.
    NoTargets,
    /// Some target names are not languages; each comes with close matches.
    UnknownLanguages(Vec<(String, Vec<&'static Lang>)>),
    TooLong {
        chars: usize,
        max: usize,
    },
    TooManyTargets {
        count: usize,
        max: usize,
    },
    UnknownCommand(String),
}

/// Parses one message. `original_chars` is the length before a platform cut it, if it did.
pub fn parse(
    text: &str,
    original_chars: Option<usize>,
    limits: Limits,
) -> Result<Command, ParseError> {
    let text = sanitize(text);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Command::Empty);
    }
    if let Some(chars) = original_chars {
        return Err(ParseError::TooLong {
            chars,
            max: limits.max_text_chars,
        });
    }
    // Far over the limit even with a command and a language list around it: refuse before
    // doing any work on it.
    let chars = trimmed.chars().count();
    if chars > limits.max_text_chars.saturating_add(OVERHEAD_CHARS) {
        return Err(ParseError::TooLong {
            chars,
            max: limits.max_text_chars,
        });
    }
    let request = if let Some(rest) = trimmed.strip_prefix('/') {
        let (name, args) = split_command(rest);
        match name.as_str() {
            "help" | "start" => return Ok(Command::Help),
            "languages" | "langs" | "lang_list" => return Ok(Command::Languages),
            "tr" | "translate" | "t" => slash_translate(args)?,
            _ => return Err(ParseError::UnknownCommand(name)),
        }
    } else if let Some(rest) = strip_word(trimmed, "translate") {
        natural_translate(rest)?
    } else if let Some(pos) = trimmed.rfind("->") {
        arrow_translate(&trimmed[..pos], &trimmed[pos + 2..])?
    } else {
        let lower = trimmed.to_lowercase();
        return Ok(match lower.as_str() {
            "help" | "?" => Command::Help,
            "languages" => Command::Languages,
            _ => Command::NotACommand,
        });
    };
    validate(request, limits).map(Command::Translate)
}

/// Drops control characters other than line breaks and tabs.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// `tr@Bot args` → ("tr", "args").
fn split_command(rest: &str) -> (String, &str) {
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (head, args) = rest.split_at(end);
    let name = head.split('@').next().unwrap_or("").to_lowercase();
    (name, args.trim())
}

/// `word rest` (case-insensitive, whole word) → `rest`.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &text[word.len()..];
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim_start())
}

/// `/tr es,fr de good morning` style: a language list, then the text.
fn slash_translate(args: &str) -> Result<Request, ParseError> {
    let mut targets = Vec::new();
    let mut rest = args;
    let mut verbose = false;
    for flag in ["-v ", "--verbose "] {
        if let Some(after) = rest.strip_prefix(flag) {
            verbose = true;
            rest = after.trim_start();
        }
    }
    let mut expect_more = true;
    loop {
        let token_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..token_end];
        if token.is_empty() || !expect_more {
            break;
        }
        let parts: Vec<&str> = token.split(',').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            // A lone "," between names: keep going.
            rest = rest[token_end..].trim_start();
            continue;
        }
        let langs: Option<Vec<&'static Lang>> = parts.iter().map(|p| Lang::lookup(p)).collect();
        let Some(langs) = langs else {
            if targets.is_empty() && token.contains(',') {
                // `/tr es,klingon text`: a list was clearly meant.
                return Err(unknown(parts.iter().copied()));
            }
            break;
        };
        targets.extend(langs);
        expect_more = token.ends_with(',');
        rest = rest[token_end..].trim_start();
        if rest.starts_with(',') {
            expect_more = true;
            rest = rest[1..].trim_start();
        }
    }
    if targets.is_empty() {
        return Err(ParseError::NoTargets);
    }
    Ok(Request {
        text: unquote(rest).to_string(),
        source: None,
        targets,
        verbose,
    })
}

/// `good morning to Spanish, French and German` (after the word "translate").
fn natural_translate(rest: &str) -> Result<Request, ParseError> {
    let lower = rest.to_ascii_lowercase();
    // Candidate split points, rightmost first: " to " / " into ".
    let mut splits: Vec<(usize, usize)> = Vec::new();
    for sep in [" to ", " into "] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(sep) {
            splits.push((from + i, from + i + sep.len()));
            from += i + 1;
        }
    }
    // "translate to French: hello" / "translate to French hello" is not supported; a leading
    // "to " is treated like any other text.
    splits.sort_by_key(|s| std::cmp::Reverse(s.0));
    if splits.is_empty() {
        return Err(if rest.trim().is_empty() {
            ParseError::NoText
        } else {
            ParseError::NoTargets
        });
    }
    let mut first_error = None;
    for &(start, end) in &splits {
        let list = &rest[end..];
        match language_list(list) {
            Ok(targets) => {
                let (text, source) = split_source(&rest[..start]);
                return Ok(Request {
                    text: unquote(text).to_string(),
                    source,
                    targets,
                    verbose: false,
                });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // The rightmost split is the one the user most likely meant: explain that one.
    Err(first_error.map_or(ParseError::NoTargets, ListError::into_parse_error))
}

/// `good morning -> es, fr`.
fn arrow_translate(text: &str, list: &str) -> Result<Request, ParseError> {
    let targets = parse_language_list(list)?;
    let (text, source) = split_source(text);
    Ok(Request {
        text: unquote(text).to_string(),
        source,
        targets,
        verbose: false,
    })
}

/// `text from Italian` → ("text", Some(Italian)).
fn split_source(text: &str) -> (&str, Option<&'static Lang>) {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = lower.rfind(" from ")
        && let Some(lang) = Lang::lookup(&text[i + 6..])
    {
        return (&text[..i], Some(lang));
    }
    (text, None)
}

/// Whether `text` is nothing but a list of languages (`es, fr`, `Spanish and German`).
pub fn is_language_list(text: &str) -> bool {
    language_list(text).is_ok()
}

/// Why a language list did not parse; suggestions are computed only for the one shown.
enum ListError {
    Empty,
    Unknown(Vec<String>),
}

impl ListError {
    fn into_parse_error(self) -> ParseError {
        match self {
            ListError::Empty => ParseError::NoTargets,
            ListError::Unknown(items) => unknown(items.iter().map(String::as_str)),
        }
    }
}

fn parse_language_list(list: &str) -> Result<Vec<&'static Lang>, ParseError> {
    language_list(list).map_err(ListError::into_parse_error)
}

/// `Spanish, French and German` → [es, fr, de]; every item must be a language.
fn language_list(list: &str) -> Result<Vec<&'static Lang>, ListError> {
    let normalized = list
        .trim()
        .trim_end_matches(['.', '!', '?', ':', ';'])
        .replace(" and ", ",")
        .replace(" AND ", ",")
        .replace(" And ", ",")
        .replace(['&', '/', '+', '、', '，'], ",");
    let items: Vec<&str> = normalized
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(ListError::Empty);
    }
    let mut targets = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for item in items {
        match Lang::lookup(item) {
            Some(lang) => targets.push(lang),
            None => {
                // "Spanish French" without commas.
                let words: Option<Vec<&'static Lang>> =
                    item.split_whitespace().map(Lang::lookup).collect();
                match words {
                    Some(langs) if !langs.is_empty() => targets.extend(langs),
                    _ => bad.push(item.to_string()),
                }
            }
        }
    }
    if bad.is_empty() {
        Ok(targets)
    } else {
        Err(ListError::Unknown(bad))
    }
}

fn unknown<'a>(items: impl Iterator<Item = &'a str>) -> ParseError {
    ParseError::UnknownLanguages(
        items
            .map(|s| {
                let shown: String = s.chars().take(40).collect();
                (shown, Lang::suggest(s, 3))
            })
            .collect(),
    )
}

/// Removes one pair of matching quotes around the whole text.
fn unquote(text: &str) -> &str {
    let t = text.trim();
    for (open, close) in [
        ('"', '"'),
        ('“', '”'),
        ('«', '»'),
        ('\'', '\''),
        ('„', '“'),
        ('「', '」'),
    ] {
        if t.chars().count() >= 2 && t.starts_with(open) && t.ends_with(close) {
            return t[open.len_utf8()..t.len() - close.len_utf8()].trim();
        }
    }
    t
}

fn validate(mut request: Request, limits: Limits) -> Result<Request, ParseError> {
    if request.text.is_empty() {
        return Err(ParseError::NoText);
    }
    let chars = request.text.chars().count();
    if chars > limits.max_text_chars {
        return Err(ParseError::TooLong {
            chars,
            max: limits.max_text_chars,
        });
    }
    let mut seen = Vec::with_capacity(request.targets.len());
    request.targets.retain(|l| {
        if seen.contains(&l.code) {
            false
        } else {
            seen.push(l.code);
            true
        }
    });
    if request.targets.len() > limits.max_targets {
        return Err(ParseError::TooManyTargets {
            count: request.targets.len(),
            max: limits.max_targets,
        });
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_text_chars: 4000,
        max_targets: 10,
    };

    fn codes(cmd: &Command) -> (String, Vec<&'static str>) {
        match cmd {
            Command::Translate(r) => (r.text.clone(), r.targets.iter().map(|l| l.code).collect()),
            other => panic!("not a translation: {other:?}"),
        }
    }

    fn ok(text: &str) -> (String, Vec<&'static str>) {
        codes(&parse(text, None, LIMITS).expect("parses"))
    }

    #[test]
    fn natural_language_with_many_targets() {
        assert_eq!(
            ok("translate good morning to Spanish, French and German"),
            ("good morning".into(), vec!["es", "fr", "de"])
        );
        assert_eq!(
            ok("Translate \"I want to go home\" into japanese"),
            ("I want to go home".into(), vec!["ja"])
        );
        assert_eq!(
            ok("translate I want to go to Paris to French"),
            ("I want to go to Paris".into(), vec!["fr"])
        );
        assert_eq!(ok("TRANSLATE hi TO ES"), ("hi".into(), vec!["es"]));
        assert_eq!(
            ok("translate hola to english."),
            ("hola".into(), vec!["en"])
        );
    }

    #[test]
    fn verbose_flag_asks_for_provider_names() {
        let Ok(Command::Translate(r)) = parse("/tr -v es,fr hello", None, LIMITS) else {
            panic!("parses")
        };
        assert!(r.verbose);
        assert_eq!(r.text, "hello");
        assert_eq!(r.targets.len(), 2);
        let Ok(Command::Translate(r)) = parse("/tr es -v", None, LIMITS) else {
            panic!("parses")
        };
        assert!(!r.verbose, "a -v after the languages is text");
        assert_eq!(r.text, "-v");
    }

    #[test]
    fn slash_commands() {
        assert_eq!(
            ok("/tr es,fr,de good morning"),
            ("good morning".into(), vec!["es", "fr", "de"])
        );
        assert_eq!(
            ok("/tr@TolmachBot ja thank you"),
            ("thank you".into(), vec!["ja"])
        );
        assert_eq!(ok("/tr es, fr hello"), ("hello".into(), vec!["es", "fr"]));
        assert_eq!(
            ok("/translate DE Guten Tag"),
            ("Guten Tag".into(), vec!["de"])
        );
        assert_eq!(parse("/help", None, LIMITS), Ok(Command::Help));
        assert_eq!(parse("/start", None, LIMITS), Ok(Command::Help));
        assert_eq!(parse("/languages", None, LIMITS), Ok(Command::Languages));
        assert_eq!(parse("/tr es", None, LIMITS), Err(ParseError::NoText));
        assert_eq!(parse("/tr hello", None, LIMITS), Err(ParseError::NoTargets));
        assert!(matches!(
            parse("/frobnicate", None, LIMITS),
            Err(ParseError::UnknownCommand(c)) if c == "frobnicate"
        ));
    }

    #[test]
    fn arrows_sources_and_native_names() {
        assert_eq!(
            ok("good night -> fr, es"),
            ("good night".into(), vec!["fr", "es"])
        );
        assert_eq!(
            ok("translate hello to español and 日本語"),
            ("hello".into(), vec!["es", "ja"])
        );
        let Ok(Command::Translate(r)) =
            parse("translate ciao from Italian to German", None, LIMITS)
        else {
            panic!("parses")
        };
        assert_eq!(r.source.map(|l| l.code), Some("it"));
        assert_eq!(r.text, "ciao");
    }

    #[test]
    fn unknown_languages_come_with_suggestions() {
        match parse("translate hi to Klingon", None, LIMITS) {
            Err(ParseError::UnknownLanguages(items)) => {
                assert_eq!(items[0].0, "Klingon");
            }
            other => panic!("{other:?}"),
        }
        match parse("translate hi to Spansh", None, LIMITS) {
            Err(ParseError::UnknownLanguages(items)) => {
                assert_eq!(items[0].1.first().map(|l| l.code), Some("es"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_and_odd_input() {
        // Far too long: refused on sight, counting the whole message.
        let huge = format!("translate {} to es", "a".repeat(6000));
        assert_eq!(
            parse(&huge, None, LIMITS),
            Err(ParseError::TooLong {
                chars: 6016,
                max: 4000
            })
        );
        assert_eq!(parse("   \n\t ", None, LIMITS), Ok(Command::Empty));
        assert_eq!(parse("hello there", None, LIMITS), Ok(Command::NotACommand));
        let long = format!("translate {} to es", "a".repeat(4500));
        assert_eq!(
            parse(&long, None, LIMITS),
            Err(ParseError::TooLong {
                chars: 4500,
                max: 4000
            })
        );
        assert_eq!(
            parse("x", Some(100_000), LIMITS),
            Err(ParseError::TooLong {
                chars: 100_000,
                max: 4000
            })
        );
        let many = "/tr es,fr,de,it,pt,nl,ru,uk,pl,tr,ja hello";
        assert_eq!(
            parse(many, None, LIMITS),
            Err(ParseError::TooManyTargets { count: 11, max: 10 })
        );
        assert_eq!(ok("/tr es,es,ES hello"), ("hello".into(), vec!["es"]));
        assert_eq!(
            ok("translate a\u{0}b\u{7} to fr"),
            ("ab".into(), vec!["fr"])
        );
        // Multi-byte text around ASCII patterns.
        assert_eq!(
            ok("translate İstanbul to ES"),
            ("İstanbul".into(), vec!["es"])
        );
    }

    #[test]
    fn never_panics_on_awkward_strings() {
        for s in [
            "/",
            "/@",
            "/tr@",
            "/tr ,",
            "/tr ,,, x",
            "translate",
            "translate to",
            "translate  to  ",
            "->",
            "-> es",
            "x ->",
            "translate \"",
            "translate \" to es",
            "🇪🇸 -> 🇫🇷",
            "/tr é",
            "translate from to",
            "translate x from",
            "\u{202e}translate x to es",
        ] {
            let _ = parse(s, None, LIMITS);
        }
    }
}
