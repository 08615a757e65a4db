//! Automatic certificates (ACME, RFC 8555): the task that obtains the domain's certificate
//! by TLS-ALPN-01 (RFC 8737) on the serving port, keeps it in `<data-dir>/acme/`, serves
//! it, and renews it 30 days before it expires. While no certificate has been obtained the
//! port serves plain HTTP; a failed order is logged and retried, and the server keeps
//! serving what it has meanwhile.

mod challenge;
mod client;
mod order;
pub mod schedule;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use self::client::UreqClient;
use self::order::{Ca, Failure};
use self::schedule::Schedule;
use self::store::Store;
use super::{AcmeSettings, Certs};

pub use self::schedule::RENEW_BEFORE;

/// The ACME side of a started server, ready to run.
pub struct Acme {
    ca: Ca,
    certs: Arc<Certs>,
    schedule: Schedule,
}

impl Acme {
    /// Opens `<data-dir>/acme/`, serves the stored certificate at once if there is one, and
    /// plans the first order. Blocking (files); call once the data directory is locked.
    ///
    /// # Errors
    /// The folder cannot be made, or a CA file named by `SSL_CERT_FILE` cannot be read.
    pub fn prepare(
        settings: &AcmeSettings,
        data_dir: &Path,
        certs: Arc<Certs>,
        now: SystemTime,
    ) -> Result<Acme, String> {
        let store =
            Store::open(data_dir, &settings.directory, &settings.domain).map_err(|err| {
                format!(
                    "cannot create {} for automatic certificates: {err}",
                    data_dir.join("acme").display()
                )
            })?;
        let http = UreqClient::new()?;
        let stored = match store.certificate() {
            Ok(stored) => stored,
            Err(reason) => {
                log::warn!("not serving the stored certificate: {reason}; ordering a new one");
                None
            }
        };
        let schedule = Schedule::at_start(stored.as_ref().map(|s| s.not_after), now);
        if let Some(stored) = stored {
            log::info!(
                "serving the stored certificate for {}, valid until {}; renewing from {}",
                settings.domain,
                when(stored.not_after),
                when(schedule.next)
            );
            certs.set(stored);
        }
        let ca = Ca {
            settings: settings.clone(),
            store,
            http,
        };
        Ok(Acme {
            ca,
            certs,
            schedule,
        })
    }

    /// Orders whenever the schedule says, until the task is aborted.
    pub async fn run(mut self) {
        loop {
            while let Some(nap) = self.schedule.nap(SystemTime::now()) {
                tokio::time::sleep(nap).await;
            }
            self.schedule = match self.attempt().await {
                Ok(not_after) => Schedule::obtained(not_after),
                Err(failure) => {
                    let schedule = self.schedule.failed(SystemTime::now());
                    self.log_failure(&failure, schedule.next);
                    schedule
                }
            };
        }
    }

    /// One order; on success the new certificate is stored and served.
    async fn attempt(&self) -> Result<SystemTime, Failure> {
        let settings = &self.ca.settings;
        log::info!(
            "ordering a certificate for {} from {} (TLS-ALPN-01)",
            settings.domain,
            settings.directory
        );
        let obtained = self.ca.obtain(&self.certs).await;
        // The challenge certificate proves nothing once the order is over, won or lost.
        self.certs.set_challenge(None);
        let obtained = obtained?;
        let issued = store::parse(&obtained.chain, &obtained.key).map_err(|reason| {
            Failure::Other(format!("the CA's certificate is unusable: {reason}"))
        })?;
        let store = self.ca.store.clone();
        let saved = tokio::task::spawn_blocking(move || {
            store.save_certificate(&obtained.chain, &obtained.key)
        })
        .await;
        let not_after = issued.not_after;
        self.certs.set(issued);
        let renew = schedule::renew_from(not_after);
        log::info!(
            "obtained a certificate for {}, valid until {}; renewing from {}",
            settings.domain,
            when(not_after),
            when(renew)
        );
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(err)) => log::error!(
                "could not save the certificate for {} in {}: {err}; it is served, but a \
                 restart will order a new one",
                settings.domain,
                self.ca.store.dir().display()
            ),
            Err(err) => log::error!("saving the certificate failed: {err}"),
        }
        Ok(not_after)
    }

    fn log_failure(&self, failure: &Failure, retry: SystemTime) {
        let serving = match self.certs.expires() {
            Some(until) => format!(
                "the server keeps serving its current certificate, valid until {}",
                when(until)
            ),
            None => "the server keeps serving plain HTTP until it has one".to_string(),
        };
        let wait = retry
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs()
            .div_ceil(60);
        log::error!(
            "could not obtain a certificate for {} from {}: {failure}; {serving}; retrying at \
             {} (in {wait} min)",
            self.ca.settings.domain,
            self.ca.settings.directory,
            when(retry)
        );
    }
}

/// A moment as the log shows it: `2026-03-01 12:00 UTC`.
fn when(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}
