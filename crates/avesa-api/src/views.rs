//! Saved views: each user's named views of the web app's pages — a list's filters,
//! search, sort and columns' page size, or the dashboard's period and filters — kept as
//! the page's query string, to be opened again with one click.
//!
//! A view is its user's alone: the tenant and the user come only from the verified
//! token, and another user's view (in this tenant or any other) answers exactly like one
//! that does not exist. Every role may keep views (a viewer too). They live in the state
//! store, not the warehouse: these routes are not behind the read routes' response cache
//! or read gate, and every answer is `Cache-Control: no-store` like all API data.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /api/views[?page=tickets]` | the caller's views (of one page, or all), by page then name |
//! | `POST /api/views {page, name, query}` | saves one → 201; 409 if the name is taken on the page or the caller has [`MAX_SAVED_VIEWS`] |
//! | `PATCH /api/views/{id} {name?, query?}` | renames it and/or replaces its query; 409 if the new name is taken |
//! | `DELETE /api/views/{id}` | deletes it → 204 |
//!
//! The checks (each a 400 naming the field): `page` is `dashboard` or an entity list
//! ([`ENTITY_SEGMENTS`]); `name` is trimmed, then 1 to [`MAX_NAME_CHARS`] characters
//! without control characters; `query` is at most [`MAX_QUERY_BYTES`] bytes of
//! `name=value` pairs joined by `&`, in the characters a URL's query may hold (anything
//! else percent-encoded, decoding to UTF-8), without a leading `?`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use avesa_state::{MAX_SAVED_VIEWS, NewSavedView, SavedViewUpdate, StateError};

use crate::entities::ENTITY_SEGMENTS;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::ops::field;
use crate::{AppState, AuthUser};

/// Longest view name, in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 80;
/// Longest query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 2_000;
// `POST /api/views`'s documented 409 names the store's limit.
const _: () = assert!(MAX_SAVED_VIEWS == 100, "update create_view's 409 description");

/// The page a view of the dashboard is for; the lists' are their segments.
pub const DASHBOARD: &str = "dashboard";

/// The pages a view may be for: the dashboard and every entity list.
pub fn pages() -> impl Iterator<Item = &'static str> {
    std::iter::once(DASHBOARD).chain(ENTITY_SEGMENTS.iter().map(|(s, _)| *s))
}

fn page_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(pages().collect::<Vec<_>>()))
        .description(Some("The page: `dashboard`, or a list (`tickets`, `time-entries` …)."))
        .build()
}

/// A saved view.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedView {
    /// Its id (a UUID).
    pub id: String,
    #[schema(schema_with = page_schema)]
    pub page: String,
    /// Unique among the user's views of the page.
    pub name: String,
    /// The page's query string, without `?` (may be empty: the page as it opens).
    #[schema(example = "status=New&sort=opened_at&order=desc")]
    pub query: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<avesa_state::SavedView> for SavedView {
    fn from(v: avesa_state::SavedView) -> Self {
        SavedView {
            id: v.id,
            page: v.page,
            name: v.name,
            query: v.query,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

crate::openapi::items!(
    /// The caller's saved views, by page, then name.
    SavedViewList,
    SavedView
);

/// `GET /api/views`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ViewsParams {
    /// Only the views of this page (default: every page's).
    #[param(schema_with = page_schema)]
    pub page: Option<String>,
}

/// The body of `POST /api/views`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    #[schema(schema_with = page_schema)]
    pub page: String,
    /// 1 to 80 characters once trimmed, without control characters; unique among the
    /// caller's views of the page.
    #[schema(example = "Open tickets, newest first")]
    pub name: String,
    /// The page's query string without `?`: `name=value` pairs joined by `&`, at most
    /// 2,000 bytes, characters outside a URL query's percent-encoded.
    #[schema(max_length = 2000, example = "status=New&sort=opened_at&order=desc")]
    pub query: String,
}

/// The body of `PATCH /api/views/{id}`: what is left out stays as it is (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchView {
    /// A new name (checked as when saving).
    pub name: Option<String>,
    /// A new query string (checked as when saving).
    #[schema(max_length = 2000)]
    pub query: Option<String>,
}

