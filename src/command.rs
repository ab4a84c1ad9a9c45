//! Understanding what a user wrote.
//!
//! [`parse`] turns one message, read in its [`Context`] (the message it replies to, the user's
//! default languages, private chat or group), into a [`Command`] or a [`ParseError`] that says
//! precisely what is wrong (the conversation actor turns either into a reply). Understood forms:
//!
//! - `/tr es,fr,de good morning`, `/translate es good morning` (also `/tr@BotName ...`,
//!   `/tr -v ...`, `/tr from it es ...`); `/tr de` replying to a message translates that message;
//! - `translate good morning to Spanish, French and German` (`into` works too; the text may be
//!   quoted; `from Italian` names the source language), `translate to French: hello`,
//!   `translate into German hello world`, `translate this to German` (replying to a message);
//! - `how do you say "thank you" in Japanese?`, `how to say X in Y`, `what's X in Y`;
//! - `good morning -> es, fr`;
//! - `/lang es fr` (default languages), `/lang`, `/lang off`; `/favorites`, `/history`,
//!   `/forget`; `/help`, `/start`, `/languages`.
//!
//! Without a target language the user's defaults are used; in a private chat, plain text is
//! translated into them. Languages are ISO 639-1/639-3 codes, English names, native names,
//! aliases or flag emoji, in any case (see [`crate::lang`]). The parser never panics on any input
//! (tested with arbitrary strings and fuzzed), and it only searches ASCII patterns in an
//! ASCII-lowercased copy (or compares ASCII-case-insensitively in place), so byte offsets stay
//! valid for every UTF-8 input.

use crate::lang::Lang;

/// Room for the command and the language list around the text itself.
const OVERHEAD_CHARS: usize = 1000;

/// Words that stand for the quoted message rather than being the text themselves.
const DEICTIC: &[&str] = &[
    "this",
    "that",
    "it",
    "this one",
    "that one",
    "this message",
    "that message",
    "the message",
    "this text",
];

/// Openings of "how do you say X in Y": a translation request even without a language.
const HOW_TO_SAY: &[&str] = &[
    "how do you say",
    "how do i say",
    "how to say",
    "how would you say",
    "how would i say",
    "how can i say",
    "how does one say",
    "how you say",
];

/// Openings of "what is X in Y": a translation request only when Y names languages.
const WHAT_IS: &[&str] = &["what is", "what's", "whats", "what\u{2019}s"];

/// `/lang` arguments that clear the defaults.
const CLEAR_WORDS: &[&str] = &["off", "none", "clear", "reset"];

/// What a user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help`, `/start`, `help`, `?`.
    Help,
    /// `/languages`, `/langs`: the list of languages.
    Languages,
    Translate(Request),
    /// `/lang es fr`: make these the user's default target languages (in the order given,
    /// without duplicates, at most [`Limits::max_targets`]).
    SetDefaults(Vec<&'static Lang>),
    /// `/lang` alone: show the user's default languages.
    ShowDefaults,
    /// `/lang off` (`none`, `clear`, `reset`): forget the user's default languages.
    ClearDefaults,
    /// `/favorites` (`/favourites`, `/favs`): the user's saved translations.
    Favorites,
    /// `/history`: the user's recent translations.
    History,
    /// `/forget` (`/forgetme`): delete everything stored about the user.
    Forget,
    /// `/status`: the runtime's health (admins only; an unknown command to others).
    Status,
    /// `/breakers`: the providers' circuits (admins only).
    Breakers,
    /// Nothing but whitespace.
    Empty,
    /// Text that is not a command (the bot answers with a hint in private chats).
    NotACommand,
}

/// A translation request, validated against the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub text: String,
    /// The source language, when the user named it (`from Italian`); detection is separate
    /// (see [`crate::detect`]).
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

/// What the parser knows about the message besides its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Text of the message this one replies to (a Telegram reply / Discord message reference), if any.
    pub quoted: Option<&'a str>,
    /// The user's default target languages (set with /lang), possibly empty.
    pub default_targets: &'a [&'static Lang],
    /// A private chat (not a group).
    pub private: bool,
}

/// Why a message could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A translate command without text.
    NoText,
    /// A translate command that names no target language (and the user has no defaults).
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

/// The [`Context`] with the quoted text cleaned up.
struct Env<'a> {
    /// Sanitized and trimmed; `None` if there is nothing in it.
    quoted: Option<&'a str>,
    defaults: &'a [&'static Lang],
    private: bool,
}

/// Every command name the parser knows (without the `/`), for platforms that spell commands
/// their own way (Discord's `!` prefix).
pub const NAMES: &[&str] = &[
    "help",
    "start",
    "languages",
    "langs",
    "lang_list",
    "lang",
    "favorites",
    "favourites",
    "favs",
    "history",
    "forget",
    "forgetme",
    "status",
    "breakers",
    "tr",
    "translate",
    "t",
];

