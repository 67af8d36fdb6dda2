//! Client reports: a company's report for a period (its tickets, SLA, hours, top issues,
//! trends and open tickets, each figure against the previous period and its goal) as a
//! PDF in the tenant's branding, downloaded (`GET …/report.pdf`), e-mailed at once
//! (`POST …/report/email`) or on a schedule ([`crate::schedules`]).
//!
//! The figures are the company report's ([`crate::kpi::report`]); this module decides
//! what the document shows and how, and `avesa-report` lays it out and sends it.

use std::sync::Arc;

use avesa_analytics::Filters;
use avesa_analytics::metrics::Unit;
use avesa_model::{CanonicalTable, TenantId};
use avesa_report::{Branding, Chart, Document, Email, Figure, Mailbox, Rgb, Table, Tone};
use avesa_warehouse::ListQuery;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kpi::{Assessment, COMPANY_REPORT, MetricParams, MetricView, ReportView, SeriesView};
use crate::ops::{TenantParam, field, target_tenant};
use crate::{AppState, AuthUser};
use avesa_model::Role;

/// The settings key the branding is kept under.
pub(crate) const BRANDING: &str = "branding";

/// How reports look: whose they are, in what colour, with what on every page's foot.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BrandingView {
    /// The name reports carry (default: the tenant's name).
    pub name: String,
    /// `#rrggbb`: the header band and the first series of charts.
    pub accent: String,
    /// A line on every page's foot (contact details), and under each report e-mail.
    pub footer: Option<String>,
    /// Where replies to report e-mails go.
    pub reply_to: Option<String>,
    /// The logo on reports' first page and in the app's header: a `data:image/png;base64,…`
    /// or `data:image/jpeg;base64,…` URL.
    pub logo: Option<String>,
}

/// What is stored (every field optional: unset ones take the defaults).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct StoredBranding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    footer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logo: Option<String>,
}

/// The tenant's branding, defaults filled in.
pub(crate) async fn branding(
    state: &AppState,
    tenant: &TenantId,
) -> Result<BrandingView, ApiError> {
    let stored: StoredBranding = state
        .store
        .get_setting(tenant, BRANDING)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let name = match stored.name {
        Some(n) => n,
        None => {
            state.store.get_tenant(tenant).await?.map_or_else(|| tenant.to_string(), |t| t.name)
        }
    };
    Ok(BrandingView {
        name,
        accent: stored.accent.unwrap_or_else(|| avesa_report::DEFAULT_ACCENT.hex()),
        footer: stored.footer,
        reply_to: stored.reply_to,
        logo: stored.logo,
    })
}

/// The tenant's report branding.
#[utoipa::path(
    get,
    path = "/api/settings/branding",
    tag = "reports",
    responses((status = 200, description = "The branding.", body = BrandingView)),
    security(("bearer" = []))
)]
pub(crate) async fn get_branding(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<BrandingView>, ApiError> {
    Ok(Json(branding(&state, &user.tenant).await?))
}

/// The body of `PUT /api/admin/branding`: what is left out stays; an empty string
/// clears a field back to its default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBranding {
    /// At most 80 characters.
    pub name: Option<String>,
    /// `#rrggbb`.
    pub accent: Option<String>,
    /// At most 200 characters.
    pub footer: Option<String>,
    /// An e-mail address.
    pub reply_to: Option<String>,
    /// A PNG or JPEG as a `data:image/png;base64,…` URL: at most 256 KiB and 2000 pixels
    /// either way.
    pub logo: Option<String>,
}

/// The largest logo file.
const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The image bytes of a logo's data URL.
pub(crate) fn logo_bytes(url: &str) -> Result<Vec<u8>, String> {
    let rest = url
        .strip_prefix("data:image/png;base64,")
        .or_else(|| url.strip_prefix("data:image/jpeg;base64,"))
        .ok_or("a data:image/png;base64,… or data:image/jpeg;base64,… URL")?;
    if rest.len() > MAX_LOGO_BYTES * 4 / 3 + 4 {
        return Err(format!("at most {} KiB", MAX_LOGO_BYTES / 1024));
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| "not valid base64".into())
}

