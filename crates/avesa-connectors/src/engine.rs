//! The connector engine: executes a [`Spec`] for one tenant's service.
//!
//! Every table is read as a stream of pages in `(updated_at, id)` order (or, for delta
//! APIs, in the vendor's delta order), starting after a [`Cursor`]. A page is fetched with
//! the spec's incremental filter written for the cursor (`start`, `since` or `after`),
//! then followed by the spec's paging (next link, next URL in the body, offset) for as long
//! as the query lasts. Each page's last record, plus the vendor's continuation token, is
//! the resumable position the pipeline commits.
//!
//! Auth tokens (OAuth2) are cached per connector and fetched again on a 401; requests go
//! through the (tenant, service) [`Budget`]; transient failures are retried by
//! [`send_with_retry`]; a body that is not the expected JSON is retried a few times and
//! then reported with the service, endpoint and page.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use avesa_model::json::{MemberIndex, Members, elements};
use avesa_model::{Continuation, RawRecord};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::Client;
use reqwest::header::HeaderMap;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::Mutex;

use crate::budget::{Budget, Budgets};
use crate::http::{Fetched, RetryPolicy, build_client, send_with_retry};
use crate::spec::{AuthKind, CountSpec, FieldKind, IncrementalSpec, PagingKind, Spec, TableSpec};
use crate::template::Vars;
use crate::{Connector, ConnectorError, Cursor, FetchStats, Page, Result};

/// A tenant's configuration of one service: field name → value, as the spec's `[[config]]`
/// lists them. Stored encrypted; `Debug` shows only the field names.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceCredentials(pub BTreeMap<String, String>);

impl fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl ServiceCredentials {
    /// The configuration with every secret field replaced by `***`.
    pub fn redacted(&self, spec: &Spec) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| {
                let secret = spec.config_field(k).is_none_or(|f| f.secret);
                (k.clone(), if secret { "***".to_owned() } else { v.clone() })
            })
            .collect()
    }
}

/// Checks a configuration against a spec: unknown fields, missing required fields and
/// malformed URLs are errors naming the field. Returns the values with defaults filled.
pub fn validate_config(
    spec: &Spec,
    creds: &ServiceCredentials,
) -> Result<BTreeMap<String, String>> {
    let bad = |m: String| ConnectorError::Config { service: spec.service.clone(), message: m };
    for k in creds.0.keys() {
        if spec.config_field(k).is_none() {
            let known: Vec<&str> = spec.config.iter().map(|c| c.name.as_str()).collect();
            return Err(bad(format!("unknown field {k:?} (fields: {})", known.join(", "))));
        }
    }
    let mut out = BTreeMap::new();
    for f in &spec.config {
        let v = creds.0.get(&f.name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let v = match (v, &f.default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.clone(),
            (None, None) if f.optional => continue,
            (None, None) => {
                let help = if f.help.is_empty() { String::new() } else { format!(" ({})", f.help) };
                return Err(bad(format!("{} is missing{help}", f.name)));
            }
        };
        if f.kind == FieldKind::Url {
            match url::Url::parse(&v) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => return Err(bad(format!("{} {v:?} is not an http(s) URL", f.name))),
            }
        }
        out.insert(f.name.clone(), v.trim_end_matches('/').to_owned());
    }
    Ok(out)
}

#[derive(Clone, Debug)]
struct Token {
    access: String,
    expires_at: Instant,
    refresh: Option<String>,
    instance_url: Option<String>,
}

/// A connector for one tenant's service, driven by its spec.
pub struct SpecConnector {
    spec: Arc<Spec>,
    vars: BTreeMap<String, String>,
    auth: usize,
    client: Client,
    policy: RetryPolicy,
    budget: Arc<Budget>,
    token: Mutex<Option<Token>>,
}

impl fmt::Debug for SpecConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpecConnector").field("service", &self.spec.service).finish()
    }
}

/// A request to send: URL, query parameters, headers.
type Request = (String, Vec<(String, String)>, Vec<(String, String)>);

impl SpecConnector {
    /// Builds the connector of `tenant` for `spec` with its configuration, with a request
    /// budget of its own (tests and tools; the pipeline shares budgets through
    /// [`SpecConnector::with_budgets`]).
    pub fn new(spec: Arc<Spec>, tenant: &str, creds: &ServiceCredentials) -> Result<Self> {
        Self::with_budgets(spec, tenant, creds, &Budgets::new())
    }

    /// Builds the connector of `tenant` for `spec`, drawing requests from `budgets`' bucket
    /// for this (tenant, service).
    pub fn with_budgets(
        spec: Arc<Spec>,
        tenant: &str,
        creds: &ServiceCredentials,
        budgets: &Budgets,
    ) -> Result<Self> {
        let vars = validate_config(&spec, creds)?;
        let auth = spec
            .auth
            .iter()
            .position(|a| a.when.iter().all(|w| vars.contains_key(w)))
            .ok_or_else(|| ConnectorError::Config {
                service: spec.service.clone(),
                message: format!(
                    "no way to authenticate with the fields given; one of these sets is needed: {}",
                    spec.auth.iter().map(|a| a.when.join("+")).collect::<Vec<_>>().join(" or ")
                ),
            })?;
        let (rate, burst) = match vars.get(crate::spec::RATE_FIELD) {
            None => (spec.rate.requests_per_second, spec.rate.burst),
            Some(v) => match v.parse::<f64>() {
                Ok(r) if r > 0.0 && r.is_finite() => (r, spec.rate.burst.max(r.ceil() as u32)),
                _ => {
                    return Err(ConnectorError::Config {
                        service: spec.service.clone(),
                        message: format!(
                            "{} {v:?} is not a positive number of requests per second",
                            crate::spec::RATE_FIELD
                        ),
                    });
                }
            },
        };
        let budget = budgets.get(tenant, &spec.service, rate, burst, spec.rate.max_in_flight);
        Ok(SpecConnector {
            spec,
            vars,
            auth,
            client: build_client(),
            policy: RetryPolicy::default(),
            budget,
            token: Mutex::new(None),
        })
    }