/// Parses one message. `original_chars` is the length before a platform cut it, if it did.
pub fn parse(
    text: &str,
    original_chars: Option<usize>,
    limits: Limits,
    ctx: &Context<'_>,
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
    let quoted = ctx.quoted.map(sanitize);
    let env = Env {
        quoted: quoted.as_deref().map(str::trim).filter(|q| !q.is_empty()),
        defaults: ctx.default_targets,
        private: ctx.private,
    };
    let request = if let Some(rest) = trimmed.strip_prefix('/') {
        let (name, args) = split_command(rest);
        // Keep `NAMES` in step (a test checks it).
        match name.as_str() {
            "help" | "start" => return Ok(Command::Help),
            "languages" | "langs" | "lang_list" => return Ok(Command::Languages),
            "lang" => return lang_command(args, limits),
            "favorites" | "favourites" | "favs" => return Ok(Command::Favorites),
            "history" => return Ok(Command::History),
            "forget" | "forgetme" => return Ok(Command::Forget),
            "status" => return Ok(Command::Status),
            "breakers" => return Ok(Command::Breakers),
            "tr" | "translate" | "t" => slash_translate(args, &env)?,
            _ => return Err(ParseError::UnknownCommand(name)),
        }
    } else if let Some(rest) = strip_word(trimmed, "translate") {
        natural_translate(rest, &env)?
    } else if let Some(request) = how_to_say(trimmed, &env)? {
        request
    } else if let Some(pos) = trimmed.rfind("->") {
        arrow_translate(&trimmed[..pos], &trimmed[pos + 2..], &env)?
    } else if trimmed.eq_ignore_ascii_case("help") || trimmed == "?" {
        return Ok(Command::Help);
    } else if trimmed.eq_ignore_ascii_case("languages") {
        return Ok(Command::Languages);
    } else if env.private && !env.defaults.is_empty() {
        // Plain text in a private chat: the user's defaults say where it goes.
        Request {
            text: trimmed.to_string(),
            source: None,
            targets: env.defaults.to_vec(),
            verbose: false,
        }
    } else {
        return Ok(Command::NotACommand);
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

/// `word rest` (ASCII-case-insensitive, whole word; `word` may be several words) → `rest`.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = text.get(word.len()..)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim_start())
}

/// The first whitespace-separated word of `text` and what follows it (trimmed).
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    (word, rest.trim_start())
}

/// `from Italian rest` → (Some(Italian), "rest"); otherwise (None, text).
fn leading_source(text: &str) -> (Option<&'static Lang>, &str) {
    if let Some(after) = strip_word(text, "from") {
        let (word, rest) = first_word(after);
        if let Some(lang) = Lang::lookup(word) {
            return (Some(lang), rest);
        }
    }
    (None, text)
}

/// A language name, code or flag, or a run of flags (`🇪🇸🇫🇷`).
fn langs_of(item: &str) -> Option<Vec<&'static Lang>> {
    Lang::lookup(item)
        .map(|lang| vec![lang])
        .or_else(|| Lang::from_flags(item))
}

/// Two or three ASCII letters: what a language code looks like.
fn looks_like_code(word: &str) -> bool {
    (2..=3).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The text of a request: the quoted message when the user wrote none (or "this"), else theirs.
fn resolve_text(text: &str, env: &Env<'_>) -> String {
    let bare = text.trim_end_matches(['?', '.', '!', ':']).trim();
    let deictic = bare.is_empty() || DEICTIC.iter().any(|w| bare.eq_ignore_ascii_case(w));
    match env.quoted {
        Some(quoted) if deictic => quoted.to_string(),
        _ => text.to_string(),
    }
}

/// A request for `text` (which may end in `from <language>`) into `targets`.
fn request(text: &str, targets: Vec<&'static Lang>, env: &Env<'_>) -> Request {
    let (text, source) = text_and_source(text);
    Request {
        text: resolve_text(text, env),
        source,
        targets,
        verbose: false,
    }
}

/// A request for `text` that names no target language: the user's defaults, if any.
fn into_defaults(text: &str, env: &Env<'_>) -> Result<Request, ParseError> {
    if env.defaults.is_empty() {
        return Err(if text.trim().is_empty() && env.quoted.is_none() {
            ParseError::NoText
        } else {
            ParseError::NoTargets
        });
    }
    Ok(request(text, env.defaults.to_vec(), env))
}

/// `/lang es fr`, `/lang`, `/lang off`.
fn lang_command(args: &str, limits: Limits) -> Result<Command, ParseError> {
    let args = args.trim();
    if args.is_empty() {
        return Ok(Command::ShowDefaults);
    }
    let word = args.trim_end_matches(['.', '!']);
    if CLEAR_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) {
        return Ok(Command::ClearDefaults);
    }
    let mut langs = parse_language_list(args)?;
    dedup(&mut langs);
    if langs.len() > limits.max_targets {
        return Err(ParseError::TooManyTargets {
            count: langs.len(),
            max: limits.max_targets,
        });
    }
    Ok(Command::SetDefaults(langs))
}

/// `/tr es,fr de good morning` style: a language list, then the text.
fn slash_translate(args: &str, env: &Env<'_>) -> Result<Request, ParseError> {
    let mut rest = args;
    let mut verbose = false;
    for flag in ["-v", "--verbose"] {
        if let Some(after) = strip_word(rest, flag) {
            verbose = true;
            rest = after;
        }
    }
    let (source, after_source) = leading_source(rest);
    rest = after_source;
    let mut targets = Vec::new();
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
        let langs: Option<Vec<Vec<&'static Lang>>> = parts.iter().map(|p| langs_of(p)).collect();
        let Some(langs) = langs else {
            if targets.is_empty() && token.contains(',') {
                // `/tr es,klingon text`: a list was clearly meant.
                return Err(unknown(parts.iter().copied()));
            }
            break;
        };
        targets.extend(langs.into_iter().flatten());
        expect_more = token.ends_with(',');
        rest = rest[token_end..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            expect_more = true;
            rest = after.trim_start();
        }
    }
    let mut request = if targets.is_empty() {
        let (first, _) = first_word(rest);
        if env.defaults.is_empty()
            && (looks_like_code(first) || !Lang::suggest(first, 1).is_empty())
        {
            // `/tr xx hello`, `/tr Spansh hello`: a language was meant, but not one we know.
            return Err(unknown(std::iter::once(first)));
        }
        into_defaults(rest, env)?
    } else {
        Request {
            text: resolve_text(unquote(rest), env),
            source: None,
            targets,
            verbose: false,
        }
    };
    request.verbose = verbose;
    request.source = request.source.or(source);
    Ok(request)
}

