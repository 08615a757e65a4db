//! What one batch commits, decided against the base tree it is built on: files to add,
//! files already there (adopted with the commit that added them, never committed twice),
//! files of deleted messages to remove (only paths that exist: GitHub fails a whole tree
//! that deletes a missing path), and the days' pages to rewrite.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::failure::Failure;
use super::gitapi::{Change, Entry};
use super::github::GitHub;
use super::layout;
use super::naming::ids_added;
use super::row::{blob_sha, QueuedRow};
use super::transcript::{self, Line, PAGE_LIMIT};
use super::worker::{db_failure, transient};
use crate::store::SyncQueue;

/// A folder's entries by name.
type Listing = HashMap<String, Entry>;

#[derive(Debug, Default)]
pub struct Plan {
    /// Rows whose files this commit adds.
    pub added: Vec<QueuedRow>,
    /// Rows whose files are on the branch already, with the commit that added each.
    pub adopted: Vec<(QueuedRow, String)>,
    /// Deleted rows whose files this commit removes, or that never reached the branch.
    pub removed: Vec<i64>,
    /// Flat-layout files this commit removes.
    removed_legacy: Vec<i64>,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn added_ids(&self) -> Vec<i64> {
        self.added.iter().map(|row| row.id).collect()
    }
}

/// Plans batches; remembers the flat-layout files of earlier versions, read once.
pub struct Planner {
    folder: String,
    /// id → (file name, blob id) of the flat-layout files; `None` until read.
    legacy: Option<HashMap<i64, (String, String)>>,
}

impl Planner {
    pub fn new(folder: String) -> Planner {
        Planner {
            folder,
            legacy: None,
        }
    }

    /// Forgets the flat-layout files a landed commit removed.
    pub fn committed(&mut self, plan: &Plan) {
        if let Some(legacy) = &mut self.legacy {
            for id in &plan.removed_legacy {
                legacy.remove(id);
            }
        }
    }

    /// Decides what `rows` need on the branch at `head` (whose tree is `base`).
    pub fn plan(
        &mut self,
        github: &mut GitHub,
        queue: &SyncQueue,
        rows: &[QueuedRow],
        head: &str,
        base: &str,
    ) -> Result<Plan, Failure> {
        self.load_legacy(github, base)?;
        let days: BTreeSet<String> = rows
            .iter()
            .map(|row| layout::day_folder(&self.folder, &row.created_at))
            .collect();
        let mut listings: HashMap<String, Listing> = HashMap::new();
        for day in &days {
            listings.insert(day.clone(), list(github, day, head)?);
        }
        for row in rows {
            let range = layout::range_folder(&self.folder, row.id, &row.created_at);
            let (day, name) = range.rsplit_once('/').unwrap_or(("", &range));
            let exists = listings.get(day).is_some_and(|l| l.contains_key(name));
            if exists && !listings.contains_key(&range) {
                let listing = list(github, &range, head)?;
                listings.insert(range, listing);
            }
        }
        let mut plan = Plan::default();
        let mut to_adopt = Vec::new();
        for row in rows {
            self.classify(row, &listings, &mut plan, &mut to_adopt)?;
        }
        adopt(github, &mut plan, to_adopt)?;
        // What the branch holds once this commit lands, besides what is synced already.
        let landing: HashSet<i64> = plan
            .added
            .iter()
            .chain(plan.adopted.iter().map(|(row, _)| row))
            .map(|row| row.id)
            .collect();
        for day in &days {
            self.pages(queue, day, &listings[day], &landing, &mut plan)?;
        }
        Ok(plan)
    }

    /// Reads the flat folder's file names once: one request per folder level.
    fn load_legacy(&mut self, github: &mut GitHub, base: &str) -> Result<(), Failure> {
        if self.legacy.is_some() {
            return Ok(());
        }
        let mut found = HashMap::new();
        if let Some(tree) = github.folder_tree(base, &self.folder)? {
            let (entries, truncated) = github.tree(&tree)?;
            if truncated {
                log::warn!(
                    "GitHub truncated the listing of {}/; older flat-layout files past it \
                     are not checked before committing",
                    self.folder
                );
            }
            for entry in entries.into_iter().filter(|e| !e.is_dir) {
                let path = format!("{}/{}", self.folder, entry.name);
                if let Some(id) = layout::id_of(&self.folder, &path) {
                    found.insert(id, (entry.name, entry.sha));
                }
            }
        }
        self.legacy = Some(found);
        Ok(())
    }

