//! Commit messages that name the ids they add and remove, so `import` can tell from the
//! history alone which commit added a file, and reading them back (the formats of earlier
//! versions too).

use std::fmt::Write as _;

/// `1-3,5,9-12`: sorted ids as ranges.
fn ranges(ids: &[i64]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        match sorted[i] {
            end if end == start => {
                let _ = write!(out, "{start}");
            }
            end => {
                let _ = write!(out, "{start}-{end}");
            }
        }
        i += 1;
    }
    out
}

fn parse_ranges(text: &str) -> Option<Vec<i64>> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (start, end) = part.split_once('-').unwrap_or((part, part));
        let (start, end): (i64, i64) = (start.parse().ok()?, end.parse().ok()?);
        // A range longer than any commit holds is not one of ours.
        if end < start || end - start > 100_000 {
            return None;
        }
        ids.extend(start..=end);
    }
    Some(ids)
}

/// The commit message for a batch: a summary line a person reads, then the ids.
pub fn commit_message(added: &[i64], removed: &[i64]) -> String {
    let mut summary = match added.len() {
        0 => String::new(),
        1 => format!("Add BookChat message {}", added[0]),
        n => format!("Add {n} BookChat messages"),
    };
    if !removed.is_empty() {
        if !summary.is_empty() {
            summary.push_str("; ");
        }
        let _ = write!(summary, "remove {} deleted", removed.len());
    }
    if summary.is_empty() {
        summary.push_str("Update BookChat day pages");
    }
    let mut text = format!("{summary}\n");
    if !added.is_empty() {
        let _ = write!(text, "\nids: {}", ranges(added));
    }
    if !removed.is_empty() {
        let _ = write!(text, "\nremoved: {}", ranges(removed));
    }
    text.push('\n');
    text
}

/// The ids a commit message says the commit added, in this version's format or the
/// earlier ones (`Add BookChat message 5`, `Add BookChat messages 1 to 200 (200 messages)`).
pub fn ids_added(message: &str) -> Vec<i64> {
    if let Some(ids) = message
        .lines()
        .find_map(|line| line.strip_prefix("ids: "))
        .and_then(parse_ranges)
    {
        return ids;
    }
    let first = message.lines().next().unwrap_or("");
    if let Some(rest) = first.strip_prefix("Add BookChat messages ") {
        let mut words = rest.split_whitespace();
        if let (Some(a), Some("to"), Some(b)) = (words.next(), words.next(), words.next()) {
            if let Some(ids) = parse_ranges(&format!("{a}-{b}")) {
                return ids;
            }
        }
    }
    first
        .strip_prefix("Add BookChat message ")
        .and_then(|id| id.trim().parse().ok())
        .map_or_else(Vec::new, |id| vec![id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_the_message() {
        let added = [5, 1, 2, 3, 9, 10, 11, 12];
        let text = commit_message(&added, &[7]);
        assert!(
            text.starts_with("Add 8 BookChat messages; remove 1 deleted\n"),
            "{text}"
        );
        assert!(
            text.contains("\nids: 1-3,5,9-12\n") && text.contains("removed: 7"),
            "{text}"
        );
        assert_eq!(ids_added(&text), [1, 2, 3, 5, 9, 10, 11, 12]);
        assert_eq!(ids_added(&commit_message(&[42], &[])), [42]);
        assert!(ids_added(&commit_message(&[], &[3])).is_empty());
    }

    #[test]
    fn earlier_formats_are_read_and_others_ignored() {
        assert_eq!(ids_added("Add BookChat message 5"), [5]);
        assert_eq!(
            ids_added("Add BookChat messages 1 to 4 (4 messages)"),
            [1, 2, 3, 4]
        );
        assert!(ids_added("Fix the README").is_empty());
        assert!(ids_added("Add BookChat messages 9 to 1 (x)").is_empty());
        assert!(ids_added("x\n\nids: 1-999999999").is_empty());
    }
}