/// After the word "translate": `X to A, B and C`, `to A: X`, `into A X`, or just `X` (the
/// defaults); `from L` may name the source (`X from L to A`, `from L to A: X`).
fn natural_translate(rest: &str, env: &Env<'_>) -> Result<Request, ParseError> {
    let (lead_source, rest) = leading_source(rest);
    let with_source = |mut r: Request| {
        r.source = r.source.or(lead_source);
        r
    };
    // `X to LIST`: candidate split points, rightmost first.
    let lower = rest.to_ascii_lowercase();
    let mut trailing_error = None;
    for (start, end) in separators(&lower, &[" to ", " into "]) {
        match language_list(&rest[end..]) {
            Ok(targets) => return Ok(with_source(request(&rest[..start], targets, env))),
            Err(e) => {
                // The rightmost split is the one the user most likely meant: explain that one.
                trailing_error.get_or_insert(e);
            }
        }
    }
    // `to LIST: X` / `into LIST X`.
    let mut leading_error = None;
    if let Some(after) = strip_word(rest, "to").or_else(|| strip_word(rest, "into")) {
        if after.is_empty() {
            // "translate to": the language is missing.
            return Err(ParseError::NoTargets);
        }
        match leading_list(after) {
            Ok((targets, text)) => return Ok(with_source(request(text, targets, env))),
            Err(e) => leading_error = e,
        }
    }
    for error in [leading_error, trailing_error].into_iter().flatten() {
        if error.is_worth_reporting(env.defaults.is_empty()) {
            return Err(error.into_parse_error());
        }
    }
    into_defaults(rest, env).map(with_source)
}

/// `how do you say X in Y`, `what's X in Y`: `Ok(None)` when the message is not one of these.
fn how_to_say(text: &str, env: &Env<'_>) -> Result<Option<Request>, ParseError> {
    let (rest, question) = if let Some(rest) = HOW_TO_SAY.iter().find_map(|p| strip_word(text, p)) {
        (rest, false)
    } else if let Some(rest) = WHAT_IS.iter().find_map(|p| strip_word(text, p)) {
        (rest, true)
    } else {
        return Ok(None);
    };
    let lower = rest.to_ascii_lowercase();
    let mut error = None;
    for (start, end) in separators(&lower, &[" in "]) {
        match language_list(&rest[end..]) {
            Ok(targets) => return Ok(Some(request(&rest[..start], targets, env))),
            Err(e) => {
                error.get_or_insert(e);
            }
        }
    }
    // "What is the time in London" is a question, not a request; nor is anything the bot
    // overhears in a group unless it names a language.
    if question || !env.private {
        return Ok(None);
    }
    if let Some(error) = error
        && error.is_worth_reporting(false)
    {
        return Err(error.into_parse_error());
    }
    let body = rest.trim_end_matches(['?', '？', '!', '.']);
    into_defaults(body, env).map(Some)
}

/// `good morning -> es, fr`.
fn arrow_translate(text: &str, list: &str, env: &Env<'_>) -> Result<Request, ParseError> {
    let targets = parse_language_list(list)?;
    Ok(request(text, targets, env))
}

/// Byte ranges of every occurrence of each separator in `lower`, rightmost first.
fn separators(lower: &str, seps: &[&str]) -> Vec<(usize, usize)> {
    let mut splits = Vec::new();
    for sep in seps {
        let mut from = 0;
        while let Some(i) = lower.get(from..).and_then(|s| s.find(sep)) {
            splits.push((from + i, from + i + sep.len()));
            from += i + 1;
        }
    }
    splits.sort_by_key(|s| std::cmp::Reverse(s.0));
    splits
}

/// The languages at the start of `text` and the text after them: `French: hello`,
/// `Spanish, French hello`, `German and 🇯🇵 hello world`. Codes need a separator after the
/// first language (`es fr hello` is Spanish for "fr hello"); names and flags do not.
/// `Err(None)` when `text` does not start with a language.
fn leading_list(text: &str) -> Result<(Vec<&'static Lang>, &str), Option<ListError>> {
    let mut colon_error = None;
    if let Some(colon) = text.find([':', '：']) {
        let colon_len = text[colon..].chars().next().map_or(1, char::len_utf8);
        match language_list(&text[..colon]) {
            Ok(targets) => return Ok((targets, text[colon + colon_len..].trim_start())),
            Err(e) => colon_error = Some(e),
        }
    }
    let mut targets: Vec<&'static Lang> = Vec::new();
    let mut text_start = 0;
    let mut separated = false;
    let mut pos = 0;
    while let Some(rest) = text.get(pos..) {
        let skipped = rest.len() - rest.trim_start().len();
        let start = pos + skipped;
        let word_len = text[start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - start);
        if word_len == 0 {
            break;
        }
        let word = &text[start..start + word_len];
        pos = start + word_len;
        if !targets.is_empty()
            && (word.eq_ignore_ascii_case("and") || ["&", ",", "+", "/"].contains(&word))
        {
            separated = true;
            continue;
        }
        let parts: Vec<&str> = word.split(',').filter(|p| !p.is_empty()).collect();
        let langs: Option<Vec<Vec<&'static Lang>>> = parts.iter().map(|p| langs_of(p)).collect();
        let Some(langs) = langs.filter(|l| !l.is_empty()) else {
            break;
        };
        let needs_separator = !targets.is_empty() && parts.iter().any(|p| looks_like_code(p));
        if needs_separator && !separated {
            break;
        }
        targets.extend(langs.into_iter().flatten());
        text_start = pos;
        separated = word.ends_with(',');
    }
    if targets.is_empty() {
        if let Some(e) = colon_error {
            return Err(Some(e));
        }
        let (first, _) = first_word(text);
        let first = first.trim_end_matches(',');
        return Err((!first.is_empty() && !Lang::suggest(first, 1).is_empty())
            .then(|| ListError::Unknown(vec![first.to_string()])));
    }
    Ok((targets, text[text_start..].trim_start()))
}

