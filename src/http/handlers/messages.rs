//! The messages API: list, fetch one, and create.

use hyper::header::{HeaderValue, LOCATION};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::queries;
use crate::http::query::{parse_id, parse_list_query};
use crate::http::{body, json, ApiError, Request, Response};
use crate::message::{Message, NewMessage};
use crate::state::AppState;

/// The POST body. Unknown fields are ignored, so older clients and newer ones interoperate.
#[derive(Deserialize)]
struct CreateBody {
    content: String,
    #[serde(default)]
    author: Option<String>,
}

#[derive(Serialize)]
struct MessageList {
    messages: Vec<Message>,
}

pub async fn list(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let query = parse_list_query(req.uri().query()).map_err(ApiError::BadRequest)?;
    // Polls and the newest page come from memory; only older history reaches SQLite.
    let messages = state.db.list(query.page, query.limit).await?;
    Ok(json(StatusCode::OK, &MessageList { messages }))
}

pub async fn get(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let raw = req
        .uri()
        .path()
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let not_found = || {
        let shown: String = raw.chars().take(32).collect();
        ApiError::NotFound(format!("no message with id {shown:?}"))
    };
    let id = parse_id(raw).ok_or_else(not_found)?;
    match state.db.read(move |conn| queries::by_id(conn, id)).await? {
        Some(message) => Ok(json(StatusCode::OK, &message)),
        None => Err(not_found()),
    }
}

pub async fn create(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let bytes = body::read_json(req).await?;
    // serde would read a struct from an array too (`["hello"]`); the contract wants an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "body must be a JSON object, such as {\"content\": \"hello\"}".into(),
        ));
    }
    let input: CreateBody = serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::BadRequest(format!(
            "body must be a JSON object with a string `content` and an optional string \
             `author`: {err}"
        ))
    })?;
    let message = NewMessage::parse(&input.content, input.author.as_deref())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let stored = state.db.insert(message).await?;
    state.sync.notify();
    let mut response = json(StatusCode::CREATED, &stored);
    if let Ok(location) = HeaderValue::try_from(format!("/api/messages/{}", stored.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}
