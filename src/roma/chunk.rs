//! Splitting a long text into chunks that are translated in parallel and reassembled in order.
//!
//! [`split`] cuts a text into byte ranges that cover it exactly, in order, each at most
//! `max_chars` characters long. It prefers, in this order, a paragraph break, a line break, the
//! end of a sentence (`. `, `! `, `? `, `…`, `。`, `！`, `？`), then any whitespace, and cuts
//! between two characters only when a piece has none of those. A cut is never made in the first
//! third of a window, so chunks stay large (fewer calls, more context for each).
//!
//! Each chunk's leading and trailing whitespace ([`core`]) is kept out of the provider call and
//! put back around the translation, so paragraphs and line breaks survive the round trip.

use std::ops::Range;

/// Byte ranges of `text`, in order, covering all of it, each at most `max_chars` characters
/// after its leading whitespace (`max_chars` of 0 counts as 1). An empty text gives no chunk.
pub fn split(text: &str, max_chars: usize) -> Vec<Range<usize>> {
    let max_chars = max_chars.max(1);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        // Whitespace left over from the previous cut rides along (it is not sent anyway).
        let lead = skip_whitespace(text, start) - start;
        let rest = &text[start + lead..];
        // The byte offset (in `rest`) just past `max_chars` characters, if the rest is longer.
        let Some((window_end, _)) = rest.char_indices().nth(max_chars) else {
            chunks.push(start..text.len());
            break;
        };
        let min = rest.char_indices().nth(max_chars / 3).map_or(0, |(i, _)| i);
        // One character past the window, to see whether a sentence ends right at its edge.
        let lookahead = rest[window_end..]
            .chars()
            .next()
            .map_or(window_end, |c| window_end + c.len_utf8());
        let cut = best_cut(&rest[..lookahead], min).map_or(window_end, |cut| cut.min(window_end));
        chunks.push(start..start + lead + cut);
        start += lead + cut;
    }
    chunks
}

/// Where a kind of boundary occurs in a window: offsets just past each one.
type Finder = dyn Fn(&str) -> Vec<usize>;

/// The best place to end a chunk in `window` (an offset after a separator), not before `min`;
/// the caller clamps it to the window proper.
fn best_cut(window: &str, min: usize) -> Option<usize> {
    let candidates: [&Finder; 4] = [
        &|w| ends_of(w, "\n\n"),
        &|w| ends_of(w, "\n"),
        &sentence_ends,
        &|w| {
            w.char_indices()
                .filter(|(_, c)| c.is_whitespace())
                .map(|(i, c)| i + c.len_utf8())
                .collect()
        },
    ];
    candidates
        .iter()
        .find_map(|find| find(window).into_iter().filter(|&i| i > min).max())
}

/// Offsets just past every occurrence of `sep` (and any whitespace right after it).
fn ends_of(window: &str, sep: &str) -> Vec<usize> {
    window
        .match_indices(sep)
        .map(|(i, s)| skip_whitespace(window, i + s.len()))
        .collect()
}

/// Offsets just past a sentence end: `.`, `!`, `?` or `…` followed by whitespace, or a CJK full
/// stop, exclamation or question mark.
fn sentence_ends(window: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = window.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let after = i + c.len_utf8();
        match c {
            '。' | '！' | '？' => ends.push(skip_whitespace(window, after)),
            '.' | '!' | '?' | '…' if chars.peek().is_some_and(|(_, n)| n.is_whitespace()) => {
                ends.push(skip_whitespace(window, after));
            }
            _ => {}
        }
    }
    ends
}

fn skip_whitespace(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(i, _)| from + i)
}

/// A chunk split into (leading whitespace, text to translate, trailing whitespace).
pub fn core(chunk: &str) -> (&str, &str, &str) {
    let trimmed_start = chunk.trim_start();
    let lead = &chunk[..chunk.len() - trimmed_start.len()];
    let core = trimmed_start.trim_end();
    let trail = &trimmed_start[core.len()..];
    (lead, core, trail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, max: usize) -> Vec<&str> {
        split(text, max).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn short_text_is_one_chunk_and_empty_is_none() {
        assert_eq!(pieces("hello world", 20), ["hello world"]);
        assert!(split("", 10).is_empty());
    }

    #[test]
    fn paragraphs_then_sentences_then_words() {
        let text = "First paragraph here.\n\nSecond one is here.";
        assert_eq!(
            pieces(text, 30),
            ["First paragraph here.\n\n", "Second one is here."]
        );
        let text = "One sentence. Another sentence! A third one? Yes.";
        assert_eq!(
            pieces(text, 30),
            ["One sentence. ", "Another sentence! A third one?", " Yes."]
        );
        let text = "words without any sentence end in sight at all";
        for p in pieces(text, 12) {
            assert!(p.trim_start().chars().count() <= 12, "{p:?}");
        }
        assert_eq!(pieces(text, 12).concat(), text);
    }

    #[test]
    fn cjk_and_unbroken_text() {
        let text = "今日は晴れです。明日は雨です。明後日は雪です。";
        assert_eq!(
            pieces(text, 10),
            ["今日は晴れです。", "明日は雨です。", "明後日は雪です。"]
        );
        let text = "x".repeat(25);
        assert_eq!(
            pieces(&text, 10),
            ["x".repeat(10), "x".repeat(10), "x".repeat(5)]
        );
    }

    #[test]
    fn chunks_cover_the_text_in_order_within_the_limit() {
        let text = "Ünïcödé sentence. 🙂🙂🙂 more\nlines\n\nand paragraphs… done. ".repeat(20);
        for max in [1, 2, 7, 33, 100, 10_000] {
            let parts = pieces(&text, max);
            assert_eq!(parts.concat(), text, "max {max}");
            assert!(
                parts
                    .iter()
                    .all(|p| p.trim_start().chars().count() <= max.max(1))
            );
            assert!(parts.iter().all(|p| !p.is_empty()));
        }
    }

    #[test]
    fn core_keeps_the_whitespace_around() {
        assert_eq!(core("\n hello there \n\n"), ("\n ", "hello there", " \n\n"));
        assert_eq!(core("   "), ("   ", "", ""));
        assert_eq!(core("x"), ("", "x", ""));
    }
}
