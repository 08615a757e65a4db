//! `bookchat serve`: validate the configuration, start logging, and run the server until a
//! shutdown signal arrives.

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::error::Error;
use crate::http::Server;
use crate::logging;

pub fn run(args: ServeArgs) -> Result<(), Error> {
    let config = Config::from_args(&args)?;
    logging::init(
        config.log_format,
        config.github.as_ref().map(|g| g.token.clone()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bookchat-worker")
        .build()
        .map_err(|err| Error::io("cannot start the async runtime", err))?;
    runtime.block_on(async {
        let server = Server::bind(config).await?;
        log::info!(
            "BookChat {} listening on http://{}",
            env!("CARGO_PKG_VERSION"),
            server.local_addr()
        );
        server.run(shutdown_signal()).await
    })
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            log::warn!("cannot listen for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                log::warn!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => log::info!("received Ctrl-C"),
        () = terminate => log::info!("received SIGTERM"),
    }
}