    fn classify(
        &self,
        row: &QueuedRow,
        listings: &HashMap<String, Listing>,
        plan: &mut Plan,
        to_adopt: &mut Vec<(QueuedRow, String)>,
    ) -> Result<(), Failure> {
        let path = row.file_path(&self.folder);
        let (range, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let current = listings
            .get(range)
            .and_then(|l| l.get(name))
            .map(|e| &e.sha);
        let legacy_path = row.legacy_path(&self.folder);
        let legacy_name = legacy_path.rsplit('/').next().unwrap_or("");
        let legacy = self.legacy.as_ref().and_then(|l| l.get(&row.id));
        let legacy = legacy
            .filter(|(name, _)| name == legacy_name)
            .map(|(_, sha)| sha);
        if row.deleted {
            if current.is_some() {
                plan.changes.push(Change {
                    path,
                    content: None,
                });
            }
            if legacy.is_some() {
                plan.changes.push(Change {
                    path: legacy_path,
                    content: None,
                });
                plan.removed_legacy.push(row.id);
            }
            plan.removed.push(row.id);
            return Ok(());
        }
        let content = row.file_content();
        let want = blob_sha(content.as_bytes());
        match (current, legacy) {
            (Some(sha), _) if *sha != want => Err(Failure::Fatal {
                reason: format!(
                    "{path} already exists on GitHub with other content; not overwriting it"
                ),
            }),
            (Some(_), _) => {
                to_adopt.push((row.clone(), path));
                Ok(())
            }
            // A flat-layout name holds the id and the exact creation time: it is this
            // message, whatever bytes an earlier version wrote for it.
            (None, Some(_)) => {
                to_adopt.push((row.clone(), legacy_path));
                Ok(())
            }
            (None, None) => {
                plan.changes.push(Change {
                    path,
                    content: Some(content),
                });
                plan.added.push(row.clone());
                Ok(())
            }
        }
    }

    /// Rewrites the pages of one day that differ from the branch, and removes pages past
    /// the new last one (a day that lost messages).
    fn pages(
        &self,
        queue: &SyncQueue,
        day_folder: &str,
        listing: &Listing,
        landing: &HashSet<i64>,
        plan: &mut Plan,
    ) -> Result<(), Failure> {
        let Some(date) = day_folder
            .strip_prefix(&format!("{}/", self.folder))
            .map(|d| d.replace('/', "-"))
            .filter(|d| d.len() == 10)
        else {
            return Ok(());
        };
        let rows = queue.day_lines(&date, landing).map_err(db_failure)?;
        let lines: Vec<Line<'_>> = rows
            .iter()
            .map(|(_, created_at, author, content)| Line {
                created_at,
                author: author.as_deref(),
                content,
            })
            .collect();
        let pages = transcript::pages(&heading(&date), &lines, PAGE_LIMIT);
        for (index, page) in pages.iter().enumerate() {
            let name = layout::page_name(index + 1);
            let current = listing.get(&name).map(|e| e.sha.as_str());
            if current != Some(blob_sha(page.as_bytes()).as_str()) {
                plan.changes.push(Change {
                    path: format!("{day_folder}/{name}"),
                    content: Some(page.clone()),
                });
            }
        }
        let extra = listing.keys().filter(|name| {
            layout::is_page_name(name) && !(1..=pages.len()).any(|n| layout::page_name(n) == **name)
        });
        for name in extra {
            plan.changes.push(Change {
                path: format!("{day_folder}/{name}"),
                content: None,
            });
        }
        Ok(())
    }
}

/// `Wednesday 25 November 2026` for `2026-11-25`.
fn heading(date: &str) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_or_else(
        |_| date.to_owned(),
        |d| d.format("%A %-d %B %Y").to_string(),
    )
}

fn list(github: &mut GitHub, folder: &str, head: &str) -> Result<Listing, Failure> {
    let entries = github.list_dir(folder, head)?.unwrap_or_default();
    Ok(entries.into_iter().map(|e| (e.name.clone(), e)).collect())
}

/// Finds the commit that added each file already on the branch: one history lookup for
/// the first, whose message names the other ids it added, and so on.
fn adopt(
    github: &mut GitHub,
    plan: &mut Plan,
    mut left: Vec<(QueuedRow, String)>,
) -> Result<(), Failure> {
    while let Some((first, path)) = left.first() {
        let summary = github
            .commit_touching(path)?
            .ok_or_else(|| transient(format!("GitHub lists no commit for the existing {path}")))?;
        let named: HashSet<i64> = ids_added(&summary.message).into_iter().collect();
        let first = first.id;
        let (now, rest): (Vec<_>, Vec<_>) = left
            .into_iter()
            .partition(|(row, _)| row.id == first || named.contains(&row.id));
        for (row, _) in now {
            plan.adopted.push((row, summary.sha.clone()));
        }
        left = rest;
    }
    Ok(())
}