fn plain_text(name: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.chars().count() > max {
        return Err(field(name, format!("at most {max} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err(field(name, "no control characters"));
    }
    Ok(t.to_owned())
}

/// Sets how the tenant's reports look (tenant admins).
#[utoipa::path(
    put,
    path = "/api/admin/branding",
    tag = "reports",
    params(TenantParam),
    request_body = PutBranding,
    responses((status = 200, description = "The branding now.", body = BrandingView)),
    security(("bearer" = []))
)]
pub(crate) async fn put_branding(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PutBranding>,
) -> Result<Json<BrandingView>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let mut stored: StoredBranding = state
        .store
        .get_setting(&tenant, BRANDING)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let set = |v: String| if v.is_empty() { None } else { Some(v) };
    if let Some(n) = body.name {
        stored.name = set(plain_text("name", &n, 80)?);
    }
    if let Some(a) = body.accent {
        let a = a.trim();
        stored.accent = if a.is_empty() {
            None
        } else {
            let rgb = Rgb::parse_hex(a).ok_or_else(|| field("accent", "not a #rrggbb colour"))?;
            Some(rgb.hex())
        };
    }
    if let Some(f) = body.footer {
        stored.footer = set(plain_text("footer", &f, 200)?);
    }
    if let Some(l) = body.logo {
        stored.logo = match l.trim() {
            "" => None,
            url => {
                let bytes = logo_bytes(url).map_err(|e| field("logo", e))?;
                // Decoding is CPU work (a PNG up to 2000×2000): off the reactor.
                let checked =
                    tokio::task::spawn_blocking(move || avesa_report::Logo::from_bytes(&bytes))
                        .await
                        .map_err(|_| ApiError::internal())?;
                checked.map_err(|e| field("logo", e))?;
                Some(url.to_owned())
            }
        };
    }
    if let Some(r) = body.reply_to {
        stored.reply_to = match r.trim() {
            "" => None,
            t => Some(
                avesa_report::parse_address(t)
                    .map_err(|_| field("reply_to", "not an e-mail address"))?
                    .to_string(),
            ),
        };
    }
    let value = serde_json::to_value(&stored).map_err(|e| {
        tracing::error!(error = %e, "branding did not serialise");
        ApiError::internal()
    })?;
    state.store.put_setting(&tenant, BRANDING, &value).await?;
    state.reads.settings.forget(&tenant).await;
    tracing::info!(tenant = %tenant, by = %user.user_id, "report branding changed");
    Ok(Json(branding(&state, &tenant).await?))
}

// ---- the document ----

/// What formats a figure of `unit`.
pub(crate) fn format_value(unit: Unit, v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else { return "—".into() };
    match unit {
        Unit::Count => thousands(v.round(), 0),
        Unit::Hours => format!("{} h", trim_decimals(&thousands(v, 2))),
        Unit::Percent => format!("{}%", trim_decimals(&thousands(v, 1))),
        Unit::Money => money(v),
        Unit::Rate => format!("{}/h", money(v)),
    }
}

fn money(v: f64) -> String {
    let s = thousands(v.abs().round(), 0);
    if v < -0.5 { format!("-${s}") } else { format!("${s}") }
}

/// `1234567.891` with `decimals` → `1,234,567.89`.
fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