/// `text from Italian` → ("text", Some(Italian)); a fully quoted text is taken as it is.
fn text_and_source(text: &str) -> (&str, Option<&'static Lang>) {
    let text = text.trim();
    let unquoted = unquote(text);
    if unquoted.len() != text.len() {
        return (unquoted, None);
    }
    let lower = text.to_ascii_lowercase();
    if let Some(i) = lower.rfind(" from ")
        && let Some(lang) = Lang::lookup(&text[i + 6..])
    {
        return (unquote(&text[..i]), Some(lang));
    }
    (text, None)
}

/// Whether `text` is nothing but a list of languages (`es, fr`, `Spanish and German`, `🇪🇸🇫🇷`).
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

    /// Whether the user more likely meant a language than text: some unknown name is close
    /// to a language (a typo), or, when `lenient`, every unknown name is one word
    /// ("to Klingon", not "to go home").
    fn is_worth_reporting(&self, lenient: bool) -> bool {
        match self {
            ListError::Empty => false,
            ListError::Unknown(items) => {
                items
                    .iter()
                    .take(MAX_UNKNOWN_SHOWN)
                    .any(|item| !Lang::suggest(item, 1).is_empty())
                    || (lenient && items.iter().all(|item| !item.contains(char::is_whitespace)))
            }
        }
    }
}

fn parse_language_list(list: &str) -> Result<Vec<&'static Lang>, ParseError> {
    language_list(list).map_err(ListError::into_parse_error)
}

/// `Spanish, French and German` → [es, fr, de]; every item must be a language. A trailing
/// "please" is ignored.
fn language_list(list: &str) -> Result<Vec<&'static Lang>, ListError> {
    if list.len() > MAX_LIST_BYTES {
        // Text, not languages: refuse before looking at it (messages are tried at every " to ").
        return Err(ListError::Unknown(vec![
            list.trim().chars().take(40).collect(),
        ]));
    }
    let mut list = list
        .trim()
        .trim_end_matches(['.', '!', '?', ':', ';', '？']);
    for polite in [" please", " pls", " plz"] {
        if let Some(head) = list
            .len()
            .checked_sub(polite.len())
            .and_then(|i| list.get(..i))
            && list[head.len()..].eq_ignore_ascii_case(polite)
        {
            list = head.trim_end().trim_end_matches(',');
        }
    }
    let normalized = list
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
        if let Some(langs) = langs_of(item) {
            targets.extend(langs);
            continue;
        }
        // "Spanish French" or "es fr" without commas; a long run of words is text.
        if item.split_whitespace().nth(MAX_LIST_WORDS).is_some() {
            bad.push(item.to_string());
            continue;
        }
        let words: Vec<(&str, Option<Vec<&'static Lang>>)> = item
            .split_whitespace()
            .map(|word| (word, langs_of(word)))
            .collect();
        if words.iter().all(|(_, langs)| langs.is_some()) {
            targets.extend(words.into_iter().filter_map(|(_, l)| l).flatten());
        } else if words.iter().any(|(_, langs)| langs.is_some()) {
            // "es klingon": name the word that is wrong.
            bad.extend(
                words
                    .iter()
                    .filter(|(_, langs)| langs.is_none())
                    .map(|(word, _)| (*word).to_string()),
            );
        } else {
            bad.push(item.to_string());
        }
    }
    if bad.is_empty() {
        Ok(targets)
    } else {
        Err(ListError::Unknown(bad))
    }
}

/// Longest language list looked at, in bytes: dozens of names, in any script.
const MAX_LIST_BYTES: usize = 1024;

/// Most words one item of a language list may have ("Spanish French German" without commas).
const MAX_LIST_WORDS: usize = 16;

/// Unknown language names shown in one reply (and looked up for suggestions), at most.
const MAX_UNKNOWN_SHOWN: usize = 8;

