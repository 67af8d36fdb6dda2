//! Entity routes: list, detail (current or as of a time) and history, for companies,
//! contacts, tickets and time entries.
//!
//! Every query runs in the tenant of the caller's token. A record that exists only in
//! another tenant answers exactly like one that does not exist at all: the 404 body is built
//! from the request alone.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use avesa_model::CanonicalTable;
use avesa_warehouse::{EntityId, ListQuery, Page, Record};

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};

/// The URL segment of each table (`/api/{segment}`).
pub const ENTITY_SEGMENTS: [(&str, CanonicalTable); 5] = [
    ("companies", CanonicalTable::Companies),
    ("contacts", CanonicalTable::Contacts),
    ("tickets", CanonicalTable::Tickets),
    ("time-entries", CanonicalTable::TimeEntries),
    ("members", CanonicalTable::Members),
];

/// The references a record names by id whose names a list page and a record carry
/// beside them: (table, id field, table it names, name field). A company's name comes
/// from the warehouse's own join (`company_name`).
pub const REFERENCE_NAMES: [(CanonicalTable, &str, CanonicalTable, &str); 4] = [
    (CanonicalTable::Tickets, "contact_id", CanonicalTable::Contacts, "contact_name"),
    (CanonicalTable::Tickets, "owner_id", CanonicalTable::Members, "owner_name"),
    (CanonicalTable::TimeEntries, "member_id", CanonicalTable::Members, "member_name"),
    (CanonicalTable::TimeEntries, "ticket_id", CanonicalTable::Tickets, "ticket_summary"),
];

/// Adds the names of what the records refer to ([`REFERENCE_NAMES`]), as they stood at
/// `as_of`: one query per kind of reference for a whole page, all in one batch of reads;
/// null where the record names nothing or something the tenant does not have.
async fn add_reference_names(
    state: &AppState,
    tenant: &avesa_model::TenantId,
    table: CanonicalTable,
    records: &mut [Record],
    as_of: Option<DateTime<Utc>>,
) -> Result<(), ApiError> {
    let refs: Vec<_> = REFERENCE_NAMES.iter().filter(|r| r.0 == table).collect();
    let asks = refs
        .iter()
        .map(|(_, field, target, _)| {
            let ids: std::collections::BTreeSet<String> = records
                .iter()
                .filter_map(|r| r.get(*field).and_then(|v| v.as_str()).map(str::to_owned))
                .collect();
            (*target, ids.into_iter().collect())
        })
        .collect();
    let found =
        avesa_analytics::metrics::names_many(state.warehouse.as_ref(), tenant, asks, as_of).await?;
    for ((_, field, _, name_field), names) in refs.into_iter().zip(found) {
        for r in records.iter_mut() {
            let name = r.get(*field).and_then(|v| v.as_str()).and_then(|id| names.get(id)).cloned();
            r.insert((*name_field).to_owned(), name.map_or(serde_json::Value::Null, Into::into));
        }
    }
    Ok(())
}

/// Largest `page_size`.
pub const MAX_PAGE_SIZE: u32 = 500;
/// `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest `page` (deep offsets are never what a person wants; keeps offsets small).
pub const MAX_PAGE: u32 = 1_000_000;
/// How deep a list can be paged: `page × page_size` at most this. Reading page N costs
/// the engine the N pages before it, so the bound keeps every list's work bounded; past
/// it, narrow the list with `q` or sort it the other way.
pub const MAX_RESULT_WINDOW: u64 = 10_000;
/// Longest search string `q`, in characters.
pub const MAX_SEARCH_LEN: usize = 200;

/// The entity routes, each with its operation in the OpenAPI document (see
/// [`crate::openapi::entity_operations`]).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let mut r = OpenApiRouter::new();
    for (segment, table) in ENTITY_SEGMENTS {
        let [(list_schemas, list_path), (_, detail_path), (_, history_path), _] =
            crate::openapi::entity_operations(segment, table);
        r = r
            .routes((
                list_schemas,
                list_path,
                get(
                    move |user: AuthUser,
                          state: State<AppState>,
                          q: ApiQuery<Vec<(String, String)>>| {
                        list(table, user, state, q)
                    },
                ),
            ))
            .routes((
                Vec::new(),
                detail_path,
                get(
                    move |user: AuthUser,
                          state: State<AppState>,
                          id: ApiPath<String>,
                          q: ApiQuery<AsOfParams>| {
                        detail(table, user, state, id, q)
                    },
                ),
            ))
            .routes((
                Vec::new(),
                history_path,
                get(
                    move |user: AuthUser,
                          state: State<AppState>,
                          id: ApiPath<String>,
                          q: ApiQuery<NoParams>| {
                        history(table, user, state, id, q)
                    },
                ),
            ));
    }
    r
}

