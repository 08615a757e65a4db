//! Request handlers; each is `async fn(&AppState, Request) -> Result<Response, ApiError>`.
#![allow(
    clippy::unused_async,
    reason = "every handler has the router's one shape, whether or not it awaits"
)]

pub mod app;
pub mod assets;
pub mod events;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod session;
pub mod stats;
