//! The messages API: list, fetch one, create, and (for a moderator) delete.

use hyper::header::{HeaderName, HeaderValue, LOCATION};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::db::queries::Lookup;
use crate::db::{IdempotencyKey, Insertion, Tombstone};
use crate::http::access::Access;
use crate::http::client_ip;
use crate::http::query::{parse_id, parse_list_query};
use crate::http::{body, empty, json, ApiError, Request, Response};
use crate::message::{Message, NewMessage};
use crate::state::AppState;

static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

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
    let messages = state.store.list(query.page, query.limit).await?;
    Ok(json(StatusCode::OK, &MessageList { messages }))
}

pub async fn get(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let id = id_in_path(&req)?;
    match state.store.lookup(id).await? {
        Lookup::Found(message) => Ok(json(StatusCode::OK, &message)),
        Lookup::Deleted => Err(gone(id)),
        Lookup::Missing => Err(not_found(id)),
    }
}

/// A moderator's deletion (`service` has checked the credentials): the row becomes a
/// tombstone, every listing and stream drops it, and the next sync removes its file.
pub async fn delete(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let id = id_in_path(&req)?;
    if state.store.delete(id).await? == Tombstone::Missing {
        // Never there, or deleted already: the answers differ, so look which.
        return match state.store.lookup(id).await? {
            Lookup::Deleted => Err(gone(id)),
            _ => Err(not_found(id)),
        };
    }
    state.sync.notify();
    log::info!(
        "message {id} deleted by a moderator at {}",
        client_ip::addr_of(&req)
    );
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// The id at the end of the path; anything that is not an id names no message.
fn id_in_path(req: &Request) -> Result<i64, ApiError> {
    let raw = req
        .uri()
        .path()
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("");
    parse_id(raw).ok_or_else(|| {
        let shown: String = raw.chars().take(32).collect();
        ApiError::NotFound(format!("no message with id {shown:?}"))
    })
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no message with id {id}"))
}

fn gone(id: i64) -> ApiError {
    ApiError::Gone(format!("message {id} was deleted by a moderator"))
}

pub async fn create(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let key = idempotency_key(&req)?;
    // A signed-in person's display name signs what they post without a name.
    let session_name = req
        .extensions()
        .get::<Access>()
        .and_then(|a| a.name.clone());
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
    // A signed-in person's display name signs what they post without a name.
    let author = input
        .author
        .filter(|author| !author.trim().is_empty())
        .or(session_name);
    let message = NewMessage::parse(&input.content, author.as_deref())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let stored = match state.store.insert_keyed(message, key).await? {
        Insertion::Created(stored) => {
            state.sync.notify();
            stored
        }
        Insertion::Repeated(stored) => stored,
        Insertion::OtherBody => {
            return Err(ApiError::Unprocessable(
                "this Idempotency-Key was already used with another message body; \
                 send a new key for a new message"
                    .into(),
            ))
        }
        Insertion::Deleted => {
            return Err(ApiError::Gone(
                "the message this Idempotency-Key created has since been deleted".into(),
            ))
        }
    };
    let mut response = json(StatusCode::CREATED, &stored);
    if let Ok(location) = HeaderValue::try_from(format!("/api/messages/{}", stored.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// The request's `Idempotency-Key`, scoped to its client: 1–255 visible ASCII characters,
/// sent once. `None` when absent.
fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(&IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Idempotency-Key header, not several".into(),
        ));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters \
             (no spaces), such as a UUID"
        )));
    }
    Ok(Some(IdempotencyKey {
        client: client_ip::key_of(req).to_string(),
        key: String::from_utf8_lossy(bytes).into_owned(),
    }))
}