    /// Overrides the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Uses this request budget instead of the shared one.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    fn table(&self, name: &str) -> Result<&TableSpec> {
        self.spec.table(name).ok_or_else(|| ConnectorError::Config {
            service: self.spec.service.clone(),
            message: format!(
                "unknown table {name:?} (tables: {})",
                self.spec.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
    }

    fn incremental<'a>(&'a self, t: &'a TableSpec) -> &'a IncrementalSpec {
        t.incremental.as_ref().unwrap_or(&self.spec.incremental)
    }

    fn service(&self) -> String {
        self.spec.service.clone()
    }

    /// The vendor's message (and code) from an error body, per the spec's paths.
    fn error_message(&self, body: &[u8]) -> (String, Option<String>) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            return (text, None);
        };
        let parts: Vec<String> = self
            .spec
            .error
            .message
            .iter()
            .filter_map(|p| resolve(&v, p))
            .filter_map(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Null | Value::String(_) => None,
                other => Some(other.to_string()),
            })
            .collect();
        let code = self.spec.error.code.as_deref().and_then(|p| resolve(&v, p)).and_then(|c| {
            c.as_str().map(str::to_owned).or_else(|| c.as_i64().map(|n| n.to_string()))
        });
        let mut msg = if parts.is_empty() { v.to_string() } else { parts.join(": ") };
        if let Some(c) = &code
            && !msg.contains(c.as_str())
        {
            msg = format!("{c}: {msg}");
        }
        if msg.len() > 500 {
            msg.truncate(msg.floor_char_boundary(500));
            msg.push('…');
        }
        (msg, code)
    }

    // ---- auth

    async fn auth_headers(
        &self,
        stats: &mut FetchStats,
    ) -> Result<(Vec<(String, String)>, Option<String>)> {
        let a = &self.spec.auth[self.auth];
        let vars = Vars::new(&self.vars);
        let mut headers: Vec<(String, String)> =
            a.headers.iter().map(|(k, v)| (k.clone(), v.render(&vars))).collect();
        let mut instance = None;
        match &a.kind {
            AuthKind::None => {}
            AuthKind::Basic { username, password } => {
                let raw = format!("{}:{}", username.render(&vars), password.render(&vars));
                headers.push(("Authorization".into(), format!("Basic {}", STANDARD.encode(raw))));
            }
            AuthKind::OAuth2 { .. } => {
                let t = self.token(stats).await?;
                headers.push(("Authorization".into(), format!("Bearer {}", t.access)));
                instance = t.instance_url;
            }
        }
        Ok((headers, instance))
    }

    /// A cached access token, fetched (or refreshed) when missing or about to expire.
    async fn token(&self, stats: &mut FetchStats) -> Result<Token> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires_at > Instant::now() + Duration::from_secs(30)
        {
            return Ok(t.clone());
        }
        let refresh = cached.as_ref().and_then(|t| t.refresh.clone());
        let t = self.fetch_token(refresh, stats).await?;
        *cached = Some(t.clone());
        Ok(t)
    }

    async fn invalidate_token(&self) {
        if let Some(t) = self.token.lock().await.as_mut() {
            t.expires_at = Instant::now();
        }
    }

    async fn fetch_token(&self, refresh: Option<String>, stats: &mut FetchStats) -> Result<Token> {
        let AuthKind::OAuth2 {
            token_url,
            grant,
            client_auth_basic,
            client_id,
            client_secret,
            form,
            instance_url_field,
        } = &self.spec.auth[self.auth].kind
        else {
            unreachable!("only OAuth2 specs fetch tokens")
        };
        let vars = Vars::new(&self.vars);
        let url = token_url.render(&vars);
        let (id, secret) = (client_id.render(&vars), client_secret.render(&vars));
        let mut body: Vec<(String, String)> = Vec::new();
        match &refresh {
            Some(r) => {
                body.push(("grant_type".into(), "refresh_token".into()));
                body.push(("refresh_token".into(), r.clone()));
            }
            None => {
                body.push(("grant_type".into(), grant.clone()));
                body.extend(form.iter().map(|(k, v)| (k.clone(), v.render(&vars))));
            }
        }
        if !client_auth_basic {
            body.push(("client_id".into(), id.clone()));
            body.push(("client_secret".into(), secret.clone()));
        }
        let basic = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        let result = send_with_retry(
            &self.spec.service,
            "token endpoint",
            &self.policy,
            Some(&self.budget),
            stats,
            || {
                let mut r = self.client.post(&url).form(&body).header("Accept", "application/json");
                if *client_auth_basic {
                    r = r.header("Authorization", &basic);
                }
                r
            },
            oauth_error,
        )
        .await;
        let fetched = match result {
            Ok(f) => f,
            // A refresh token that stopped working: log in again from scratch.
            Err(ConnectorError::Rejected { .. }) if refresh.is_some() => {
                return Box::pin(self.fetch_token(None, stats)).await;
            }
            Err(ConnectorError::Rejected { message, .. }) => {
                return Err(ConnectorError::Auth { service: self.service(), message });
            }
            Err(e) => return Err(self.unreachable_url(e, &url)),
        };
        let v: Value =
            serde_json::from_slice(&fetched.body).map_err(|e| ConnectorError::Decode {
                service: self.service(),
                endpoint: "token endpoint".into(),
                message: format!("token response is not JSON: {e}"),
            })?;
        let access = v.get("access_token").and_then(Value::as_str).ok_or_else(|| {
            ConnectorError::Decode {
                service: self.service(),
                endpoint: "token endpoint".into(),
                message: "token response has no access_token".into(),
            }
        })?;
        let expires_in = v
            .get("expires_in")
            .and_then(|e| e.as_u64().or_else(|| e.as_str().and_then(|s| s.parse().ok())))
            .unwrap_or(900);
        Ok(Token {
            access: access.to_owned(),
            expires_at: Instant::now() + Duration::from_secs(expires_in),
            refresh: v.get("refresh_token").and_then(Value::as_str).map(str::to_owned).or(refresh),
            instance_url: instance_url_field
                .as_deref()
                .and_then(|f| v.get(f))
                .and_then(Value::as_str)
                .map(|s| s.trim_end_matches('/').to_owned()),
        })
    }

    fn unreachable_url(&self, e: ConnectorError, url: &str) -> ConnectorError {
        match e {
            ConnectorError::Unreachable { service, message, .. } => {
                ConnectorError::Unreachable { service, url: url.to_owned(), message }
            }
            other => other,
        }
    }

    // ---- requests

    /// GETs `url` with auth, the budget and retries; on a 401 with OAuth2 the token is
    /// fetched again once. Errors are classified per the spec (auth, quota, expired).
    async fn get(
        &self,
        url: &str,
        params: &[(String, String)],
        headers: &[(String, String)],
        endpoint: &str,
        stats: &mut FetchStats,
    ) -> Result<Fetched> {
        let mut refreshed = false;
        loop {
            let (auth, _) = self.auth_headers(stats).await?;
            let result = send_with_retry(
                &self.spec.service,
                endpoint,
                &self.policy,
                Some(&self.budget),
                stats,
                || {
                    let mut r = self.client.get(url);
                    if !params.is_empty() {
                        r = r.query(params);
                    }
                    for (k, v) in auth.iter().chain(headers) {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                },
                |b| self.error_message(b),
            )
            .await;
            match result {
                Ok(f) => return Ok(f),
                Err(ConnectorError::Rejected { status: 401, .. })
                    if !refreshed
                        && matches!(self.spec.auth[self.auth].kind, AuthKind::OAuth2 { .. }) =>
                {
                    refreshed = true;
                    self.invalidate_token().await;
                }
                Err(ConnectorError::Rejected { status, message, code, endpoint: ep, service }) => {
                    let code_is = |list: &[String]| {
                        code.as_ref().is_some_and(|c| list.iter().any(|q| q == c))
                    };
                    return Err(if code_is(&self.spec.error.quota_codes) {
                        ConnectorError::Quota { service, message }
                    } else if status == 401 || status == 403 {
                        ConnectorError::Auth { service, message }
                    } else {
                        ConnectorError::Rejected { service, endpoint: ep, status, message, code }
                    });
                }
                Err(e) => return Err(self.unreachable_url(e, url)),
            }
        }
    }

    /// Like [`Self::get`], parsing the body as JSON; a body that is not JSON (cut short, an
    /// HTML page from a proxy) is fetched again a few times before it is an error.
    async fn get_json(
        &self,
        url: &str,
        params: &[(String, String)],
        headers: &[(String, String)],
        endpoint: &str,
        stats: &mut FetchStats,
    ) -> Result<(HeaderMap, Value)> {
        let read = |body: &[u8]| {
            serde_json::from_slice::<Value>(body).map_err(|e| BodyError::NotJson(e.to_string()))
        };
        self.get_read(url, params, headers, endpoint, stats, read).await
    }

    /// Like [`Self::get`], reading the body with `read`; a body `read` finds not to be
    /// JSON (cut short, an HTML page from a proxy) is fetched again a few times before it
    /// is an error. The body is read once: `read` both checks and takes what it needs.
    async fn get_read<T>(
        &self,
        url: &str,
        params: &[(String, String)],
        headers: &[(String, String)],
        endpoint: &str,
        stats: &mut FetchStats,
        read: impl Fn(&[u8]) -> std::result::Result<T, BodyError>,
    ) -> Result<(HeaderMap, T)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let f = self.get(url, params, headers, endpoint, stats).await?;
            match read(&f.body) {
                Ok(x) => return Ok((f.headers, x)),
                Err(BodyError::Other(e)) => return Err(e),
                Err(BodyError::NotJson(e)) if attempt < self.policy.max_attempts.min(4) => {
                    stats.retries += 1;
                    tracing::warn!(service = %self.spec.service, endpoint, error = %e, "response is not JSON; retrying");
                    tokio::time::sleep(self.policy.base_delay * attempt).await;
                }
                Err(BodyError::NotJson(e)) => {
                    let start =
                        String::from_utf8_lossy(&f.body[..f.body.len().min(80)]).into_owned();
                    return Err(ConnectorError::Decode {
                        service: self.service(),
                        endpoint: endpoint.to_owned(),
                        message: format!("response is not JSON ({e}); it starts with {start:?}"),
                    });
                }
            }
        }
    }

    /// A page's body read once: its records (each with the index of its members, so the
    /// mapping need not parse it again) and what the body says besides them. The body is
    /// checked to be JSON by that same reading (splitting the records parses all of it);
    /// only when no records can be found is it read again, to tell a body that is not
    /// JSON (fetched again) from one of the wrong shape (an error).
    fn read_page_body(
        &self,
        t: &TableSpec,
        body: &[u8],
        endpoint: &str,
    ) -> std::result::Result<(Vec<RawRecord>, BodyLinks), BodyError> {
        let text = std::str::from_utf8(body)
            .map_err(|e| BodyError::NotJson(format!("response is not UTF-8: {e}")))?;
        // Records in a member of the body (`{"result": [...]}`): the body and its records
        // split in one pass where they can be; otherwise the body, then its records.
        let path = &self.spec.records.path;
        let (node, objects) =
            match (!path.is_empty()).then(|| avesa_model::json::objects_at(text, path)).flatten() {
                Some((members, objects)) => (Node::of_members(members), Some(objects)),
                None => (Node::of_text(text), None),
            };
        let records =
            self.parse_records(t, &node, objects, endpoint).map_err(
                |e| match serde_json::from_str::<&RawValue>(text) {
                    Err(j) => BodyError::NotJson(j.to_string()),
                    Ok(_) => BodyError::Other(e),
                },
            )?;
        let p = &self.spec.paging;
        let string = |path: Option<&str>| match path.and_then(|f| node.leaf(f)) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let links = BodyLinks {
            done: p.done.as_deref().and_then(|d| node.leaf(d)).and_then(|v| v.as_bool()),
            next_url: string(p.next_url.as_deref()),
            delta: string(p.delta_url.as_deref()),
        };
        Ok((records, links))
    }

    fn base_url(&self, instance: Option<&str>) -> String {
        let mut vars = Vars::new(&self.vars);
        if let Some(i) = instance {
            vars.set("instance_url", i);
        }
        self.spec.base_url.render(&vars).trim_end_matches('/').to_owned()
    }

    /// The URL, parameters and headers of a table's first request after `after`.
    fn initial_request(
        &self,
        t: &TableSpec,
        after: Option<&Cursor>,
        limit: u32,
        instance: Option<&str>,
    ) -> Request {
        self.initial_request_for(t, after, limit, instance, None)
    }

    /// [`Self::initial_request`] for one parent of a child table.
    fn initial_request_for(
        &self,
        t: &TableSpec,
        after: Option<&Cursor>,
        limit: u32,
        instance: Option<&str>,
        parent_id: Option<&str>,
    ) -> Request {
        let base = self.base_url(instance);
        let filter = self.filter_of(t, after);
        let mut vars = Vars::new(&self.vars);
        vars.set("limit", limit.to_string())
            .set("filter", &filter)
            .set("table", &t.name)
            .set("base_url", &base);
        if let Some(i) = instance {
            vars.set("instance_url", i);
        }
        if let Some(p) = parent_id {
            vars.set("parent_id", p);
        }
        let path = t.path.render(&vars);
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path
        } else {
            format!("{base}/{}", path.trim_start_matches('/'))
        };
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in self.spec.params.iter().chain(&t.params) {
            params.retain(|(pk, _)| pk != k);
            params.push((k.clone(), v.render(&vars)));
        }
        if let IncrementalSpec::Cursor { param: Some(p), .. } = self.incremental(t)
            && !params.iter().any(|(k, _)| k == p)
            && !filter.is_empty()
        {
            params.push((p.clone(), filter));
        }
        if self.spec.paging.kind == PagingKind::Offset {
            let p = &self.spec.paging;
            let (op, lp) = (
                p.offset_param.clone().unwrap_or_default(),
                p.limit_param.clone().unwrap_or_default(),
            );
            params.retain(|(k, _)| *k != op && *k != lp);
            params.push((lp, limit.to_string()));
            params.push((op, "0".into()));
        }
        let headers = self.request_headers(&vars);
        (url, params, headers)
    }

    fn request_headers(&self, vars: &Vars<'_>) -> Vec<(String, String)> {
        self.spec
            .headers
            .iter()
            .chain(&self.spec.paging.headers)
            .map(|(k, v)| (k.clone(), v.render(vars)))
            .collect()
    }

    /// The URL of a vendor's next-page or delta link. A relative link resolves against the
    /// API host. An absolute one is followed only on the configured origin (the spec's base
    /// URL, or the instance URL the vendor's token named): a link naming any other host is
    /// rebased onto the configured base URL (same path and query), so the vendor
    /// credentials this request carries never go anywhere else — a forged or stale link (a
    /// delta link saved while the vendor was elsewhere) cannot send them away.
    fn resolve_url(&self, next: &str, instance: Option<&str>) -> String {
        if next.starts_with("http://") || next.starts_with("https://") {
            let base = self.base_url(None);
            let allowed: Vec<url::Url> = [Some(base.as_str()), instance]
                .into_iter()
                .flatten()
                .filter_map(|u| url::Url::parse(u).ok())
                .collect();
            let Ok(link) = url::Url::parse(next) else {
                return base;
            };
            if allowed.iter().any(|a| a.origin() == link.origin()) {
                return next.to_owned();
            }
            let Some(home) = allowed.first() else { return next.to_owned() };
            let mut rebased = link.clone();
            let ok = rebased.set_scheme(home.scheme()).is_ok()
                && rebased.set_host(home.host_str()).is_ok()
                && rebased.set_port(home.port()).is_ok();
            tracing::warn!(
                service = %self.spec.service,
                link_host = link.host_str().unwrap_or(""),
                "a vendor link names another origin than the configured one; following it on the configured origin"
            );
            return if ok { rebased.to_string() } else { base };
        }
        // Root-relative (Salesforce `nextRecordsUrl`): against the API host.
        let base = instance.map(str::to_owned).unwrap_or_else(|| self.base_url(None));
        match url::Url::parse(&base).and_then(|b| b.join(next)) {
            Ok(u) => u.to_string(),
            Err(_) => format!("{base}{next}"),
        }
    }

    /// The records of a page, each kept as the exact JSON text the vendor sent; only the
    /// id, updated-at and deleted fields are decoded.
    fn parse_records<'a>(
        &self,
        t: &TableSpec,
        body: &Node<'a>,
        objects: Option<Vec<avesa_model::json::Object<'a>>>,
        endpoint: &str,
    ) -> Result<Vec<RawRecord>> {
        let decode = |m: String| ConnectorError::Decode {
            service: self.service(),
            endpoint: endpoint.to_owned(),
            message: m,
        };
        let path = &self.spec.records.path;
        // One pass over the page's records where their texts can be told from their
        // members (nearly always; `objects` when the caller split them already);
        // otherwise the elements, then each one's members.
        let array = body.get(path);
        let objects = objects.or_else(|| array.and_then(avesa_model::json::objects));
        let items: Option<Vec<(&str, Node<'_>)>> = match objects {
            Some(objects) => {
                Some(objects.into_iter().map(|o| (o.text, Node::of_members(o.members))).collect())
            }
            None => array
                .and_then(elements)
                .map(|items| items.into_iter().map(|text| (text, Node::of_text(text))).collect()),
        };
        let Some(items) = items else {
            let what = if path.is_empty() {
                "a JSON array".to_owned()
            } else {
                format!("an array at {path:?}")
            };
            return Err(decode(format!(
                "expected {what} of records, got {}",
                truncate(body.text.unwrap_or(""))
            )));
        };
        let id_path = t.id.as_deref().unwrap_or(&self.spec.records.id);
        let upd_path = t.updated_at.as_deref().or(self.spec.records.updated_at.as_deref());
        let mut out = Vec::with_capacity(items.len());
        for (text, v) in items {
            let id = match v.leaf(id_path) {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) if !s.is_empty() => s,
                _ => {
                    return Err(decode(format!("a record has no {id_path:?}: {}", truncate(text))));
                }
            };
            let removed = self.spec.records.removed_marker.as_deref().is_some_and(|m| v.has_key(m));
            let updated_at = match upd_path {
                None => None,
                Some(_) if removed => None,
                Some(p) => {
                    let s = match v.leaf(p) {
                        Some(Value::String(s)) => s,
                        _ => return Err(decode(format!("record {id} has no {p:?}"))),
                    };
                    Some(parse_time(&s).ok_or_else(|| {
                        decode(format!("record {id}: {p} {s:?} is not a date-time"))
                    })?)
                }
            };
            let flag =
                self.spec.records.deleted_flag.as_deref().and_then(|p| v.leaf(p)).is_some_and(
                    |f| {
                        f.as_bool() == Some(true)
                            || f.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
                    },
                );
            // The record's members travel with it, for the mapping.
            let index = v.members.as_ref().and_then(|m| MemberIndex::of(text, m));
            out.push(RawRecord {
                source_id: id,
                updated_at,
                deleted: t.tombstones || removed || flag,
                json: text.to_owned(),
                index,
            });
        }
        Ok(out)
    }

    fn next_of(
        &self,
        url: &str,
        params: &[(String, String)],
        headers: &HeaderMap,
        links: &BodyLinks,
        n: usize,
    ) -> Option<String> {
        let p = &self.spec.paging;
        match p.kind {
            PagingKind::Keyset => None,
            PagingKind::LinkHeader => next_link(headers),
            PagingKind::NextUrl => {
                if links.done == Some(true) {
                    return None;
                }
                links.next_url.clone()
            }
            PagingKind::Offset => {
                let total: u64 = p
                    .total_header
                    .as_deref()
                    .and_then(|h| headers.get(h))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())?;
                let op = p.offset_param.as_deref()?;
                let mut u = url::Url::parse(url).ok()?;
                let mut pairs: Vec<(String, String)> =
                    u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
                if pairs.is_empty() {
                    pairs = params.to_vec();
                }
                let offset: u64 = pairs
                    .iter()
                    .find(|(k, _)| k == op)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let next = offset + n as u64;
                if n == 0 || next >= total {
                    return None;
                }
                pairs.retain(|(k, _)| k != op);
                pairs.push((op.to_owned(), next.to_string()));
                u.query_pairs_mut().clear().extend_pairs(pairs);
                Some(u.to_string())
            }
        }
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    // Entries are `<url>; rel="next"`, comma-separated; a URL may itself hold commas, so
    // entries are found by their angle brackets, not by splitting on commas.
    for value in headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()) {
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let tail = &after[close + 1..];
            let params = &tail[..tail.find('<').unwrap_or(tail.len())];
            if params.contains("rel=\"next\"") || params.contains("rel=next") {
                return Some(after[..close].to_owned());
            }
            rest = tail;
        }
    }
    None
}

