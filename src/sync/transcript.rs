//! The day's conversation as Markdown pages: one line per message (time, author, text),
//! oldest first, escaped so that no message can inject Markdown, HTML or a fake line, and
//! split into pages that each stay under GitHub's 512 KB rendering limit.

use std::fmt::Write as _;

use super::layout::page_name;

/// GitHub renders Markdown files up to 512 KB; stay well clear of it.
pub const PAGE_LIMIT: usize = 500 * 1024;

/// One message as the page shows it.
pub struct Line<'a> {
    pub created_at: &'a str,
    pub author: Option<&'a str>,
    pub content: &'a str,
}

/// Escapes text for one Markdown list item: every character Markdown or HTML could read
/// as syntax is backslash-escaped or written as an entity, and a newline becomes `<br>`,
/// so the whole message stays inside its own line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' | '"' | '\'' | ':' | '=' | '^' | '$' | '%' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `- 06:48:08 · **alice** · text`. The time is the UTC clock time of `created_at`.
pub fn line(message: &Line<'_>) -> String {
    let clock = message.created_at.get(11..19).filter(|t| {
        t.bytes().enumerate().all(|(i, b)| {
            if i % 3 == 2 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }
        })
    });
    let time = clock.map_or_else(|| escape(message.created_at), str::to_owned);
    let author = match message.author {
        Some(name) if !name.trim().is_empty() => format!("**{}**", escape(name)),
        _ => "*anonymous*".to_owned(),
    };
    format!("- {time} · {author} · {}\n", escape(message.content))
}

fn heading(day: &str, number: usize) -> String {
    let mut text = format!("# {day}");
    if number > 1 {
        let _ = write!(text, " (page {number})");
    }
    text.push_str("\n\nBookChat messages of this day, oldest first; times are UTC.\n\n");
    text
}

fn continued(next: usize) -> String {
    format!("\n[Continued on page {next}]({})\n", page_name(next))
}

/// The day's pages, first page first. A page is closed before a line would take it past
/// `limit` (room is kept for the link to the next page). An empty day has no pages.
pub fn pages(day: &str, lines: &[Line<'_>], limit: usize) -> Vec<String> {
    let mut pages = Vec::new();
    let mut current = heading(day, 1);
    let mut holds_lines = false;
    for message in lines {
        let text = line(message);
        let room = continued(pages.len() + 2).len();
        if holds_lines && current.len() + text.len() + room > limit {
            current.push_str(&continued(pages.len() + 2));
            pages.push(std::mem::replace(
                &mut current,
                heading(day, pages.len() + 2),
            ));
        }
        current.push_str(&text);
        holds_lines = true;
    }
    if holds_lines {
        pages.push(current);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(content: &str) -> Line<'_> {
        Line {
            created_at: "2026-11-25T06:48:08.123Z",
            author: Some("alice"),
            content,
        }
    }

    #[test]
    fn a_line_holds_time_author_and_text() {
        assert_eq!(line(&at("hello")), "- 06:48:08 · **alice** · hello\n");
        let anonymous = Line {
            author: None,
            ..at("hi")
        };
        assert_eq!(line(&anonymous), "- 06:48:08 · *anonymous* · hi\n");
    }

    #[test]
    fn nothing_a_message_says_becomes_markup_or_a_new_line() {
        let hostile =
            "**bold** <script>alert(1)</script>\n- 07:00:00 · **bob** · fake\n# head [x](http://e)";
        let text = line(&at(hostile));
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(!text.contains("<script"), "{text}");
        assert!(
            !text.contains("**bold**") && !text.contains("[x](http"),
            "{text}"
        );
        assert!(text.contains("&lt;script&gt;") && text.contains("<br>\\- 07\\:00"));
        let evil_author = Line {
            author: Some("*x* | <b>"),
            ..at("y")
        };
        assert!(line(&evil_author).contains("**\\*x\\* \\| &lt;b&gt;**"));
    }

    #[test]
    fn a_long_day_continues_on_numbered_pages_under_the_limit() {
        let text = "x".repeat(900);
        let lines: Vec<Line<'_>> = (0..40).map(|_| at(&text)).collect();
        let pages = pages("2026-11-25", &lines, 10_000);
        assert!(pages.len() >= 4, "{}", pages.len());
        for (i, page) in pages.iter().enumerate() {
            assert!(
                page.len() <= 10_000,
                "page {} is {} bytes",
                i + 1,
                page.len()
            );
            if i + 1 < pages.len() {
                assert!(page.ends_with(&format!("(page-{}.md)\n", i + 2)), "{page}");
            }
        }
        let total: usize = pages.iter().map(|p| p.matches("\n- ").count()).sum();
        assert_eq!(total, 40, "every line on exactly one page");
        assert!(pages[1].starts_with("# 2026-11-25 (page 2)"));
        assert!(super::pages("2026-11-25", &[], 10_000).is_empty());
    }
}
