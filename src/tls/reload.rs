//! SIGHUP: re-reads the certificate files in place, as certbot's deploy hook or
//! `systemctl reload` asks, without dropping a connection.

use std::path::PathBuf;
use std::sync::Arc;

use super::certs::{load_files, Certs};

/// Certificate files to re-read, and where the result goes.
pub struct Reload {
    pub certs: Arc<Certs>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Reload {
    /// Swaps in the files' certificate for new handshakes; on any error keeps serving the
    /// one it has, and says why.
    pub fn run(&self) -> bool {
        match load_files(&self.cert, &self.key) {
            Ok(key) => {
                self.certs.set(key);
                log::info!(
                    "re-read the TLS certificate from {} after SIGHUP",
                    self.cert.display()
                );
                true
            }
            Err(reason) => {
                log::error!("SIGHUP: kept the current certificate: {reason}");
                false
            }
        }
    }
}

/// Listens for SIGHUP until aborted. Registered at start, before the server says it is
/// listening, because SIGHUP's default action ends the process: a `systemctl reload` of a
/// server without certificate files must not stop it either.
pub fn on_hangup(reload: Option<Reload>) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = signal(SignalKind::hangup())
            .map_err(|err| log::warn!("cannot listen for SIGHUP: {err}"))
            .ok()?;
        Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match &reload {
                    Some(reload) => drop(reload.run()),
                    None => log::info!("SIGHUP: nothing to re-read (no BOOKCHAT_TLS_CERT)"),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        drop(reload);
        None
    }
}