/// Resolves a dotted path (`error.message`, `0.errorCode`); a key containing dots
/// (`@odata.nextLink`) matches whole first.
pub fn resolve<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(path) {
                return Some(x);
            }
            let (head, rest) = path.split_once('.')?;
            resolve(m.get(head)?, rest)
        }
        Value::Array(a) => {
            let (head, rest) = path.split_once('.').unwrap_or((path, ""));
            resolve(a.get(head.parse::<usize>().ok()?)?, rest)
        }
        _ => None,
    }
}

/// What a page's body says besides its records (read in the same pass).
struct BodyLinks {
    /// The vendor's "this was the last page" flag.
    done: Option<bool>,
    /// The next page's URL, when the body carries it.
    next_url: Option<String>,
    /// The delta link of a finished read.
    delta: Option<String>,
}

/// Why a body could not be read: not JSON at all (fetched again), or anything else.
enum BodyError {
    NotJson(String),
    Other(ConnectorError),
}

/// A JSON value parsed one level deep: objects keep their members as raw JSON text
/// borrowed from the body, so reading a few fields of a record never builds the rest
/// ([`avesa_model::json::Members`]: a list with borrowed names, not a map of owned ones).
pub struct Node<'a> {
    /// The value's JSON text; `None` for an object known by its members only.
    text: Option<&'a str>,
    members: Option<Members<'a>>,
}

