//! Discord renders message content as Markdown: a translation containing `*`, `_`, `` ` ``,
//! `~`, `|`, `>`, `#`, `-`, `[...](...)` or `<@...>` would come out formatted, hidden as a
//! spoiler, as a heading, a link or a mention. Replies are plain text, so [`escape`] puts a
//! backslash before every character Discord would read as markup (Discord shows the character
//! itself). Mentions never ping anyway (`allowed_mentions: none`); escaping keeps them from even
//! rendering.

/// `text` with every Markdown-significant character escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t']);
        out.push_str(&line[..line.len() - body.len()]);
        // Block markers only count at the start of a line: quotes, headings, lists.
        let mut chars = body.char_indices().peekable();
        if let Some(&(_, first)) = chars.peek()
            && matches!(first, '>' | '#' | '-' | '+')
        {
            out.push('\\');
        }
        // "1. item" is a numbered list.
        let digits = body.chars().take_while(char::is_ascii_digit).count();
        let numbered = digits > 0 && body[digits..].starts_with(". ");
        for (i, c) in chars {
            if matches!(c, '\\' | '*' | '_' | '`' | '~' | '|' | '[' | ']' | '<')
                || (numbered && i == digits)
            {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_shown_as_typed() {
        assert_eq!(
            escape("plain text, nothing special."),
            "plain text, nothing special."
        );
        assert_eq!(
            escape("**bold** _it_ `code`"),
            r"\*\*bold\*\* \_it\_ \`code\`"
        );
        assert_eq!(
            escape("||spoiler|| ~~gone~~"),
            r"\|\|spoiler\|\| \~\~gone\~\~"
        );
        assert_eq!(escape("[x](https://e.com)"), r"\[x\](https://e.com)");
        assert_eq!(escape("<@123> <#9> <t:1:R>"), r"\<@123> \<#9> \<t:1:R>");
        assert_eq!(escape("back\\slash"), r"back\\slash");
    }

    #[test]
    fn block_markers_only_at_the_start_of_a_line() {
        assert_eq!(
            escape("# title\n> quote\n  - item\n1. first\na - b # c > d"),
            "\\# title\n\\> quote\n  \\- item\n1\\. first\na - b # c > d"
        );
    }

    #[test]
    fn other_scripts_pass_through() {
        assert_eq!(escape("Доброе утро 🌅 おはよう"), "Доброе утро 🌅 おはよう");
    }
}
