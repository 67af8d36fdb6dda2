//! ConnectWise PSA (Manage) REST API v3.0.
//!
//! Auth is HTTP Basic with `{companyId}+{publicKey}:{privateKey}` plus the `clientId`
//! header. Lists are bare JSON arrays; we read them in `(_info/lastUpdated, id)` order with
//! a keyset `conditions` filter, so every page starts exactly after the previous one:
//! `(lastUpdated > [T] or (lastUpdated = [T] and id > N))`. See VENDOR_APIS.md §1.

use std::fmt;

use async_trait::async_trait;
use avesa_lake::RawRecord;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{RetryPolicy, build_client, send_with_retry};
use crate::{Connector, ConnectorError, Cursor, FetchStats, Page, Result, SourceTable};

const SERVICE: &str = "connectwise";

const TABLES: &[SourceTable] = &[
    SourceTable { name: "company/companies" },
    SourceTable { name: "company/contacts" },
    SourceTable { name: "service/tickets" },
    SourceTable { name: "time/entries" },
];

fn default_codebase() -> String {
    "v4_6_release".into()
}

/// A tenant's ConnectWise connection. Stored encrypted; `Debug` hides the secrets.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectWiseConfig {
    /// e.g. `https://api-na.myconnectwise.net`
    pub api_url: String,
    #[serde(default = "default_codebase")]
    pub codebase: String,
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    pub client_id: String,
}

impl fmt::Debug for ConnectWiseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectWiseConfig")
            .field("api_url", &self.api_url)
            .field("codebase", &self.codebase)
            .field("company_id", &self.company_id)
            .field("public_key", &self.public_key)
            .field("private_key", &"***")
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl ConnectWiseConfig {
    /// Checks the fields a user types, with a message that says which one is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ConnectorError::Config { service: SERVICE.into(), message: m });
        match url::Url::parse(&self.api_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return bad(format!("api_url {:?} is not an http(s) URL", self.api_url)),
        }
        for (name, v) in [
            ("company_id", &self.company_id),
            ("public_key", &self.public_key),
            ("private_key", &self.private_key),
            ("client_id", &self.client_id),
        ] {
            if v.trim().is_empty() {
                return bad(format!("{name} is empty"));
            }
        }
        Ok(())
    }
}

/// The ConnectWise connector.
pub struct ConnectWise {
    cfg: ConnectWiseConfig,
    base: String,
    auth: String,
    client: Client,
    policy: RetryPolicy,
}

impl ConnectWise {
    pub fn new(cfg: ConnectWiseConfig) -> Result<Self> {
        cfg.validate()?;
        let base = format!(
            "{}/{}/apis/3.0",
            cfg.api_url.trim_end_matches('/'),
            cfg.codebase.trim_matches('/')
        );
        let auth = format!(
            "Basic {}",
            STANDARD.encode(format!("{}+{}:{}", cfg.company_id, cfg.public_key, cfg.private_key))
        );
        Ok(Self { cfg, base, auth, client: build_client(), policy: RetryPolicy::default() })
    }

    /// Overrides the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn check_table(&self, table: &str) -> Result<()> {
        if TABLES.iter().any(|t| t.name == table) {
            Ok(())
        } else {
            Err(ConnectorError::Config {
                service: SERVICE.into(),
                message: format!("unknown table {table:?}"),
            })
        }
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        stats: &mut FetchStats,
    ) -> Result<crate::http::Fetched> {
        let url = format!("{}/{}", self.base, path);
        send_with_retry(
            SERVICE,
            path,
            &self.policy,
            stats,
            || {
                self.client
                    .get(&url)
                    .query(query)
                    .header("Authorization", &self.auth)
                    .header("clientId", &self.cfg.client_id)
                    .header("Accept", "application/json")
            },
            error_message,
        )
        .await
        .map_err(|e| match e {
            ConnectorError::Unreachable { service, message, .. } => {
                ConnectorError::Unreachable { service, url: self.cfg.api_url.clone(), message }
            }
            other => other,
        })
    }
}

/// ConnectWise's error body: `{code, message, errors: [{code, message, field}]}`.
fn error_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
    };
    let mut msg =
        match (v.get("code").and_then(Value::as_str), v.get("message").and_then(Value::as_str)) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (None, Some(m)) => m.to_owned(),
            _ => v.to_string(),
        };
    if let Some(errs) = v.get("errors").and_then(Value::as_array) {
        for e in errs {
            let field = e.get("field").and_then(Value::as_str).unwrap_or("");
            let m = e.get("message").and_then(Value::as_str).unwrap_or("");
            msg.push_str(&format!(" [{field}: {m}]"));
        }
    }
    msg
}

fn cw_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The keyset filter for "strictly after `after`".
fn after_condition(after: &Cursor) -> String {
    let t = cw_time(after.updated_at);
    if after.id.is_empty() {
        return format!("lastUpdated >= [{t}]");
    }
    let id = match after.id.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) => format!("\"{}\"", after.id.replace('"', "")),
    };
    format!("(lastUpdated > [{t}] or (lastUpdated = [{t}] and id > {id}))")
}

fn has_next_link(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|part| part.contains("rel=\"next\"")))
}