fn trim_decimals(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

fn tone(a: Option<&Assessment>) -> Tone {
    match a {
        Some(Assessment::Better) => Tone::Good,
        Some(Assessment::Worse) => Tone::Bad,
        _ => Tone::Neutral,
    }
}

fn figure(m: &MetricView) -> Figure {
    let change = m.previous.as_ref().and_then(|p| {
        let text = match (p.change_pct, p.change) {
            (Some(pct), _) if pct.abs() < 0.05 => "no change vs previous period".to_owned(),
            (Some(pct), _) => format!(
                "{}{}% vs previous period",
                sign(pct),
                trim_decimals(&thousands(pct.abs(), 1))
            ),
            (None, Some(0.0)) => "no change vs previous period".to_owned(),
            (None, Some(c)) => {
                format!("{}{} vs previous period", sign(c), format_value(m.unit, Some(c.abs())))
            }
            (None, None) => return None,
        };
        Some((text, tone(p.assessment.as_ref())))
    });
    let goal = m.goal.as_ref().filter(|g| g.applies).and_then(|g| {
        let target = format_value(m.unit, g.pace_target.or(Some(g.target)));
        let (word, t) = match g.status? {
            avesa_analytics::settings::GoalStatus::Met => ("Goal met", Tone::Good),
            avesa_analytics::settings::GoalStatus::AtRisk => ("Goal at risk", Tone::Warning),
            avesa_analytics::settings::GoalStatus::Missed => ("Goal missed", Tone::Bad),
        };
        Some((format!("{word} (target {target})"), t))
    });
    Figure { label: m.label.clone(), value: format_value(m.unit, m.value), change, goal }
}

fn sign(v: f64) -> &'static str {
    if v > 0.0 {
        "+"
    } else if v < 0.0 {
        "-"
    } else {
        ""
    }
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `1 Nov 2026 – 30 Nov 2026` for a period's [from, to) read in `tz`.
fn period_text(from: &str, to: &str, tz: Tz) -> String {
    let (Some(f), Some(t)) = (parse_instant(from), parse_instant(to)) else {
        return format!("{from} – {to}");
    };
    let first = f.with_timezone(&tz).date_naive();
    let last = (t - chrono::TimeDelta::seconds(1)).with_timezone(&tz).date_naive().max(first);
    format!("{} – {}", first.format("%-d %b %Y"), last.format("%-d %b %Y"))
}

fn short_date(day: &str) -> String {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| d.format("%-d %b").to_string())
        .unwrap_or_else(|_| day.to_owned())
}

fn chart(title: &str, series: &[&SeriesView]) -> Option<Chart> {
    let first = series.first()?;
    let labels = first.current.points.iter().map(|p| short_date(&p.start)).collect();
    let unit = first.unit;
    let scale_label: fn(f64) -> String = match unit {
        Unit::Hours => |v| format_value(Unit::Hours, Some(v)),
        Unit::Money | Unit::Rate => |v| format_value(Unit::Money, Some(v)),
        Unit::Percent => |v| format_value(Unit::Percent, Some(v)),
        Unit::Count => |v| format_value(Unit::Count, Some(v)),
    };
    Some(Chart {
        title: format!("{title} per {}", first.interval),
        labels,
        series: series
            .iter()
            .map(|s| (s.label.clone(), s.current.points.iter().map(|p| p.value).collect()))
            .collect(),
        scale_label,
    })
}

fn breakdown_title(metric: &str, group: &str) -> String {
    match (metric, group) {
        (_, "type") => "Top issues: tickets opened by type".into(),
        ("tickets_opened", "priority") => "Tickets opened by priority".into(),
        ("tickets_opened", "contact") => "Who raised tickets".into(),
        ("hours_worked", "member") => "Hours by technician".into(),
        ("hours_worked", "work_type") => "Hours by work type".into(),
        (m, g) => format!("{m} by {g}"),
    }
}

fn breakdown_table(m: &MetricView, metric: &str, group: &str) -> Table {
    let groups = m.groups.as_deref().unwrap_or_default();
    let total: f64 = groups.iter().filter_map(|g| g.value).sum();
    let column = match group {
        "type" => "Type",
        "priority" => "Priority",
        "contact" => "Contact",
        "member" => "Technician",
        "work_type" => "Work type",
        other => other,
    };
    Table {
        title: breakdown_title(metric, group),
        headers: vec![column.into(), m.label.clone(), "Share".into()],
        numeric: vec![false, true, true],
        rows: groups
            .iter()
            .map(|g| {
                let share = match g.value {
                    Some(v) if total > 0.0 => {
                        format!("{}%", trim_decimals(&thousands(v / total * 100.0, 1)))
                    }
                    _ => "—".into(),
                };
                vec![g.label.clone(), format_value(m.unit, g.value), share]
            })
            .collect(),
        empty: "Nothing in this period.".into(),
        weights: Vec::new(),
    }
}

/// Open tickets shown in a report at most.
const OPEN_TICKETS: u32 = 25;