impl<'a> Node<'a> {
    /// The value whose JSON text is `text` (an object's members are parsed, and so
    /// checked, here; any other text is checked by whoever reads into it).
    pub fn of_text(text: &'a str) -> Self {
        Node { text: Some(text), members: Members::parse(text) }
    }

    /// An object known by its members (a record of a page split in one pass).
    fn of_members(members: Members<'a>) -> Self {
        Node { text: None, members: Some(members) }
    }

    /// The JSON text at a dotted path (same rules as [`resolve`]).
    pub fn get(&self, path: &str) -> Option<&'a str> {
        if path.is_empty() {
            return self.text;
        }
        match &self.members {
            Some(m) => {
                if let Some(v) = m.get(path) {
                    return Some(v);
                }
                let (head, rest) = path.split_once('.')?;
                Node::of_text(m.get(head)?).get(rest)
            }
            None => {
                let list = elements(self.text?)?;
                let (head, rest) = path.split_once('.').unwrap_or((path, ""));
                Node::of_text(list.get(head.parse::<usize>().ok()?)?).get(rest)
            }
        }
    }

    /// The decoded value at a path (meant for leaves: ids, stamps, flags, links).
    pub fn leaf(&self, path: &str) -> Option<Value> {
        self.get(path).and_then(|t| serde_json::from_str(t).ok())
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.members.as_ref().is_some_and(|m| m.get(key).is_some())
    }
}

