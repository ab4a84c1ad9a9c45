//! Splitting a reply that is longer than a platform allows.
//!
//! Parts break at the last paragraph, line or sentence boundary that fits, then at a space,
//! and only as a last resort inside a word; never inside a character. Lengths are counted in
//! UTF-16 code units, the unit of Telegram's limit; that is never less than the number of
//! characters, so it is safe for platforms that count characters too.

/// Length as platforms count it: UTF-16 code units.
pub fn reply_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Splits `text` into parts of at most `max` UTF-16 code units each.
pub fn split_reply(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2); // room for any one character
    let mut parts = Vec::new();
    let mut rest = text.trim_end();
    while reply_len(rest) > max {
        // Byte offset of the first character that would not fit.
        let mut used = 0;
        let limit = rest
            .char_indices()
            .find(|(_, c)| {
                used += c.len_utf16();
                used > max
            })
            .map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = best_cut(window).unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim_end();
        if !head.is_empty() {
            parts.push(head.to_string());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

/// The byte offset of the best place to cut inside `window` (cut *after* the boundary), if any
/// boundary leaves a reasonably sized first part.
fn best_cut(window: &str) -> Option<usize> {
    let min = window.len() / 3;
    let after = |i: usize, sep: &str| i + sep.len();
    if let Some(i) = window.rfind("\n\n").filter(|&i| i > min) {
        return Some(after(i, "\n\n"));
    }
    if let Some(i) = window.rfind('\n').filter(|&i| i > min) {
        return Some(after(i, "\n"));
    }
    let sentence = [". ", "! ", "? ", "。", "！", "？", "; "]
        .iter()
        .filter_map(|sep| window.rfind(sep).map(|i| after(i, sep)))
        .filter(|&i| i > min)
        .max();
    if sentence.is_some() {
        return sentence;
    }
    window
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .filter(|&(i, _)| i > min)
        .map(|(i, c)| i + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_reply("hello", 10), vec!["hello"]);
        assert_eq!(split_reply("", 10), vec![""]);
    }

    #[test]
    fn splits_on_lines_then_sentences() {
        let text = "line one\nline two\nline three";
        assert_eq!(
            split_reply(text, 18),
            vec!["line one\nline two", "line three"]
        );
        let text = "First sentence. Second sentence. Third.";
        let parts = split_reply(text, 20);
        assert_eq!(parts[0], "First sentence.");
        assert!(parts.iter().all(|p| reply_len(p) <= 20));
    }

    #[test]
    fn never_splits_inside_a_character_and_keeps_everything() {
        let text = "日本語のテキスト".repeat(50);
        let parts = split_reply(&text, 7);
        assert!(parts.iter().all(|p| reply_len(p) <= 7));
        assert_eq!(parts.concat(), text);
        let nbsp = "ab\u{a0}".repeat(20);
        let parts = split_reply(&nbsp, 4);
        assert!(parts.iter().all(|p| reply_len(p) <= 4));
        let emoji = "👍🏽".repeat(30);
        // Each emoji is two UTF-16 units, its skin-tone modifier two more.
        let parts = split_reply(&emoji, 5);
        assert!(parts.iter().all(|p| reply_len(p) <= 5));
        assert_eq!(parts.concat(), emoji);
    }
}