/// The CSV export routes (`/api/{segment}/export.csv`). Not behind the response cache
/// (an export is streamed, never held whole): each batch it reads takes the read gate's
/// permits for that read alone, so a slow reader holds none while it reads.
pub(crate) fn export_routes() -> OpenApiRouter<AppState> {
    let mut r = OpenApiRouter::new();
    for (segment, table) in ENTITY_SEGMENTS {
        let [_, _, _, (_, export_path)] = crate::openapi::entity_operations(segment, table);
        r = r.routes((
            Vec::new(),
            export_path,
            get(
                move |user: AuthUser,
                      state: State<AppState>,
                      q: ApiQuery<Vec<(String, String)>>| {
                    export(table, user, state, q)
                },
            ),
        ));
    }
    r
}

/// Records an export reads at a time: a list's largest page, so one read of an export
/// costs the warehouse what one list page may.
pub const EXPORT_BATCH: u32 = MAX_PAGE_SIZE;

/// The columns of a table's export, in order: its id, its fields, the names of what it
/// refers to, where it came from.
pub fn export_columns(table: CanonicalTable) -> Vec<&'static str> {
    let mut cols = vec!["id"];
    cols.extend(table.columns().iter().map(|c| c.name));
    if avesa_warehouse::present::joins_company(table) {
        cols.push("company_name");
    }
    cols.extend(REFERENCE_NAMES.iter().filter(|r| r.0 == table).map(|r| r.3));
    cols.extend(["source_service", "source_id", "source_updated_at"]);
    cols
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a
/// carriage return first: CWE-1236) gets a leading `'`, which spreadsheets show as text;
/// ticket summaries and names come from end users.
fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}").into() } else { s.into() }
}

/// Records as CSV rows (with the header first when asked): text as is (but see
/// [`csv_text`]), numbers and flags as JSON writes them, null as an empty field.
fn csv_rows(columns: &[&str], records: &[Record], header: bool) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(records.len() * 256));
    let failed = |e: csv::Error| {
        tracing::error!(error = %e, "writing CSV");
        ApiError::internal()
    };
    if header {
        w.write_record(columns).map_err(failed)?;
    }
    for r in records {
        w.write_record(columns.iter().map(|c| match r.get(*c) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => csv_text(s).into_owned(),
            Some(v) => v.to_string(),
        }))
        .map_err(failed)?;
    }
    w.into_inner().map_err(|e| failed(e.into_error().into()))
}

