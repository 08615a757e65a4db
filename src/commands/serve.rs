//! `bookchat serve`: validate the configuration, start logging, and run the `App` until a
//! shutdown signal arrives.

use crate::app::App;
use crate::cli::ServeArgs;
use crate::config::{self, Config};
use crate::error::Error;
use crate::fdlimit;
use crate::logging;
use crate::secret::Secret;

pub fn run(args: &ServeArgs) -> Result<(), Error> {
    // Logging starts before validation, so what validation warns about (a token without
    // a repository, say) is seen. The token is redacted as given, trimmed or not.
    let token = args.github.github_token.as_ref().map(|t| t.expose().trim());
    logging::init(config::log_format(args), token.map(Secret::new));
    let mut config = Config::from_args(args)?;
    // Before the listener opens: every connection is a descriptor of this process.
    config.connections.max_connections = fdlimit::apply(config.connections.max_connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bookchat-worker")
        .build()
        .map_err(|err| Error::io("cannot start the async runtime", err))?;
    let served = runtime.block_on(async {
        // Listen for signals before anyone can learn the address: a SIGTERM sent the moment
        // "listening" is logged must find the handler in place, not kill the process.
        let shutdown = shutdown_signal();
        let app = App::start(config).await?;
        log::info!(
            "BookChat {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            app.url()
        );
        app.run(shutdown).await
    });
    // Everything that keeps data has stopped inside `run`. What may be left is a blocking
    // ACME request (up to its 20 s timeout): the process need not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// Registers for Ctrl-C and SIGTERM (what `docker stop` and systemd send) at once, and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut terminate = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate())
            .map_err(|err| log::warn!("cannot listen for SIGTERM: {err}"))
            .ok()
    };
    // Ctrl-C is SIGINT: a stream too, so that it is also registered here and not on the
    // future's first poll (which is what tokio::signal::ctrl_c() would do).
    #[cfg(unix)]
    let mut interrupt = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::interrupt())
            .map_err(|err| log::warn!("cannot listen for Ctrl-C: {err}"))
            .ok()
    };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate.as_mut() {
                    Some(stream) => drop(stream.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt.as_mut() {
                    Some(stream) => drop(stream.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = int => log::info!("received Ctrl-C"),
                () = term => log::info!("received SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                log::info!("received Ctrl-C");
            }
        }
    }
}