/// The company's open tickets, oldest first, as a table (with how many there are).
async fn open_tickets(
    state: &AppState,
    tenant: &TenantId,
    company: &str,
    as_of: Option<DateTime<Utc>>,
    tz: Tz,
) -> Result<Table, ApiError> {
    let pairs = [("company", company), ("open", "true")];
    let (filters, _) = Filters::from_params(pairs).map_err(|e| ApiError::bad_request(e.0))?;
    let (filter, _) =
        filters.conds(CanonicalTable::Tickets, tz).map_err(|e| ApiError::bad_request(e.0))?;
    let q = ListQuery {
        page: 1,
        page_size: OPEN_TICKETS,
        sort: Some("opened_at".into()),
        descending: false,
        as_of: as_of.map(|t| t.naive_utc()),
        filter,
        ..ListQuery::default()
    };
    let page = state.warehouse.list(tenant, CanonicalTable::Tickets, &q).await?;
    let now = as_of.unwrap_or_else(Utc::now);
    let text = |r: &avesa_warehouse::Record, k: &str| {
        r.get(k).and_then(|v| v.as_str()).map(str::to_owned).unwrap_or_default()
    };
    let rows = page
        .items
        .iter()
        .map(|r| {
            let opened = r.get("opened_at").and_then(|v| v.as_str()).and_then(|s| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                    .ok()
                    .map(|t| t.and_utc())
                    .or_else(|| parse_instant(s))
            });
            let number = match text(r, "number") {
                n if n.is_empty() => text(r, "source_id"),
                n if n.chars().all(|c| c.is_ascii_digit()) => format!("#{n}"),
                n => n,
            };
            vec![
                number,
                text(r, "summary"),
                text(r, "status"),
                text(r, "priority"),
                opened.map_or_else(String::new, |t| {
                    t.with_timezone(&tz).format("%-d %b %Y").to_string()
                }),
                opened.map_or_else(String::new, |t| (now - t).num_days().max(0).to_string()),
            ]
        })
        .collect();
    let title = if page.total > u64::from(OPEN_TICKETS) {
        format!("Open tickets (the oldest {OPEN_TICKETS} of {})", page.total)
    } else {
        format!("Open tickets ({})", page.total)
    };
    Ok(Table {
        title,
        headers: ["Ticket", "Summary", "Status", "Priority", "Opened", "Age (days)"]
            .map(String::from)
            .to_vec(),
        numeric: vec![false, false, false, false, false, true],
        rows,
        empty: "No open tickets.".into(),
        weights: vec![0.8, 2.6, 1.0, 1.3, 0.9],
    })
}

/// A company's report, ready to render: the document, its file name, the figures it was
/// made from and the tenant's branding (read once, for the header, the logo and e-mails).
pub(crate) struct CompanyReport {
    pub doc: Document,
    pub file: String,
    pub view: ReportView,
    pub brand: BrandingView,
}