/// `page`, if it is one a view may be for; else a 400 naming it (`at`: `field` for a
/// body, `param` for a query parameter).
fn check_page(raw: &str, at: &str) -> Result<String, ApiError> {
    if pages().any(|p| p == raw) {
        return Ok(raw.to_owned());
    }
    let known = pages().collect::<Vec<_>>().join(", ");
    Err(ApiError::bad_request(format!("page: {raw:?} is not a page; one of {known}"))
        .with_details(json!({ at: "page" })))
}

/// The name as stored: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(field("name", "must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(field("name", format!("at most {MAX_NAME_CHARS} characters, got {chars}")));
    }
    if name.chars().any(char::is_control) {
        return Err(field("name", "must not contain control characters (line breaks, tabs …)"));
    }
    Ok(name.to_owned())
}

/// Whether a byte may stand as itself in a URL's query (RFC 3986: unreserved,
/// sub-delimiters, `:`, `@`, `/`, `?`; `%` starts an escape).
fn query_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Decodes one `application/x-www-form-urlencoded` name or value (`+` is a space);
/// `None` if an escape is malformed or the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The query as stored: at most [`MAX_QUERY_BYTES`], no leading `?`, `name=value` pairs
/// joined by `&` in a URL query's characters, each decoding to UTF-8. Empty is a view of
/// the page as it opens.
pub fn check_query(q: &str) -> Result<String, ApiError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(field("query", format!("at most {MAX_QUERY_BYTES} bytes, got {}", q.len())));
    }
    if q.starts_with('?') {
        return Err(field("query", "send the query string without its leading \"?\""));
    }
    if q.is_empty() {
        return Ok(String::new());
    }
    let bad = |why: String| {
        field("query", format!("not an application/x-www-form-urlencoded query string: {why}"))
    };
    if let Some((at, c)) = q.char_indices().find(|&(_, c)| !c.is_ascii() || !query_byte(c as u8)) {
        return Err(bad(format!("{c:?} at byte {at} must be percent-encoded")));
    }
    for (n, pair) in q.split('&').enumerate() {
        let n = n + 1;
        if pair.is_empty() {
            return Err(bad(format!("parameter {n} is empty (\"&&\" or a trailing \"&\")")));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name.is_empty() {
            return Err(bad(format!("parameter {n} has no name")));
        }
        for part in [name, value] {
            if form_decode(part).is_none() {
                return Err(bad(format!(
                    "parameter {n} has a \"%\" not followed by two hex digits, or does not \
                     decode to UTF-8"
                )));
            }
        }
    }
    Ok(q.to_owned())
}

/// A store refusal as the API's answer.
fn refused(e: StateError) -> ApiError {
    match e {
        StateError::Conflict(m) => ApiError::conflict(m),
        // The token's user is gone (sessions end with their user; a race at most).
        StateError::NotFound(_) => ApiError::unauthorized("your user no longer exists"),
        other => other.into(),
    }
}

fn no_such_view() -> ApiError {
    ApiError::not_found("you have no saved view with this id")
}

/// A view id as the store makes them (a UUID), or the 404 of an unknown view: anything
/// else never reaches the store (PostgreSQL refuses text with NUL, say).
fn view_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw).map(|u| u.to_string()).map_err(|_| no_such_view())
}

