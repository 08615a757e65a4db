//! Self-tests of GitHub's limits as the fake enforces them: the sliding write windows and
//! their `Retry-After`, the record of requests sent inside a wait, ETags and 304s, and the
//! caps on folder listings, trees and a commit's files.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::git::blob_id;
use super::super::{FakeGitHub, Fault, WriteLimits};
use super::{api, assert_github_error, put_file, repo_path};
use crate::client::{request, Reply};

const SECONDARY: &str =
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

/// A cheap content-creating request: `POST /git/blobs` of a distinct blob.
async fn write(fake: &FakeGitHub, n: usize) -> Reply {
    let body = json!({ "content": format!("blob {n}") });
    api(fake, "POST", "git/blobs", body).await
}

fn retry_after(reply: &Reply) -> &str {
    reply.header("retry-after").expect("a Retry-After header")
}

fn limits(per_minute: usize, minute_ms: u64, per_hour: usize, hour_ms: u64) -> WriteLimits {
    WriteLimits {
        per_minute,
        minute: Duration::from_millis(minute_ms),
        per_hour,
        hour: Duration::from_millis(hour_ms),
    }
}

#[tokio::test]
async fn by_default_the_eighty_first_write_of_a_minute_is_refused() {
    let defaults = WriteLimits::default();
    let minute = Duration::from_secs(60);
    assert_eq!((defaults.per_minute, defaults.minute), (80, minute));
    let hour = Duration::from_secs(3600);
    assert_eq!((defaults.per_hour, defaults.hour), (500, hour));

    let fake = FakeGitHub::start_default().await;
    for n in 0..80 {
        assert_eq!(write(&fake, n).await.status, 201, "write {n}");
    }
    let refused = write(&fake, 80).await;
    assert_github_error(&refused, 403, SECONDARY);
    let wait: u64 = retry_after(&refused).parse().expect("whole seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let unknown = format!("git/blobs/{}", blob_id(b"blob 80"));
    let missing = api(&fake, "GET", &unknown, Value::Null).await;
    assert_eq!(missing.status, 404, "the refused write was not applied");
    let read = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_eq!(read.status, 200, "reads are not content-creating");
    assert_eq!(fake.max_writes_in(minute), 81);
    let writes = fake.requests().iter().filter(|r| r.write).count();
    assert_eq!(writes, 81, "GETs are not counted as writes");
}

/// A fixed window starting at the first write would admit D (two writes in each of
/// [0 s, 2 s) and [2 s, 4 s)); a sliding one sees B, C and D inside two seconds.
#[tokio::test]
async fn the_minute_window_slides_and_retry_after_says_when_it_opens() {
    let fake = FakeGitHub::start_default().await;
    fake.set_write_limits(limits(2, 2000, 1000, 3_600_000));
    assert_eq!(write(&fake, 0).await.status, 201);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(write(&fake, 1).await.status, 201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(write(&fake, 2).await.status, 201, "A has left the window");
    let refused = write(&fake, 3).await;
    assert_github_error(&refused, 403, SECONDARY);
    // D counts too, so C (just before it) must leave: two seconds from now, rounded up.
    assert_eq!(retry_after(&refused), "2");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(write(&fake, 4).await.status, 201, "the window opened again");
    assert!(
        fake.requests_in_wait().is_empty(),
        "this client honoured every wait"
    );
}

/// GitHub counts the requests made: retrying a refused write too soon keeps the window shut
/// even after the last admitted write has left it.
#[tokio::test]
async fn refused_writes_count_and_writes_in_a_wait_are_recorded() {
    let fake = FakeGitHub::start_default().await;
    fake.set_write_limits(limits(1, 1000, 1000, 3_600_000));
    assert_eq!(write(&fake, 1).await.status, 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = write(&fake, 2).await;
    assert_eq!((second.status, retry_after(&second)), (403, "1"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let third = write(&fake, 3).await;
    assert_eq!(third.status, 403, "the refused second write still counts");
    assert_eq!(retry_after(&third), "1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(write(&fake, 4).await.status, 201);

    let log = fake.requests();
    let flags: Vec<(u16, bool, bool)> =
        log.iter().map(|r| (r.status, r.write, r.in_wait)).collect();
    let expected = [
        (201, true, false),
        (403, true, false),
        (403, true, true),
        (201, true, false),
    ];
    assert_eq!(flags, expected);
    let in_wait = fake.requests_in_wait();
    assert_eq!(in_wait.len(), 1);
    assert_eq!(in_wait[0].request_id, log[2].request_id);
    assert_eq!(fake.max_writes_in(Duration::from_secs(1)), 2);
    assert_eq!(fake.max_writes_in(Duration::from_secs(10)), 4);
    assert_eq!(fake.max_writes_in(Duration::from_millis(100)), 1);
    let gap = fake.min_write_gap().expect("four writes");
    assert!(gap >= Duration::from_millis(500), "{gap:?}");
    assert!(gap < Duration::from_secs(1), "{gap:?}");
}

#[tokio::test]
async fn the_hour_window_refuses_on_its_own_with_its_own_wait() {
    let fake = FakeGitHub::start_default().await;
    assert_eq!(fake.min_write_gap(), None);
    fake.set_write_limits(limits(2, 1000, 3, 4000));
    assert_eq!(write(&fake, 1).await.status, 201);
    assert_eq!(write(&fake, 2).await.status, 201);
    let by_minute = write(&fake, 3).await;
    assert_eq!((by_minute.status, retry_after(&by_minute)), (403, "1"));
    tokio::time::sleep(Duration::from_millis(1050)).await;
    // The minute window holds only this write now; the hour window holds all four, and the
    // second write (about 1 s old) must leave it first: 3 s, rounded up.
    let by_hour = write(&fake, 4).await;
    assert_github_error(&by_hour, 403, SECONDARY);
    assert_eq!(retry_after(&by_hour), "3");
    let blob = format!("git/blobs/{}", blob_id(b"blob 4"));
    assert_eq!(api(&fake, "GET", &blob, Value::Null).await.status, 404);
}

/// Each announced wait marks the requests sent before it ends: a `Retry-After` from a fault,
/// and a primary reset, whether faked or from a core window spent for real.
#[tokio::test]
async fn waits_told_by_faults_and_the_core_window_mark_requests_sent_in_them() {
    let read = |fake: FakeGitHub| async move {
        api(&fake, "GET", "contents/README.md", Value::Null)
            .await
            .status
    };
    let too_many = FakeGitHub::start_default().await;
    too_many.push_fault(Fault::TooMany { retry_after: 1 });
    assert_eq!(read(too_many.clone()).await, 429);
    assert_eq!(read(too_many.clone()).await, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(read(too_many.clone()).await, 200);
    let flags: Vec<bool> = too_many.requests().iter().map(|r| r.in_wait).collect();
    assert_eq!(flags, [false, true, false]);

    let secondary = FakeGitHub::start_default().await;
    secondary.push_fault(Fault::SecondaryLimit { retry_after: 30 });
    assert_eq!(read(secondary.clone()).await, 403);
    assert_eq!(read(secondary.clone()).await, 200);
    assert_eq!(secondary.requests_in_wait().len(), 1);

    let primary = FakeGitHub::start_default().await;
    primary.push_fault(Fault::PrimaryLimit { reset_in: 60 });
    assert_eq!(read(primary.clone()).await, 403);
    assert_eq!(read(primary.clone()).await, 200);
    assert_eq!(primary.requests_in_wait().len(), 1);

    let spent = FakeGitHub::start_default().await;
    spent.set_rate_limit_remaining(1);
    let last = api(&spent, "GET", "contents/README.md", Value::Null).await;
    assert_eq!(
        (last.status, last.header("x-ratelimit-remaining")),
        (200, Some("0"))
    );
    let refused = api(&spent, "GET", "contents/README.md", Value::Null).await;
    assert_github_error(&refused, 403, "API rate limit exceeded for user ID 1.");
    let flags: Vec<bool> = spent.requests().iter().map(|r| r.in_wait).collect();
    assert_eq!(flags, [false, true]);
}

async fn get_if(fake: &FakeGitHub, rest: &str, if_none_match: &str) -> Reply {
    let auth = fake.auth_header();
    let headers = [
        ("authorization", auth.as_str()),
        ("if-none-match", if_none_match),
    ];
    request(fake.addr(), "GET", &repo_path(fake, rest), &headers, "").await
}

#[tokio::test]
async fn a_get_for_an_unchanged_body_is_304_and_spends_no_rate_limit() {
    let fake = FakeGitHub::start_default().await;
    let first = api(&fake, "GET", "contents/README.md", Value::Null).await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let digest = sha1_smol::Sha1::from(&first.body).digest();
    assert_eq!(etag, format!("\"{digest}\""), "a strong tag of the body");
    assert_eq!(first.header("x-ratelimit-remaining"), Some("4999"));

    let weak = format!("W/{etag}");
    let listed = format!("\"0000\", {weak}");
    for tag in [etag.as_str(), weak.as_str(), listed.as_str()] {
        let cached = get_if(&fake, "contents/README.md", tag).await;
        assert_eq!(cached.status, 304, "If-None-Match: {tag}");
        assert!(cached.body.is_empty());
        assert_eq!(cached.header("etag"), Some(etag.as_str()));
        assert_eq!(cached.header("x-ratelimit-remaining"), Some("4999"));
        assert_eq!(cached.header("x-ratelimit-limit"), Some("5000"));
    }
    let other = get_if(&fake, "contents/README.md", "\"0000\"").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-remaining"), Some("4998"));

    let readme = blob_id(b"# test repo\n");
    let changed = put_file(&fake, "README.md", b"# moved on\n", Some(&readme)).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert!(changed.header("etag").is_none(), "only GETs are tagged");
    let fresh = get_if(&fake, "contents/README.md", &etag).await;
    assert_eq!(fresh.status, 200, "the file changed, so the tag is stale");
    assert_ne!(fresh.header("etag"), Some(etag.as_str()));
    let missing = api(&fake, "GET", "contents/nope", Value::Null).await;
    assert_eq!((missing.status, missing.header("etag")), (404, None));
    assert_eq!(fake.not_modified_count(), 3);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 304, 304, 304, 200, 200, 200, 404]);
}

fn numbered(count: usize, dir: &str) -> Vec<(String, Vec<u8>)> {
    let file = |i| {
        (
            format!("{dir}/{i:05}.json"),
            format!("{{\"n\":{i}}}").into(),
        )
    };
    (0..count).map(file).collect()
}

fn strings(values: &Value, key: &str) -> Vec<String> {
    let values = values.as_array().expect("an array").iter();
    values
        .map(|v| v[key].as_str().expect(key).to_owned())
        .collect()
}

/// Ten thousand files seeded in one call; the contents API lists the first 1,000 of the
/// folder, the trees API all of them.
#[tokio::test]
async fn a_seeded_folder_of_ten_thousand_lists_its_first_thousand() {
    let fake = FakeGitHub::start_default().await;
    let started = Instant::now();
    let sha = fake.push_commit(&numbered(10_000, "messages"), "import");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "seeding took {took:?}");
    assert_eq!(fake.head().as_deref(), Some(sha.as_str()));
    assert_eq!(fake.commits()[0].message, "import");
    assert_eq!(fake.commits()[0].added.len(), 10_000);
    assert_eq!(fake.files().len(), 10_001, "the README stays");
    assert_eq!(
        fake.file("messages/09999.json").as_deref(),
        Some(&b"{\"n\":9999}"[..])
    );

    let listing = api(&fake, "GET", "contents/messages", Value::Null).await;
    let names = strings(&listing.json(), "name");
    let first: Vec<String> = (0..1000).map(|i| format!("{i:05}.json")).collect();
    assert_eq!(names, first);
    let tree = format!("git/trees/{sha}?recursive=1");
    let tree = api(&fake, "GET", &tree, Value::Null).await.json();
    assert_eq!(tree["tree"].as_array().map(Vec::len), Some(10_002));
    assert_eq!(tree["truncated"], false);
}

#[tokio::test]
async fn a_tree_past_the_entry_limit_is_cut_and_says_truncated() {
    let fake = FakeGitHub::start_default().await;
    let files = ["a/1", "a/2", "a/3", "b.txt"].map(|p| (p.to_owned(), p.as_bytes().to_vec()));
    let sha = fake.push_commit(&files, "five files");
    let everything = ["README.md", "a", "a/1", "a/2", "a/3", "b.txt"];
    let get = |rest: String| {
        let fake = fake.clone();
        async move { api(&fake, "GET", &rest, Value::Null).await.json() }
    };
    let deep = format!("git/trees/{sha}?recursive=1");
    let top = format!("git/trees/{sha}");

    fake.set_tree_entry_limit(6);
    let whole = get(deep.clone()).await;
    assert_eq!(
        (strings(&whole["tree"], "path"), &whole["truncated"]),
        (everything.map(String::from).to_vec(), &json!(false))
    );
    fake.set_tree_entry_limit(5);
    let cut = get(deep).await;
    assert_eq!(strings(&cut["tree"], "path"), everything[..5]);
    assert_eq!(cut["truncated"], true);
    let shallow = get(top.clone()).await;
    assert_eq!(
        strings(&shallow["tree"], "path"),
        ["README.md", "a", "b.txt"]
    );
    assert_eq!(shallow["truncated"], false);
    fake.set_tree_entry_limit(2);
    let shallow = get(top).await;
    assert_eq!(strings(&shallow["tree"], "path"), ["README.md", "a"]);
    assert_eq!(shallow["truncated"], true);
}

/// GitHub's own cap, with nothing set: 100,000 files below one folder make 100,002 entries.
#[tokio::test]
async fn by_default_a_tree_lists_at_most_a_hundred_thousand_entries() {
    let fake = FakeGitHub::start_default().await;
    let sha = fake.push_commit(&numbered(100_000, "m"), "huge");
    let tree = format!("git/trees/{sha}?recursive=1");
    let tree = api(&fake, "GET", &tree, Value::Null).await.json();
    let entries = tree["tree"].as_array().expect("entries");
    assert_eq!(entries.len(), 100_000);
    assert_eq!(tree["truncated"], true);
    assert_eq!(
        entries[99_999]["path"], "m/99997.json",
        "the first 100,000 in tree order"
    );
}

/// 3,050 changed files: 300 a page by default, `per_page` up to 100, a `Link` to the next
/// page while files remain, and nothing past the 3,000th.
#[tokio::test]
async fn a_commits_files_come_in_pages_up_to_three_thousand() {
    let fake = FakeGitHub::start_default().await;
    let sha = fake.push_commit(&numbered(3050, "f"), "big");
    let page = |query: &str| {
        let (fake, rest) = (fake.clone(), format!("commits/{sha}{query}"));
        async move { api(&fake, "GET", &rest, Value::Null).await }
    };
    let name = |i: usize| format!("f/{i:05}.json");
    let base = format!("{}/repos/octo/chat/commits/{sha}", fake.url());

    let first = page("").await;
    let files = strings(&first.json()["files"], "filename");
    assert_eq!(files, (0..300).map(name).collect::<Vec<_>>());
    let link = format!("<{base}?page=2>; rel=\"next\", <{base}?page=10>; rel=\"last\"");
    assert_eq!(first.header("link"), Some(link.as_str()));
    let tenth = page("?page=10").await;
    let files = strings(&tenth.json()["files"], "filename");
    assert_eq!(files, (2700..3000).map(name).collect::<Vec<_>>());
    assert_eq!(tenth.header("link"), None, "the 3,000th file is the last");
    let past = page("?page=11").await.json();
    assert_eq!(past["files"], json!([]));

    let second = page("?per_page=100&page=2").await;
    let files = strings(&second.json()["files"], "filename");
    assert_eq!(files, (100..200).map(name).collect::<Vec<_>>());
    let link = format!(
        "<{base}?per_page=100&page=3>; rel=\"next\", <{base}?per_page=100&page=30>; rel=\"last\""
    );
    assert_eq!(second.header("link"), Some(link.as_str()));
    let last = page("?per_page=100&page=30").await;
    assert_eq!(last.header("link"), None);
    let clamped = page("?per_page=1000").await.json();
    assert_eq!(clamped["files"].as_array().map(Vec::len), Some(100));
    fake.push_foreign_commit("one.txt", b"1");
    let small = api(&fake, "GET", "commits/main", Value::Null).await;
    assert_eq!(strings(&small.json()["files"], "filename"), ["one.txt"]);
    assert_eq!(small.header("link"), None);
}
