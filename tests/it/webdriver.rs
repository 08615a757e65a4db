//! A minimal W3C WebDriver client for chromedriver: the few commands the browser tests use,
//! as JSON over the same HTTP client as the other tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::request;

/// The key WebDriver uses for element references in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const ENTER: &str = "\u{E007}";
pub const SHIFT: &str = "\u{E008}";
pub const TAB: &str = "\u{E004}";
pub const ESCAPE: &str = "\u{E00C}";
/// Releases held modifier keys.
pub const RELEASE: &str = "\u{E000}";

pub struct Driver {
    process: Child,
    addr: SocketAddr,
}

pub struct Session {
    driver: SocketAddr,
    id: String,
    /// Set by `quit`; otherwise dropping the session (a failed test) ends the browser.
    ended: bool,
    _profile: tempfile::TempDir,
}

fn chromedriver_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

impl Driver {
    /// Starts chromedriver, or returns `None` with a printed notice when it is not installed.
    /// Under `CI=true` a missing browser fails the test instead: CI must run these.
    pub async fn start_or_skip(test: &str) -> Option<Driver> {
        let Some(path) = chromedriver_path() else {
            let in_ci = crate::ci::in_ci();
            assert!(
                !in_ci,
                "CI=true but chromedriver is not installed: {test} cannot run"
            );
            eprintln!(
                "SKIPPED {test}: chromedriver not found (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = crate::client::free_port();
        let process = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        driver.wait_ready().await;
        Some(driver)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                let status = request(self.addr, "GET", "/status", &[], "").await;
                if status.json()["value"]["ready"] == true {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready within 20 s");
    }

    /// A desktop-sized headless Chromium window.
    pub async fn desktop(&self) -> Session {
        self.window(1280, 900).await
    }

    /// A desktop viewport of exactly `width` × `height` CSS pixels: emulated, because a
    /// headless window's size includes the browser's own frame.
    pub async fn window(&self, width: u32, height: u32) -> Session {
        let metrics = json!({ "deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 1.0, "touch": false, "mobile": false
        } });
        self.session(width, height + 200, Some(metrics)).await
    }

    /// A phone: headless windows cannot be narrower than 500 px, so the viewport is emulated.
    pub async fn phone(&self, width: u32, height: u32) -> Session {
        let metrics = json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true } });
        self.session(width.max(500), height, Some(metrics)).await
    }

    async fn session(&self, width: u32, height: u32, emulation: Option<Value>) -> Session {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.sort();
        let mut options = json!({ "args": args });
        if let Some(emulation) = emulation {
            options["mobileEmulation"] = emulation;
        }
        if std::path::Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let capabilities = json!({
            "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": options } }
        });
        let reply = call(self.addr, "POST", "/session", Some(capabilities)).await;
        let id = reply["sessionId"].as_str().expect("session id").to_owned();
        Session {
            driver: self.addr,
            id,
            ended: false,
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn call(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    try_call(driver, method, path, body)
        .await
        .unwrap_or_else(|value| panic!("WebDriver {method} {path} failed: {value}"))
}

/// The command's value, or its error value when WebDriver refused it.
async fn try_call(
    driver: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Value> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers = [("content-type", "application/json")];
    let reply = request(driver, method, path, &headers, body).await;
    let value = reply.json()["value"].clone();
    if reply.status < 300 {
        Ok(value)
    } else {
        Err(value)
    }
}

impl Session {
    /// Any WebDriver (or chromedriver-specific) command on this session, for test modules
    /// that need one this client does not wrap.
    pub(crate) async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(
            self.driver,
            method,
            &format!("/session/{}{path}", self.id),
            body,
        )
        .await
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The element matching `css`; fails the test when there is none.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .cmd(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .expect("element reference")
            .to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties an input or textarea.
    pub async fn clear(&self, css: &str) {
        let element = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks the element matching `css`, as a pointer would.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Presses `keys` together on whatever has focus, holding the first ones down while
    /// the last goes (`[SHIFT, TAB]` is Shift+Tab), then releases them all.
    pub async fn press(&self, keys: &[&str]) {
        let downs = keys
            .iter()
            .map(|k| json!({ "type": "keyDown", "value": k }));
        let ups = keys
            .iter()
            .rev()
            .map(|k| json!({ "type": "keyUp", "value": k }));
        let actions: Vec<Value> = downs.chain(ups).collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.cmd("POST", "/actions", Some(body)).await;
        self.cmd("DELETE", "/actions", None).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Polls `script` until it returns `true`, failing after `timeout`.
    pub async fn wait_until(&self, what: &str, script: &str, args: Value, timeout: Duration) {
        self.poll(what, script, args, timeout, false).await;
    }

    /// Like `wait_until`, across a page load the page starts itself (`location.reload()`):
    /// a script that lands while the old document unloads fails, and is simply run again.
    pub async fn wait_through_reload(
        &self,
        what: &str,
        script: &str,
        args: Value,
        timeout: Duration,
    ) {
        self.poll(what, script, args, timeout, true).await;
    }

    async fn poll(&self, what: &str, script: &str, args: Value, timeout: Duration, lenient: bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let body = json!({ "script": script, "args": args.clone() });
            let path = format!("/session/{}/execute/sync", self.id);
            match try_call(self.driver, "POST", &path, Some(body)).await {
                Ok(value) if value == true => return,
                Ok(_) => {}
                Err(error) => assert!(lenient, "WebDriver script failed: {error}"),
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport, as WebDriver's Take Screenshot returns it.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 PNG"))
            .expect("valid base64")
    }

    pub async fn quit(mut self) {
        self.cmd("DELETE", "", None).await;
        self.ended = true;
    }
}

/// A test that fails before `quit` would leave Chromium running once chromedriver is
/// killed; a blocking DELETE closes it (Drop cannot await).
impl Drop for Session {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if self.ended {
            return;
        }
        let Ok(mut stream) =
            std::net::TcpStream::connect_timeout(&self.driver, Duration::from_secs(2))
        else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.id, self.driver
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}
