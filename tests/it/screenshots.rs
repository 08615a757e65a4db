//! The README's screenshots, taken in headless Chromium from a real server with a synced
//! conversation: a desktop window and a phone, and the sign-in form of a members-only chat
//! on a phone. Set `BOOKCHAT_SCREENSHOTS=docs` to write them into `docs/`; otherwise they
//! are checked and written to a temporary folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::browser_moderation::open_sign_in;
use crate::fake_github::FakeGitHub;
use crate::support::TestServer;
use crate::webdriver::{Driver, Session};

/// A book club, in the order it was posted.
const CONVERSATION: [(&str, &str); 7] = [
    ("Ada", "Has everyone reached chapter 12 of The Left Hand of Darkness?"),
    ("Grace", "Just finished it. The crossing of the ice is the best part of the book."),
    ("Linus", "No spoilers please, I am still on chapter 9!"),
    ("Ada", "Deal. Shall we meet on Thursday at 7 to talk it through?"),
    ("Margaret", "Thursday works for me. I will bring tea and the discussion questions."),
    ("Grace", "Perfect. Every message here is also a commit in our book-club repository, so the notes survive."),
    ("Linus", "Chapter 12 done by Thursday, promise."),
];

/// Where the pictures go: `$BOOKCHAT_SCREENSHOTS` (relative to the crate) or a temp dir.
fn destination(temp: &Path) -> PathBuf {
    match std::env::var_os("BOOKCHAT_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => temp.to_owned(),
    }
}

/// The width and height a PNG's IHDR chunk declares.
pub(crate) fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

async fn show_conversation(session: &Session, server: &TestServer) {
    session.goto(&format!("http://{}/", server.addr)).await;
    let all_synced = format!(
        "return document.body.dataset.ready === '1'
            && document.querySelectorAll('#messages .message-status[data-status=\"synced\"]')
                .length === {};",
        CONVERSATION.len()
    );
    session
        .wait_until(
            "the conversation, every message synced",
            &all_synced,
            json!([]),
            Duration::from_secs(15),
        )
        .await;
    // A reply being written, so the picture shows the composer in use.
    session.type_into("#author", "Ada").await;
    session
        .type_into("#content", "See you all on Thursday!")
        .await;
    // The newest message is in view and the page has no horizontal scroll.
    let layout = session
        .eval(
            "const last = [...document.querySelectorAll('#messages .message[data-id]')].pop();
             const r = last.getBoundingClientRect();
             return { overflow: document.documentElement.scrollWidth - window.innerWidth,
                      newest_visible: r.bottom <= window.innerHeight && r.top >= 0 };",
            json!([]),
        )
        .await;
    assert_eq!(layout, json!({ "overflow": 0, "newest_visible": true }));
}

#[tokio::test]
async fn screenshots_of_the_chat_on_a_desktop_and_a_phone() {
    let Some(driver) = Driver::start_or_skip("screenshot test").await else {
        return;
    };
    let fake = FakeGitHub::start_default().await;
    let server = TestServer::start_synced(&fake).await;
    for (author, content) in CONVERSATION {
        let body = json!({ "content": content, "author": author }).to_string();
        assert_eq!(server.post_json(&body).await.status, 201);
    }
    server
        .wait_all_synced(
            i64::try_from(CONVERSATION.len()).unwrap(),
            Duration::from_secs(20),
        )
        .await;

    let temp = tempfile::tempdir().unwrap();
    let dir = destination(temp.path());
    std::fs::create_dir_all(&dir).unwrap();
    let shots = [
        (
            "screenshot-desktop.png",
            driver.window(1280, 800).await,
            (1280, 800),
        ),
        // The phone is emulated at a device pixel ratio of 2, as real phones are.
        (
            "screenshot-phone.png",
            driver.phone(390, 844).await,
            (780, 1688),
        ),
    ];
    for (name, session, size) in shots {
        show_conversation(&session, &server).await;
        let png = session.screenshot().await;
        assert_eq!(png_size(&png), size, "{name}");
        // A blank or broken page compresses to a few kilobytes; the chat does not.
        assert!(png.len() > 30_000, "{name} is only {} bytes", png.len());
        std::fs::write(dir.join(name), &png).unwrap();
        session.quit().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn screenshot_of_the_sign_in_form_on_a_phone() {
    let Some(driver) = Driver::start_or_skip("sign-in screenshot test").await else {
        return;
    };
    let server = TestServer::start_with(|args| {
        args.access.access_code = Some(bookchat::secret::Secret::new("chapter eleven"));
    })
    .await;
    let temp = tempfile::tempdir().unwrap();
    let dir = destination(temp.path());
    std::fs::create_dir_all(&dir).unwrap();
    let session = driver.phone(390, 844).await;
    open_sign_in(&session, &server).await;
    // A member half-way through signing in: a name, and the code being typed.
    session.type_into("#sign-in-name", "Ada").await;
    session.click("#sign-in-code").await;
    session.type_into("#sign-in-code", "chapter eleven").await;
    let form = session
        .eval(
            "const r = document.querySelector('#sign-in-form').getBoundingClientRect();
             return { overflow: document.documentElement.scrollWidth - window.innerWidth,
                      inside: r.top >= 0 && r.bottom <= window.innerHeight,
                      focus: document.activeElement.id };",
            json!([]),
        )
        .await;
    assert_eq!(
        form,
        json!({ "overflow": 0, "inside": true, "focus": "sign-in-code" })
    );
    let png = session.screenshot().await;
    assert_eq!(png_size(&png), (780, 1688));
    assert!(png.len() > 20_000, "only {} bytes", png.len());
    std::fs::write(dir.join("screenshot-sign-in.png"), &png).unwrap();
    session.quit().await;
    server.stop().await;
}
