//! The fake's object database: blobs, trees and commits with the ids real git would give
//! them, plus branches. Everything the routes read or write goes through `Repo`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

/// path → blob id, for every file under a tree: the view most operations need.
pub type Files = BTreeMap<String, String>;

pub const FILE_MODE: &str = "100644";
pub const TREE_MODE: &str = "40000";

#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub sha: String,
    pub is_tree: bool,
}

impl Entry {
    pub fn mode(&self) -> &'static str {
        if self.is_tree {
            TREE_MODE
        } else {
            FILE_MODE
        }
    }

    /// Git orders a subtree as if its name ended in '/', so "a.txt" sorts before dir "a".
    fn sort_key(&self) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        if self.is_tree {
            key.push(b'/');
        }
        key
    }
}

#[derive(Clone, Debug)]
pub struct Commit {
    pub tree: String,
    pub files: Files,
    pub parents: Vec<String>,
    pub message: String,
    pub time: u64,
}

pub struct Repo {
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub blobs: HashMap<String, Vec<u8>>,
    pub trees: HashMap<String, Vec<Entry>>,
    pub commits: HashMap<String, Commit>,
    pub branches: BTreeMap<String, String>,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn object_id(kind: &str, body: &[u8]) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(format!("{kind} {}\0", body.len()).as_bytes());
    hasher.update(body);
    hasher.digest().to_string()
}

pub fn blob_id(bytes: &[u8]) -> String {
    object_id("blob", bytes)
}

fn hex_to_raw(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("ids are hex"))
        .collect()
}

fn tree_id(entries: &[Entry]) -> String {
    let mut body = Vec::new();
    for entry in entries {
        body.extend_from_slice(format!("{} {}\0", entry.mode(), entry.name).as_bytes());
        body.extend_from_slice(&hex_to_raw(&entry.sha));
    }
    object_id("tree", &body)
}

fn commit_id(tree: &str, parents: &[String], message: &str, time: u64) -> String {
    let mut text = format!("tree {tree}\n");
    for parent in parents {
        let _ = writeln!(text, "parent {parent}");
    }
    let who = format!("Fake <fake@example.com> {time} +0000");
    let _ = write!(text, "author {who}\ncommitter {who}\n\n{message}");
    object_id("commit", text.as_bytes())
}

/// Rejects what git cannot store: empty, ".", ".." or ".git" components and stray slashes.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|part| !matches!(part, "" | "." | ".." | ".git"))
}

/// The file at `path` or any file below it (`path` read as a directory), in map order.
pub fn under<'a>(
    files: &'a Files,
    path: &'a str,
) -> impl Iterator<Item = (&'a String, &'a String)> {
    let prefix = format!("{path}/");
    // The files below a directory sit together in the map, from "{dir}/" on: a range, not
    // a scan, keeps seeding thousands of files one `place` at a time fast.
    let from = (Bound::Included(prefix.as_str()), Bound::Unbounded);
    let below = files
        .range::<str, _>(from)
        .take_while(move |(p, _)| p.starts_with(&prefix));
    files.get_key_value(path).into_iter().chain(below)
}

/// Whether `path` would collide with the shape of `files`: a file where a directory is, or
/// a directory through an existing file. Git trees cannot hold both under one name.
pub fn conflicts(files: &Files, path: &str) -> bool {
    let is_dir = under(files, path).any(|(p, _)| p != path);
    let through_file = path
        .match_indices('/')
        .any(|(i, _)| files.contains_key(&path[..i]));
    is_dir || through_file
}

/// Sets `path` the way the Git Data API does: the new entry replaces whatever stood in its
/// way (a file where a directory must go, or the directory it replaces).
pub fn place(files: &mut Files, path: &str, sha: String) {
    remove(files, path);
    for (i, _) in path.match_indices('/') {
        files.remove(&path[..i]);
    }
    files.insert(path.to_owned(), sha);
}

pub fn remove(files: &mut Files, path: &str) {
    let doomed: Vec<String> = under(files, path).map(|(p, _)| p.clone()).collect();
    for path in doomed {
        files.remove(&path);
    }
}