fn parse_record(table: &str, page: u32, v: Value) -> Result<RawRecord> {
    let decode = |m: String| ConnectorError::Decode {
        service: SERVICE.into(),
        endpoint: format!("{table} (page {page})"),
        message: m,
    };
    let id = match v.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(decode(format!("a record has no id: {}", truncate(&v.to_string())))),
    };
    let updated = v
        .get("_info")
        .and_then(|i| i.get("lastUpdated"))
        .and_then(Value::as_str)
        .ok_or_else(|| decode(format!("record {id} has no _info.lastUpdated")))?;
    let updated_at = DateTime::parse_from_rfc3339(updated)
        .map_err(|e| decode(format!("record {id}: _info.lastUpdated {updated:?}: {e}")))?
        .with_timezone(&Utc);
    let deleted = v.get("deletedFlag").and_then(Value::as_bool).unwrap_or(false);
    Ok(RawRecord { source_id: id, updated_at: Some(updated_at), deleted, json: v.to_string() })
}

fn truncate(s: &str) -> String {
    if s.len() <= 200 { s.to_owned() } else { format!("{}…", &s[..s.floor_char_boundary(200)]) }
}

#[async_trait]
impl Connector for ConnectWise {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn tables(&self) -> &'static [SourceTable] {
        TABLES
    }

    async fn fetch_page(
        &self,
        table: &str,
        after: Option<&Cursor>,
        page_size: u32,
    ) -> Result<Page> {
        self.check_table(table)?;
        let page_size = page_size.clamp(1, 1000);
        let mut query = vec![
            ("orderBy", "_info/lastUpdated asc, id asc".to_owned()),
            ("pageSize", page_size.to_string()),
            ("page", "1".to_owned()),
        ];
        if let Some(a) = after {
            query.push(("conditions", after_condition(a)));
        }
        let mut stats = FetchStats::default();
        let fetched = self.get(table, &query, &mut stats).await?;
        let values: Vec<Value> =
            serde_json::from_slice(&fetched.body).map_err(|e| ConnectorError::Decode {
                service: SERVICE.into(),
                endpoint: format!("{table} (page 1)"),
                message: format!("expected a JSON array of records: {e}"),
            })?;
        let n = values.len();
        let records =
            values.into_iter().map(|v| parse_record(table, 1, v)).collect::<Result<Vec<_>>>()?;
        let last = records.last().map(|r| Cursor {
            updated_at: r.updated_at.expect("parse_record always sets updated_at"),
            id: r.source_id.clone(),
        });
        let more = has_next_link(&fetched.headers) || n as u32 >= page_size;
        Ok(Page { records, last, more: more && n > 0, stats })
    }

    async fn count(&self, table: &str, after: Option<&Cursor>) -> Result<u64> {
        self.check_table(table)?;
        let mut query = Vec::new();
        if let Some(a) = after {
            query.push(("conditions", after_condition(a)));
        }
        let mut stats = FetchStats::default();
        let path = format!("{table}/count");
        let fetched = self.get(&path, &query, &mut stats).await?;
        serde_json::from_slice::<Value>(&fetched.body)
            .ok()
            .and_then(|v| v.get("count").and_then(Value::as_u64))
            .ok_or_else(|| ConnectorError::Decode {
                service: SERVICE.into(),
                endpoint: path,
                message: "expected {\"count\": N}".into(),
            })
    }

    async fn test(&self) -> Result<()> {
        self.count("company/companies", None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_conditions() {
        let t = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            after_condition(&Cursor { updated_at: t, id: "42".into() }),
            "(lastUpdated > [2024-01-02T03:04:05Z] or (lastUpdated = [2024-01-02T03:04:05Z] and id > 42))"
        );
        assert_eq!(
            after_condition(&Cursor { updated_at: t, id: String::new() }),
            "lastUpdated >= [2024-01-02T03:04:05Z]"
        );
    }

    #[test]
    fn error_bodies_keep_the_vendor_message() {
        let body = br#"{"code":"InvalidObject","message":"bad","errors":[{"code":"OutOfRange","message":"too big","field":"pageSize"}]}"#;
        assert_eq!(error_message(body), "InvalidObject: bad [pageSize: too big]");
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
    }

    #[test]
    fn records_without_cursor_fields_are_decode_errors() {
        let e = parse_record("service/tickets", 3, serde_json::json!({"id": 1})).unwrap_err();
        assert!(e.to_string().contains("service/tickets (page 3)"), "{e}");
        let r = parse_record(
            "company/companies",
            1,
            serde_json::json!({"id": 7, "deletedFlag": true, "_info": {"lastUpdated": "2024-01-01T00:00:00Z"}}),
        )
        .unwrap();
        assert!(r.deleted);
        assert_eq!(r.source_id, "7");
    }

    #[test]
    fn config_validation_names_the_field() {
        let mut c = ConnectWiseConfig {
            api_url: "https://api-na.myconnectwise.net".into(),
            codebase: default_codebase(),
            company_id: "acme".into(),
            public_key: "pub".into(),
            private_key: "priv".into(),
            client_id: "cid".into(),
        };
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("priv\""), "Debug must hide the private key");
        c.client_id = " ".into();
        assert!(c.validate().unwrap_err().to_string().contains("client_id"));
        c.client_id = "x".into();
        c.api_url = "ftp://x".into();
        assert!(c.validate().unwrap_err().to_string().contains("api_url"));
    }
}
