//! Request handlers; each is `async fn(&AppState, Request) -> Result<Response, ApiError>`.

pub mod assets;
pub mod events;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod stats;