/// The caller's saved views, of one page or of every page.
#[utoipa::path(
    get,
    path = "/api/views",
    tag = "views",
    params(ViewsParams),
    responses((status = 200, description = "The views, by page, then name.", body = SavedViewList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_views(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<ViewsParams>,
) -> Result<Json<SavedViewList>, ApiError> {
    let page = p.page.as_deref().map(|pg| check_page(pg, "param")).transpose()?;
    let views = state.store.list_views(&user.tenant, &user.user_id, page.as_deref()).await?;
    Ok(Json(SavedViewList { items: views.into_iter().map(Into::into).collect() }))
}

/// Saves a view for the caller.
#[utoipa::path(
    post,
    path = "/api/views",
    tag = "views",
    request_body = NewView,
    responses(
        (status = 201, description = "Saved.", body = SavedView),
        (status = 409, description = "The caller has a view of this name on the page, or 100 views already.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_view(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewView>,
) -> Result<(StatusCode, Json<SavedView>), ApiError> {
    let view = NewSavedView {
        page: check_page(&body.page, "field")?,
        name: check_name(&body.name)?,
        query: check_query(&body.query)?,
    };
    let saved =
        state.store.create_view(&user.tenant, &user.user_id, view).await.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// Renames one of the caller's views and/or replaces its query.
#[utoipa::path(
    patch,
    path = "/api/views/{id}",
    tag = "views",
    params(("id" = String, Path, description = "The view's id.")),
    request_body = PatchView,
    responses(
        (status = 200, description = "The view now.", body = SavedView),
        (status = 404, description = "The caller has no view with this id.", body = crate::openapi::ErrorBody),
        (status = 409, description = "The caller has another view of this name on the page.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn patch_view(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchView>,
) -> Result<Json<SavedView>, ApiError> {
    if body.name.is_none() && body.query.is_none() {
        return Err(ApiError::bad_request("give a new name, a new query, or both")
            .with_details(json!({ "field": "name" })));
    }
    let id = view_id(&id)?;
    let update = SavedViewUpdate {
        name: body.name.as_deref().map(check_name).transpose()?,
        query: body.query.as_deref().map(check_query).transpose()?,
    };
    match state.store.update_view(&user.tenant, &user.user_id, &id, update).await {
        Ok(Some(v)) => Ok(Json(v.into())),
        Ok(None) => Err(no_such_view()),
        Err(e) => Err(refused(e)),
    }
}

/// Deletes one of the caller's views.
#[utoipa::path(
    delete,
    path = "/api/views/{id}",
    tag = "views",
    params(("id" = String, Path, description = "The view's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "The caller has no view with this id.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn delete_view(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = view_id(&id)?;
    if state.store.delete_view(&user.tenant, &user.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such_view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_the_dashboard_and_every_list() {
        assert_eq!(
            pages().collect::<Vec<_>>(),
            ["dashboard", "companies", "contacts", "tickets", "time-entries", "members"]
        );
        assert!(check_page("tickets", "field").is_ok());
        let e = check_page("Tickets", "param").unwrap_err();
        assert_eq!(e.details, Some(json!({"param": "page"})));
        assert!(e.message.contains("time-entries"), "{}", e.message);
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(check_name("  Open tickets \t").unwrap(), "Open tickets");
        assert_eq!(
            check_name(&"é".repeat(80)).unwrap().chars().count(),
            80,
            "characters, not bytes"
        );
        for bad in ["", "   ", "a\nb", "tab\there", "bell\u{7}", "c1\u{85}x", &"x".repeat(81)] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.details, Some(json!({"field": "name"})), "{bad:?}");
            assert!(e.message.starts_with("name: "), "{}", e.message);
        }
    }

    #[test]
    fn queries_are_form_encoded_and_bounded() {
        for good in [
            "",
            "status=New",
            "status=New&sort=opened_at&order=desc&page_size=100",
            "company=connectwise:250&q=printer+jam",
            "company=connectwise%3A250&q=caf%C3%A9",
            "flag&empty=",
            "as_of=2024-05-01T12:00:00Z&x=a/b?c",
        ] {
            assert_eq!(check_query(good).unwrap(), good, "{good:?}");
        }
        assert!(check_query(&format!("q={}", "a".repeat(MAX_QUERY_BYTES - 2))).is_ok());
        for bad in [
            "?status=New",
            "status=New#frag",
            "q=two words",
            "q=café",
            "a=1&&b=2",
            "a=1&",
            "&a=1",
            "=value",
            "q=%zz",
            "q=%4",
            "q=%ff%fe",
            "q=\"quoted\"",
            "q=<b>",
            "q=line\nbreak",
        ] {
            let e = check_query(bad).unwrap_err();
            assert_eq!(e.details, Some(json!({"field": "query"})), "{bad:?}");
        }
        let e = check_query(&format!("q={}", "a".repeat(MAX_QUERY_BYTES - 1))).unwrap_err();
        assert!(e.message.contains("2000 bytes"), "{}", e.message);
    }
}