/// A company's report for the period `p` names.
pub(crate) async fn company_document(
    state: &AppState,
    user: &AuthUser,
    id: String,
    mut p: MetricParams,
) -> Result<CompanyReport, ApiError> {
    p.compare = Some("previous".into());
    let view = crate::kpi::report(
        state,
        user,
        CanonicalTable::Companies,
        "company",
        &COMPANY_REPORT,
        id.clone(),
        p,
    )
    .await?;
    let tz: Tz = view.period.tz.parse().unwrap_or(chrono_tz::UTC);
    let as_of = view.metrics.first().and_then(|m| m.as_of.as_deref()).and_then(parse_instant);
    let brand = branding(state, &user.tenant).await?;
    let open = open_tickets(state, &user.tenant, &id, as_of, tz).await?;
    let name = view.name.clone().unwrap_or_else(|| id.clone());
    let mut lines = vec![format!(
        "{} ({}, {})",
        period_text(&view.period.from, &view.period.to, tz),
        view.period.label.replace('_', " "),
        view.period.tz
    )];
    if let Some(prev) = view.metrics.iter().find_map(|m| m.previous.as_ref()) {
        lines
            .push(format!("Compared with {}", period_text(&prev.period.from, &prev.period.to, tz)));
    }
    let generated = Utc::now().with_timezone(&tz).format("%-d %b %Y %H:%M");
    lines.push(match as_of {
        Some(t) => format!(
            "As the data stood on {} · generated {generated}",
            t.with_timezone(&tz).format("%-d %b %Y %H:%M")
        ),
        None => format!("Generated {generated}"),
    });
    let find = |id: &str| view.series.iter().find(|s| s.metric == id);
    let mut charts = Vec::new();
    let tickets: Vec<&SeriesView> =
        ["tickets_opened", "tickets_closed"].iter().filter_map(|m| find(m)).collect();
    charts.extend(chart("Tickets opened and closed", &tickets));
    charts.extend(find("hours_worked").and_then(|s| chart("Hours worked", &[s])));
    let mut tables = Vec::new();
    for (m, (metric, group)) in view.breakdowns.iter().zip(COMPANY_REPORT.breakdowns) {
        tables.push(breakdown_table(m, metric, group));
    }
    // Top issues first, then what is still open.
    tables.insert(1.min(tables.len()), open);
    let accent = Rgb::parse_hex(&brand.accent).unwrap_or(avesa_report::DEFAULT_ACCENT);
    let doc = Document {
        branding: Branding {
            name: brand.name.clone(),
            accent,
            footer: brand.footer.clone(),
            logo: None,
        },
        kind: "Client report".into(),
        subject: name.clone(),
        lines,
        figures: view.metrics.iter().map(figure).collect(),
        charts,
        tables,
        notes: vec![
            "Changes compare each figure with the period of equal length just before. A dash \
             marks a figure the source does not record (SLA, for a source without SLAs)."
                .into(),
        ],
    };
    let first_day = parse_instant(&view.period.from)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let file = format!("{}-report-{first_day}.pdf", slug(&name));
    Ok(CompanyReport { doc, file, view, brand })
}

/// `Contoso Ltd.` → `contoso-ltd`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() { "company".into() } else { out.chars().take(60).collect() }
}

/// The PDF, rendered off the reactor (with the logo of `logo`, a data URL, decoded there).
pub(crate) async fn render(mut doc: Document, logo: Option<String>) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(move || {
        doc.branding.logo = logo
            .and_then(|url| logo_bytes(&url).ok())
            .and_then(|bytes| avesa_report::Logo::from_bytes(&bytes).ok());
        avesa_report::render(&doc)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "report rendering failed");
        ApiError::internal()
    })
}

/// A company's client report as a PDF: its tickets, SLA, hours, top issues, trends and
/// open tickets for the period (default the last 30 days), each figure against the
/// previous period and its goal, in the tenant's branding.
#[utoipa::path(
    get,
    path = "/api/analytics/companies/{id}/report.pdf",
    tag = "reports",
    params(("id" = String, Path, description = "The company's id (connectwise:250)."), MetricParams),
    responses(
        (status = 200, description = "The report.", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such company.", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn company_pdf(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Response, ApiError> {
    let CompanyReport { doc, file, brand, .. } = company_document(&state, &user, id, p).await?;
    let pdf = render(doc, brand.logo).await?;
    let mut resp = pdf.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

// ---- e-mail ----

/// Addresses one report e-mail goes to at most.
pub(crate) const MAX_RECIPIENTS: usize = 50;

/// The body of `POST /api/analytics/companies/{id}/report/email`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailReport {
    /// Addresses (`ana@client.example` or `Ana Lima <ana@client.example>`).
    #[serde(default)]
    pub to: Vec<String>,
    /// Also send it to the company's active contacts that have an e-mail address.
    #[serde(default)]
    pub contacts: bool,
    /// The period, as for every analytics route (default `30d`).
    pub period: Option<String>,
    pub from: Option<String>,
    pub to_date: Option<String>,
    pub tz: Option<String>,
    /// A note at the top of the e-mail (at most 2,000 characters).
    pub message: Option<String>,
}

/// Who got a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSent {
    pub sent_to: Vec<String>,
    pub subject: String,
    pub file: String,
}