/// How long a batch after the first may wait out a busy warehouse (the answer has begun:
/// an error would cut the file short).
const EXPORT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// One batch of an export, read under the read gate. After the first (`patient`), a busy
/// gate or warehouse (429, 503) is waited out, up to [`EXPORT_PATIENCE`].
async fn export_batch(
    state: &AppState,
    tenant: &avesa_model::TenantId,
    table: CanonicalTable,
    q: &ListQuery,
    patient: bool,
) -> Result<Vec<Record>, ApiError> {
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        let read = async {
            let _permit = state.reads.gate.enter(tenant).await?;
            // An export is bulk work: it yields the CPU to reads someone is waiting on.
            avesa_warehouse::ReadPriority::Background
                .scope(async {
                    let mut page = state.warehouse.list(tenant, table, q).await?;
                    let as_of = q.as_of.map(|t| t.and_utc());
                    add_reference_names(state, tenant, table, &mut page.items, as_of).await?;
                    Ok::<_, ApiError>(page.items)
                })
                .await
        };
        match read.await {
            Err(e)
                if patient
                    && matches!(
                        e.code,
                        crate::error::ErrorCode::RateLimited | crate::error::ErrorCode::Unavailable
                    )
                    && started.elapsed() < EXPORT_PATIENCE =>
            {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

async fn export(
    table: CanonicalTable,
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    // A download link's token has been checked by the extractor; it is no filter.
    let pairs: Vec<(String, String)> =
        pairs.into_iter().filter(|(k, _)| k != crate::links::TOKEN_PARAM).collect();
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k == "page" || k == "page_size") {
        return Err(bad_param(k, "an export holds every record; it takes no paging"));
    }
    let params = ListParams::from_pairs(pairs)?;
    let tz = crate::tenant_settings::load(&state, &user.tenant).await?.time_zone;
    let mut q = params.to_table_query(table, tz)?;
    // One instant of the sources' time for every batch, and for the names the search
    // resolves (see docs/api.md for what a sync landing meanwhile can still do).
    let at = q.as_of.unwrap_or_else(|| Utc::now().naive_utc());
    q.as_of = Some(at);
    {
        let _permit = state.reads.gate.enter(&user.tenant).await?;
        narrow_search(&state, &user.tenant, table, &mut q).await?;
    }
    q.page_size = EXPORT_BATCH;
    q.page = 1;
    let columns = export_columns(table);
    // The first batch before the answer starts: its errors are still a status.
    let first = export_batch(&state, &user.tenant, table, &q, false).await?;
    let head = csv_rows(&columns, &first, true)?;
    let more = first.len() == EXPORT_BATCH as usize;
    let tenant = user.tenant.clone();
    let rest = futures::stream::try_unfold((q, more), move |(mut q, more)| {
        let (state, tenant, columns) = (state.clone(), tenant.clone(), columns.clone());
        async move {
            if !more {
                return Ok(None);
            }
            q.page += 1;
            let batch = export_batch(&state, &tenant, table, &q, true).await.inspect_err(|e| {
                tracing::warn!(
                    %tenant, %table, batch = q.page, error = %e.message,
                    "an export stopped part-way; the client sees a cut-off transfer"
                );
            })?;
            let more = batch.len() == EXPORT_BATCH as usize;
            Ok::<_, ApiError>(Some((csv_rows(&columns, &batch, false)?, (q, more))))
        }
    });
    let body = futures::stream::once(async move { Ok::<_, ApiError>(head) })
        .chain(rest)
        .map_ok(axum::body::Bytes::from)
        .map_err(|e| std::io::Error::other(e.message));
    let segment = ENTITY_SEGMENTS.iter().find(|(_, t)| *t == table).map_or("records", |(s, _)| s);
    let name = format!("{segment}-{}.csv", at.format("%Y%m%dT%H%M%SZ"));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Query parameters of a list. All are strings here so that a bad value is reported by
/// name with the reason, not as a deserializer error.
#[derive(Debug, Default)]
pub struct ListParams {
    pub page: Option<String>,
    pub page_size: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub as_of: Option<String>,
    /// The time zone local dates in date filters are read in (default UTC).
    pub tz: Option<String>,
    /// Filter parameters (`status`, `company`, `opened_from` …; see
    /// [`avesa_analytics::filters`]), as given.
    pub filters: Vec<(String, String)>,
}

impl ListParams {
    /// The parameters of a query string (as pairs): an unknown parameter or one given
    /// twice is a 400 naming it.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<ListParams, ApiError> {
        let mut p = ListParams::default();
        let known = avesa_analytics::filters::names();
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in pairs {
            if !seen.insert(k.clone()) {
                return Err(bad_param(&k, "given more than once"));
            }
            let slot = match k.as_str() {
                "page" => &mut p.page,
                "page_size" => &mut p.page_size,
                "q" => &mut p.q,
                "sort" => &mut p.sort,
                "order" => &mut p.order,
                "as_of" => &mut p.as_of,
                "tz" => &mut p.tz,
                _ if known.contains(&k) => {
                    p.filters.push((k, v));
                    continue;
                }
                _ => return Err(bad_param(&k, "unknown parameter")),
            };
            *slot = Some(v);
        }
        Ok(p)
    }
}

/// Query parameters of a detail request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    pub as_of: Option<String>,
}

/// A route that takes no query parameters (any given is a 400).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// A 400 naming the parameter.
pub(crate) fn bad_param(param: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("invalid query parameter `{param}`: {why}"))
        .with_details(serde_json::json!({ "param": param }))
}

/// Parses an integer parameter in `min..=max`.
pub(crate) fn int_param(
    param: &str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad_param(param, format!("expected an integer from {min} to {max}, got {raw:?}"))),
    }
}

