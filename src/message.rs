//! What a message is, which slice of history a listing wants, and the input rules a new
//! one must pass before it reaches the database.

use serde::Serialize;

pub const MAX_CONTENT_CHARS: usize = 2000;
pub const MAX_AUTHOR_CHARS: usize = 50;

/// A stored message, exactly as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub id: i64,
    pub content: String,
    pub author: Option<String>,
    pub created_at: String,
    pub git_commit_hash: Option<String>,
    pub synced: bool,
}

/// Which slice of history a listing wants. Here, beside `Message`, because the store
/// and the live page both answer it and neither should import the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest messages.
    Newest,
    /// Messages with an id above this one: what a polling page asks for.
    After(i64),
    /// The page of history just below this id: "load older".
    Before(i64),
}

/// A message that has passed every input rule; the only way to build one is `NewMessage::parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    content: String,
    author: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    #[error("content must not be empty")]
    EmptyContent,
    #[error("content is {0} characters; the limit is {MAX_CONTENT_CHARS}")]
    ContentTooLong(usize),
    #[error("{0} is {1} characters; the limit is {MAX_AUTHOR_CHARS}")]
    NameTooLong(&'static str, usize),
    #[error("{0} must not contain control characters other than newline and tab")]
    ControlCharacter(&'static str),
}

impl NewMessage {
    /// Applies the contract's input rules. Lengths count Unicode scalar values after trimming,
    /// so an emoji is one character, as a person would count it.
    pub fn parse(content: &str, author: Option<&str>) -> Result<NewMessage, InvalidMessage> {
        let content = clean("content", content)?;
        let content_chars = content.chars().count();
        if content_chars == 0 {
            return Err(InvalidMessage::EmptyContent);
        }
        if content_chars > MAX_CONTENT_CHARS {
            return Err(InvalidMessage::ContentTooLong(content_chars));
        }
        Ok(NewMessage {
            content,
            author: parse_name("author", author)?,
        })
    }

    pub fn content(&self) -> &str {
        &self.content
    }

    pub fn author(&self) -> Option<&str> {
        self.author.as_deref()
    }
}

/// A display name under the author rules (`field` names it in errors): trimmed, at most
/// `MAX_AUTHOR_CHARS`, no control characters; blank is no name.
pub fn parse_name(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<String>, InvalidMessage> {
    let name = match raw {
        Some(raw) => clean(field, raw)?,
        None => return Ok(None),
    };
    let chars = name.chars().count();
    if chars > MAX_AUTHOR_CHARS {
        return Err(InvalidMessage::NameTooLong(field, chars));
    }
    Ok((!name.is_empty()).then_some(name))
}

/// Trims, turns CRLF into LF (Windows clients send it for a plain newline), then refuses any
/// remaining control character but newline and tab.
fn clean(field: &'static str, raw: &str) -> Result<String, InvalidMessage> {
    let text = raw.trim().replace("\r\n", "\n");
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(InvalidMessage::ControlCharacter(field));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_content_and_author() {
        let msg = NewMessage::parse("  hello \n", Some("  ada ")).unwrap();
        assert_eq!(msg.content(), "hello");
        assert_eq!(msg.author(), Some("ada"));
    }

    #[test]
    fn blank_author_is_anonymous() {
        assert_eq!(NewMessage::parse("hi", Some("   ")).unwrap().author(), None);
        assert_eq!(NewMessage::parse("hi", None).unwrap().author(), None);
    }

    #[test]
    fn empty_or_whitespace_content_is_refused() {
        assert_eq!(
            NewMessage::parse("", None),
            Err(InvalidMessage::EmptyContent)
        );
        assert_eq!(
            NewMessage::parse(" \n\t ", None),
            Err(InvalidMessage::EmptyContent)
        );
    }

    #[test]
    fn content_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_CONTENT_CHARS);
        assert!(NewMessage::parse(&at_limit, None).is_ok());
        let over = "x".repeat(MAX_CONTENT_CHARS + 1);
        assert_eq!(
            NewMessage::parse(&over, None),
            Err(InvalidMessage::ContentTooLong(MAX_CONTENT_CHARS + 1))
        );
        let padded = format!("   {at_limit}   ");
        assert!(
            NewMessage::parse(&padded, None).is_ok(),
            "limit applies after trimming"
        );
    }

    #[test]
    fn author_limit() {
        assert!(NewMessage::parse("hi", Some(&"a".repeat(MAX_AUTHOR_CHARS))).is_ok());
        assert_eq!(
            NewMessage::parse("hi", Some(&"a".repeat(MAX_AUTHOR_CHARS + 1))),
            Err(InvalidMessage::NameTooLong("author", MAX_AUTHOR_CHARS + 1))
        );
    }

    #[test]
    fn a_display_name_follows_the_author_rules() {
        assert_eq!(parse_name("name", Some("  Ann ")), Ok(Some("Ann".into())));
        assert_eq!(parse_name("name", Some(" ")), Ok(None));
        assert_eq!(parse_name("name", None), Ok(None));
        let long = parse_name("name", Some(&"a".repeat(MAX_AUTHOR_CHARS + 1))).unwrap_err();
        assert!(
            long.to_string().starts_with("name is 51 characters"),
            "{long}"
        );
        assert_eq!(
            parse_name("name", Some("a\u{7}")),
            Err(InvalidMessage::ControlCharacter("name"))
        );
    }

    #[test]
    fn newline_and_tab_are_allowed_other_controls_are_not() {
        assert_eq!(
            NewMessage::parse("a\n\tb", None).unwrap().content(),
            "a\n\tb"
        );
        assert_eq!(NewMessage::parse("a\r\nb", None).unwrap().content(), "a\nb");
        for bad in ["a\0b", "a\u{7}b", "a\rb", "a\u{1b}[31mb", "a\u{85}b"] {
            assert_eq!(
                NewMessage::parse(bad, None),
                Err(InvalidMessage::ControlCharacter("content")),
                "{bad:?}"
            );
        }
        assert_eq!(
            NewMessage::parse("ok", Some("a\0")),
            Err(InvalidMessage::ControlCharacter("author"))
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// Whatever arrives, parsing never panics, and what it accepts obeys every rule.
        #[test]
        fn accepted_messages_obey_every_rule(content in ".{0,2100}", author in proptest::option::of(".{0,60}")) {
            if let Ok(message) = NewMessage::parse(&content, author.as_deref()) {
                let text = message.content();
                proptest::prop_assert!(!text.is_empty() && text.chars().count() <= MAX_CONTENT_CHARS);
                proptest::prop_assert_eq!(text, text.trim());
                let allowed = |c: char| !c.is_control() || c == '\n' || c == '\t';
                proptest::prop_assert!(text.chars().all(allowed));
                if let Some(name) = message.author() {
                    proptest::prop_assert!(!name.is_empty() && name.chars().count() <= MAX_AUTHOR_CHARS);
                    proptest::prop_assert!(name.chars().all(allowed));
                }
            }
        }
    }
}
