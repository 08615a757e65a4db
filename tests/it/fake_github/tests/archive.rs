//! Self-tests of the tarball endpoint: the redirect to codeload, and the archive it serves
//! read back with flate2 and tar as an importer would.

use std::io::Read;

use flate2::read::GzDecoder;
use serde_json::Value;
use tar::{Archive, EntryType};

use super::super::FakeGitHub;
use super::{api, assert_github_error};
use crate::client::{request, Reply};

/// One archive entry: path, type, mode and bytes (for the pax header, its `comment`).
type Item = (String, EntryType, u32, Vec<u8>);

fn unpack(gzip: &[u8]) -> Vec<Item> {
    let mut archive = Archive::new(GzDecoder::new(gzip));
    let mut items = Vec::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 path");
        let (kind, mode) = (entry.header().entry_type(), entry.header().mode().unwrap());
        let mut bytes = Vec::new();
        if kind == EntryType::XGlobalHeader {
            let records = entry.pax_extensions().unwrap().expect("pax records");
            for record in records {
                let record = record.expect("a pax record");
                assert_eq!(record.key(), Ok("comment"));
                bytes = record.value_bytes().to_vec();
            }
        } else {
            entry.read_to_end(&mut bytes).expect("entry bytes");
        }
        items.push((path, kind, mode, bytes));
    }
    items
}

/// Follows the redirect as a client would: no token, straight to the `Location`.
async fn download(fake: &FakeGitHub, redirect: &Reply) -> Reply {
    assert_eq!(redirect.status, 302, "{}", redirect.text());
    let location = redirect.header("location").expect("a Location");
    let path = location.strip_prefix(&fake.url()).expect("on the fake");
    request(fake.addr(), "GET", path, &[], "").await
}

fn file(path: &str, bytes: &[u8]) -> Item {
    (path.to_owned(), EntryType::Regular, 0o644, bytes.to_vec())
}

fn folder(path: &str) -> Item {
    (path.to_owned(), EntryType::Directory, 0o755, Vec::new())
}

#[tokio::test]
async fn a_tarball_redirects_to_a_git_archive_of_the_commit() {
    let fake = FakeGitHub::start_default().await;
    let seed = [
        ("notes/a.txt".to_owned(), b"alpha\n".to_vec()),
        ("b.bin".to_owned(), vec![0, 1, 2, 255]),
    ];
    let first = fake.push_commit(&seed, "seed");
    let second = fake.push_commit(&[("notes/c.txt".to_owned(), b"gamma".to_vec())], "more");

    let redirect = api(&fake, "GET", "tarball/main", Value::Null).await;
    let location = format!("{}/_codeload/octo/chat/legacy.tar.gz/{second}", fake.url());
    assert_eq!(redirect.header("location"), Some(location.as_str()));
    let bare = api(&fake, "GET", "tarball", Value::Null).await;
    assert_eq!(
        bare.header("location"),
        Some(location.as_str()),
        "default branch"
    );
    let unknown = api(&fake, "GET", "tarball/no-such-branch", Value::Null).await;
    assert_github_error(&unknown, 404, "Not Found");
    let old = api(&fake, "GET", &format!("tarball/{first}"), Value::Null).await;
    let remaining = old.header("x-ratelimit-remaining").map(str::to_owned);

    let archive = download(&fake, &redirect).await;
    assert_eq!(archive.status, 200);
    assert_eq!(archive.header("content-type"), Some("application/x-gzip"));
    assert!(archive.header("x-ratelimit-remaining").is_none());
    let top = format!("octo-chat-{}/", &second[..7]);
    let expected = vec![
        (
            "pax_global_header".to_owned(),
            EntryType::XGlobalHeader,
            0o666,
            second.clone().into_bytes(),
        ),
        folder(&top),
        file(&format!("{top}README.md"), b"# test repo\n"),
        file(&format!("{top}b.bin"), &[0, 1, 2, 255]),
        folder(&format!("{top}notes/")),
        file(&format!("{top}notes/a.txt"), b"alpha\n"),
        file(&format!("{top}notes/c.txt"), b"gamma"),
    ];
    assert_eq!(unpack(&archive.body), expected);

    let old = unpack(&download(&fake, &old).await.body);
    let paths: Vec<&str> = old.iter().map(|item| item.0.as_str()).collect();
    let top = format!("octo-chat-{}/", &first[..7]);
    let notes = format!("{top}notes/a.txt");
    assert_eq!(
        paths.last(),
        Some(&notes.as_str()),
        "no c.txt yet: {paths:?}"
    );

    let after = api(&fake, "GET", "contents/README.md", Value::Null).await;
    let spent = remaining.map(|r| (r.parse::<u32>().unwrap() - 1).to_string());
    assert_eq!(
        after.header("x-ratelimit-remaining").map(str::to_owned),
        spent,
        "two downloads spent no rate limit"
    );
    let downloads = fake.requests().into_iter();
    let downloads = downloads.filter(|r| r.path.starts_with("/_codeload/"));
    let statuses: Vec<u16> = downloads.map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200], "codeload requests are logged");
    let missing = request(
        fake.addr(),
        "GET",
        "/_codeload/octo/chat/legacy.tar.gz/0000",
        &[],
        "",
    );
    assert_eq!(missing.await.status, 404);
}