/// Parses `as_of` (RFC 3339, e.g. `2024-05-01T12:00:00Z`) to a naive UTC time.
pub(crate) fn parse_as_of(raw: Option<&str>) -> Result<Option<NaiveDateTime>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let parsed = DateTime::parse_from_rfc3339(raw).or_else(|e| {
        // An unencoded `+hh:mm` offset arrives as a space; be forgiving about it.
        match raw.rsplit_once(' ') {
            Some((head, tail)) if tail.len() == 5 && tail.as_bytes()[2] == b':' => {
                DateTime::parse_from_rfc3339(&format!("{head}+{tail}"))
            }
            _ => Err(e),
        }
    });
    match parsed {
        Ok(t) => Ok(Some(t.with_timezone(&Utc).naive_utc())),
        Err(_) => Err(bad_param(
            "as_of",
            format!("expected an RFC 3339 timestamp such as 2024-05-01T12:00:00Z, got {raw:?}"),
        )),
    }
}

impl ListParams {
    /// Validates every parameter into a [`ListQuery`].
    pub fn to_query(&self) -> Result<ListQuery, ApiError> {
        let page = int_param("page", self.page.as_deref(), 1, 1, MAX_PAGE)?;
        let page_size =
            int_param("page_size", self.page_size.as_deref(), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
        if u64::from(page) * u64::from(page_size) > MAX_RESULT_WINDOW {
            return Err(bad_param(
                "page",
                format!(
                    "lists page only through their first {MAX_RESULT_WINDOW} records (page {page} of \
                     {page_size} goes past them); narrow the list with q or sort it the other way"
                ),
            ));
        }
        let search = match self.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > MAX_SEARCH_LEN => {
                return Err(bad_param("q", format!("longer than {MAX_SEARCH_LEN} characters")));
            }
            Some(q) => Some(q.to_owned()),
        };
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s)
                if s.len() <= 64
                    && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
            {
                Some(s.to_owned())
            }
            Some(s) => return Err(bad_param("sort", format!("{s:?} is not a column name"))),
        };
        let descending = match self.order.as_deref().map(|o| o.trim().to_ascii_lowercase()) {
            None => false,
            Some(o) if o.is_empty() || o == "asc" => false,
            Some(o) if o == "desc" => true,
            Some(o) => return Err(bad_param("order", format!("expected asc or desc, got {o:?}"))),
        };
        let as_of = parse_as_of(self.as_of.as_deref())?;
        Ok(ListQuery { page, page_size, search, sort, descending, as_of, filter: Vec::new() })
    }

    /// [`Self::to_query`] plus the filters, for `table`: a filter that does not apply to
    /// its records is a 400.
    /// Local dates are read in `tz` unless the request names a zone.
    pub fn to_table_query(
        &self,
        table: CanonicalTable,
        default_tz: chrono_tz::Tz,
    ) -> Result<ListQuery, ApiError> {
        let mut q = self.to_query()?;
        let tz = match self.tz.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => {
                avesa_analytics::period::parse_tz(name).map_err(|e| bad_param("tz", e.0))?
            }
            None => default_tz,
        };
        let pairs = self.filters.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let (filters, _) = avesa_analytics::Filters::from_params(pairs)
            .map_err(|e| bad_param(e.param().unwrap_or("filter"), &e.0))?;
        let (conds, ignored) =
            filters.conds(table, tz).map_err(|e| bad_param(e.param().unwrap_or("filter"), &e.0))?;
        if let Some(name) = ignored.first() {
            return Err(bad_param(
                name,
                format!(
                    "does not filter {table}; use one of {}",
                    avesa_analytics::filters::names_for(table).join(", ")
                ),
            ));
        }
        q.filter = conds;
        Ok(q)
    }
}

/// The 404 for a record. It names only the table — not even the id — so the body is the
/// same for every unknown id, and never depends on what other tenants hold.
fn record_not_found(table: CanonicalTable) -> ApiError {
    let what = match table {
        CanonicalTable::Companies => "company",
        CanonicalTable::Contacts => "contact",
        CanonicalTable::Tickets => "ticket",
        CanonicalTable::TimeEntries => "time entry",
        CanonicalTable::Members => "member",
    };
    ApiError::not_found(format!("{what} not found"))
}

/// A search also finds records by the names of what they refer to (a ticket by its
/// company's name).
async fn narrow_search(
    state: &AppState,
    tenant: &avesa_model::TenantId,
    table: CanonicalTable,
    q: &mut ListQuery,
) -> Result<(), ApiError> {
    if let Some(text) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let named = avesa_analytics::filters::named_by(&[table]);
        let matches = avesa_analytics::filters::resolve_search(
            state.warehouse.as_ref(),
            tenant,
            text,
            &named,
            q.as_of,
        )
        .await?;
        // One word and no referenced record matching: the list's own search. Otherwise
        // every word, or a match through a reference, as a condition.
        if matches.values().any(|ids| !ids.is_empty()) || text.split_whitespace().count() > 1 {
            q.filter.push(avesa_analytics::filters::search_cond(table, text, &matches));
            q.search = None;
        }
    }
    Ok(())
}

