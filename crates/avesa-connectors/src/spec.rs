//! Connector specs: one TOML file per service (`specs/*.toml`) that the engine executes.
//!
//! A spec says everything about a vendor API that is data rather than code: the
//! configuration fields a tenant provides, how to authenticate, how pages follow each
//! other, where records, ids and updated-at stamps are, how the incremental filter is
//! written, how deletes show up, how to count, and the request budget. The format is
//! documented field by field in `docs/connectors.md`. Loading checks everything: unknown
//! keys, bad values and unknown placeholders fail with the file, line and reason.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::template::Template;

/// A spec file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: {reason}")]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Placeholders every request template may use (besides configuration fields).
const REQUEST_VARS: &[&str] =
    &["limit", "filter", "table", "path", "base_url", "instance_url", "fields", "parent_id"];
/// Placeholders of incremental filters.
const FILTER_VARS: &[&str] = &["time", "id", "id_quoted", "table"];

/// A loaded, validated spec.
#[derive(Debug)]
pub struct Spec {
    pub service: String,
    pub title: String,
    pub file: String,
    pub config: Vec<ConfigField>,
    pub auth: Vec<AuthSpec>,
    pub base_url: Template,
    pub test_path: Option<Template>,
    pub error: ErrorSpec,
    pub rate: RateSpec,
    pub headers: Vec<(String, Template)>,
    pub params: Vec<(String, Template)>,
    pub paging: PagingSpec,
    pub records: RecordsSpec,
    pub incremental: IncrementalSpec,
    pub count: CountSpec,
    pub tables: Vec<TableSpec>,
}

/// One field of a tenant's service configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    pub name: String,
    /// Never logged, never returned (redacted as `***`).
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub optional: bool,
    /// `text` (default) or `url` (must be an http(s) URL).
    #[serde(default)]
    pub kind: FieldKind,
    #[serde(default)]
    pub default: Option<String>,
    /// One line for `avesa service add --help` and error messages.
    #[serde(default)]
    pub help: String,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    #[default]
    Text,
    Url,
}

/// How requests authenticate. A spec lists alternatives; the first whose `when` fields are
/// all configured is used.
#[derive(Debug)]
pub struct AuthSpec {
    pub when: Vec<String>,
    pub kind: AuthKind,
    /// Extra headers (e.g. ConnectWise's `clientId`).
    pub headers: Vec<(String, Template)>,
}

#[derive(Debug)]
pub enum AuthKind {
    None,
    Basic {
        username: Template,
        password: Template,
    },
    OAuth2 {
        token_url: Template,
        grant: String,
        /// Client id and secret in a Basic header (`basic`) or the form body (`body`).
        client_auth_basic: bool,
        client_id: Template,
        client_secret: Template,
        form: Vec<(String, Template)>,
        /// A token response field that replaces the API base (Salesforce `instance_url`).
        instance_url_field: Option<String>,
    },
}

#[derive(Debug, Default)]
pub struct ErrorSpec {
    /// Paths into an error body whose values, joined with ": ", are the message.
    pub message: Vec<String>,
    /// Path to the vendor's error code.
    pub code: Option<String>,
    /// Codes meaning "the daily/request quota is used up": the table stops cleanly.
    pub quota_codes: Vec<String>,
    /// Codes (or HTTP statuses as strings) meaning "the saved delta/continuation token is
    /// no longer valid": start over.
    pub expired_codes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// Sustained requests per second per (tenant, service).
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The most requests in flight at once per (tenant, service): the ceiling of the
    /// adaptive concurrency window ([`crate::budget`]).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
}

fn default_rps() -> f64 {
    10.0
}
fn default_burst() -> u32 {
    10
}
fn default_max_in_flight() -> u32 {
    crate::budget::DEFAULT_MAX_IN_FLIGHT
}