/// The company's contacts that have an e-mail address and are active.
pub(crate) async fn contact_addresses(
    state: &AppState,
    tenant: &TenantId,
    company: &str,
) -> Result<Vec<String>, ApiError> {
    let (filters, _) =
        Filters::from_params([("company", company)]).map_err(|e| ApiError::bad_request(e.0))?;
    let (filter, _) = filters
        .conds(CanonicalTable::Contacts, chrono_tz::UTC)
        .map_err(|e| ApiError::bad_request(e.0))?;
    let q = ListQuery { page: 1, page_size: 200, filter, ..ListQuery::default() };
    let page = state.warehouse.list(tenant, CanonicalTable::Contacts, &q).await?;
    let mut out = Vec::new();
    for r in &page.items {
        if r.get("active").and_then(|v| v.as_bool()) == Some(false) {
            continue;
        }
        let Some(email) = r.get("email").and_then(|v| v.as_str()).map(str::trim) else { continue };
        if avesa_report::parse_address(email).is_err() {
            continue;
        }
        let name = ["first_name", "last_name"]
            .iter()
            .filter_map(|k| r.get(*k).and_then(|v| v.as_str()).map(str::trim))
            .filter(|s| !s.is_empty() && !s.contains(['<', '>', '"', ',']))
            .collect::<Vec<_>>()
            .join(" ");
        out.push(if name.is_empty() { email.to_owned() } else { format!("{name} <{email}>") });
    }
    Ok(out)
}

/// The recipients asked for, checked and without repeats (by address).
pub(crate) fn recipients(
    given: &[String],
    contacts: Vec<String>,
) -> Result<Vec<Mailbox>, ApiError> {
    let mut out: Vec<Mailbox> = Vec::new();
    for raw in given {
        let m = avesa_report::parse_address(raw)
            .map_err(|_| field("to", format!("{raw:?} is not an e-mail address")))?;
        if !out.iter().any(|o| o.email == m.email) {
            out.push(m);
        }
    }
    for raw in contacts {
        if let Ok(m) = avesa_report::parse_address(&raw)
            && !out.iter().any(|o| o.email == m.email)
        {
            out.push(m);
        }
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(field("to", format!("at most {MAX_RECIPIENTS} recipients")));
    }
    Ok(out)
}

/// Renders a company's report and e-mails it: the work shared by the e-mail route and
/// the schedules.
/// Its warehouse reads take the tenant's read gate like any request's (`patient`: a busy
/// gate is waited out instead of answered 429), and let go of it before the SMTP
/// exchange, which may take a while.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_company_report(
    state: &AppState,
    user: &AuthUser,
    company: String,
    params: MetricParams,
    to: &[String],
    contacts: bool,
    message: Option<&str>,
    patient: bool,
) -> Result<EmailSent, ApiError> {
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::conflict(
            "e-mailing reports is off on this server (smtp.url is not set)",
        ));
    };
    let permit = loop {
        match state.reads.gate.enter(&user.tenant).await {
            Ok(p) => break p,
            Err(_) if patient => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            Err(e) => return Err(e),
        }
    };
    let contact_list =
        if contacts { contact_addresses(state, &user.tenant, &company).await? } else { Vec::new() };
    let rcpt = recipients(to, contact_list)?;
    if rcpt.is_empty() {
        return Err(field(
            "to",
            if contacts {
                "the company has no active contact with an e-mail address; name recipients in `to`"
            } else {
                "name at least one recipient, or set `contacts`"
            },
        ));
    }
    let CompanyReport { doc, file, view, brand } =
        company_document(state, user, company, params).await?;
    let brand_name = doc.branding.name.clone();
    let footer = doc.branding.footer.clone();
    let period_line = doc.lines.first().cloned().unwrap_or_default();
    let subject_name = view.name.clone().unwrap_or_else(|| view.id.clone());
    drop(permit);
    let pdf = render(doc, brand.logo.clone()).await?;
    let subject = format!("{subject_name}: client report, {period_line}");
    let mut text = String::new();
    if let Some(m) = message.map(str::trim).filter(|m| !m.is_empty()) {
        text.push_str(m);
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "Attached is {subject_name}'s client report from {brand_name} for {period_line}: tickets, \
         SLA, hours, top issues and open tickets, each compared with the period before.\n"
    ));
    if let Some(f) = footer {
        text.push_str(&format!("\n-- \n{f}\n"));
    }
    let reply_to = brand.reply_to.as_deref().and_then(|r| avesa_report::parse_address(r).ok());
    let sent_to: Vec<String> = rcpt.iter().map(|m| m.email.to_string()).collect();
    mailer
        .send(Email {
            to: rcpt,
            reply_to,
            subject: subject.clone(),
            text,
            pdf: Some((file.clone(), pdf)),
        })
        .await
        .map_err(|e| {
            tracing::warn!(tenant = %user.tenant, error = %e, "a report e-mail was not sent");
            ApiError::unavailable(e.to_string())
        })?;
    tracing::info!(tenant = %user.tenant, by = %user.user_id, recipients = sent_to.len(), "client report e-mailed");
    Ok(EmailSent { sent_to, subject, file })
}