/// Parses the date-time forms vendors send: RFC 3339, Salesforce's `+0000`, ServiceNow's
/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

fn oauth_error(body: &[u8]) -> (String, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned(), None);
    };
    let code = v.get("error").and_then(Value::as_str).map(str::to_owned);
    let desc = v.get("error_description").and_then(Value::as_str);
    let msg = match (&code, desc) {
        (Some(c), Some(d)) => format!("{c}: {d}"),
        (Some(c), None) => c.clone(),
        _ => v.to_string(),
    };
    (msg, code)
}

fn truncate(s: &str) -> String {
    if s.len() <= 200 { s.to_owned() } else { format!("{}…", &s[..s.floor_char_boundary(200)]) }
}

#[async_trait]
impl Connector for SpecConnector {
    fn service(&self) -> &str {
        &self.spec.service
    }

    fn budget(&self) -> Option<Arc<Budget>> {
        Some(self.budget.clone())
    }

    fn tables(&self) -> Vec<String> {
        self.spec.tables.iter().filter(|t| !t.optional).map(|t| t.name.clone()).collect()
    }

    fn supports_range(&self, table: &str) -> bool {
        self.spec.table(table).is_some_and(|t| {
            t.parent.is_none() && matches!(self.incremental(t), IncrementalSpec::Cursor { .. })
        })
    }

