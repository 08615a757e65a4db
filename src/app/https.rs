//! The HTTPS parts of a started server: the certificate (from files, or from ACME), the
//! SIGHUP handler that re-reads the files, and the plain-HTTP redirect port. Each runs as a
//! task that `Tasks` aborts when the app stops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::Error;
use crate::http::{self, redirect};
use crate::tls::acme::Acme;
use crate::tls::reload::{self, Reload};
use crate::tls::{certs, AcmeSettings, CertSource, Certs, Tls};

/// Background tasks, aborted on drop: none of them holds anything that needs a clean stop.
#[derive(Default)]
pub struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// What `App::start` builds before the data directory is touched, so that a bad
/// certificate file or a busy redirect port stops the start early.
pub struct Https {
    pub tls: Option<Arc<Tls>>,
    pub tasks: Tasks,
    /// ACME's settings until `start_acme` starts it.
    acme: Option<AcmeSettings>,
}

impl Https {
    /// Loads the certificate files (a one-line error when they are bad), binds the
    /// redirect port, and listens for SIGHUP, which is registered even without TLS: its
    /// default action would end the process on a `systemctl reload`.
    pub async fn start(config: &Config, https_port: u16) -> Result<Https, Error> {
        let mut tasks = Tasks::default();
        let Some(settings) = &config.tls else {
            tasks.0.extend(reload::on_hangup(None));
            return Ok(Https {
                tls: None,
                tasks,
                acme: None,
            });
        };
        let certs = Arc::new(Certs::default());
        let (reload, acme) = match &settings.source {
            CertSource::Files { cert, key } => {
                certs.set(certs::load_files(cert, key).map_err(Error::Tls)?);
                let reload = Reload {
                    certs: Arc::clone(&certs),
                    cert: cert.clone(),
                    key: key.clone(),
                };
                (Some(reload), None)
            }
            CertSource::Acme(settings) => (None, Some(settings.clone())),
        };
        tasks.0.extend(reload::on_hangup(reload));
        if let Some(port) = settings.redirect_port {
            let listener = http::listen(SocketAddr::new(config.bind.ip(), port)).await?;
            let target = redirect::Target {
                https_port,
                domain: acme.as_ref().map(|a| a.domain.clone()),
            };
            log::info!("redirecting plain HTTP on port {port} to HTTPS");
            tasks.0.push(redirect::spawn(listener, target));
        }
        let tls = Tls::new(certs, acme.is_some());
        Ok(Https {
            tls: Some(Arc::new(tls)),
            tasks,
            acme,
        })
    }

    /// Starts obtaining and renewing the certificate when ACME is on: after the data
    /// directory is made and locked, since its `acme/` folder holds the account and the
    /// certificate. The stored certificate, if any, is served before this returns.
    pub async fn start_acme(&mut self, data_dir: &Path) -> Result<(), Error> {
        let (Some(settings), Some(tls)) = (self.acme.take(), &self.tls) else {
            return Ok(());
        };
        let certs = Arc::clone(tls.certs());
        let data_dir = data_dir.to_owned();
        let acme = tokio::task::spawn_blocking(move || {
            Acme::prepare(&settings, &data_dir, certs, SystemTime::now())
        })
        .await
        .map_err(|err| Error::io("start-up failed", std::io::Error::other(err)))?
        .map_err(Error::Tls)?;
        self.tasks.0.push(tokio::spawn(acme.run()));
        Ok(())
    }
}
