//! What a queued row becomes on GitHub: its file's path (in either layout) and its bytes,
//! and git's id of those bytes. The queue itself is the store's (`store::SyncQueue`).

use super::layout;
use crate::message::Message;
pub use crate::store::queue::QueuedRow;

impl QueuedRow {
    /// The file's path in the sharded layout.
    pub fn file_path(&self, folder: &str) -> String {
        layout::file_path(folder, self.id, &self.created_at)
    }

    /// Where an earlier version would have put the file.
    pub fn legacy_path(&self, folder: &str) -> String {
        layout::legacy_path(folder, self.id, &self.created_at)
    }

    /// The message as the API shows it once it is in `commit`.
    pub fn synced_in(&self, commit: &str) -> Message {
        Message {
            id: self.id,
            content: self.content.clone(),
            author: self.author.clone(),
            created_at: self.created_at.clone(),
            git_commit_hash: Some(commit.to_owned()),
            synced: true,
        }
    }

    /// The file's bytes: the same for the same message every time, so a file found on
    /// GitHub can be compared with what we would have written.
    pub fn file_content(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Git's id of a blob holding `bytes`: what a listing shows, so a file can be compared
/// with what we would write without downloading it.
pub fn blob_sha(bytes: &[u8]) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher.digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> QueuedRow {
        QueuedRow {
            id,
            content: "hi \"there\"\nline".into(),
            author: None,
            created_at: "2026-11-25T06:48:08.123Z".into(),
            deleted: false,
        }
    }

    #[test]
    fn paths_follow_the_layouts_and_blob_ids_match_git() {
        assert_eq!(
            row(42).file_path("messages"),
            "messages/2026/11/25/00000000-00000999/00000042.json"
        );
        assert_eq!(
            row(42).legacy_path("messages"),
            "messages/00000042_20261125T064808.123Z.json"
        );
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_sha(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn file_content_is_stable_json_with_the_message_fields() {
        let text = row(7).file_content();
        assert_eq!(text, row(7).file_content());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["id"], 7);
        assert_eq!(parsed["content"], "hi \"there\"\nline");
        assert_eq!(parsed["author"], serde_json::Value::Null);
        assert_eq!(parsed["created_at"], "2026-11-25T06:48:08.123Z");
        assert!(text.ends_with('\n'));
    }
}
