//! Moderation in headless Chromium: a deletion made with the keyboard that a second page
//! sees vanish live, and a moderator signing in from an open chat on a phone.

use serde_json::{json, Value};

use crate::browser::{wait_gone, wait_shown};
use crate::browser_moderation::{
    as_bearer, focused, is_visible, members_only, open_sign_in, post_as, sign_in_through_form,
    wait_sign_in_form, CODE, PATIENCE, TOKEN,
};
use crate::support::TestServer;
use crate::webdriver::{Driver, Session, ENTER, ESCAPE, SHIFT, TAB};

/// The `aria-label`s of the delete buttons on the page, in order.
async fn delete_labels(session: &Session) -> Value {
    session
        .eval(
            "return [...document.querySelectorAll('#messages .delete')]
                 .map(b => b.getAttribute('aria-label'));",
            json!([]),
        )
        .await
}

#[tokio::test]
async fn a_moderator_deletes_a_message_and_a_second_page_sees_it_vanish() {
    let Some(driver) = Driver::start_or_skip("browser moderation test").await else {
        return;
    };
    let server = members_only(true).await;
    let member = driver.desktop().await;
    open_sign_in(&member, &server).await;
    sign_in_through_form(&member, CODE, "Mia").await;
    let moderator = driver.desktop().await;
    open_sign_in(&moderator, &server).await;
    let hint = moderator
        .eval(
            "return document.querySelector('#sign-in-hint').checkVisibility();",
            json!([]),
        )
        .await;
    assert_eq!(
        hint, true,
        "a members-only form with moderation names the token"
    );
    sign_in_through_form(&moderator, TOKEN, "Mod").await;

    let spam = post_as(&server, CODE, "buy cheap watches", "Spammer").await;
    post_as(&server, CODE, "a real question", "Ann").await;
    for page in [&member, &moderator] {
        wait_shown(page, "buy cheap watches", PATIENCE).await;
        wait_shown(page, "a real question", PATIENCE).await;
    }
    assert_eq!(delete_labels(&member).await, json!([]));
    assert_eq!(
        delete_labels(&moderator).await,
        json!(["Delete message 1 by Spammer", "Delete message 2 by Ann"])
    );
    assert!(is_visible(&moderator, ".role-badge").await);
    // Marks the member's document: it must still be this one after the deletion.
    member.eval("window.__notReloaded = true;", json!([])).await;

    // From the top of the list, Tab reaches the first message's delete control, which
    // shows in full while it has focus.
    moderator
        .eval("document.querySelector('#messages').focus();", json!([]))
        .await;
    moderator.press(&[TAB]).await;
    assert_eq!(focused(&moderator).await, "Delete message 1 by Spammer");
    let opacity = moderator
        .eval(
            "return getComputedStyle(document.activeElement).opacity;",
            json!([]),
        )
        .await;
    assert_eq!(opacity, "1", "the focused delete control is dimmed");

    // Enter asks inline; Escape takes the question back and returns focus.
    moderator.press(&[ENTER]).await;
    let asked = moderator
        .eval(
            "const box = document.querySelector('.message[data-id=\"1\"] .delete-confirm');
             return box && box.textContent;",
            json!([]),
        )
        .await;
    assert_eq!(asked, "Delete this message?DeleteCancel");
    assert_eq!(focused(&moderator).await, "Cancel");
    moderator.press(&[ESCAPE]).await;
    assert_eq!(focused(&moderator).await, "Delete message 1 by Spammer");
    assert!(!is_visible(&moderator, ".delete-confirm").await);

    // Asked again, Shift+Tab goes from Cancel to Delete, and Enter deletes.
    moderator.press(&[ENTER]).await;
    moderator.press(&[SHIFT, TAB]).await;
    assert_eq!(focused(&moderator).await, "Delete");
    moderator.press(&[ENTER]).await;
    wait_gone(&moderator, "buy cheap watches", PATIENCE).await;
    wait_gone(&member, "buy cheap watches", PATIENCE).await;

    // Focus moved on to the next message rather than falling to the top of the page.
    assert_eq!(focused(&moderator).await, "Delete message 2 by Ann");
    assert_eq!(
        member
            .eval("return window.__notReloaded === true;", json!([]))
            .await,
        true,
        "the member's page reloaded instead of following the stream"
    );
    for page in [&member, &moderator] {
        wait_shown(page, "a real question", PATIENCE).await;
    }
    let path = format!("/api/messages/{}", spam["id"]);
    let reply = as_bearer(&server, "GET", &path, CODE, Value::Null).await;
    assert_eq!(reply.status, 410, "{}", reply.text());
    member.quit().await;
    moderator.quit().await;
}

#[tokio::test]
async fn a_moderator_signs_in_from_an_open_chat_on_a_phone() {
    let Some(driver) = Driver::start_or_skip("browser open-chat moderator test").await else {
        return;
    };
    let server = TestServer::start_with(|args| {
        args.access.admin_token = Some(bookchat::secret::Secret::new(TOKEN));
    })
    .await;
    server.post_message("an open hello").await;
    let session = driver.phone(375, 812).await;
    session.goto(&format!("http://{}/", server.addr)).await;
    wait_shown(&session, "an open hello", PATIENCE).await;
    assert!(is_visible(&session, "#moderator-sign-in").await);
    assert!(!is_visible(&session, "#sign-out").await);
    assert_eq!(delete_labels(&session).await, json!([]));

    // The button opens the form in place of the chat; Escape closes it again.
    session.click("#moderator-sign-in").await;
    wait_sign_in_form(&session).await;
    let label = session
        .eval(
            "return document.querySelector('label[for=\"sign-in-code\"]').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(label, "Admin token");
    assert!(!is_visible(&session, "#messages").await);
    session.press(&[ESCAPE]).await;
    assert!(is_visible(&session, "#messages").await);
    assert!(!is_visible(&session, "#sign-in").await);
    assert_eq!(focused(&session).await, "moderator-sign-in");

    session.click("#moderator-sign-in").await;
    wait_sign_in_form(&session).await;
    sign_in_through_form(&session, TOKEN, "").await;
    wait_shown(&session, "an open hello", PATIENCE).await;
    assert_eq!(
        delete_labels(&session).await,
        json!(["Delete message 1 by it"])
    );
    assert!(is_visible(&session, "#sign-out").await);
    assert!(!is_visible(&session, "#moderator-sign-in").await);
    let overflow = session
        .eval(
            "const w = window.innerWidth;
             const b = document.querySelector('#messages .delete').getBoundingClientRect();
             return { doc: document.documentElement.scrollWidth - w,
                      inside: b.left >= 0 && b.right <= w && b.width >= 24 && b.height >= 24,
                      opacity: getComputedStyle(document.querySelector('#messages .delete')).opacity };",
            json!([]),
        )
        .await;
    assert_eq!(
        overflow,
        json!({ "doc": 0, "inside": true, "opacity": "1" }),
        "on a 375 px touch screen"
    );

    // By touch: the control, then the inline Delete.
    session.click("#messages .delete").await;
    session.click("#messages .delete-yes").await;
    wait_gone(&session, "an open hello", PATIENCE).await;
    assert_eq!(server.get("/api/messages/1").await.status, 410);
    session.quit().await;
}