    fn lists_all(&self, table: &str) -> bool {
        self.spec.table(table).is_some_and(|t| !t.tombstones && t.parent.is_none() && !t.raw_only)
    }

    fn mapping_of(&self, table: &str) -> Option<String> {
        match self.spec.table(table) {
            Some(t) if t.raw_only => None,
            Some(t) => Some(t.mapping.clone()),
            None => Some(table.to_owned()),
        }
    }

    async fn fetch_page(
        &self,
        table: &str,
        after: Option<&Cursor>,
        page_size: u32,
    ) -> Result<Page> {
        let t = self.table(table)?;
        if let Some(parent) = &t.parent {
            return self.fetch_children(t, parent, after).await;
        }
        let limit = page_size.clamp(1, self.spec.paging.max_page_size);
        let mut stats = FetchStats::default();
        let instance = self.auth_headers(&mut stats).await?.1;
        let label = |what: &str| format!("{} ({what})", t.name);
        let mut vars = Vars::new(&self.vars);
        vars.set("limit", limit.to_string());
        let cont = after
            .and_then(|c| c.continuation.clone())
            .filter(|c| matches!(c, Continuation::NextPage(_) | Continuation::Delta(_)));
        let (url, params, headers, endpoint) = match &cont {
            Some(Continuation::NextPage(u)) | Some(Continuation::Delta(u)) => (
                self.resolve_url(u, instance.as_deref()),
                Vec::new(),
                self.request_headers(&vars),
                label("continued page"),
            ),
            _ => {
                let (u, p, h) = self.initial_request(t, after, limit, instance.as_deref());
                (u, p, h, label("first page"))
            }
        };
        let read = |body: &[u8]| self.read_page_body(t, body, &endpoint);
        let fetched = self.get_read(&url, &params, &headers, &endpoint, &mut stats, read).await;
        let (resp_headers, (records, links)) = match (fetched, &cont) {
            (Ok(x), _) => x,
            // An expired continuation: a next page falls back to the keyset position, a
            // delta link to a full resync.
            (Err(ConnectorError::Rejected { status, code, message, .. }), Some(c))
                if self
                    .spec
                    .error
                    .expired_codes
                    .iter()
                    .any(|e| Some(e) == code.as_ref() || *e == status.to_string()) =>
            {
                tracing::warn!(service = %self.spec.service, table, %message, "continuation expired; starting over from the last position");
                let restart = match c {
                    Continuation::Delta(_) => None,
                    _ => after.map(|a| Cursor { continuation: None, ..a.clone() }),
                };
                let mut page =
                    Box::pin(self.fetch_page(table, restart.as_ref(), page_size)).await?;
                page.stats += stats;
                return Ok(page);
            }
            (Err(e), _) => return Err(e),
        };
        let n = records.len();
        let next = self.next_of(&url, &params, &resp_headers, &links, n);
        if next.as_deref() == Some(url.as_str()) {
            return Err(ConnectorError::Decode {
                service: self.service(),
                endpoint,
                message: format!(
                    "the API returned the page it was asked for as its next page ({url}); stopping instead of looping"
                ),
            });
        }
        let delta = links.delta;
        let last_rec = records.iter().rev().find(|r| r.updated_at.is_some());
        let pos_time = last_rec
            .and_then(|r| r.updated_at)
            .or(after.map(|a| a.updated_at))
            .unwrap_or(DateTime::UNIX_EPOCH);
        let pos_id = records
            .last()
            .map(|r| r.source_id.clone())
            .or(after.map(|a| a.id.clone()))
            .unwrap_or_default();
        let (last, more) = if let Some(next) = next {
            (
                Some(Cursor {
                    updated_at: pos_time,
                    id: pos_id,
                    continuation: Some(Continuation::NextPage(next)),
                }),
                true,
            )
        } else if let Some(delta) = delta {
            (
                Some(Cursor {
                    updated_at: Utc::now(),
                    id: String::new(),
                    continuation: Some(Continuation::Delta(delta)),
                }),
                false,
            )
        } else if n == 0 {
            (None, false)
        } else {
            let more = self.spec.paging.kind == PagingKind::Keyset && n as u32 >= limit;
            (Some(Cursor::new(pos_time, pos_id)), more)
        };
        Ok(Page { records, last, more, stats })
    }

