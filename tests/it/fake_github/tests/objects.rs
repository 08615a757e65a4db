//! Self-tests of the repository model: contents and Git Data endpoints, history, and object
//! ids checked against what `git` itself computes for the same files.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::super::FakeGitHub;
use super::{api, assert_github_error, put_file, EMPTY_TREE, HELLO_BLOB};

#[tokio::test]
async fn put_creates_a_file_with_its_git_blob_id_and_locks_on_sha() {
    let fake = FakeGitHub::start_default().await;
    let initial = fake.head().expect("the branch exists");
    let created = put_file(&fake, "notes/hello.txt", b"hello\n", None).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["content"]["sha"], HELLO_BLOB);
    assert_eq!(created["content"]["name"], "hello.txt");
    assert_eq!(created["commit"]["parents"][0]["sha"], initial.as_str());
    assert_eq!(
        fake.file("notes/hello.txt").as_deref(),
        Some(&b"hello\n"[..])
    );
    assert_eq!(
        fake.file("README.md").as_deref(),
        Some(&b"# test repo\n"[..])
    );

    let again = put_file(&fake, "notes/hello.txt", b"again\n", None).await;
    assert_github_error(&again, 422, "Invalid request.\n\n\"sha\" wasn't supplied.");
    let stale = "0".repeat(40);
    let conflict = put_file(&fake, "notes/hello.txt", b"again\n", Some(&stale)).await;
    let expected = format!("notes/hello.txt does not match {stale}");
    assert_github_error(&conflict, 409, &expected);

    let updated = put_file(&fake, "notes/hello.txt", b"again\n", Some(HELLO_BLOB)).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(
        fake.file("notes/hello.txt").as_deref(),
        Some(&b"again\n"[..])
    );
    assert_eq!(fake.commit_count_on_branch(), 3);
    let history = fake.commits();
    assert_eq!(history[0].added, ["notes/hello.txt"]);
    assert_eq!(history[0].parents, [history[1].sha.clone()]);
    assert_eq!(history[2].message, "Initial commit");
}

