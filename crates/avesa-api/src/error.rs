//! The API's one error shape.
//!
//! Every failure, whatever produced it (a handler, an extractor rejection, the body-size
//! limit, an unknown route), leaves the server as
//!
//! ```json
//! {"error": {"code": "bad_request", "message": "page must be an integer >= 1, got \"0\""}}
//! ```
//!
//! with an optional `details` value. `code` is one of the closed set [`ErrorCode`], and the
//! code alone decides the HTTP status, so clients may switch on either.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The closed set of error codes. Each maps to exactly one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed or a parameter is invalid.
    BadRequest,
    /// 401: no credentials, or credentials that do not verify.
    Unauthorized,
    /// 403: authenticated, but the role does not allow this.
    Forbidden,
    /// 404: no such route or record (in the caller's tenant).
    NotFound,
    /// 409: the request conflicts with existing state.
    Conflict,
    /// 429: too many attempts; comes with `Retry-After`.
    RateLimited,
    /// 500: a failure on our side; the detail is logged, never returned.
    Internal,
    /// 503: a backend is unavailable.
    Unavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error response. Build one with the constructors; `?` converts warehouse and state
/// errors (engine and database failures become a generic 500 and are logged).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Seconds, sent as `Retry-After` (rate limiting).
    pub retry_after: Option<u64>,
}

/// The message of every 500: the cause goes to the log, not to the client.
pub const INTERNAL_MESSAGE: &str = "internal error; the cause has been logged";

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// A 500 with the generic message. Log the cause before calling this.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, INTERNAL_MESSAGE)
    }

    /// The JSON body, `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        let mut inner = serde_json::Map::new();
        inner.insert("code".into(), self.code.as_str().into());
        inner.insert("message".into(), self.message.clone().into());
        if let Some(d) = &self.details {
            inner.insert("details".into(), d.clone());
        }
        serde_json::json!({ "error": inner })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.code.status(), axum::Json(self.body())).into_response();
        let headers = resp.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"avesa\""),
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

impl From<avesa_warehouse::WarehouseError> for ApiError {
    fn from(e: avesa_warehouse::WarehouseError) -> Self {
        match e {
            avesa_warehouse::WarehouseError::BadRequest(m) => ApiError::bad_request(m),
            avesa_warehouse::WarehouseError::Overloaded(m) => {
                tracing::warn!(error = %m, "warehouse read refused for its limits");
                let mut e = ApiError::unavailable(m);
                e.retry_after = Some(1);
                e
            }
            e @ (avesa_warehouse::WarehouseError::Engine(_)
            | avesa_warehouse::WarehouseError::Internal(_)) => {
                tracing::error!(error = %e, "warehouse error");
                ApiError::internal()
            }
        }
    }
}

impl From<avesa_state::StateError> for ApiError {
    fn from(e: avesa_state::StateError) -> Self {
        tracing::error!(error = %e, "state store error");
        ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
    }

    #[test]
    fn engine_errors_do_not_leak() {
        let e: ApiError =
            avesa_warehouse::WarehouseError::Engine("secret table xyz exploded".into()).into();
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.body().to_string().contains("xyz"));
    }
}