    async fn count(&self, table: &str, after: Option<&Cursor>) -> Result<u64> {
        let t = self.table(table)?;
        if t.parent.is_some() {
            return Err(ConnectorError::Config {
                service: self.service(),
                message: format!("{table} is listed per parent and has no count"),
            });
        }
        let mut stats = FetchStats::default();
        let instance = self.auth_headers(&mut stats).await?.1;
        let endpoint = format!("{} (count)", t.name);
        let spec = t.count.as_ref().unwrap_or(&self.spec.count);
        let after = after.map(|a| Cursor { continuation: None, ..a.clone() });
        let (url, mut params, headers) =
            self.initial_request(t, after.as_ref(), 1, instance.as_deref());
        let number = |v: Option<&Value>| {
            v.and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        };
        let missing = |what: String| ConnectorError::Decode {
            service: self.service(),
            endpoint: endpoint.clone(),
            message: what,
        };
        match spec {
            CountSpec::None => Err(ConnectorError::Config {
                service: self.service(),
                message: format!("{table}: the API offers no count"),
            }),
            CountSpec::Endpoint { suffix, field } => {
                let p = &self.spec.paging;
                params.retain(|(k, _)| {
                    let paging = [p.offset_param.as_deref(), p.limit_param.as_deref()]
                        .contains(&Some(k.as_str()));
                    !paging && !matches!(k.as_str(), "pageSize" | "page" | "orderBy" | "fields")
                });
                let (_, body) = self
                    .get_json(&format!("{url}{suffix}"), &params, &headers, &endpoint, &mut stats)
                    .await?;
                number(resolve(&body, field))
                    .ok_or_else(|| missing(format!("expected a count at {field:?}")))
            }
            CountSpec::Header { header } => {
                let (h, _) = self.get_json(&url, &params, &headers, &endpoint, &mut stats).await?;
                h.get(header.as_str())
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| missing(format!("expected a count in the {header} header")))
            }
            CountSpec::Query { param, query, field } => {
                let mut vars = Vars::new(&self.vars);
                vars.set("filter", self.filter_of(t, after.as_ref())).set("table", &t.name);
                let q = query.render(&vars);
                params.retain(|(k, _)| k != param);
                params.push((param.clone(), q));
                let (_, body) =
                    self.get_json(&url, &params, &headers, &endpoint, &mut stats).await?;
                number(resolve(&body, field))
                    .ok_or_else(|| missing(format!("expected a count at {field:?}")))
            }
        }
    }

    async fn test(&self) -> Result<()> {
        let mut stats = FetchStats::default();
        let instance = self.auth_headers(&mut stats).await?.1;
        let base = self.base_url(instance.as_deref());
        let headers = {
            let mut v = Vars::new(&self.vars);
            v.set("limit", "1").set("base_url", &base);
            self.request_headers(&v)
        };
        let url = match &self.spec.test_path {
            Some(p) => {
                let mut v = Vars::new(&self.vars);
                v.set("limit", "1").set("base_url", &base);
                let path = p.render(&v);
                if path.starts_with("http") {
                    path
                } else {
                    format!("{base}/{}", path.trim_start_matches('/'))
                }
            }
            None => {
                let t = &self.spec.tables[0];
                self.initial_request(t, None, 1, instance.as_deref()).0
            }
        };
        self.get_json(&url, &[], &headers, "connection test", &mut stats).await?;
        Ok(())
    }
}