#[tokio::test]
async fn contents_get_reads_files_and_lists_directories() {
    let fake = FakeGitHub::start_default().await;
    let long = vec![b'x'; 100];
    assert_eq!(
        put_file(&fake, "messages/0001.json", &long, None)
            .await
            .status,
        201
    );
    let file = api(
        &fake,
        "GET",
        "contents/messages/0001.json?ref=main",
        Value::Null,
    )
    .await;
    let content = file.json()["content"].as_str().expect("content").to_owned();
    assert!(content.lines().all(|line| line.len() <= 60) && content.ends_with('\n'));
    assert_eq!(
        STANDARD.decode(content.replace('\n', "")).expect("base64"),
        long
    );

    let listing = api(&fake, "GET", "contents/", Value::Null).await.json();
    let kinds: Vec<(&str, &str)> = listing
        .as_array()
        .expect("a listing")
        .iter()
        .map(|entry| {
            (
                entry["name"].as_str().unwrap(),
                entry["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("README.md", "file"), ("messages", "dir")]);
    let missing = api(&fake, "GET", "contents/nope.txt", Value::Null).await;
    assert_github_error(&missing, 404, "Not Found");
}

#[tokio::test]
async fn a_deleted_branch_is_not_found_until_restored() {
    let fake = FakeGitHub::start_default().await;
    assert_eq!(fake.url(), format!("http://{}", fake.addr()));
    assert_eq!(
        (fake.repo(), fake.branch()),
        ("octo/chat".into(), "main".into())
    );
    let head = fake.head().expect("the branch exists");
    fake.delete_branch("main");
    assert_eq!((fake.commit_count_on_branch(), fake.files().len()), (0, 0));
    let gone = put_file(&fake, "x.txt", b"x", None).await;
    assert_github_error(&gone, 404, "Not Found");
    let ref_gone = api(&fake, "GET", "git/ref/heads/main", Value::Null).await;
    assert_github_error(&ref_gone, 404, "Not Found");
    let read = api(&fake, "GET", "contents/README.md", Value::Null).await;
    assert_github_error(&read, 404, "No commit found for the ref main");

    fake.set_branch("main", &head);
    assert_eq!(put_file(&fake, "x.txt", b"x", None).await.status, 201);
    assert_eq!(fake.commit_count_on_branch(), 2);
}

/// The path a multi-file client takes: ref → commit → tree → new tree → commit → ref.
#[tokio::test]
async fn git_data_flow_adds_files_and_keeps_the_others() {
    let fake = FakeGitHub::start_default().await;
    let head = api(&fake, "GET", "git/ref/heads/main", Value::Null)
        .await
        .json();
    assert_eq!(head["ref"], "refs/heads/main");
    let head = head["object"]["sha"].as_str().expect("sha").to_owned();
    let commit = api(&fake, "GET", &format!("git/commits/{head}"), Value::Null)
        .await
        .json();
    let base_tree = commit["tree"]["sha"].as_str().expect("tree").to_owned();
    // `git write-tree` of a checkout holding just the README.
    assert_eq!(base_tree, "a641ccc5dfa1b0bbb8c4b070e13ad4d528aa0255");

    let entries = json!([
        { "path": "messages/0001.json", "mode": "100644", "type": "blob", "content": "{\"n\":1}" },
        { "path": "a.txt", "mode": "100644", "type": "blob", "content": "a" },
    ]);
    let tree = api(
        &fake,
        "POST",
        "git/trees",
        json!({ "base_tree": base_tree, "tree": entries }),
    );
    let tree = tree.await;
    assert_eq!(tree.status, 201, "{}", tree.text());
    let tree = tree.json()["sha"].as_str().expect("sha").to_owned();
    // `git write-tree` of README.md, a.txt and messages/0001.json.
    assert_eq!(tree, "a2f9281858cbf92d4e1573a25acd3a6baf2af7f2");

    let body = json!({ "message": "two files", "tree": tree, "parents": [head] });
    let created = api(&fake, "POST", "git/commits", body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let new_head = created.json()["sha"].as_str().expect("sha").to_owned();
    let moved = api(
        &fake,
        "PATCH",
        "git/refs/heads/main",
        json!({ "sha": new_head }),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json()["object"]["sha"], new_head.as_str());

    let files: Vec<String> = fake.files().into_keys().collect();
    assert_eq!(files, ["README.md", "a.txt", "messages/0001.json"]);
    assert_eq!(fake.commits()[0].added, ["a.txt", "messages/0001.json"]);
}

#[tokio::test]
async fn trees_list_children_or_everything_and_delete_with_null_sha() {
    let fake = FakeGitHub::start_default().await;
    let entries = json!([
        { "path": "a/b", "mode": "100644", "type": "blob", "content": "y" },
        { "path": "a.txt", "mode": "100644", "type": "blob", "content": "x" },
    ]);
    let tree = api(&fake, "POST", "git/trees", json!({ "tree": entries }))
        .await
        .json();
    // Git sorts the directory "a" as "a/", after "a.txt": `git write-tree` agrees.
    assert_eq!(tree["sha"], "da78765a8edadff62f42b345420473d0d1a85f63");
    let sha = tree["sha"].as_str().unwrap().to_owned();

    let paths = |tree: &Value| -> Vec<String> {
        let entries = tree["tree"].as_array().expect("entries");
        entries
            .iter()
            .map(|e| format!("{} {}", e["type"], e["path"]))
            .collect()
    };
    let flat = api(&fake, "GET", &format!("git/trees/{sha}"), Value::Null)
        .await
        .json();
    assert_eq!(paths(&flat), [r#""blob" "a.txt""#, r#""tree" "a""#]);
    let recursive = format!("git/trees/{sha}?recursive=1");
    let deep = api(&fake, "GET", &recursive, Value::Null).await.json();
    assert_eq!(
        paths(&deep),
        [r#""blob" "a.txt""#, r#""tree" "a""#, r#""blob" "a/b""#]
    );

    let delete = json!([{ "path": "a.txt", "mode": "100644", "type": "blob", "sha": null }]);
    let body = json!({ "base_tree": sha, "tree": delete });
    let pruned = api(&fake, "POST", "git/trees", body).await.json();
    assert_eq!(paths(&pruned), [r#""tree" "a""#]);

    let empty = api(&fake, "POST", "git/trees", json!({ "tree": [] })).await;
    assert_eq!(empty.status, 201);
    assert_eq!(empty.json()["sha"], EMPTY_TREE);
    let unknown = json!({ "base_tree": "1".repeat(40), "tree": [] });
    assert_eq!(api(&fake, "POST", "git/trees", unknown).await.status, 422);
    let blob = api(&fake, "POST", "git/blobs", json!({ "content": "hello\n" })).await;
    assert_eq!(
        (blob.status, blob.json()["sha"].clone()),
        (201, json!(HELLO_BLOB))
    );
}

#[tokio::test]
async fn a_ref_update_must_fast_forward_unless_forced() {
    let fake = FakeGitHub::start_default().await;
    let initial = fake.head().unwrap();
    let tree = api(&fake, "POST", "git/trees", json!({ "tree": [] }))
        .await
        .json();
    let body = json!({ "message": "side", "tree": tree["sha"], "parents": [initial] });
    let side = api(&fake, "POST", "git/commits", body).await.json();
    let side = side["sha"].as_str().unwrap().to_owned();
    fake.push_foreign_commit("other.txt", b"someone else");

    let refused = api(
        &fake,
        "PATCH",
        "git/refs/heads/main",
        json!({ "sha": side }),
    )
    .await;
    assert_github_error(&refused, 422, "Update is not a fast forward");
    let unknown = api(
        &fake,
        "PATCH",
        "git/refs/heads/main",
        json!({ "sha": "2".repeat(40) }),
    );
    assert_github_error(&unknown.await, 422, "Object does not exist");
    let bad_parent = json!({ "message": "m", "tree": EMPTY_TREE, "parents": ["3".repeat(40)] });
    assert_eq!(
        api(&fake, "POST", "git/commits", bad_parent).await.status,
        422
    );

    let forced = json!({ "sha": side, "force": true });
    assert_eq!(
        api(&fake, "PATCH", "git/refs/heads/main", forced)
            .await
            .status,
        200
    );
    assert_eq!(fake.head().as_deref(), Some(side.as_str()));
    assert!(fake.files().is_empty());
}

#[tokio::test]
async fn commits_by_path_find_the_commit_that_added_the_file() {
    let fake = FakeGitHub::start_default().await;
    let added = put_file(&fake, "messages/a.json", b"{}", None).await.json();
    let added = added["commit"]["sha"].as_str().unwrap().to_owned();
    fake.push_foreign_commit("other.txt", b"o");
    let found = api(
        &fake,
        "GET",
        "commits?path=messages/a.json&sha=main",
        Value::Null,
    )
    .await;
    let found = found.json();
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    assert_eq!(found[0]["sha"], added.as_str());
    assert_eq!(found[0]["commit"]["message"], "write messages/a.json");
    let by_dir = api(&fake, "GET", "commits?path=messages", Value::Null)
        .await
        .json();
    assert_eq!(by_dir[0]["sha"], added.as_str());

    let all = api(&fake, "GET", "commits?per_page=2", Value::Null)
        .await
        .json();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(all[1]["sha"], added.as_str());
    let one = api(&fake, "GET", &format!("commits/{added}"), Value::Null)
        .await
        .json();
    let files = json!([{ "filename": "messages/a.json", "status": "added",
        "sha": super::super::git::blob_id(b"{}") }]);
    assert_eq!(one["files"], files);
}

/// Recomputes a commit id from the API's own answer, as git would hash the object.
#[tokio::test]
async fn commit_ids_are_git_commit_hashes() {
    let fake = FakeGitHub::start_default().await;
    let put = put_file(&fake, "x.txt", b"x", None).await.json();
    let commit = &put["commit"];
    let date = commit["author"]["date"].as_str().unwrap();
    let time = chrono::DateTime::parse_from_rfc3339(date)
        .unwrap()
        .timestamp();
    let who = format!("Fake <fake@example.com> {time} +0000");
    let text = format!(
        "tree {}\nparent {}\nauthor {who}\ncommitter {who}\n\n{}",
        commit["tree"]["sha"].as_str().unwrap(),
        commit["parents"][0]["sha"].as_str().unwrap(),
        commit["message"].as_str().unwrap(),
    );
    let object = [
        format!("commit {}\0", text.len()).as_bytes(),
        text.as_bytes(),
    ]
    .concat();
    let expected = sha1_smol::Sha1::from(object).digest().to_string();
    assert_eq!(commit["sha"], expected.as_str());
}