impl Repo {
    /// A repository whose `branch` holds one commit with a README, so the branch exists.
    pub fn new(owner: &str, name: &str, branch: &str) -> Repo {
        let mut repo = Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
            default_branch: branch.to_owned(),
            blobs: HashMap::new(),
            trees: HashMap::new(),
            commits: HashMap::new(),
            branches: BTreeMap::new(),
        };
        let readme = repo.put_blob(b"# test repo\n".to_vec());
        let files = Files::from([("README.md".to_owned(), readme)]);
        let tree = repo.put_tree(&files);
        let head = repo.put_commit(&tree, Vec::new(), "Initial commit");
        repo.branches.insert(branch.to_owned(), head);
        repo
    }

    pub fn put_blob(&mut self, bytes: Vec<u8>) -> String {
        let id = blob_id(&bytes);
        self.blobs.insert(id.clone(), bytes);
        id
    }

    /// Stores the tree for `files` and every subtree it needs; returns the root's id.
    pub fn put_tree(&mut self, files: &Files) -> String {
        let mut entries = Vec::new();
        let mut dirs: BTreeMap<&str, Files> = BTreeMap::new();
        for (path, sha) in files {
            match path.split_once('/') {
                Some((dir, rest)) => {
                    dirs.entry(dir)
                        .or_default()
                        .insert(rest.to_owned(), sha.clone());
                }
                None => entries.push(Entry {
                    name: path.clone(),
                    sha: sha.clone(),
                    is_tree: false,
                }),
            }
        }
        for (dir, below) in dirs {
            let sha = self.put_tree(&below);
            let name = dir.to_owned();
            entries.push(Entry {
                name,
                sha,
                is_tree: true,
            });
        }
        entries.sort_by_key(Entry::sort_key);
        let id = tree_id(&entries);
        self.trees.insert(id.clone(), entries);
        id
    }

    /// Every file below tree `id`, or `None` when there is no such tree.
    pub fn flatten(&self, id: &str) -> Option<Files> {
        let mut files = Files::new();
        for entry in self.trees.get(id)? {
            if entry.is_tree {
                for (path, sha) in self.flatten(&entry.sha)? {
                    files.insert(format!("{}/{path}", entry.name), sha);
                }
            } else {
                files.insert(entry.name.clone(), entry.sha.clone());
            }
        }
        Some(files)
    }

    /// The id of the directory at `path` below tree `root` ("" is the root itself).
    pub fn tree_at(&self, root: &str, path: &str) -> Option<String> {
        let mut id = root.to_owned();
        for part in path.split('/').filter(|part| !part.is_empty()) {
            let entries = self.trees.get(&id)?;
            let entry = entries.iter().find(|e| e.is_tree && e.name == part)?;
            id = entry.sha.clone();
        }
        Some(id)
    }

    /// The caller has checked that the tree and the parents exist.
    pub fn put_commit(&mut self, tree: &str, parents: Vec<String>, message: &str) -> String {
        let files = self.flatten(tree).expect("the tree exists");
        let time = unix_now();
        let id = commit_id(tree, &parents, message, time);
        let commit = Commit {
            tree: tree.to_owned(),
            files,
            parents,
            message: message.to_owned(),
            time,
        };
        self.commits.insert(id.clone(), commit);
        id
    }

    /// Commits `files` on top of `branch` and moves the branch; `None` if it does not exist.
    pub fn commit_on(&mut self, branch: &str, files: &Files, message: &str) -> Option<String> {
        let head = self.branches.get(branch)?.clone();
        let tree = self.put_tree(files);
        let id = self.put_commit(&tree, vec![head], message);
        self.branches.insert(branch.to_owned(), id.clone());
        Some(id)
    }

    /// A branch name or a full commit id, as `ref` and `sha` parameters accept.
    pub fn resolve(&self, rev: &str) -> Option<String> {
        if let Some(head) = self.branches.get(rev) {
            return Some(head.clone());
        }
        let rev = rev.to_ascii_lowercase();
        self.commits.contains_key(&rev).then_some(rev)
    }

    /// Whether `ancestor` is reachable from `from` along any parents (inclusive).
    pub fn is_ancestor(&self, ancestor: &str, from: &str) -> bool {
        let mut seen = HashSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(id) = todo.pop() {
            if id == ancestor {
                return true;
            }
            if seen.insert(id.clone()) {
                if let Some(commit) = self.commits.get(&id) {
                    todo.extend(commit.parents.iter().cloned());
                }
            }
        }
        false
    }

    /// `from` and its first parents, newest first.
    pub fn first_parents(&self, from: &str) -> Vec<(String, &Commit)> {
        let mut chain = Vec::new();
        let mut next = Some(from.to_owned());
        while let Some(id) = next {
            let Some(commit) = self.commits.get(&id) else {
                break;
            };
            next = commit.parents.first().cloned();
            chain.push((id, commit));
        }
        chain
    }

    /// The files of `commit`'s first parent (nothing for a root commit).
    pub fn parent_files(&self, commit: &Commit) -> Files {
        commit
            .parents
            .first()
            .and_then(|p| self.commits.get(p))
            .map(|c| c.files.clone())
            .unwrap_or_default()
    }
}

/// (path, status, blob id) for each file that differs between `before` and `after`.
pub fn diff(before: &Files, after: &Files) -> Vec<(String, &'static str, String)> {
    let mut changes = Vec::new();
    for (path, sha) in after {
        match before.get(path) {
            None => changes.push((path.clone(), "added", sha.clone())),
            Some(old) if old != sha => changes.push((path.clone(), "modified", sha.clone())),
            Some(_) => {}
        }
    }
    for (path, sha) in before {
        if !after.contains_key(path) {
            changes.push((path.clone(), "removed", sha.clone()));
        }
    }
    changes.sort();
    changes
}

/// Whether the file or directory at `path` differs between the two snapshots.
pub fn touches(before: &Files, after: &Files, path: &str) -> bool {
    under(before, path).ne(under(after, path))
}