/// E-mails a company's client report (the PDF attached) to the addresses given and/or
/// the company's contacts, through the server's SMTP server. Analysts and tenant admins.
#[utoipa::path(
    post,
    path = "/api/analytics/companies/{id}/report/email",
    tag = "reports",
    params(("id" = String, Path, description = "The company's id (connectwise:250).")),
    request_body = EmailReport,
    responses(
        (status = 200, description = "The SMTP server took the message.", body = EmailSent),
        (status = 400, description = "A bad recipient or period.", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such company.", body = crate::openapi::ErrorBody),
        (status = 409, description = "E-mailing reports is off on this server.", body = crate::openapi::ErrorBody),
        (status = 503, description = "The SMTP server did not take the message.", body = crate::openapi::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn email_company_report(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EmailReport>,
) -> Result<Json<EmailSent>, ApiError> {
    user.require_role(&[Role::TenantAdmin, Role::Analyst])?;
    if let Some(m) = &body.message {
        plain_message(m)?;
    }
    let params = MetricParams {
        period: body.period.clone(),
        from: body.from.clone(),
        to: body.to_date.clone(),
        tz: body.tz.clone(),
        ..MetricParams::default()
    };
    let sent = send_company_report(
        &state,
        &user,
        id,
        params,
        &body.to,
        body.contacts,
        body.message.as_deref(),
        false,
    )
    .await?;
    Ok(Json(sent))
}

/// A user's note for an e-mail: plain text, line breaks allowed.
pub(crate) fn plain_message(m: &str) -> Result<(), ApiError> {
    if m.chars().count() > 2000 {
        return Err(field("message", "at most 2000 characters"));
    }
    if m.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(field("message", "no control characters"));
    }
    Ok(())
}

/// The mailer this process sends with, from the configuration.
pub fn mailer(
    settings: &avesa_report::SmtpSettings,
) -> Result<Arc<avesa_report::Mailer>, avesa_report::MailError> {
    avesa_report::Mailer::new(settings).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(format_value(Unit::Count, Some(1234567.0)), "1,234,567");
        assert_eq!(format_value(Unit::Hours, Some(2.25)), "2.25 h");
        assert_eq!(format_value(Unit::Hours, Some(1200.0)), "1,200 h");
        assert_eq!(format_value(Unit::Percent, Some(96.54)), "96.5%");
        assert_eq!(format_value(Unit::Money, Some(12345.4)), "$12,345");
        assert_eq!(format_value(Unit::Money, Some(-80.0)), "-$80");
        assert_eq!(format_value(Unit::Rate, Some(142.0)), "$142/h");
        assert_eq!(format_value(Unit::Count, None), "—");
        assert_eq!(format_value(Unit::Hours, Some(f64::NAN)), "—");
        assert_eq!(thousands(-0.004, 2), "0.00");
    }

    #[test]
    fn periods_show_their_last_day_not_the_next() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        assert_eq!(
            period_text("2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z", tz),
            "1 Nov 2026 – 30 Nov 2026"
        );
        assert_eq!(short_date("2026-11-02"), "2 Nov");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(slug("Contoso Ltd."), "contoso-ltd");
        assert_eq!(slug("Ünïcode & Co"), "n-code-co");
        assert_eq!(slug("///"), "company");
    }

    #[test]
    fn recipients_are_checked_and_not_repeated() {
        let r = recipients(
            &["ana@client.example".into(), "Ana <ana@client.example>".into()],
            vec!["Bo Li <bo@client.example>".into(), "bad".into()],
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert!(recipients(&["nope".into()], vec![]).is_err());
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@client.example")).collect();
        assert!(recipients(&many, vec![]).is_err());
    }
}
