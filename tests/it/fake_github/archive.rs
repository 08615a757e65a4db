//! Archives: `GET /repos/{o}/{r}/tarball/{ref}` answers, as GitHub does, with a redirect to a
//! codeload URL that serves the commit's files as a gzip'd tar laid out like `git archive`'s.

use std::io;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use tar::{Builder, EntryType, Header};

use super::git::Repo;
use super::routes::{error, not_found, Answer, Outcome, Site};

/// Where the redirects point; served without a token and outside the rate limits.
pub const CODELOAD: &str = "/_codeload/";

/// `rev` is a branch or a commit id; empty means the default branch.
pub fn redirect(repo: &Repo, rev: &str, site: &Site) -> Outcome {
    let rev = if rev.is_empty() {
        repo.default_branch.as_str()
    } else {
        rev
    };
    let sha = repo.resolve(rev).ok_or_else(not_found)?;
    let (owner, name) = (&repo.owner, &repo.name);
    let location = format!(
        "{}{CODELOAD}{owner}/{name}/legacy.tar.gz/{sha}",
        site.origin
    );
    Ok(Answer {
        status: 302,
        body: Value::Null,
        raw: None,
        headers: vec![("location", location)],
    })
}

/// Answers `/_codeload/{owner}/{repo}/legacy.tar.gz/{sha}`.
pub fn codeload(repo: &Repo, target: &str) -> Answer {
    let path = target.split('?').next().unwrap_or(target);
    let parts: Vec<&str> = path.trim_start_matches(CODELOAD).split('/').collect();
    let [owner, name, "legacy.tar.gz", sha] = parts.as_slice() else {
        return not_found();
    };
    let ours = owner.eq_ignore_ascii_case(&repo.owner) && name.eq_ignore_ascii_case(&repo.name);
    let Some(sha) = repo.resolve(sha).filter(|_| ours) else {
        return not_found();
    };
    match tarball(repo, &sha) {
        Ok(bytes) => Answer {
            status: 200,
            body: Value::Null,
            raw: Some(bytes),
            headers: vec![("content-type", "application/x-gzip".to_owned())],
        },
        Err(failure) => error(500, format!("archive failed: {failure}")),
    }
}

/// What `git archive --format=tar.gz --prefix={owner}-{repo}-{sha7}/ {sha}` would write:
/// the commit id in a pax global header, then every folder and file in tree order.
fn tarball(repo: &Repo, sha: &str) -> io::Result<Vec<u8>> {
    let commit = &repo.commits[sha];
    let mut builder = Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let record = pax_record("comment", sha);
    let mut global = header(EntryType::XGlobalHeader, 0o666, record.len(), commit.time);
    builder.append_data(&mut global, "pax_global_header", record.as_bytes())?;
    let top = format!("{}-{}-{}/", repo.owner, repo.name, &sha[..7]);
    let mut folder = header(EntryType::Directory, 0o755, 0, commit.time);
    builder.append_data(&mut folder, &top, io::empty())?;
    add_tree(repo, &commit.tree, &top, commit.time, &mut builder)?;
    builder.into_inner()?.finish()
}

fn add_tree(
    repo: &Repo,
    tree: &str,
    prefix: &str,
    time: u64,
    builder: &mut Builder<GzEncoder<Vec<u8>>>,
) -> io::Result<()> {
    for entry in &repo.trees[tree] {
        let path = format!("{prefix}{}", entry.name);
        if entry.is_tree {
            let mut folder = header(EntryType::Directory, 0o755, 0, time);
            let path = format!("{path}/");
            builder.append_data(&mut folder, &path, io::empty())?;
            add_tree(repo, &entry.sha, &path, time, builder)?;
        } else {
            let bytes = &repo.blobs[&entry.sha];
            let mut file = header(EntryType::Regular, 0o644, bytes.len(), time);
            builder.append_data(&mut file, &path, bytes.as_slice())?;
        }
    }
    Ok(())
}

/// A ustar header as git writes them: owned by root, stamped with the commit's time.
fn header(kind: EntryType, mode: u32, size: usize, time: u64) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size as u64);
    header.set_mtime(time);
    header.set_uid(0);
    header.set_gid(0);
    // Only fails for names longer than the field, and these fit.
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    header
}

/// One pax record, `"{length} {key}={value}\n"`, where the length counts itself.
fn pax_record(key: &str, value: &str) -> String {
    let rest = format!(" {key}={value}\n");
    let mut length = rest.len();
    while length.to_string().len() + rest.len() != length {
        length = length.to_string().len() + rest.len();
    }
    format!("{length}{rest}")
}
