//! Reaching PostgreSQL: the URL, TLS through rustls, the pool of query sessions, and the
//! dedicated sessions (the listener, the sync lease) that must not be shared.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::DbError;

/// How long a new session may take before the attempt counts as the database being down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP keepalives: a peer that vanished (power loss, a network split) is noticed within
/// about `IDLE + INTERVAL * RETRIES` = 25 s instead of the kernel's two hours.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
/// Data sent and not acknowledged for this long ends the session: a cut-off node stops
/// waiting on a write that will never be answered.
const USER_TIMEOUT: Duration = Duration::from_secs(20);
/// Sessions one node keeps for queries; the writer holds one, readers share the rest.
pub const POOL_SIZE: usize = 16;
/// How long a request waits for a pooled session before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The session type of every connection we open (TLS or not, rustls decides at connect).
pub type PgConnection = Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// Where the database is and how to talk to it; cheap to clone.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl Target {
    /// Parses a `postgres://` URL (or a libpq `key=value` string). `sslmode=verify-full`
    /// and `verify-ca`, which tokio-postgres does not name, mean `require` here: every TLS
    /// session verifies the server's certificate (see `tls_config`).
    pub fn parse(url: &str, application: &str) -> Result<Target, DbError> {
        let url = url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let mut config: tokio_postgres::Config = url.parse().map_err(|err| {
            DbError::Postgres(format!(
                "BOOKCHAT_DATABASE_URL is not a PostgreSQL URL: {err}"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config
            .application_name(application)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(USER_TIMEOUT);
        Ok(Target {
            config,
            tls: MakeRustlsConnect::new(tls_config()?),
        })
    }

    /// A pool of sessions, opened as needed; a dead session is replaced on its next use.
    pub fn pool(&self) -> Result<Pool, DbError> {
        let manager = Manager::from_config(
            self.config.clone(),
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|err| DbError::Postgres(format!("cannot build the session pool: {err}")))
    }

    /// A session of its own, for the listener or the sync lease: the caller drives the
    /// `Connection` (it carries notifications) and ends the session by dropping both.
    pub async fn connect(&self) -> Result<(Client, PgConnection), DbError> {
        self.config
            .connect(self.tls.clone())
            .await
            .map_err(DbError::from)
    }

    /// The same target for sessions whose death PostgreSQL must notice quickly: the
    /// server's own keepalives are set on them at start-up, so the advisory locks they hold
    /// (the sync lease, the serve lock) are freed within about 11 s of their node
    /// vanishing, not after the kernel's two hours.
    #[must_use]
    pub fn watched(&self) -> Target {
        let mut watched = self.clone();
        let ours =
            "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3";
        let options = match self.config.get_options() {
            Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
            _ => ours.to_owned(),
        };
        watched.config.options(options);
        watched
    }

    /// A session whose connection runs in a task of its own, for work that needs no
    /// notifications (commands, migrations).
    pub async fn client(&self) -> Result<Client, DbError> {
        let (client, connection) = self.connect().await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                log::debug!("PostgreSQL session ended: {err}");
            }
        });
        Ok(client)
    }
}

/// TLS trusts Mozilla's roots (as GitHub sync does) and, as the contract says for every
/// client of ours, the certificates named by `SSL_CERT_FILE` and `SSL_CERT_DIR`: that is
/// how a private CA (a managed database's, a test's) is trusted.
fn tls_config() -> Result<rustls::ClientConfig, DbError> {
    let roots = crate::tls::roots::store().map_err(DbError::Postgres)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| DbError::Postgres(format!("cannot set up TLS: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_our_timeouts_and_keepalives_and_keep_their_own() {
        let target = Target::parse("postgres://u:p@db.example:6543/chat", "bookchat").unwrap();
        assert_eq!(target.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(target.config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(target.config.get_application_name(), Some("bookchat"));
        assert_eq!(target.config.get_dbname(), Some("chat"));
        let own = Target::parse("postgres://h/chat?connect_timeout=2", "x").unwrap();
        assert_eq!(
            own.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn watched_sessions_ask_for_server_keepalives_and_keep_the_url_options() {
        let plain = Target::parse("postgres://h/db", "x").unwrap().watched();
        assert!(plain
            .config
            .get_options()
            .is_some_and(|o| o.starts_with("-c tcp_keepalives_idle=5")));
        let own = Target::parse("postgres://h/db?options=-c%20search_path%3Dchat", "x")
            .unwrap()
            .watched();
        let options = own.config.get_options().unwrap();
        assert!(
            options.starts_with("-c search_path=chat -c tcp_keepalives_idle=5"),
            "{options}"
        );
    }

    #[test]
    fn verify_modes_mean_require_and_bad_urls_say_so() {
        for mode in ["require", "verify-full", "verify-ca"] {
            let target = Target::parse(&format!("postgres://h/db?sslmode={mode}"), "x").unwrap();
            assert_eq!(
                target.config.get_ssl_mode(),
                tokio_postgres::config::SslMode::Require
            );
        }
        let err = Target::parse("postgres://h/db?sslmode=sometimes", "x")
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
    }
}