impl SpecConnector {
    /// A child table (`service/boards/{parent_id}/statuses`): one page per parent, every
    /// run reads it whole. The position's token lists the parents still to read.
    async fn fetch_children(
        &self,
        t: &TableSpec,
        parent: &str,
        after: Option<&Cursor>,
    ) -> Result<Page> {
        let mut stats = FetchStats::default();
        let mut parents: Vec<String> = match after.and_then(|a| a.continuation.as_ref()) {
            Some(Continuation::Parents(rest)) => rest.clone(),
            _ => {
                // Every parent id, read the way the parent table is read.
                let mut ids = Vec::new();
                let mut pos: Option<Cursor> = None;
                loop {
                    let page = Box::pin(self.fetch_page(
                        parent,
                        pos.as_ref(),
                        self.spec.paging.max_page_size,
                    ))
                    .await?;
                    stats += page.stats;
                    ids.extend(
                        page.records.into_iter().filter(|r| !r.deleted).map(|r| r.source_id),
                    );
                    match page.last {
                        Some(l) if page.more => pos = Some(l),
                        _ => break,
                    }
                }
                ids.sort();
                ids.dedup();
                ids
            }
        };
        if parents.is_empty() {
            return Ok(Page { records: Vec::new(), last: None, more: false, stats });
        }
        let current = parents.remove(0);
        if current.contains(',') || current.contains('/') {
            return Err(ConnectorError::Decode {
                service: self.service(),
                endpoint: t.name.clone(),
                message: format!("parent id {current:?} cannot be used in a path"),
            });
        }
        let instance = self.auth_headers(&mut stats).await?.1;
        let mut records = Vec::new();
        let mut pos: Option<Cursor> = None;
        loop {
            let limit = self.spec.paging.max_page_size;
            let (url, params, headers) = self.initial_request_for(
                t,
                pos.as_ref(),
                limit,
                instance.as_deref(),
                Some(&current),
            );
            let endpoint = format!("{} (parent {current})", t.name);
            let read = |body: &[u8]| self.read_page_body(t, body, &endpoint);
            let (_, (page, _)) =
                self.get_read(&url, &params, &headers, &endpoint, &mut stats, read).await?;
            let n = page.len();
            let last = page.last().map(|r| {
                Cursor::new(r.updated_at.unwrap_or(DateTime::UNIX_EPOCH), r.source_id.clone())
            });
            records.extend(page);
            match last {
                Some(l) if n as u32 >= limit && self.spec.paging.kind == PagingKind::Keyset => {
                    if pos.as_ref() == Some(&l) {
                        break;
                    }
                    pos = Some(l);
                }
                _ => break,
            }
        }
        let more = !parents.is_empty();
        let last = Cursor {
            updated_at: Utc::now(),
            id: current,
            continuation: more.then_some(Continuation::Parents(parents)),
        };
        Ok(Page { records, last: Some(last), more, stats })
    }

    /// The rendered incremental filter of `t` after `after`.
    fn filter_of(&self, t: &TableSpec, after: Option<&Cursor>) -> String {
        match self.incremental(t) {
            IncrementalSpec::Cursor { time_format, start, since, after: after_t, .. } => {
                let mut fv = Vars::new(&self.vars);
                fv.set("table", &t.name);
                match after {
                    None => start.render(&fv),
                    Some(c) => {
                        fv.set("time", c.updated_at.format(time_format).to_string());
                        fv.set("id", &c.id);
                        fv.set(
                            "id_quoted",
                            format!("'{}'", c.id.replace('\\', "\\\\").replace('\'', "\\'")),
                        );
                        if c.id.is_empty() { since.render(&fv) } else { after_t.render(&fv) }
                    }
                }
            }
            IncrementalSpec::Delta => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_with_commas_in_urls() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<http://x/a?orderBy=b asc, id asc&page=1>; rel=\"first\", <http://x/a?orderBy=b asc, id asc&page=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("http://x/a?orderBy=b asc, id asc&page=2"));
        h.insert(reqwest::header::LINK, "<http://x/a?page=1>; rel=\"last\"".parse().unwrap());
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn node_members_with_escaped_and_repeated_names() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"a\u0062": 1, "x": {"y": "first"}, "q\"t": true, "x": {"y": "last"}}"#,
        )
        .unwrap();
        let n = Node::of_text(raw.get());
        assert_eq!(n.leaf("ab"), Some(Value::from(1)), "an escaped name is decoded");
        assert_eq!(n.leaf("q\"t"), Some(Value::Bool(true)));
        assert_eq!(n.leaf("x.y"), Some(Value::from("last")), "the last of a repeated name wins");
        assert!(n.has_key("x") && !n.has_key("y"));
    }

    #[test]
    fn nodes_read_leaves_without_building_the_rest() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"id": 7, "_info": {"lastUpdated": "2024-01-01T00:00:00Z"}, "@odata.nextLink": "u", "a": [{"b": 1}]}"#,
        )
        .unwrap();
        let n = Node::of_text(raw.get());
        assert_eq!(n.leaf("id"), Some(Value::from(7)));
        assert_eq!(n.leaf("_info.lastUpdated"), Some(Value::from("2024-01-01T00:00:00Z")));
        assert_eq!(n.leaf("@odata.nextLink"), Some(Value::from("u")));
        assert_eq!(n.leaf("a.0.b"), Some(Value::from(1)));
        assert_eq!(n.leaf("missing.x"), None);
        assert!(n.has_key("_info"));
    }
}
