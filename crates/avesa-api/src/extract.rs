//! Extractors whose rejections are [`ApiError`]s.
//!
//! axum's own `Json`, `Query` and `Path` reject with plain-text bodies and statuses such as
//! 415 or 422; these wrappers turn every rejection into a 400 `bad_request` in the API's
//! error shape, keeping axum's explanation (which field, which line and column).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Missing or wrong `Content-Type`, malformed JSON, missing or unknown fields
/// and an oversized body are all 400 `bad_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("expected a JSON body with `Content-Type: application/json`")
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            match named_field(&text) {
                Some(f) => ApiError::bad_request(text.clone())
                    .with_details(serde_json::json!({ "field": f })),
                None => ApiError::bad_request(text),
            }
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// The field a deserializer's message names (``missing field `email` ``, ``unknown field
/// `x` ``, ``email: invalid type``), if any.
fn named_field(message: &str) -> Option<String> {
    if let Some(rest) = message.split("field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    // axum: "…into the target type: {path}: {problem}".
    let detail = message.split_once("target type: ").map_or(message, |(_, d)| d);
    let (path, _) = detail.split_once(": ")?;
    (!path.is_empty() && path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .then(|| path.to_owned())
}

/// The error for a body over the configured limit.
pub(crate) fn body_too_large() -> ApiError {
    ApiError::bad_request("request body too large")
}

/// Query parameters. Unknown parameters, duplicates and values of the wrong type are a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("invalid query string: {}", strip_prefix(&r.body_text())))
}

/// Path parameters; a parameter that does not decode is a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(path_rejection(r)),
        }
    }
}

fn path_rejection(r: PathRejection) -> ApiError {
    if r.status().is_server_error() {
        tracing::error!(rejection = %r.body_text(), "path extraction failed");
        return ApiError::internal();
    }
    ApiError::bad_request(format!("invalid path: {}", strip_prefix(&r.body_text())))
}

/// axum prefixes its messages with "Failed to deserialize query string: "; keep the cause.
fn strip_prefix(s: &str) -> &str {
    s.split_once(": ").map(|(_, rest)| rest).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_a_body_error_is_about_is_named() {
        assert_eq!(
            named_field(
                "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2"
            ),
            Some("email".into())
        );
        assert_eq!(
            named_field(
                "Failed to deserialize the JSON body into the target type: password: invalid type: integer `3`, expected a string at line 1 column 60"
            ),
            Some("password".into())
        );
    }
}
