//! Pebble, the ACME test server from the Let's Encrypt project, for the ACME tests: Debian's
//! `pebble` with its mock DNS server `pebble-challtestsrv` answering every name with
//! 127.0.0.1, on free ports, with a test CA made here for Pebble's own HTTPS (the package
//! ships no certificates). A server under test trusts that CA through `SSL_CERT_FILE`.
//!
//! Without the two binaries the ACME tests skip with one notice, except under `CI=true`,
//! where they fail: CI must run them (`.ci/run` installs `pebble`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::client::free_port;
use crate::https::{Https, TestCa};

const PEBBLE: &str = "/usr/bin/pebble";
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";
/// How long Pebble gets to say it listens.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// `true` when Pebble is installed; otherwise one notice per process (or a panic under
/// `CI=true`).
pub fn available() -> bool {
    if Path::new(PEBBLE).is_file() && Path::new(CHALLTESTSRV).is_file() {
        return true;
    }
    crate::ci::skip(
        "ACME tests",
        &format!("install Debian's pebble ({PEBBLE}, {CHALLTESTSRV}): apt-get install pebble"),
    );
    false
}

/// Lines a child process wrote, collected as it runs.
type Log = Arc<Mutex<Vec<String>>>;

/// What one start of Pebble and its DNS server gives.
struct Started {
    children: Vec<Child>,
    listen: SocketAddr,
    management: SocketAddr,
    log: Log,
}

/// A running Pebble and its DNS server, stopped on drop.
pub struct Pebble {
    pub directory: String,
    /// The CA of Pebble's own HTTPS, and its PEM file for a server's `SSL_CERT_FILE`.
    pub ca: TestCa,
    pub ca_pem: PathBuf,
    management: SocketAddr,
    log: Log,
    children: Vec<Child>,
    #[allow(dead_code, reason = "held for its drop, never read")]
    dir: tempfile::TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pebble {
    /// Starts Pebble validating TLS-ALPN-01 on `tls_port` of 127.0.0.1, or `None` when it is
    /// not installed. A port taken by someone else in the meantime means another try.
    pub fn start(tls_port: u16) -> Option<Pebble> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let ca_pem = ca.write_pem(dir.path());
        let issued = ca.issue(&["127.0.0.1", "localhost"]);
        std::fs::write(dir.path().join("pebble.pem"), issued.cert_pem).unwrap();
        std::fs::write(dir.path().join("pebble.key"), issued.key_pem).unwrap();
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(dir.path(), tls_port) {
                Ok(started) => {
                    return Some(Pebble {
                        directory: format!("https://{}/dir", started.listen),
                        ca,
                        ca_pem,
                        management: started.management,
                        log: started.log,
                        children: started.children,
                        dir,
                    })
                }
                Err(why) => last = why,
            }
        }
        panic!("Pebble did not start: {last}");
    }

    /// One attempt on fresh ports: the DNS server first, then Pebble, each until it says
    /// it listens.
    fn try_start(dir: &Path, tls_port: u16) -> Result<Started, String> {
        let dns = format!("127.0.0.1:{}", free_port());
        let mut challtestsrv = Command::new(CHALLTESTSRV);
        challtestsrv.args([
            "-defaultIPv6",
            "",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
        ]);
        challtestsrv.args(["-dns01", &dns, "-management"]);
        challtestsrv.arg(format!("127.0.0.1:{}", free_port()));
        let dns_server = spawn_until(challtestsrv, "Starting management server")?;
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let management: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = serde_json::json!({ "pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": dir.join("pebble.pem"),
            "privateKey": dir.join("pebble.key"),
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = dir.join("pebble-config.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let mut pebble = Command::new(PEBBLE);
        pebble
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &dns])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0");
        let mut dns_server = Some(dns_server);
        let started = spawn_until(pebble, "ACME directory available at");
        let (child, log) = started.inspect_err(|_| {
            if let Some((mut child, _)) = dns_server.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        })?;
        let (dns_child, _) = dns_server.take().unwrap();
        Ok(Started {
            children: vec![dns_child, child],
            listen,
            management,
            log,
        })
    }

    /// The root Pebble issues from (made anew at each start), from its management port.
    pub async fn root(&self) -> CertificateDer<'static> {
        let roots = [self.ca.der()];
        let get = ("GET", "/roots/0", "");
        let reply = Https::once(self.management, "127.0.0.1", &roots, get).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        CertificateDer::from_pem_slice(&reply.body).expect("Pebble's root as PEM")
    }

    /// New orders Pebble has answered so far, as its log counts them.
    pub fn orders(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains("POST /order-plz")).count()
    }

    /// Pebble's log so far, for a failure message.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// Spawns `command` and waits until its output has a line containing `ready`; its output
/// keeps being collected after that. An exit before it (a port taken) is an error.
fn spawn_until(mut command: Command, ready: &str) -> Result<(Child, Log), String> {
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot run {command:?}: {err}"))?;
    let stdout = child.stdout.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (lines, seen) = mpsc::channel();
    let keep = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(line.clone());
            let _ = lines.send(line);
        }
    });
    loop {
        match seen.recv_timeout(READY_WITHIN) {
            Ok(line) if line.contains(ready) => return Ok((child, log)),
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let said = log.lock().unwrap().join("\n");
                return Err(format!("{command:?} never said {ready:?}:\n{said}"));
            }
        }
    }
}