impl Default for RateSpec {
    fn default() -> Self {
        RateSpec {
            requests_per_second: default_rps(),
            burst: default_burst(),
            max_in_flight: default_max_in_flight(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PagingKind {
    /// Every page is a fresh query after the last record's `(updated_at, id)`.
    Keyset,
    /// Follow the `Link: <…>; rel="next"` header.
    LinkHeader,
    /// Follow a next-page URL in the body (`nextRecordsUrl`, `@odata.nextLink`).
    NextUrl,
    /// `offset`/`limit` parameters, with the total from a header.
    Offset,
}

#[derive(Debug)]
pub struct PagingSpec {
    pub kind: PagingKind,
    pub max_page_size: u32,
    /// For `next_url`: the body path of the next URL, and of a `done` flag if any.
    pub next_url: Option<String>,
    pub done: Option<String>,
    /// For delta APIs: the body path of the delta link that ends a round.
    pub delta_url: Option<String>,
    /// For `offset`: the parameter names and the total header.
    pub offset_param: Option<String>,
    pub limit_param: Option<String>,
    pub total_header: Option<String>,
    /// Extra request headers on paged requests (forward-only pagination, batch sizes).
    pub headers: Vec<(String, Template)>,
}

#[derive(Debug)]
pub struct RecordsSpec {
    /// Body path of the record array; empty = the body is the array.
    pub path: String,
    pub id: String,
    /// Path of the updated-at stamp; `None` for sources without one (extraction time).
    pub updated_at: Option<String>,
    /// A boolean field meaning "deleted" (`deletedFlag`, `IsDeleted`).
    pub deleted_flag: Option<String>,
    /// A marker key whose presence means "deleted" (`@removed`).
    pub removed_marker: Option<String>,
}

#[derive(Debug)]
pub enum IncrementalSpec {
    /// A server-side filter on the updated-at cursor, written into `param`.
    Cursor {
        param: Option<String>,
        /// strftime format of `{time}`.
        time_format: String,
        /// Filter for a whole table (no cursor yet).
        start: Template,
        /// Filter for "updated at or after `{time}`" (overlap re-reads).
        since: Template,
        /// Filter for "strictly after `({time}, {id})`".
        after: Template,
    },
    /// A delta API: the first round reads everything, its last page carries a delta link
    /// for the next round.
    Delta,
}

#[derive(Debug)]
pub enum CountSpec {
    None,
    /// `GET {path}{suffix}` with the incremental filter; the count at a body path.
    Endpoint {
        suffix: String,
        field: String,
    },
    /// A one-record page; the total from a header.
    Header {
        header: String,
    },
    /// The same request with `param` set to `query` (SOQL `COUNT()`), total at `field`.
    Query {
        param: String,
        query: Template,
        field: String,
    },
}

/// One source table.
#[derive(Debug)]
pub struct TableSpec {
    pub name: String,
    pub path: Template,
    pub params: Vec<(String, Template)>,
    /// The source table whose mapping maps this one (tombstone streams reuse the mapping
    /// of the table they delete from).
    pub mapping: String,
    /// Every record of this table is a deletion of `record.id`.
    pub tombstones: bool,
    /// Overrides of the spec-wide record fields.
    pub id: Option<String>,
    pub updated_at: Option<String>,
    /// Extra filter template (e.g. `tablename=incident^`), available as `{table_filter}`.
    pub incremental: Option<IncrementalSpec>,
    pub count: Option<CountSpec>,
    /// Not synced unless asked for by name.
    pub optional: bool,
    /// Landed as raw Parquet only: no canonical table takes it (yet).
    pub raw_only: bool,
    /// A table listed per record of another (`service/boards/{parent_id}/statuses`):
    /// read whole on every run, parent by parent.
    pub parent: Option<String>,
    /// How often the scheduler reads the table when its service has no schedule of its
    /// own: minutes for what people work on all day (tickets, time), an hour for
    /// reference tables ([`DEFAULT_REFRESH_MINUTES`]).
    pub refresh: std::time::Duration,
}

/// How often a table is read by default (a spec's `refresh_minutes` overrides it).
pub const DEFAULT_REFRESH_MINUTES: u32 = 60;

// ---------------------------------------------------------------------------------------------
// Raw (file) shapes

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    service: Spanned<String>,
    title: String,
    base_url: Spanned<String>,
    #[serde(default)]
    test_path: Option<Spanned<String>>,
    #[serde(default)]
    config: Vec<ConfigField>,
    #[serde(default)]
    auth: Vec<Spanned<RawAuth>>,
    #[serde(default)]
    error: RawError,
    #[serde(default)]
    rate: RateSpec,
    #[serde(default)]
    request: RawRequest,
    paging: Spanned<RawPaging>,
    records: RawRecords,
    incremental: Spanned<RawIncremental>,
    #[serde(default)]
    count: Option<Spanned<RawCount>>,
    tables: Vec<Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    kind: String,
    #[serde(default)]
    when: Vec<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    grant: Option<String>,
    #[serde(default)]
    client_auth: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    form: BTreeMap<String, String>,
    #[serde(default)]
    instance_url_field: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawError {
    #[serde(default)]
    message: Vec<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    quota_codes: Vec<String>,
    #[serde(default)]
    expired_codes: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaging {
    kind: PagingKind,
    #[serde(default = "default_max_page")]
    max_page_size: u32,
    #[serde(default)]
    next_url: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    delta_url: Option<String>,
    #[serde(default)]
    offset_param: Option<String>,
    #[serde(default)]
    limit_param: Option<String>,
    #[serde(default)]
    total_header: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn default_max_page() -> u32 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecords {
    #[serde(default)]
    path: String,
    id: String,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    deleted_flag: Option<String>,
    #[serde(default)]
    removed_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncremental {
    kind: String,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    time_format: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCount {
    kind: String,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    query: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    mapping: Option<String>,
    #[serde(default)]
    tombstones: bool,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    incremental: Option<Spanned<RawIncremental>>,
    #[serde(default)]
    count: Option<Spanned<RawCount>>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    raw_only: bool,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    refresh_minutes: Option<u32>,
}

/// The optional configuration field every service has: the tenant's request budget, in
/// requests per second, overriding the spec's `[rate]` (an account with a higher or lower
/// vendor allowance).
pub const RATE_FIELD: &str = "requests_per_second";

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

impl Spec {
    /// Parses and validates a spec; `file` names it in errors.
    pub fn parse(file: &str, src: &str) -> Result<Spec, SpecError> {
        let err = |offset: usize, reason: String| SpecError {
            file: file.to_owned(),
            line: line_of(src, offset),
            reason,
        };
        let raw: RawSpec = toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err(offset, e.message().to_owned())
        })?;
        let config_names: Vec<String> = raw.config.iter().map(|c| c.name.clone()).collect();
        let mut seen = std::collections::BTreeSet::new();
        for c in &raw.config {
            if !seen.insert(c.name.clone()) {
                return Err(err(0, format!("config field {:?} is listed twice", c.name)));
            }
        }
        let tpl = |offset: usize, s: &str, vars: &[&str]| {
            Template::parse(s, vars, &config_names).map_err(|e| err(offset, e))
        };
        let tpl_map = |offset: usize, m: &BTreeMap<String, String>, vars: &[&str]| {
            m.iter()
                .map(|(k, v)| Ok((k.clone(), tpl(offset, v, vars)?)))
                .collect::<Result<Vec<_>, SpecError>>()
        };
        let service = raw.service.get_ref().clone();
        if service.is_empty()
            || !service.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(err(
                raw.service.span().start,
                format!("service {service:?} must be lower-case letters, digits and '_'"),
            ));
        }
        let base_url = tpl(raw.base_url.span().start, raw.base_url.get_ref(), &["instance_url"])?;
        let test_path = raw
            .test_path
            .as_ref()
            .map(|t| tpl(t.span().start, t.get_ref(), REQUEST_VARS))
            .transpose()?;

        let mut auth = Vec::new();
        for a in &raw.auth {
            let at = a.span().start;
            let a = a.get_ref();
            for w in &a.when {
                if !config_names.contains(w) {
                    return Err(err(at, format!("auth `when` names unknown config field {w:?}")));
                }
            }
            let need = |v: &Option<String>, name: &str| -> Result<Template, SpecError> {
                let s = v
                    .as_deref()
                    .ok_or_else(|| err(at, format!("auth kind {:?} needs `{name}`", a.kind)))?;
                tpl(at, s, &[])
            };
            let kind = match a.kind.as_str() {
                "none" => AuthKind::None,
                "basic" => AuthKind::Basic {
                    username: need(&a.username, "username")?,
                    password: need(&a.password, "password")?,
                },
                "oauth2" => {
                    let grant =
                        a.grant.clone().ok_or_else(|| err(at, "oauth2 needs `grant`".into()))?;
                    if !["client_credentials", "password", "refresh_token"]
                        .contains(&grant.as_str())
                    {
                        return Err(err(
                            at,
                            format!(
                                "grant {grant:?} is not one of client_credentials, password, refresh_token"
                            ),
                        ));
                    }
                    let client_auth_basic = match a.client_auth.as_deref().unwrap_or("body") {
                        "body" => false,
                        "basic" => true,
                        other => {
                            return Err(err(
                                at,
                                format!("client_auth {other:?} is not body or basic"),
                            ));
                        }
                    };
                    AuthKind::OAuth2 {
                        token_url: need(&a.token_url, "token_url")?,
                        grant,
                        client_auth_basic,
                        client_id: need(&a.client_id, "client_id")?,
                        client_secret: need(&a.client_secret, "client_secret")?,
                        form: tpl_map(at, &a.form, &[])?,
                        instance_url_field: a.instance_url_field.clone(),
                    }
                }
                other => {
                    return Err(err(
                        at,
                        format!("auth kind {other:?} is not none, basic or oauth2"),
                    ));
                }
            };
            auth.push(AuthSpec {
                when: a.when.clone(),
                kind,
                headers: tpl_map(at, &a.headers, &[])?,
            });
        }
        if auth.is_empty() {
            return Err(err(0, "a spec needs at least one [[auth]] entry".into()));
        }

        let p_at = raw.paging.span().start;
        let p = raw.paging.into_inner();
        match p.kind {
            PagingKind::NextUrl if p.next_url.is_none() => {
                return Err(err(p_at, "paging kind next_url needs `next_url`".into()));
            }
            PagingKind::Offset
                if p.offset_param.is_none()
                    || p.limit_param.is_none()
                    || p.total_header.is_none() =>
            {
                return Err(err(
                    p_at,
                    "paging kind offset needs offset_param, limit_param and total_header".into(),
                ));
            }
            _ => {}
        }
        if p.max_page_size == 0 {
            return Err(err(p_at, "max_page_size must be at least 1".into()));
        }
        let paging = PagingSpec {
            kind: p.kind,
            max_page_size: p.max_page_size,
            next_url: p.next_url,
            done: p.done,
            delta_url: p.delta_url,
            offset_param: p.offset_param,
            limit_param: p.limit_param,
            total_header: p.total_header,
            headers: tpl_map(p_at, &p.headers, REQUEST_VARS)?,
        };

        let incremental =
            parse_incremental(raw.incremental.span().start, raw.incremental.get_ref(), &tpl, &err)?;
        if matches!(incremental, IncrementalSpec::Delta) && paging.delta_url.is_none() {
            return Err(err(p_at, "incremental kind delta needs paging.delta_url".into()));
        }
        let count = match &raw.count {
            None => CountSpec::None,
            Some(c) => parse_count(c.span().start, c.get_ref(), &tpl, &err)?,
        };

        let mut tables = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for t in &raw.tables {
            let at = t.span().start;
            let t = t.get_ref();
            if !names.insert(t.name.clone()) {
                return Err(err(at, format!("table {:?} is listed twice", t.name)));
            }
            let path = tpl(at, t.path.as_deref().unwrap_or(&t.name), REQUEST_VARS)?;
            let refresh = t.refresh_minutes.unwrap_or(DEFAULT_REFRESH_MINUTES);
            if !(1..=1440).contains(&refresh) {
                return Err(err(
                    at,
                    format!(
                        "table {:?}: refresh_minutes = {refresh} is outside 1-1440 (a day)",
                        t.name
                    ),
                ));
            }
            tables.push(TableSpec {
                name: t.name.clone(),
                path,
                params: tpl_map(at, &t.params, REQUEST_VARS)?,
                mapping: t.mapping.clone().unwrap_or_else(|| t.name.clone()),
                tombstones: t.tombstones,
                id: t.id.clone(),
                updated_at: t.updated_at.clone(),
                incremental: t
                    .incremental
                    .as_ref()
                    .map(|i| parse_incremental(i.span().start, i.get_ref(), &tpl, &err))
                    .transpose()?,
                count: t
                    .count
                    .as_ref()
                    .map(|c| parse_count(c.span().start, c.get_ref(), &tpl, &err))
                    .transpose()?,
                optional: t.optional,
                raw_only: t.raw_only,
                parent: t.parent.clone(),
                refresh: std::time::Duration::from_secs(u64::from(refresh) * 60),
            });
        }
        for t in &raw.tables {
            if let Some(p) = &t.get_ref().parent {
                let parent = raw.tables.iter().find(|o| o.get_ref().name == *p);
                if parent.is_none_or(|o| o.get_ref().parent.is_some()) {
                    return Err(err(
                        t.span().start,
                        format!("parent {p:?} names no top-level table of this spec"),
                    ));
                }
                if !t.get_ref().path.as_deref().is_some_and(|s| s.contains("{parent_id}")) {
                    return Err(err(
                        t.span().start,
                        "a child table's path needs {parent_id}".into(),
                    ));
                }
            }
            if let Some(m) = &t.get_ref().mapping
                && !names.contains(m)
            {
                return Err(err(
                    t.span().start,
                    format!("mapping {m:?} names no table of this spec"),
                ));
            }
        }
        if tables.is_empty() {
            return Err(err(0, "a spec needs at least one [[tables]] entry".into()));
        }

        let mut config = raw.config;
        if config.iter().any(|c| c.name == RATE_FIELD) {
            return Err(err(
                0,
                format!("config field {RATE_FIELD:?} is reserved (every service has it)"),
            ));
        }
        config.push(ConfigField {
            name: RATE_FIELD.to_owned(),
            secret: false,
            optional: true,
            kind: FieldKind::Text,
            default: None,
            help: format!(
                "request budget for this tenant's account, requests per second (default {})",
                raw.rate.requests_per_second
            ),
        });

        Ok(Spec {
            service,
            title: raw.title,
            file: file.to_owned(),
            config,
            auth,
            base_url,
            test_path,
            error: ErrorSpec {
                message: raw.error.message,
                code: raw.error.code,
                quota_codes: raw.error.quota_codes,
                expired_codes: raw.error.expired_codes,
            },
            rate: raw.rate,
            headers: tpl_map(0, &raw.request.headers, REQUEST_VARS)?,
            params: tpl_map(0, &raw.request.params, REQUEST_VARS)?,
            paging,
            records: RecordsSpec {
                path: raw.records.path,
                id: raw.records.id,
                updated_at: raw.records.updated_at,
                deleted_flag: raw.records.deleted_flag,
                removed_marker: raw.records.removed_marker,
            },
            incremental,
            count,
            tables,
        })
        .and_then(|s| {
            if s.rate.requests_per_second <= 0.0 || !s.rate.requests_per_second.is_finite() {
                return Err(err(0, "rate.requests_per_second must be a positive number".into()));
            }
            if !(1..=64).contains(&s.rate.max_in_flight) {
                return Err(err(0, "rate.max_in_flight must be between 1 and 64".into()));
            }
            Ok(s)
        })
    }

    pub fn table(&self, name: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn config_field(&self, name: &str) -> Option<&ConfigField> {
        self.config.iter().find(|c| c.name == name)
    }
}

/// Parses a template at a byte offset of the file, with the placeholders allowed there.
type TplFn<'a> = dyn Fn(usize, &str, &[&str]) -> Result<Template, SpecError> + 'a;

fn parse_incremental(
    at: usize,
    i: &RawIncremental,
    tpl: &TplFn<'_>,
    err: &dyn Fn(usize, String) -> SpecError,
) -> Result<IncrementalSpec, SpecError> {
    match i.kind.as_str() {
        "delta" => Ok(IncrementalSpec::Delta),
        "cursor" => {
            let need = |v: &Option<String>, name: &str| -> Result<String, SpecError> {
                v.clone().ok_or_else(|| err(at, format!("incremental kind cursor needs `{name}`")))
            };
            let time_format = i.time_format.clone().unwrap_or_else(|| "%Y-%m-%dT%H:%M:%SZ".into());
            // Reject formats chrono cannot render, now rather than mid-sync.
            let probe = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
            let mut s = String::new();
            if std::fmt::Write::write_fmt(&mut s, format_args!("{}", probe.format(&time_format)))
                .is_err()
            {
                return Err(err(
                    at,
                    format!("time_format {time_format:?} is not a valid strftime format"),
                ));
            }
            Ok(IncrementalSpec::Cursor {
                param: i.param.clone(),
                time_format,
                start: tpl(at, i.start.as_deref().unwrap_or(""), FILTER_VARS)?,
                since: tpl(at, &need(&i.since, "since")?, FILTER_VARS)?,
                after: tpl(at, &need(&i.after, "after")?, FILTER_VARS)?,
            })
        }
        other => Err(err(at, format!("incremental kind {other:?} is not cursor or delta"))),
    }
}

fn parse_count(
    at: usize,
    c: &RawCount,
    tpl: &TplFn<'_>,
    err: &dyn Fn(usize, String) -> SpecError,
) -> Result<CountSpec, SpecError> {
    let need = |v: &Option<String>, name: &str| {
        v.clone().ok_or_else(|| err(at, format!("count kind {:?} needs `{name}`", c.kind)))
    };
    Ok(match c.kind.as_str() {
        "none" => CountSpec::None,
        "endpoint" => CountSpec::Endpoint {
            suffix: need(&c.suffix, "suffix")?,
            field: need(&c.field, "field")?,
        },
        "header" => CountSpec::Header { header: need(&c.header, "header")? },
        "query" => CountSpec::Query {
            param: need(&c.param, "param")?,
            query: tpl(at, &need(&c.query, "query")?, REQUEST_VARS)?,
            field: need(&c.field, "field")?,
        },
        other => {
            return Err(err(
                at,
                format!("count kind {other:?} is not none, endpoint, header or query"),
            ));
        }
    })
}

/// The specs that ship with AVESA.
pub fn builtin_specs() -> Vec<Spec> {
    [
        ("specs/connectwise.toml", include_str!("../specs/connectwise.toml")),
        ("specs/servicenow.toml", include_str!("../specs/servicenow.toml")),
        ("specs/salesforce.toml", include_str!("../specs/salesforce.toml")),
        ("specs/microsoft365.toml", include_str!("../specs/microsoft365.toml")),
    ]
    .into_iter()
    .map(|(f, s)| Spec::parse(f, s).unwrap_or_else(|e| panic!("built-in spec is invalid: {e}")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
service = "demo"
title = "Demo"
base_url = "{api_url}/v1"

[[config]]
name = "api_url"
kind = "url"

[[auth]]
kind = "none"

[paging]
kind = "keyset"

[records]
id = "id"
updated_at = "updated"

[incremental]
kind = "cursor"
param = "q"
since = "updated >= {time}"
after = "updated > {time} or (updated = {time} and id > {id})"

[[tables]]
name = "things"
"#;

    #[test]
    fn builtin_specs_load() {
        let specs = builtin_specs();
        assert!(specs.iter().any(|s| s.service == "connectwise"));
        assert!(specs.iter().any(|s| s.service == "servicenow"));
        for s in &specs {
            assert!(!s.tables.is_empty(), "{}", s.service);
        }
    }

    #[test]
    fn a_minimal_spec_loads() {
        let s = Spec::parse("demo.toml", MINIMAL).unwrap();
        assert_eq!(s.tables[0].mapping, "things");
        assert_eq!(s.rate.requests_per_second, 10.0);
    }

    fn load_err(src: &str) -> SpecError {
        Spec::parse("bad.toml", src).unwrap_err()
    }

    #[test]
    fn errors_name_the_file_line_and_reason() {
        // An unknown key, on its line.
        let e =
            load_err(&MINIMAL.replace(
                "[paging]\nkind = \"keyset\"",
                "[paging]\nkind = \"keyset\"\npage_sise = 5",
            ));
        assert_eq!(e.file, "bad.toml");
        assert!(e.reason.contains("page_sise"), "{e}");
        let line = MINIMAL.lines().position(|l| l.starts_with("kind = \"keyset\"")).unwrap() + 2;
        assert_eq!(e.line, line, "{e}");
        // An unknown placeholder.
        let e = load_err(&MINIMAL.replace("{id})", "{idd})"));
        assert!(e.reason.contains("unknown placeholder {idd}"), "{e}");
        assert_eq!(
            e.line,
            MINIMAL.lines().position(|l| l.starts_with("[incremental]")).unwrap() + 1
        );
        // A bad enum value.
        let e = load_err(&MINIMAL.replace("kind = \"keyset\"", "kind = \"pages\""));
        assert!(e.reason.contains("pages"), "{e}");
        // Auth naming an unknown config field.
        let e =
            load_err(&MINIMAL.replace("kind = \"none\"", "kind = \"none\"\nwhen = [\"token\"]"));
        assert!(e.reason.contains("unknown config field \"token\""), "{e}");
        // Syntax errors carry a line too.
        let e = load_err("service = \"x\"\ntitle = \n");
        assert_eq!(e.line, 2, "{e}");
        // A table listed twice; a mapping naming no table.
        let e = load_err(&format!("{MINIMAL}\n[[tables]]\nname = \"things\"\n"));
        assert!(e.reason.contains("listed twice"), "{e}");
        let e =
            load_err(&format!("{MINIMAL}\n[[tables]]\nname = \"gone\"\nmapping = \"nothing\"\n"));
        assert!(e.reason.contains("names no table"), "{e}");
        // next_url paging without its field.
        let e = load_err(&MINIMAL.replace("kind = \"keyset\"", "kind = \"next_url\""));
        assert!(e.reason.contains("needs `next_url`"), "{e}");
    }
}