fn unknown<'a>(items: impl Iterator<Item = &'a str>) -> ParseError {
    ParseError::UnknownLanguages(
        items
            .take(MAX_UNKNOWN_SHOWN)
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

/// Drops repeated languages, keeping the first of each.
fn dedup(langs: &mut Vec<&'static Lang>) {
    let mut seen = Vec::with_capacity(langs.len());
    langs.retain(|l| {
        if seen.contains(&l.code) {
            false
        } else {
            seen.push(l.code);
            true
        }
    });
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
    dedup(&mut request.targets);
    if request.targets.is_empty() {
        return Err(ParseError::NoTargets);
    }
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

    /// No quoted message, no defaults, a group.
    const NONE: Context<'static> = Context {
        quoted: None,
        default_targets: &[],
        private: false,
    };

    fn ok(text: &str) -> (String, Vec<&'static str>) {
        codes(&parse(text, None, LIMITS, &NONE).expect("parses"))
    }

    fn langs(codes: &[&str]) -> Vec<&'static Lang> {
        codes
            .iter()
            .map(|c| Lang::from_code(c).expect("known code"))
            .collect()
    }

    fn replying<'a>(quoted: &'a str) -> Context<'a> {
        Context {
            quoted: Some(quoted),
            ..NONE
        }
    }

    fn with(text: &str, ctx: &Context<'_>) -> (String, Vec<&'static str>) {
        codes(&parse(text, None, LIMITS, ctx).expect("parses"))
    }

    fn unknown_names(result: Result<Command, ParseError>) -> Vec<(String, Option<&'static str>)> {
        match result {
            Err(ParseError::UnknownLanguages(items)) => items
                .into_iter()
                .map(|(name, suggestions)| (name, suggestions.first().map(|l| l.code)))
                .collect(),
            other => panic!("not unknown languages: {other:?}"),
        }
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
        assert_eq!(
            ok("translate hello world to English and French, please!"),
            ("hello world".into(), vec!["en", "fr"])
        );
        assert_eq!(
            parse("translate to", None, LIMITS, &NONE),
            Err(ParseError::NoTargets)
        );
    }

    #[test]
    fn verbose_flag_asks_for_provider_names() {
        let Ok(Command::Translate(r)) = parse("/tr -v es,fr hello", None, LIMITS, &NONE) else {
            panic!("parses")
        };
        assert!(r.verbose);
        assert_eq!(r.text, "hello");
        assert_eq!(r.targets.len(), 2);
        let Ok(Command::Translate(r)) = parse("/tr es -v", None, LIMITS, &NONE) else {
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
        assert_eq!(parse("/help", None, LIMITS, &NONE), Ok(Command::Help));
        assert_eq!(parse("/start", None, LIMITS, &NONE), Ok(Command::Help));
        assert_eq!(
            parse("/languages", None, LIMITS, &NONE),
            Ok(Command::Languages)
        );
        assert_eq!(
            parse("/tr es", None, LIMITS, &NONE),
            Err(ParseError::NoText)
        );
        assert_eq!(
            parse("/tr hello", None, LIMITS, &NONE),
            Err(ParseError::NoTargets)
        );
        assert!(matches!(
            parse("/frobnicate", None, LIMITS, &NONE),
            Err(ParseError::UnknownCommand(c)) if c == "frobnicate"
        ));
    }

    #[test]
    fn every_listed_name_is_a_command_the_parser_knows() {
        for name in NAMES {
            assert!(
                !matches!(
                    parse(&format!("/{name} es hello"), None, LIMITS, &NONE),
                    Err(ParseError::UnknownCommand(_))
                ),
                "/{name}"
            );
        }
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
            parse("translate ciao from Italian to German", None, LIMITS, &NONE)
        else {
            panic!("parses")
        };
        assert_eq!(r.source.map(|l| l.code), Some("it"));
        assert_eq!(r.text, "ciao");
    }

    #[test]
    fn unknown_languages_come_with_suggestions() {
        match parse("translate hi to Klingon", None, LIMITS, &NONE) {
            Err(ParseError::UnknownLanguages(items)) => {
                assert_eq!(items[0].0, "Klingon");
            }
            other => panic!("{other:?}"),
        }
        match parse("translate hi to Spansh", None, LIMITS, &NONE) {
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
            parse(&huge, None, LIMITS, &NONE),
            Err(ParseError::TooLong {
                chars: 6016,
                max: 4000
            })
        );
        assert_eq!(parse("   \n\t ", None, LIMITS, &NONE), Ok(Command::Empty));
        assert_eq!(
            parse("hello there", None, LIMITS, &NONE),
            Ok(Command::NotACommand)
        );
        let long = format!("translate {} to es", "a".repeat(4500));
        assert_eq!(
            parse(&long, None, LIMITS, &NONE),
            Err(ParseError::TooLong {
                chars: 4500,
                max: 4000
            })
        );
        assert_eq!(
            parse("x", Some(100_000), LIMITS, &NONE),
            Err(ParseError::TooLong {
                chars: 100_000,
                max: 4000
            })
        );
        let many = "/tr es,fr,de,it,pt,nl,ru,uk,pl,tr,ja hello";
        assert_eq!(
            parse(many, None, LIMITS, &NONE),
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
            let _ = parse(s, None, LIMITS, &NONE);
        }
    }

    #[test]
    fn replying_with_languages_translates_the_quoted_message() {
        let ctx = replying("Guten Morgen, wie geht's?");
        let quoted = "Guten Morgen, wie geht's?".to_string();
        assert_eq!(with("/tr en", &ctx), (quoted.clone(), vec!["en"]));
        assert_eq!(
            with("/tr@Bot en,fr", &ctx),
            (quoted.clone(), vec!["en", "fr"])
        );
        assert_eq!(
            with("translate to English", &ctx),
            (quoted.clone(), vec!["en"])
        );
        assert_eq!(
            with("translate this to English", &ctx),
            (quoted.clone(), vec!["en"])
        );
        assert_eq!(
            with("Translate that into French and Spanish.", &ctx),
            (quoted.clone(), vec!["fr", "es"])
        );
        assert_eq!(with("-> ja", &ctx), (quoted.clone(), vec!["ja"]));
        assert_eq!(
            with("what's this in Spanish?", &ctx),
            (quoted.clone(), vec!["es"])
        );
        assert_eq!(
            with("how do you say this in Japanese", &ctx),
            (quoted, vec!["ja"])
        );
        // Text of their own wins over the quoted message.
        assert_eq!(with("/tr en hallo", &ctx), ("hallo".into(), vec!["en"]));
        assert_eq!(
            with("translate guten Tag to English", &ctx),
            ("guten Tag".into(), vec!["en"])
        );
        // Without a quoted message, "this" is the text.
        assert_eq!(ok("translate this to German"), ("this".into(), vec!["de"]));
        assert_eq!(
            parse("/tr de", None, LIMITS, &NONE),
            Err(ParseError::NoText)
        );
        assert_eq!(
            parse("translate to German", None, LIMITS, &NONE),
            Err(ParseError::NoText)
        );
        // A quoted message with nothing in it is no quoted message.
        assert_eq!(
            parse("/tr de", None, LIMITS, &replying(" \u{7}\n ")),
            Err(ParseError::NoText)
        );
        // The quoted text is cleaned like any other.
        assert_eq!(
            with("/tr de", &replying(" a\u{0}b ")),
            ("ab".into(), vec!["de"])
        );
    }

    #[test]
    fn quoted_text_obeys_the_limits() {
        let long = "a".repeat(4001);
        assert_eq!(
            parse("/tr de", None, LIMITS, &replying(&long)),
            Err(ParseError::TooLong {
                chars: 4001,
                max: 4000
            })
        );
        assert_eq!(
            parse("translate this to German", None, LIMITS, &replying(&long)),
            Err(ParseError::TooLong {
                chars: 4001,
                max: 4000
            })
        );
        let fits = "a".repeat(4000);
        assert_eq!(with("/tr de", &replying(&fits)).0.len(), 4000);
    }

    #[test]
    fn defaults_fill_in_missing_targets() {
        let defaults = langs(&["es", "fr"]);
        let group = Context {
            default_targets: &defaults,
            ..NONE
        };
        let private = Context {
            private: true,
            ..group
        };
        for ctx in [&group, &private] {
            assert_eq!(
                with("/tr good morning", ctx),
                ("good morning".into(), vec!["es", "fr"])
            );
            assert_eq!(
                with("translate good morning", ctx),
                ("good morning".into(), vec!["es", "fr"])
            );
            // Named languages win over the defaults.
            assert_eq!(
                with("/tr de good morning", ctx),
                ("good morning".into(), vec!["de"])
            );
            // "to go home" is not a language: the whole text goes to the defaults.
            assert_eq!(
                with("translate I want to go home", ctx),
                ("I want to go home".into(), vec!["es", "fr"])
            );
            // A code that is not one: the defaults take the whole text.
            assert_eq!(
                with("/tr xx hello", ctx),
                ("xx hello".into(), vec!["es", "fr"])
            );
        }
        let Ok(Command::Translate(r)) = parse("translate ciao from Italian", None, LIMITS, &group)
        else {
            panic!("parses")
        };
        assert_eq!(
            (r.text.as_str(), r.source.map(|l| l.code)),
            ("ciao", Some("it"))
        );
        // Replying with a bare /tr or "translate": the quoted message into the defaults.
        let quoting = Context {
            quoted: Some("buongiorno"),
            ..group
        };
        assert_eq!(
            with("/tr", &quoting),
            ("buongiorno".into(), vec!["es", "fr"])
        );
        assert_eq!(
            with("translate this", &quoting),
            ("buongiorno".into(), vec!["es", "fr"])
        );
        // No defaults: ask which language.
        assert_eq!(
            parse("/tr good morning", None, LIMITS, &NONE),
            Err(ParseError::NoTargets)
        );
        assert_eq!(
            parse("translate good morning", None, LIMITS, &NONE),
            Err(ParseError::NoTargets)
        );
        assert_eq!(
            parse("translate I want to go home", None, LIMITS, &NONE),
            Err(ParseError::NoTargets)
        );
        assert_eq!(
            parse("translate this", None, LIMITS, &replying("ciao")),
            Err(ParseError::NoTargets)
        );
    }

    #[test]
    fn plain_text_is_translated_only_in_private_chats_with_defaults() {
        let defaults = langs(&["de"]);
        let private = Context {
            private: true,
            default_targets: &defaults,
            ..NONE
        };
        assert_eq!(
            with("where is the station?", &private),
            ("where is the station?".into(), vec!["de"])
        );
        let group = Context {
            private: false,
            ..private
        };
        assert_eq!(
            parse("where is the station?", None, LIMITS, &group),
            Ok(Command::NotACommand)
        );
        let no_defaults = Context {
            private: true,
            ..NONE
        };
        assert_eq!(
            parse("where is the station?", None, LIMITS, &no_defaults),
            Ok(Command::NotACommand)
        );
        // Words the bot understands stay commands.
        assert_eq!(parse("help", None, LIMITS, &private), Ok(Command::Help));
        assert_eq!(
            parse("Languages", None, LIMITS, &private),
            Ok(Command::Languages)
        );
        // Limits hold for defaults too.
        let many = langs(&["de", "fr", "es"]);
        let too_many = Context {
            default_targets: &many,
            ..private
        };
        let two = Limits {
            max_text_chars: 100,
            max_targets: 2,
        };
        assert_eq!(
            parse("hello", None, two, &too_many),
            Err(ParseError::TooManyTargets { count: 3, max: 2 })
        );
        assert_eq!(
            parse(&"a".repeat(101), None, two, &private),
            Err(ParseError::TooLong {
                chars: 101,
                max: 100
            })
        );
    }

    #[test]
    fn lang_sets_shows_and_clears_defaults() {
        let set = |text: &str| match parse(text, None, LIMITS, &NONE) {
            Ok(Command::SetDefaults(l)) => l.iter().map(|l| l.code).collect::<Vec<_>>(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(set("/lang es fr"), ["es", "fr"]);
        assert_eq!(set("/lang es,fr"), ["es", "fr"]);
        assert_eq!(set("/lang es, fr"), ["es", "fr"]);
        assert_eq!(set("/lang Spanish French"), ["es", "fr"]);
        assert_eq!(set("/lang Spanish, French and German"), ["es", "fr", "de"]);
        assert_eq!(set("/lang@TolmachBot ja"), ["ja"]);
        assert_eq!(set("/lang 🇪🇸🇫🇷"), ["es", "fr"]);
        assert_eq!(set("/lang Haitian Creole"), ["ht"]);
        assert_eq!(set("/lang es ES spa Spanish fr"), ["es", "fr"]);
        assert_eq!(set("/lang no"), ["no"], "Norwegian, not a refusal");
        assert_eq!(
            parse("/lang", None, LIMITS, &NONE),
            Ok(Command::ShowDefaults)
        );
        for off in ["off", "none", "clear", "reset", "OFF", "Reset."] {
            assert_eq!(
                parse(&format!("/lang {off}"), None, LIMITS, &NONE),
                Ok(Command::ClearDefaults),
                "{off}"
            );
        }
        assert_eq!(
            parse("/languages", None, LIMITS, &NONE),
            Ok(Command::Languages)
        );
        assert_eq!(parse("/langs", None, LIMITS, &NONE), Ok(Command::Languages));
        assert_eq!(
            unknown_names(parse("/lang klingon", None, LIMITS, &NONE)),
            [("klingon".to_string(), None)]
        );
        assert_eq!(
            unknown_names(parse("/lang es Frnech", None, LIMITS, &NONE)),
            [("Frnech".to_string(), Some("fr"))]
        );
        let two = Limits {
            max_text_chars: 100,
            max_targets: 2,
        };
        assert_eq!(
            parse("/lang es fr de", None, two, &NONE),
            Err(ParseError::TooManyTargets { count: 3, max: 2 })
        );
        assert!(matches!(
            parse("/lang es es fr fr", None, two, &NONE),
            Ok(Command::SetDefaults(l)) if l.len() == 2
        ));
    }

    #[test]
    fn personal_data_commands() {
        for (text, command) in [
            ("/favorites", Command::Favorites),
            ("/favourites", Command::Favorites),
            ("/favs@TolmachBot", Command::Favorites),
            ("/history", Command::History),
            ("/HISTORY", Command::History),
            ("/forget", Command::Forget),
            ("/forgetme", Command::Forget),
        ] {
            assert_eq!(parse(text, None, LIMITS, &NONE), Ok(command), "{text}");
        }
    }

    #[test]
    fn how_do_you_say_and_what_is() {
        assert_eq!(
            ok("how do you say \"thank you\" in Japanese?"),
            ("thank you".into(), vec!["ja"])
        );
        assert_eq!(
            ok("How do I say good night in French"),
            ("good night".into(), vec!["fr"])
        );
        assert_eq!(
            ok("how to say cheers in German and Italian"),
            ("cheers".into(), vec!["de", "it"])
        );
        assert_eq!(
            ok("what is \"cat\" in Spanish?"),
            ("cat".into(), vec!["es"])
        );
        assert_eq!(ok("what's hello in 🇯🇵"), ("hello".into(), vec!["ja"]));
        assert_eq!(ok("What’s hello in ko?"), ("hello".into(), vec!["ko"]));
        assert_eq!(
            ok("how do you say I live in Berlin in German"),
            ("I live in Berlin".into(), vec!["de"])
        );
        let Ok(Command::Translate(r)) = parse(
            "how do you say ciao from Italian in English",
            None,
            LIMITS,
            &NONE,
        ) else {
            panic!("parses")
        };
        assert_eq!(
            (r.text.as_str(), r.source.map(|l| l.code)),
            ("ciao", Some("it"))
        );

        // "What is" without a language is a question, not a request.
        let defaults = langs(&["es"]);
        let private = Context {
            private: true,
            default_targets: &defaults,
            ..NONE
        };
        assert_eq!(
            parse("What is the time in London?", None, LIMITS, &NONE),
            Ok(Command::NotACommand)
        );
        assert_eq!(
            parse("what is love", None, LIMITS, &NONE),
            Ok(Command::NotACommand)
        );
        // ... though in a private chat with defaults, plain text is translated anyway.
        assert_eq!(
            with("What is the time in London?", &private),
            ("What is the time in London?".into(), vec!["es"])
        );

        // "How do you say" without a language: the defaults in private, or a question.
        assert_eq!(
            with("how do you say good luck?", &private),
            ("good luck".into(), vec!["es"])
        );
        assert_eq!(
            with("how do you say I live in London", &private),
            ("I live in London".into(), vec!["es"])
        );
        let private_bare = Context {
            private: true,
            ..NONE
        };
        assert_eq!(
            parse("how do you say good luck", None, LIMITS, &private_bare),
            Err(ParseError::NoTargets)
        );
        assert_eq!(
            unknown_names(parse(
                "how do you say hi in Japanse",
                None,
                LIMITS,
                &private_bare
            )),
            [("Japanse".to_string(), Some("ja"))]
        );
        // Overheard in a group: only with a real language.
        assert_eq!(
            parse("how do you say good luck", None, LIMITS, &NONE),
            Ok(Command::NotACommand)
        );
        assert_eq!(
            parse("how do you say hi in Japanse", None, LIMITS, &NONE),
            Ok(Command::NotACommand)
        );
    }

    #[test]
    fn targets_first() {
        assert_eq!(
            ok("translate to French: hello"),
            ("hello".into(), vec!["fr"])
        );
        assert_eq!(
            ok("translate into German hello world"),
            ("hello world".into(), vec!["de"])
        );
        assert_eq!(
            ok("translate to Spanish, French: good night"),
            ("good night".into(), vec!["es", "fr"])
        );
        assert_eq!(
            ok("translate to Spanish and French good night"),
            ("good night".into(), vec!["es", "fr"])
        );
        assert_eq!(
            ok("translate to French: I want to go home"),
            ("I want to go home".into(), vec!["fr"])
        );
        assert_eq!(
            ok("translate to ja：こんにちは"),
            ("こんにちは".into(), vec!["ja"])
        );
        // A code after the first language needs a separator: "it" is text here.
        assert_eq!(
            ok("translate to Spanish it is raining"),
            ("it is raining".into(), vec!["es"])
        );
        assert_eq!(
            ok("translate to es fr hello"),
            ("fr hello".into(), vec!["es"])
        );
        assert_eq!(
            ok("translate to es, fr hello"),
            ("hello".into(), vec!["es", "fr"])
        );
        assert_eq!(
            ok("translate to Spanish and then some"),
            ("and then some".into(), vec!["es"])
        );
        // The old form still wins when the message ends in languages.
        assert_eq!(
            ok("translate to be or not to be to French"),
            ("to be or not to be".into(), vec!["fr"])
        );
        let Ok(Command::Translate(r)) = parse(
            "translate from Italian to German: ciao",
            None,
            LIMITS,
            &NONE,
        ) else {
            panic!("parses")
        };
        assert_eq!(
            (r.text.as_str(), r.source.map(|l| l.code), r.targets.len()),
            ("ciao", Some("it"), 1)
        );
        assert_eq!(
            unknown_names(parse("translate to Frnech: hello", None, LIMITS, &NONE)),
            [("Frnech".to_string(), Some("fr"))]
        );
        assert_eq!(
            unknown_names(parse("translate into Germn hello", None, LIMITS, &NONE)),
            [("Germn".to_string(), Some("de"))]
        );
    }

    #[test]
    fn flags_are_languages() {
        assert_eq!(ok("hello -> 🇪🇸🇫🇷"), ("hello".into(), vec!["es", "fr"]));
        assert_eq!(ok("hello -> 🇪🇸 🇫🇷"), ("hello".into(), vec!["es", "fr"]));
        assert_eq!(ok("/tr 🇯🇵 hello"), ("hello".into(), vec!["ja"]));
        assert_eq!(ok("/tr 🇪🇸,🇧🇷 hola"), ("hola".into(), vec!["es", "pt"]));
        assert_eq!(ok("/tr 🇩🇪🇺🇦 hi"), ("hi".into(), vec!["de", "uk"]));
        assert_eq!(ok("translate hi to 🇩🇪"), ("hi".into(), vec!["de"]));
        assert_eq!(
            ok("translate hi to 🇩🇪 and 🇰🇷"),
            ("hi".into(), vec!["de", "ko"])
        );
        assert_eq!(
            ok("translate to 🇩🇪🇯🇵 hello"),
            ("hello".into(), vec!["de", "ja"])
        );
        assert_eq!(ok("🇪🇸 -> 🇫🇷"), ("🇪🇸".into(), vec!["fr"]));
        assert_eq!(ok("/tr 🇬🇧 🇫🇷"), ("🇫🇷".into(), vec!["en"]));
        assert_eq!(
            unknown_names(parse("hello -> 🇦🇶", None, LIMITS, &NONE)),
            [("🇦🇶".to_string(), None)]
        );
    }

    #[test]
    fn typos_and_unknown_codes_are_explained() {
        assert_eq!(
            unknown_names(parse(
                "translate hi to Frnech and Germn",
                None,
                LIMITS,
                &NONE
            )),
            [
                ("Frnech".to_string(), Some("fr")),
                ("Germn".to_string(), Some("de"))
            ]
        );
        assert_eq!(
            unknown_names(parse("hi -> es, Itallian", None, LIMITS, &NONE)),
            [("Itallian".to_string(), Some("it"))]
        );
        // A reply names a few unknown languages, not a hundred; and a list far too long to be
        // one is not looked at word by word.
        let huge = format!("hi -> {}", vec!["xyzzy"; 300].join(", "));
        assert_eq!(unknown_names(parse(&huge, None, LIMITS, &NONE)).len(), 1);
        let many = format!("hi -> {}", vec!["xyzzy"; 100].join(", "));
        assert_eq!(
            unknown_names(parse(&many, None, LIMITS, &NONE)).len(),
            MAX_UNKNOWN_SHOWN
        );
        // A code-looking first word with no defaults: an unknown language, not "which language?".
        assert_eq!(
            unknown_names(parse("/tr xx hello", None, LIMITS, &NONE)),
            [("xx".to_string(), None)]
        );
        assert_eq!(
            unknown_names(parse("/tr Spansh hello", None, LIMITS, &NONE)),
            [("Spansh".to_string(), Some("es"))]
        );
        // A typo in a translate request wins over the defaults; a text-like tail does not.
        let defaults = langs(&["de"]);
        let ctx = Context {
            default_targets: &defaults,
            ..NONE
        };
        assert_eq!(
            unknown_names(parse("translate hi to Frnech", None, LIMITS, &ctx)),
            [("Frnech".to_string(), Some("fr"))]
        );
        assert_eq!(
            with("translate hi to Klingon", &ctx),
            ("hi to Klingon".into(), vec!["de"])
        );
    }

    #[test]
    fn source_in_slash_commands() {
        let Ok(Command::Translate(r)) = parse("/tr -v from it es,fr ciao", None, LIMITS, &NONE)
        else {
            panic!("parses")
        };
        assert!(r.verbose);
        assert_eq!(r.source.map(|l| l.code), Some("it"));
        assert_eq!(r.text, "ciao");
        assert_eq!(r.targets.len(), 2);
        // "from" that is not followed by a language is just a word.
        assert_eq!(ok("/tr es from here"), ("from here".into(), vec!["es"]));
    }
}
