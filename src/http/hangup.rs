//! The handle a stream uses to hang up its connection when the client stops reading.

use std::sync::Arc;

use tokio::sync::Notify;

/// Closes one connection from inside a request: a stream whose reader stopped reading
/// cannot end politely, since hyper waits to write what is queued, forever if the reader
/// never reads. Carried to handlers in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct Hangup(Arc<Notify>);

impl Hangup {
    pub fn hang_up(&self) {
        // `notify_one` keeps the wake-up if the connection task is not waiting yet.
        self.0.notify_one();
    }

    /// Resolves once `hang_up` is called.
    pub async fn requested(&self) {
        self.0.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hang_up_before_anyone_waits_is_not_lost() {
        let hangup = Hangup::default();
        hangup.clone().hang_up();
        tokio::time::timeout(std::time::Duration::from_secs(1), hangup.requested())
            .await
            .expect("the hang-up was kept");
    }
}
