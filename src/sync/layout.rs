//! Where a message lives in the repository: the sharded layout
//! (`<folder>/YYYY/MM/DD/<id range>/<id>.json`, with the day's Markdown pages beside the
//! ranges), the flat layout of earlier versions, and reading a path back into an id.
//!
//! Every path is derived from the message alone (id and creation time), so adoption,
//! deletion and import find a file without asking GitHub where it is. No folder passes
//! 1,000 entries: a range folder holds at most `RANGE` ids, a day folder one range per
//! thousand ids of that day plus its pages, and the date folders at most 31.

/// Ids per range folder: GitHub lists at most 1,000 entries of a folder.
pub const RANGE: i64 = 1000;
/// The first page of a day; GitHub renders it when a person opens the day's folder.
pub const FIRST_PAGE: &str = "README.md";

/// The UTC day of an RFC 3339 time as `(YYYY, MM, DD)`, or `None` when it is not one.
fn day_parts(created_at: &str) -> Option<(&str, &str, &str)> {
    let date = created_at.get(..10)?;
    let bytes = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-';
    (shaped && digits(8..10)).then(|| (&date[..4], &date[5..7], &date[8..10]))
}

/// The folder of a message's day: `<folder>/YYYY/MM/DD`. Times BookChat did not write
/// (a hand-edited database) fall into `undated`, still one path per message.
pub fn day_folder(folder: &str, created_at: &str) -> String {
    match day_parts(created_at) {
        Some((year, month, day)) => format!("{folder}/{year}/{month}/{day}"),
        None => format!("{folder}/undated"),
    }
}

/// The range folder's name for an id: `00123000-00123999`.
fn range_name(id: i64) -> String {
    let first = id.div_euclid(RANGE) * RANGE;
    format!("{first:08}-{:08}", first + RANGE - 1)
}

/// The folder that holds the message's file.
pub fn range_folder(folder: &str, id: i64, created_at: &str) -> String {
    format!("{}/{}", day_folder(folder, created_at), range_name(id))
}

/// The message's file in the sharded layout.
pub fn file_path(folder: &str, id: i64, created_at: &str) -> String {
    format!("{}/{id:08}.json", range_folder(folder, id, created_at))
}

/// The message's file in the flat layout of earlier versions:
/// `<folder>/<id:08>_<creation time without separators>.json`.
pub fn legacy_path(folder: &str, id: i64, created_at: &str) -> String {
    format!("{folder}/{}", legacy_name(id, created_at))
}

fn legacy_name(id: i64, created_at: &str) -> String {
    let stamp: String = created_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    format!("{id:08}_{stamp}.json")
}

/// The name of page `number` (1-based) of a day.
pub fn page_name(number: usize) -> String {
    match number {
        1 => FIRST_PAGE.to_owned(),
        n => format!("page-{n}.md"),
    }
}

/// Whether a name in a day folder is one of the day's pages.
pub fn is_page_name(name: &str) -> bool {
    name == FIRST_PAGE
        || name
            .strip_prefix("page-")
            .and_then(|rest| rest.strip_suffix(".md"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The id a message file's path names, under either layout, relative to `folder`;
/// `None` for anything else (pages, other people's files).
pub fn id_of(folder: &str, path: &str) -> Option<i64> {
    let rest = path.strip_prefix(folder)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [name] => {
            let (id, stamp) = name.strip_suffix(".json")?.split_once('_')?;
            (digits(id) && !stamp.is_empty()).then(|| id.parse().ok())?
        }
        [.., range, name] => {
            let id = name.strip_suffix(".json").filter(|id| digits(id))?;
            let id: i64 = id.parse().ok()?;
            (range_name(id) == *range).then_some(id)
        }
        [] => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-11-25T06:48:08.123Z";

    #[test]
    fn the_path_holds_the_day_and_the_id() {
        assert_eq!(
            file_path("messages", 42, AT),
            "messages/2026/11/25/00000000-00000999/00000042.json"
        );
        assert_eq!(
            file_path("chat/log", 123_456, AT),
            "chat/log/2026/11/25/00123000-00123999/00123456.json"
        );
        assert_eq!(day_folder("m", "yesterday"), "m/undated");
        assert_eq!(
            legacy_path("messages", 42, AT),
            "messages/00000042_20261125T064808.123Z.json"
        );
    }

    #[test]
    fn no_folder_passes_a_thousand_entries_on_a_day_of_100000_messages() {
        let mut per_folder = std::collections::HashMap::<String, usize>::new();
        for id in 1..=100_000 {
            let path = file_path("messages", id, AT);
            let (folder, _) = path.rsplit_once('/').unwrap();
            *per_folder.entry(folder.to_owned()).or_default() += 1;
            let (day, _) = folder.rsplit_once('/').unwrap();
            per_folder
                .entry(format!("{day}#ranges:{folder}"))
                .or_default();
        }
        let ranges = per_folder.keys().filter(|k| k.contains("#ranges:")).count();
        assert!(ranges + 50 <= 1000, "{ranges} range folders in one day");
        assert!(per_folder.values().all(|n| *n <= 1000));
    }

    #[test]
    fn both_layouts_read_back_to_the_id() {
        for id in [1, 999, 1000, 123_456, 99_999_999, 100_000_000] {
            assert_eq!(id_of("messages", &file_path("messages", id, AT)), Some(id));
            assert_eq!(
                id_of("messages", &legacy_path("messages", id, AT)),
                Some(id)
            );
        }
        for other in [
            "messages/2026/11/25/README.md",
            "messages/2026/11/25/00000000-00000999/notes.json",
            "messages/2026/11/25/00001000-00001999/00000042.json",
            "messages/readme.json",
            "other/00000042_x.json",
            "messagesX/00000042_x.json",
        ] {
            assert_eq!(id_of("messages", other), None, "{other}");
        }
    }

    #[test]
    fn pages_are_named_and_recognised() {
        assert_eq!(page_name(1), "README.md");
        assert_eq!(page_name(3), "page-3.md");
        assert!(is_page_name("README.md") && is_page_name("page-12.md"));
        assert!(!is_page_name("page-.md") && !is_page_name("page-x.md"));
    }
}
