//! The embedded web UI (`web/dist`, built by Vite) and the fallback for unknown paths.
//!
//! * Paths under `/api`, `/auth` and `/health` that no route matched are a JSON 404.
//! * Any other `GET`/`HEAD` path serves the embedded file of that name with its MIME type
//!   (`/assets/*` are content-hashed by Vite and cached as immutable; everything else is
//!   `no-cache`), or else `index.html`, so client-side routes like `/companies/42` load the
//!   app (SPA fallback). A missing `/assets/*` file is a 404 rather than HTML, so a stale
//!   bundle fails loudly instead of being parsed as a script.
//!
//! In release builds the files are compiled into the binary; in debug builds `rust-embed`
//! reads them from `web/dist` at request time, so a rebuilt UI shows without recompiling.
//! `build.rs` creates a placeholder `index.html` when `web/dist` does not exist.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../../web/dist"]
struct Assets;

/// Served when the embedded folder has no `index.html` at all.
const MISSING_UI: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>AVESA</title></head>\
<body><p>UI not built: run <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code></p></body></html>";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// Paths that belong to the API: never answered with the UI.
fn is_api_path(path: &str) -> bool {
    ["/api", "/auth", "/health"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// The router's fallback.
pub(crate) async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let no_route = || ApiError::not_found(format!("no route for {method} {path}")).into_response();
    if is_api_path(path) || (method != Method::GET && method != Method::HEAD) {
        return no_route();
    }
    let rel = path.trim_start_matches('/');
    let suspicious = rel
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.contains('\\') || seg.contains('\0'));
    if suspicious {
        return no_route();
    }
    if !rel.is_empty()
        && !rel.ends_with('/')
        && let Some(file) = Assets::get(rel)
    {
        let cache = if rel.starts_with("assets/") { IMMUTABLE } else { NO_CACHE };
        let mime = mime_guess::from_path(rel).first_or_octet_stream();
        return file_response(file, mime.as_ref(), cache, &headers);
    }
    if rel.starts_with("assets/") {
        return no_route();
    }
    match Assets::get("index.html") {
        Some(file) => file_response(file, "text/html; charset=utf-8", NO_CACHE, &headers),
        None => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, NO_CACHE)],
            MISSING_UI,
        )
            .into_response(),
    }
}

/// An embedded HTML page (e.g. the API docs), or a 503 naming the missing UI build.
pub(crate) fn page(rel: &str, headers: &HeaderMap) -> Response {
    match Assets::get(rel) {
        Some(file) => file_response(file, "text/html; charset=utf-8", NO_CACHE, headers),
        None => ApiError::unavailable(format!(
            "{rel} is not in this build: run `npm --prefix web run build` and rebuild the server"
        ))
        .into_response(),
    }
}

fn file_response(
    file: rust_embed::EmbeddedFile,
    mime: &str,
    cache: &'static str,
    req_headers: &HeaderMap,
) -> Response {
    let hash = file.metadata.sha256_hash();
    let etag: String = std::iter::once("\"".to_owned())
        .chain(hash[..16].iter().map(|b| format!("{b:02x}")))
        .chain(std::iter::once("\"".to_owned()))
        .collect();
    let not_modified = req_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header"));
    let body = if not_modified {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        Body::empty()
    } else {
        builder = builder.status(StatusCode::OK).header(
            header::CONTENT_TYPE,
            HeaderValue::from_str(mime)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        Body::from(file.data)
    };
    builder.body(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot build an asset response");
        ApiError::internal().into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        for p in ["/api", "/api/x", "/auth", "/auth/me", "/health", "/health/detailed"] {
            assert!(is_api_path(p), "{p}");
        }
        for p in ["/", "/apis", "/companies/x", "/authors", "/healthy", "/assets/a.js"] {
            assert!(!is_api_path(p), "{p}");
        }
    }
}