async fn list(
    table: CanonicalTable,
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<Page>, ApiError> {
    let params = ListParams::from_pairs(pairs)?;
    let tz = crate::tenant_settings::load(&state, &user.tenant).await?.time_zone;
    let mut q = params.to_table_query(table, tz)?;
    narrow_search(&state, &user.tenant, table, &mut q).await?;
    let mut page = state.warehouse.list(&user.tenant, table, &q).await?;
    let as_of = q.as_of.map(|t| t.and_utc());
    add_reference_names(&state, &user.tenant, table, &mut page.items, as_of).await?;
    Ok(Json(page))
}

async fn detail(
    table: CanonicalTable,
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<Record>, ApiError> {
    let id: EntityId = id.parse()?;
    let as_of = parse_as_of(params.as_of.as_deref())?;
    match state.warehouse.get(&user.tenant, table, &id, as_of).await? {
        Some(record) => {
            let mut records = [record];
            let at = as_of.map(|t| t.and_utc());
            add_reference_names(&state, &user.tenant, table, &mut records, at).await?;
            let [record] = records;
            Ok(Json(record))
        }
        None => Err(record_not_found(table)),
    }
}

async fn history(
    table: CanonicalTable,
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: EntityId = id.parse()?;
    let versions = state.warehouse.history(&user.tenant, table, &id).await?;
    if versions.is_empty() {
        return Err(record_not_found(table));
    }
    Ok(Json(serde_json::json!({ "items": versions })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> ListParams {
        let mut p = ListParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "page" => p.page = v,
                "page_size" => p.page_size = v,
                "q" => p.q = v,
                "sort" => p.sort = v,
                "order" => p.order = v,
                "as_of" => p.as_of = v,
                _ => unreachable!(),
            }
        }
        p
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_text() {
        assert_eq!(csv_text("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(csv_text("+1 555 0100"), "'+1 555 0100");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_text("-2"), "'-2");
        assert_eq!(csv_text("Printer jam"), "Printer jam");
        let mut r = Record::new();
        r.insert("hours".into(), serde_json::json!(-1.5));
        r.insert("summary".into(), serde_json::json!("=1+1"));
        let out = csv_rows(&["hours", "summary"], &[r], true).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "hours,summary\n-1.5,'=1+1\n");
    }

    #[test]
    fn defaults() {
        assert_eq!(params(&[]).to_query().unwrap(), ListQuery::default());
    }

    #[test]
    fn valid_params() {
        let q = params(&[
            ("page", "3"),
            ("page_size", "500"),
            ("q", "  acme "),
            ("sort", "name"),
            ("order", "DESC"),
            ("as_of", "2024-05-01T12:00:00+02:00"),
        ])
        .to_query()
        .unwrap();
        assert_eq!((q.page, q.page_size), (3, 500));
        assert_eq!(q.search.as_deref(), Some("acme"));
        assert_eq!(q.sort.as_deref(), Some("name"));
        assert!(q.descending);
        assert_eq!(q.as_of.unwrap().to_string(), "2024-05-01 10:00:00");
        // An unencoded '+' decoded as a space.
        let q = params(&[("as_of", "2024-05-01T12:00:00 02:00")]).to_query().unwrap();
        assert_eq!(q.as_of.unwrap().to_string(), "2024-05-01 10:00:00");
    }

    #[test]
    fn invalid_params_name_themselves() {
        for (k, v) in [
            ("page", "0"),
            ("page", "x"),
            ("page", "-1"),
            ("page_size", "0"),
            ("page_size", "501"),
            ("order", "up"),
            ("sort", "name; drop table"),
            ("as_of", "yesterday"),
            ("as_of", "2024-05-01"),
            ("page", "201"),
        ] {
            let e = params(&[(k, v)]).to_query().unwrap_err();
            assert!(e.message.contains(&format!("`{k}`")), "{k}={v}: {}", e.message);
            assert_eq!(e.details, Some(serde_json::json!({ "param": k })));
        }
    }
}
