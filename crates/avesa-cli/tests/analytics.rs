//! The metric routes against the simulators' ground truth: the demo is synced through the
//! real pipeline into DuckDB, and every figure the API answers is recomputed here, from
//! the records the vendor APIs serve, by code that shares nothing with the analytics
//! crate — for both demo tenants (ConnectWise; ServiceNow + Salesforce), over periods in
//! three time zones, with the previous period, breakdowns, a series, and `as_of` an
//! instant before the simulators' clocks moved on.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use avesa_cli::demo::{self, DemoOptions, DemoTenant, MAIN, SECOND};
use avesa_model::TenantId;
use avesa_pipeline::SyncRequest;
use avesa_sim::{AdvanceSpec, CwSizes};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::Value;

/// A ticket as the vendor serves it, in the test's own terms.
#[derive(Clone, Debug)]
struct Ticket {
    opened: Option<DateTime<Utc>>,
    closed: bool,
    closed_at: Option<DateTime<Utc>>,
    sla: Option<bool>,
    board: Option<String>,
    company: Option<String>,
    responded: Option<DateTime<Utc>>,
    reopens: Option<i64>,
    /// The number the vendor shows (ConnectWise's id, INC…, the case number).
    number: Option<String>,
}

/// A time entry as the vendor serves it.
#[derive(Clone, Debug)]
struct Entry {
    start: Option<DateTime<Utc>>,
    hours: Option<f64>,
    billable: Option<String>,
    billed: Option<f64>,
    rate: Option<f64>,
    member: Option<String>,
}

/// Any timestamp the vendors write: RFC 3339, ServiceNow's `2026-10-01 12:00:00` (UTC),
/// Salesforce's `2026-10-01T12:00:00.000+0000`, or a date (midnight UTC).
fn time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str().filter(|s| !s.is_empty())?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z") {
        return Some(t.to_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// A ServiceNow reference's sys_id.
fn sn_ref(v: &Value) -> Option<String> {
    v.get("value").and_then(text)
}

fn truth(sims: &demo::DemoSims, t: &DemoTenant) -> (Vec<Ticket>, Vec<Entry>) {
    if t.id == MAIN.id {
        let cw = sims.connectwise.truth(t.id);
        let tickets = cw
            .tickets
            .iter()
            .map(|v| Ticket {
                opened: time(&v["_info"]["dateEntered"]),
                closed: flag(&v["closedFlag"]) == Some(true),
                closed_at: time(&v["closedDate"]),
                sla: flag(&v["isInSla"]),
                board: text(&v["board"]["name"]),
                company: text(&v["company"]["id"]).map(|c| format!("connectwise:{c}")),
                responded: time(&v["dateResponded"]),
                reopens: None,
                number: text(&v["id"]),
            })
            .collect();
        let entries = cw
            .time_entries
            .iter()
            .map(|v| Entry {
                start: time(&v["timeStart"]),
                hours: num(&v["actualHours"]),
                billable: text(&v["billableOption"]),
                billed: num(&v["hoursBilled"]),
                rate: num(&v["hourlyRate"]),
                member: text(&v["member"]["id"]).map(|m| format!("connectwise:{m}")),
            })
            .collect();
        return (tickets, entries);
    }
    let sn = sims.servicenow.truth(SECOND.id);
    let sf = sims.salesforce.truth(SECOND.id);
    let mut tickets: Vec<Ticket> = sn.tables["incident"]
        .iter()
        .map(|v| Ticket {
            opened: time(&v["opened_at"]),
            closed: flag(&v["active"]) == Some(false),
            closed_at: time(&v["closed_at"]),
            sla: flag(&v["made_sla"]),
            board: text(&v["category"]),
            company: sn_ref(&v["company"]).map(|c| format!("servicenow:{c}")),
            responded: None,
            reopens: num(&v["reopen_count"]).map(|n| n as i64),
            number: text(&v["number"]),
        })
        .collect();
    tickets.extend(sf.tables["Case"].iter().map(|v| Ticket {
        opened: time(&v["CreatedDate"]),
        closed: flag(&v["IsClosed"]) == Some(true),
        closed_at: time(&v["ClosedDate"]),
        sla: None,
        board: text(&v["Type"]),
        company: text(&v["AccountId"]).map(|c| format!("salesforce:{c}")),
        responded: None,
        reopens: None,
        number: text(&v["CaseNumber"]),
    }));
    let entries = sn.tables["task_time_worked"]
        .iter()
        .map(|v| Entry {
            start: time(&v["work_date"]),
            hours: num(&v["time_in_seconds"]).map(|s| s / 3600.0),
            billable: None,
            billed: None,
            rate: None,
            member: sn_ref(&v["user"]).map(|m| format!("servicenow:{m}")),
        })
        .collect();
    (tickets, entries)
}

fn within(t: Option<DateTime<Utc>>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    t.is_some_and(|t| t >= from && t < to)
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 })
}

/// Weekdays (Monday to Friday) of `[from, to)` in `tz`, partial days by their share.
fn working_days(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let mut total = 0.0;
    let mut day = from.with_timezone(&tz).date_naive();
    while tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().to_utc()
        < to
    {
        let start =
            tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().to_utc();
        let next = day.succ_opt().unwrap();
        let end = tz
            .from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .to_utc();
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let (a, b) = (start.max(from), end.min(to));
            if b > a {
                total += (b - a).num_seconds() as f64 / (end - start).num_seconds() as f64;
            }
        }
        day = next;
    }
    total
}

/// Every metric the test checks, as the truth says, for `[from, to)`.
fn expected(
    tickets: &[Ticket],
    entries: &[Entry],
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeMap<&'static str, Option<f64>> {
    let opened = tickets.iter().filter(|t| within(t.opened, from, to)).count() as f64;
    let closed: Vec<&Ticket> =
        tickets.iter().filter(|t| t.closed && within(t.closed_at, from, to)).collect();
    let backlog: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.opened.is_none_or(|o| o < to))
        .filter(|t| !t.closed || t.closed_at.is_some_and(|c| c >= to))
        .collect();
    let hours_to_close: Vec<f64> = closed
        .iter()
        .filter_map(|t| Some((t.closed_at? - t.opened?).num_microseconds()? as f64 / 3.6e9))
        .collect();
    let slas: Vec<f64> =
        closed.iter().filter_map(|t| t.sla.map(|b| if b { 1.0 } else { 0.0 })).collect();
    let ages: Vec<f64> = backlog
        .iter()
        .filter_map(|t| Some((to - t.opened?).num_microseconds()? as f64 / 3.6e9))
        .collect();
    let opened_ones: Vec<&Ticket> = tickets.iter().filter(|t| within(t.opened, from, to)).collect();
    let responses: Vec<f64> = opened_ones
        .iter()
        .filter_map(|t| Some((t.responded? - t.opened?).num_microseconds()? as f64 / 3.6e9))
        .collect();
    let reopened = opened_ones
        .iter()
        .any(|t| t.reopens.is_some())
        .then(|| opened_ones.iter().filter(|t| t.reopens.is_some_and(|n| n > 0)).count() as f64);
    let worked: Vec<&Entry> = entries.iter().filter(|e| within(e.start, from, to)).collect();
    let recorded = worked.iter().any(|e| e.billable.is_some());
    let is_billable = |e: &&&Entry| e.billable.as_deref() == Some("Billable");
    let hours: f64 = worked.iter().filter_map(|e| e.hours).sum();
    let billable: f64 = worked.iter().filter(is_billable).filter_map(|e| e.hours).sum();
    let billed: f64 =
        worked.iter().filter(is_billable).filter_map(|e| Some(e.billed? * e.rate?)).sum();
    let members = {
        let mut m: Vec<&String> = worked.iter().filter_map(|e| e.member.as_ref()).collect();
        m.sort();
        m.dedup();
        m.len() as f64
    };
    let capacity = 8.0 * working_days(tz, from, to) * members;
    let recorded_then = |v: f64| recorded.then_some(v);
    BTreeMap::from([
        ("tickets_opened", Some(opened)),
        ("tickets_closed", Some(closed.len() as f64)),
        ("net_ticket_change", Some(opened - closed.len() as f64)),
        ("open_backlog", Some(backlog.len() as f64)),
        ("open_ticket_age_hours", mean(&ages)),
        ("resolution_hours_avg", mean(&hours_to_close)),
        ("resolution_hours_median", median(hours_to_close.clone())),
        ("sla_met_pct", mean(&slas).map(|s| s * 100.0)),
        ("first_response_hours_avg", mean(&responses)),
        ("first_response_hours_median", median(responses.clone())),
        ("tickets_reopened", reopened),
        ("hours_worked", Some(hours)),
        ("time_entries", Some(worked.len() as f64)),
        ("billable_hours", recorded_then(billable)),
        ("non_billable_hours", recorded_then(hours - billable)),
        (
            "billable_pct",
            if recorded && hours > 0.0 { Some(billable / hours * 100.0) } else { None },
        ),
        ("billed_amount", recorded_then(billed)),
        (
            "effective_hourly_rate",
            if recorded && hours > 0.0 { Some(billed / hours) } else { None },
        ),
        (
            "utilisation_pct",
            if recorded && capacity > 0.0 { Some(billable / capacity * 100.0) } else { None },
        ),
    ])
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn login(&self, t: &DemoTenant) -> String {
        let r = self
            .http
            .post(format!("{}/auth/login", self.base))
            .json(&serde_json::json!({"tenant_id": t.id, "email": t.email, "password": t.password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.send(reqwest::Method::PUT, token, path, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "PUT {path}: {v}");
        v
    }

    /// A CSV export's rows (header first), after checking it is one.
    async fn csv(&self, token: &str, path: &str) -> Vec<csv::StringRecord> {
        let r =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        let ty = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ty.starts_with("text/csv"), "{ty}");
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
        let body = r.bytes().await.unwrap();
        let mut rows = csv::ReaderBuilder::new().has_headers(false).from_reader(&body[..]);
        rows.records().map(|r| r.unwrap()).collect()
    }

    async fn ok(&self, token: &str, path: &str) -> Value {
        let (s, v) = self.get(token, path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }
}

fn col_of(head: &csv::StringRecord, name: &str) -> usize {
    head.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {head:?}"))
}

fn close(got: &Value, want: Option<f64>) -> bool {
    match (got.as_f64(), want) {
        (None, None) => got.is_null(),
        (Some(a), Some(b)) => (a - b).abs() <= 1e-5 * b.abs().max(1.0),
        _ => false,
    }
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc()
}

const METRICS: &str = "tickets_opened,tickets_closed,net_ticket_change,open_backlog,open_ticket_age_hours,\
resolution_hours_avg,resolution_hours_median,sla_met_pct,first_response_hours_avg,first_response_hours_median,tickets_reopened,hours_worked,time_entries,billable_hours,\
non_billable_hours,billable_pct,billed_amount,effective_hourly_rate,utilisation_pct";

/// Checks every metric of one request (and its previous period) against the truth.
async fn check_kpis(
    api: &Api,
    token: &str,
    t: &DemoTenant,
    truth: &(Vec<Ticket>, Vec<Entry>),
    tz: Tz,
    query: &str,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let v = api
        .ok(
            token,
            &format!("/api/analytics/kpis?metrics={METRICS}&compare=previous&tz={tz}&{query}"),
        )
        .await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), METRICS.split(',').count());
    let (from, to) = (instant(&items[0]["period"]["from"]), instant(&items[0]["period"]["to"]));
    let (pfrom, pto) = (
        instant(&items[0]["previous"]["period"]["from"]),
        instant(&items[0]["previous"]["period"]["to"]),
    );
    let want = expected(&truth.0, &truth.1, tz, from, to);
    let before = expected(&truth.0, &truth.1, tz, pfrom, pto);
    let mut checked = 0;
    for item in items {
        let id = item["metric"].as_str().unwrap();
        assert!(
            close(&item["value"], want[id]),
            "{} {query} {tz} {id}: got {}, truth {:?}",
            t.id,
            item["value"],
            want[id]
        );
        assert_eq!(item["available"], Value::Bool(want[id].is_some()), "{} {id}", t.id);
        assert!(
            close(&item["previous"]["value"], before[id]),
            "{} {query} {tz} previous {id}: got {}, truth {:?}",
            t.id,
            item["previous"]["value"],
            before[id]
        );
        checked += 1;
    }
    assert!(
        want["tickets_opened"].unwrap() > 0.0,
        "{} {query}: a period without tickets proves little",
        t.id
    );
    assert!(checked >= 16);
    (from, to)
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_simulators_truth() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.main_sizes = CwSizes::small();
    opts.second_sizes = demo::SecondSizes::small();
    let d = demo::prepare(opts.clone()).await.expect("demo prepares");
    assert_eq!(d.summary.status, avesa_state::RunStatus::Succeeded, "{:?}", d.summary);
    let (addr, _server) = demo::serve(&d.app, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let api = Api { base: format!("http://{addr}"), http: reqwest::Client::new() };
    let epoch = demo::sim_epoch();
    let ny: Tz = "America/New_York".parse().unwrap();
    let ams: Tz = "Europe/Amsterdam".parse().unwrap();
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();

    let mut before_advance = BTreeMap::new();
    for t in [&MAIN, &SECOND] {
        let token = api.login(t).await;
        let truth = truth(&d.sims, t);
        before_advance.insert(t.id, truth.clone());
        // 1. October in New York (local dates; the clocks change on 1 November, after).
        let (from, to) =
            check_kpis(&api, &token, t, &truth, ny, "from=2026-10-01&to=2026-10-31").await;
        assert_eq!((from, to), (utc("2026-10-01T04:00:00Z"), utc("2026-11-01T04:00:00Z")));
        // 2. A week given as instants, read in Kolkata (+05:30).
        check_kpis(
            &api,
            &token,
            t,
            &truth,
            kolkata,
            "from=2026-10-20T00:00:00Z&to=2026-10-27T12:00:00Z",
        )
        .await;
        // 3. The 30 days before an instant, in Amsterdam, where summer time ends on 25 October.
        let (from, to) = check_kpis(
            &api,
            &token,
            t,
            &truth,
            ams,
            &format!(
                "period=30d&as_of={}",
                epoch.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
        .await;
        assert_eq!((from, to), (utc("2026-10-02T22:00:00Z"), epoch));

        // A breakdown: tickets opened in October by board, as the truth counts them.
        let v = api.ok(&token, "/api/analytics/metrics/tickets_opened?from=2026-10-01&to=2026-10-31&group_by=board&limit=1000").await;
        let mut want: BTreeMap<Option<String>, f64> = BTreeMap::new();
        let (oct, nov) = (utc("2026-10-01T00:00:00Z"), utc("2026-11-01T00:00:00Z"));
        for tk in truth.0.iter().filter(|tk| within(tk.opened, oct, nov)) {
            *want.entry(tk.board.clone()).or_default() += 1.0;
        }
        let got: BTreeMap<Option<String>, f64> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].as_str().map(str::to_owned), g["value"].as_f64().unwrap()))
            .collect();
        assert_eq!(got, want, "{} tickets opened by board", t.id);
        // Each group links the list behind it, and that list holds exactly its tickets —
        // the "(none)" group too (`missing=board`).
        for g in v["groups"].as_array().unwrap() {
            let drill = g["drill"].as_str().unwrap_or_else(|| panic!("{} no drill: {g}", t.id));
            assert_eq!(g["key"].is_null(), drill.contains("missing=board"), "{drill}");
            let list = api.ok(&token, &format!("{drill}&page_size=1")).await;
            assert_eq!(list["total"].as_f64(), g["value"].as_f64(), "{} drill of {g}", t.id);
        }

        // Companies by tickets opened carry the companies' names.
        let v = api.ok(&token, "/api/analytics/metrics/tickets_opened?from=2026-10-01&to=2026-10-31&group_by=company&limit=3").await;
        for g in v["groups"].as_array().unwrap() {
            if let Some(id) = g["key"].as_str() {
                let c = api.ok(&token, &format!("/api/companies/{id}")).await;
                assert_eq!(g["label"], c["name"], "{} company label", t.id);
                let n = truth
                    .0
                    .iter()
                    .filter(|tk| tk.company.as_deref() == Some(id) && within(tk.opened, oct, nov))
                    .count() as f64;
                assert_eq!(g["value"].as_f64(), Some(n), "{} tickets of {id}", t.id);
            }
        }

        // Search finds what the user sees: tickets by their company's name, time entries
        // by their member's name — in lists and in metrics alike.
        let query = |path: &str, pairs: &[(&str, &str)]| {
            let mut u = reqwest::Url::parse(&format!("http://x{path}")).unwrap();
            u.query_pairs_mut().extend_pairs(pairs);
            format!("{}?{}", u.path(), u.query().unwrap())
        };
        let top = &v["groups"][0];
        let (id, name) = (top["key"].as_str().unwrap(), top["label"].as_str().unwrap());
        assert_ne!(id, name, "{} the company has a name", t.id);
        let of_company = truth.0.iter().filter(|tk| tk.company.as_deref() == Some(id));
        let list = api
            .ok(&token, &query("/api/tickets", &[("q", name), ("company", id), ("page_size", "1")]))
            .await;
        assert_eq!(
            list["total"].as_u64(),
            Some(of_company.clone().count() as u64),
            "{} q={name}",
            t.id
        );
        // A ticket by the number its source shows (ConnectWise's, INC…, the case number),
        // which every ticket carries.
        for tk in truth.0.iter().step_by(97).take(6) {
            let number = tk.number.as_deref().expect("every source numbers its tickets");
            let found = api
                .ok(&token, &query("/api/tickets", &[("q", number), ("page_size", "100")]))
                .await;
            let items = found["items"].as_array().unwrap();
            assert!(
                items.iter().any(|r| r["number"].as_str() == Some(number)),
                "{} q={number}: {found}",
                t.id
            );
        }
        // The CSV export of a filtered view holds every record of it (all batches), the
        // names of what they refer to, and refuses paging.
        let rows = api.csv(&token, &query("/api/tickets/export.csv", &[("company", id)])).await;
        let (head, rows) = rows.split_first().unwrap();
        let col = |name: &str| head.iter().position(|h| h == name).unwrap();
        assert_eq!(
            rows.len(),
            truth.0.iter().filter(|tk| tk.company.as_deref() == Some(id)).count(),
            "{} export company={id}",
            t.id
        );
        assert!(
            rows.iter().all(|r| &r[col("company_id")] == id && &r[col("company_name")] == name)
        );
        let entries = api.csv(&token, "/api/time-entries/export.csv?sort=time_start").await;
        assert_eq!(entries.len() - 1, truth.1.len(), "{} every time entry", t.id);
        assert!(truth.1.len() > 500, "more than one export batch: {}", truth.1.len());
        let starts: Vec<&str> =
            entries[1..].iter().map(|r| &r[col_of(&entries[0], "time_start")]).collect();
        assert!(starts.windows(2).all(|w| w[0] <= w[1] || w[1].is_empty()), "in the order asked");
        let ids: std::collections::BTreeSet<&str> = entries[1..].iter().map(|r| &r[0]).collect();
        assert_eq!(ids.len(), truth.1.len(), "no record twice across batches");
        assert!(entries[1..].iter().any(|r| !r[col_of(&entries[0], "member_name")].is_empty()));
        let (status, err) = api.get(&token, "/api/tickets/export.csv?page=2").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let all = api.ok(&token, &query("/api/tickets", &[("q", name), ("page_size", "1")])).await;
        assert!(all["total"].as_u64() >= list["total"].as_u64());
        let m = api
            .ok(
                &token,
                &query(
                    "/api/analytics/metrics/tickets_opened",
                    &[("q", name), ("company", id), ("from", "2026-10-01"), ("to", "2026-10-31")],
                ),
            )
            .await;
        let n = of_company.filter(|tk| within(tk.opened, oct, nov)).count() as f64;
        assert_eq!(m["value"].as_f64(), Some(n), "{} tickets_opened q={name}", t.id);
        let mut per_member: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &truth.1 {
            if let Some(m) = &e.member {
                *per_member.entry(m).or_default() += 1;
            }
        }
        let (member, entries) = per_member.iter().max_by_key(|(_, n)| **n).unwrap();
        let who = api.ok(&token, &format!("/api/members/{member}")).await;
        let who = who["name"].as_str().unwrap().to_owned();
        let list = api
            .ok(
                &token,
                &query("/api/time-entries", &[("q", &who), ("member", member), ("page_size", "1")]),
            )
            .await;
        assert_eq!(list["total"].as_u64(), Some(*entries), "{} time entries q={who}", t.id);
        // A contact by the full name the user sees ("Jane Smith": first and last name are
        // two fields), and every ticket of that contact by it.
        let named = api.ok(&token, "/api/tickets?page_size=200&sort=id").await;
        if let Some(tk) =
            named["items"].as_array().unwrap().iter().find(|r| {
                r["contact_name"].as_str().is_some_and(|n| n.split_whitespace().count() >= 2)
            })
        {
            let (contact, full) =
                (tk["contact_id"].as_str().unwrap(), tk["contact_name"].as_str().unwrap());
            let found =
                api.ok(&token, &query("/api/contacts", &[("q", full), ("page_size", "100")])).await;
            assert!(
                found["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"].as_str() == Some(contact)),
                "{} contacts q={full}: {found}",
                t.id
            );
            let all = api
                .ok(&token, &query("/api/tickets", &[("contact", contact), ("page_size", "1")]))
                .await;
            let by_name = api
                .ok(
                    &token,
                    &query(
                        "/api/tickets",
                        &[("q", full), ("contact", contact), ("page_size", "1")],
                    ),
                )
                .await;
            assert_eq!(by_name["total"], all["total"], "{} tickets q={full}", t.id);
        }

        // A client report and a technician review: each figure the truth of that company
        // or member alone.
        let r = api
            .ok(
                &token,
                &format!("/api/analytics/companies/{id}/report?from=2026-10-01&to=2026-10-31"),
            )
            .await;
        assert_eq!(r["name"], name);
        let fig = |r: &Value, m: &str| {
            r["metrics"].as_array().unwrap().iter().find(|v| v["metric"] == m).unwrap()["value"]
                .clone()
        };
        assert_eq!(fig(&r, "tickets_opened").as_f64(), Some(n), "{} report of {id}", t.id);
        let closed = truth
            .0
            .iter()
            .filter(|tk| {
                tk.company.as_deref() == Some(id) && tk.closed && within(tk.closed_at, oct, nov)
            })
            .count() as f64;
        assert_eq!(fig(&r, "tickets_closed").as_f64(), Some(closed), "{} report of {id}", t.id);
        assert_eq!(r["series"].as_array().unwrap().len(), 3);
        assert!(r["breakdowns"].as_array().unwrap().iter().all(|b| b["groups"].is_array()));
        let r = api
            .ok(
                &token,
                &format!("/api/analytics/members/{member}/report?from=2026-10-01&to=2026-10-31"),
            )
            .await;
        let hours: f64 = truth
            .1
            .iter()
            .filter(|e| e.member.as_deref() == Some(*member) && within(e.start, oct, nov))
            .filter_map(|e| e.hours)
            .sum();
        assert!(
            close(&fig(&r, "hours_worked"), Some(hours)),
            "{} review of {member}: {}",
            t.id,
            fig(&r, "hours_worked")
        );
        assert_eq!(r["name"].as_str(), Some(who.as_str()));
        let (s, _) = api.get(&token, "/api/analytics/companies/connectwise:999999999/report").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, v) =
            api.get(&token, &format!("/api/analytics/companies/{id}/report?company={id}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

        // A daily series of tickets opened over two weeks in New York.
        let v = api.ok(&token, &format!("/api/analytics/metrics/tickets_opened/series?from=2026-10-12&to=2026-10-25&tz={ny}")).await;
        let points = v["current"]["points"].as_array().unwrap();
        assert_eq!(points.len(), 14);
        for p in points {
            let (a, b) = (instant(&p["from"]), instant(&p["to"]));
            let n = truth.0.iter().filter(|tk| within(tk.opened, a, b)).count() as f64;
            assert_eq!(p["value"].as_f64(), Some(n), "{} opened on {}", t.id, p["start"]);
            assert_eq!(b - a, Duration::hours(24));
        }

        // Backlog ageing at the end of October: six buckets adding up to the backlog.
        let v = api
            .ok(
                &token,
                "/api/analytics/metrics/open_backlog?from=2026-10-01&to=2026-10-31&group_by=age",
            )
            .await;
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 6);
        let sum: f64 = groups.iter().map(|g| g["value"].as_f64().unwrap()).sum();
        assert_eq!(Some(sum), v["value"].as_f64(), "{} ageing buckets", t.id);
        let end = utc("2026-11-01T00:00:00Z");
        let young = truth
            .0
            .iter()
            .filter(|tk| tk.opened.is_some_and(|o| o < end && o >= end - Duration::days(2)))
            .filter(|tk| !tk.closed || tk.closed_at.is_some_and(|c| c >= end))
            .count() as f64;
        assert_eq!(groups[5]["label"], "0–1 days");
        assert_eq!(groups[5]["value"].as_f64(), Some(young), "{} backlog 0–1 days", t.id);
        // Each bucket drills into exactly the tickets it counts.
        for g in groups {
            let drill = g["drill"].as_str().unwrap_or_else(|| panic!("{} no drill: {g}", t.id));
            let list = api.ok(&token, &format!("{drill}&page_size=1")).await;
            assert_eq!(list["total"].as_f64(), g["value"].as_f64(), "{} drill of {g}", t.id);
        }

        // Lists and records carry the names of what they refer to: each the name of the
        // record its id fetches.
        for (list, refs) in [
            (
                "tickets",
                &[
                    ("contact_id", "contact_name", "contacts"),
                    ("owner_id", "owner_name", "members"),
                ][..],
            ),
            (
                "time-entries",
                &[
                    ("member_id", "member_name", "members"),
                    ("ticket_id", "ticket_summary", "tickets"),
                ][..],
            ),
        ] {
            let page = api.ok(&token, &format!("/api/{list}?page_size=40&sort=id")).await;
            let mut named = 0;
            for item in page["items"].as_array().unwrap() {
                for (id_field, name_field, target) in refs {
                    let Some(id) = item[*id_field].as_str() else {
                        assert!(item[*name_field].is_null(), "{} {list}: {item}", t.id);
                        continue;
                    };
                    let (s, r) = api.get(&token, &format!("/api/{target}/{id}")).await;
                    let want = match (s, *target) {
                        (StatusCode::NOT_FOUND, _) => Value::Null,
                        (_, "contacts") => {
                            let parts: Vec<&str> = [&r["first_name"], &r["last_name"]]
                                .iter()
                                .filter_map(|v| v.as_str().filter(|s| !s.trim().is_empty()))
                                .collect();
                            if parts.is_empty() { Value::Null } else { parts.join(" ").into() }
                        }
                        (_, "tickets") => r["summary"].clone(),
                        _ => r["name"].clone(),
                    };
                    assert_eq!(item[*name_field], want, "{} {list} {name_field} of {id}", t.id);
                    named += usize::from(!want.is_null());
                }
            }
            assert!(named > 0, "{} {list}: some references are named", t.id);
            let one = &page["items"][0];
            let record =
                api.ok(&token, &format!("/api/{list}/{}", one["id"].as_str().unwrap())).await;
            for (_, name_field, _) in refs {
                assert_eq!(record[*name_field], one[*name_field], "{} {list} record", t.id);
            }
        }
    }

    // The clocks move a day on: tickets close, new ones open, time is logged; a sync
    // brings it in. As of the instant before, every figure is what it was.
    let main = TenantId::new(MAIN.id).unwrap();
    d.sims.connectwise.advance(
        MAIN.id,
        AdvanceSpec { duration: Duration::days(1), updates: 200, creates: 80, deletes: 0 },
    );
    let run = d
        .app
        .pipeline(opts.pipeline.clone())
        .run(SyncRequest { tenant: Some(main.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, avesa_state::RunStatus::Succeeded, "{run:?}");
    let token = api.login(&MAIN).await;
    let old = &before_advance[MAIN.id];
    let now_truth = truth(&d.sims, &MAIN);
    assert_ne!(now_truth.0.len(), old.0.len(), "the advance created tickets");
    let as_of = format!("as_of={}", epoch.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    check_kpis(&api, &token, &MAIN, old, ams, &format!("period=30d&{as_of}")).await;
    check_kpis(&api, &token, &MAIN, old, ny, &format!("from=2026-10-01&to=2026-10-31&{as_of}"))
        .await;
    // Without as_of, the same period answers from the data as it is now.
    check_kpis(&api, &token, &MAIN, &now_truth, ny, "from=2026-10-15&to=2026-11-01").await;

    // Bad requests name the parameter.
    for (query, param) in [
        ("/api/analytics/metrics/tickets_opened?period=fortnight", "period"),
        ("/api/analytics/metrics/tickets_opened?tz=Mars/Base", "tz"),
        ("/api/analytics/metrics/tickets_opened?group_by=colour", "group_by"),
        ("/api/analytics/metrics/tickets_opened?from=2026-10-02&to=2026-10-01", "from"),
        (
            "/api/analytics/metrics/tickets_opened/series?from=2016-01-01&to=2026-01-01&interval=day",
            "interval",
        ),
        ("/api/analytics/kpis?metrics=nope", "metrics"),
        ("/api/tickets?billable=Billable", "billable"),
    ] {
        let (s, v) = api.get(&token, query).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["error"]["details"]["param"], param, "{query}: {v}");
    }
    let (s, _) = api.get(&token, "/api/analytics/metrics/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// The figure of one metric route.
async fn figure(api: &Api, token: &str, path: &str) -> Value {
    api.ok(token, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_calculated_metrics_and_the_tenants_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.main_sizes = CwSizes::small();
    opts.second_sizes = demo::SecondSizes::small();
    let d = demo::prepare(opts.clone()).await.expect("demo prepares");
    let (addr, _server) = demo::serve(&d.app, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let api = Api { base: format!("http://{addr}"), http: reqwest::Client::new() };
    let token = api.login(&MAIN).await;
    let other = api.login(&SECOND).await;
    let (tickets, entries) = truth(&d.sims, &MAIN);
    let ny: Tz = "America/New_York".parse().unwrap();
    let oct = "from=2026-10-01&to=2026-10-31";
    let (oct_from, oct_to) = (utc("2026-10-01T04:00:00Z"), utc("2026-11-01T04:00:00Z"));

    // The tenant's time zone: periods and list date filters are read in it unless a
    // request names one; the other tenant's stays UTC.
    let v = api
        .put(&token, "/api/admin/settings", serde_json::json!({"time_zone": "America/New_York"}))
        .await;
    assert_eq!(v["time_zone"], "America/New_York");
    let v = figure(&api, &token, &format!("/api/analytics/metrics/tickets_opened?{oct}")).await;
    assert_eq!(instant(&v["period"]["from"]), oct_from);
    assert_eq!(v["period"]["tz"], "America/New_York");
    let want = expected(&tickets, &entries, ny, oct_from, oct_to);
    assert!(close(&v["value"], want["tickets_opened"]), "{v}");
    assert!(v["previous"]["value"].is_number(), "the previous period by default: {v}");
    let list = api
        .ok(&token, "/api/tickets?opened_from=2026-10-01&opened_to=2026-10-31&page_size=1")
        .await;
    assert_eq!(list["total"].as_f64(), want["tickets_opened"], "list dates in the tenant's zone");
    let v = figure(&api, &other, &format!("/api/analytics/metrics/tickets_opened?{oct}")).await;
    assert_eq!(v["period"]["tz"], "UTC");
    let (s, v) = api
        .send(
            reqwest::Method::PUT,
            &token,
            "/api/admin/settings",
            Some(serde_json::json!({"time_zone": "Mars/Base"})),
        )
        .await;
    assert_eq!(
        (s, &v["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &Value::from("time_zone")),
        "{v}"
    );

    // Capacity: 6 hours a day by default, 4 for the member who logged most.
    let is_billable =
        |e: &&Entry| e.billable.as_deref() == Some("Billable") && within(e.start, oct_from, oct_to);
    let mut by_member: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for e in entries.iter().filter(|e| within(e.start, oct_from, oct_to)) {
        if let Some(m) = &e.member {
            let slot = by_member.entry(m.clone()).or_default();
            slot.0 += e.hours.unwrap_or(0.0);
            if is_billable(&e) {
                slot.1 += e.hours.unwrap_or(0.0);
            }
        }
    }
    let busiest = by_member.iter().max_by(|a, b| a.1.0.total_cmp(&b.1.0)).unwrap().0.clone();
    api.put(&token, "/api/admin/settings", serde_json::json!({"default_hours_per_day": 6})).await;
    api.put(
        &token,
        &format!("/api/admin/capacity/{busiest}"),
        serde_json::json!({"hours_per_day": 4}),
    )
    .await;
    let days = working_days(ny, oct_from, oct_to);
    let capacity: f64 =
        by_member.keys().map(|m| if *m == busiest { 4.0 } else { 6.0 } * days).sum();
    let billable: f64 = by_member.values().map(|v| v.1).sum();
    let v = figure(&api, &token, &format!("/api/analytics/metrics/utilisation_pct?{oct}")).await;
    assert!(close(&v["value"], Some(billable / capacity * 100.0)), "{v}");
    let v = figure(
        &api,
        &token,
        &format!("/api/analytics/metrics/utilisation_pct?{oct}&group_by=member&limit=1000"),
    )
    .await;
    let g = v["groups"].as_array().unwrap().iter().find(|g| g["key"] == busiest.as_str()).unwrap();
    assert!(close(&g["value"], Some(by_member[&busiest].1 / (4.0 * days) * 100.0)), "{g}");
    let s = api.ok(&token, "/api/settings").await;
    assert_eq!(s["default_hours_per_day"], 6.0);
    assert_eq!(s["members"][0]["member"], busiest.as_str());

    // Goals: met on the target, at risk up to the band's far edge, missed past it.
    let sla = figure(&api, &token, &format!("/api/analytics/metrics/sla_met_pct?{oct}")).await;
    let value = sla["value"].as_f64().unwrap();
    for (target, band, status) in [
        (value, 5.0, "met"),
        (value - 1.0, 0.0, "met"),
        (value + 5.0, 5.0, "at_risk"),
        (value + 0.001, 5.0, "at_risk"),
        (value + 5.01, 5.0, "missed"),
        (value + 0.001, 0.0, "missed"),
    ] {
        api.put(
            &token,
            "/api/admin/goals/sla_met_pct",
            serde_json::json!({"target": target, "warning_band": band}),
        )
        .await;
        let v = figure(&api, &token, &format!("/api/analytics/metrics/sla_met_pct?{oct}")).await;
        assert_eq!(v["goal"]["status"], status, "target {target} band {band}: {v}");
        assert_eq!(v["goal"]["direction"], "at_least");
    }
    // Lower is better: the band lies above the target.
    let mttr =
        figure(&api, &token, &format!("/api/analytics/metrics/resolution_hours_avg?{oct}")).await;
    let value = mttr["value"].as_f64().unwrap();
    for (target, band, status) in
        [(value, 0.0, "met"), (value - 2.0, 2.0, "at_risk"), (value - 2.0, 1.9, "missed")]
    {
        api.put(
            &token,
            "/api/admin/goals/resolution_hours_avg",
            serde_json::json!({"target": target, "warning_band": band}),
        )
        .await;
        let v = figure(&api, &token, &format!("/api/analytics/metrics/resolution_hours_avg?{oct}"))
            .await;
        assert_eq!(v["goal"]["status"], status, "target {target} band {band}: {v}");
    }
    // A monthly goal holds for a month, not for a week.
    let closed = want["tickets_closed"].unwrap();
    api.put(
        &token,
        "/api/admin/goals/tickets_closed",
        serde_json::json!({"target": closed, "period": "month"}),
    )
    .await;
    let v = figure(&api, &token, &format!("/api/analytics/metrics/tickets_closed?{oct}")).await;
    assert_eq!(
        (v["goal"]["applies"].as_bool(), v["goal"]["status"].as_str()),
        (Some(true), Some("met")),
        "{v}"
    );
    let v =
        figure(&api, &token, "/api/analytics/metrics/tickets_closed?from=2026-10-05&to=2026-10-11")
            .await;
    assert_eq!(
        (v["goal"]["applies"].as_bool(), &v["goal"]["status"]),
        (Some(false), &Value::Null),
        "{v}"
    );
    let goals = api.ok(&token, "/api/analytics/goals").await;
    assert_eq!(goals["items"].as_array().unwrap().len(), 3);
    assert!(api.ok(&other, "/api/analytics/goals").await["items"].as_array().unwrap().is_empty());
    let (s, _) =
        api.send(reqwest::Method::DELETE, &token, "/api/admin/goals/tickets_closed", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = figure(&api, &token, &format!("/api/analytics/metrics/tickets_closed?{oct}")).await;
    assert!(v.get("goal").is_none(), "{v}");
    let (s, v) = api
        .send(
            reqwest::Method::PUT,
            &token,
            "/api/admin/goals/nope",
            Some(serde_json::json!({"target": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // A calculated metric: closed per opened, as a percentage.
    let def = serde_json::json!({
        "label": "Closed per opened", "unit": "percent", "better": "higher",
        "expression": "100 * tickets_closed / tickets_opened"
    });
    let v = api.put(&token, "/api/admin/metrics/closed_per_opened", def.clone()).await;
    assert_eq!(v["metrics"], serde_json::json!(["tickets_closed", "tickets_opened"]));
    let ratio = |opened: f64, closed: f64| (opened > 0.0).then(|| 100.0 * closed / opened);
    let v = figure(&api, &token, &format!("/api/analytics/metrics/closed_per_opened?{oct}")).await;
    assert!(close(&v["value"], ratio(want["tickets_opened"].unwrap(), closed)), "{v}");
    assert_eq!(v["expression"], "100 * tickets_closed / tickets_opened");
    let pfrom = instant(&v["previous"]["period"]["from"]);
    let before = expected(&tickets, &entries, ny, pfrom, oct_from);
    assert!(
        close(
            &v["previous"]["value"],
            ratio(before["tickets_opened"].unwrap(), before["tickets_closed"].unwrap())
        ),
        "{v}"
    );
    // By board, each group from the truth.
    let v = figure(
        &api,
        &token,
        &format!("/api/analytics/metrics/closed_per_opened?{oct}&group_by=board&limit=1000"),
    )
    .await;
    for g in v["groups"].as_array().unwrap() {
        let board = g["key"].as_str().map(str::to_owned);
        let of_board = tickets.iter().filter(|t| t.board == board);
        let opened = of_board.clone().filter(|t| within(t.opened, oct_from, oct_to)).count() as f64;
        let closed =
            of_board.filter(|t| t.closed && within(t.closed_at, oct_from, oct_to)).count() as f64;
        assert!(close(&g["value"], ratio(opened, closed)), "{g}");
    }
    // Its series is the ratio of the two series.
    let series = |id: &str| format!("/api/analytics/metrics/{id}/series?{oct}&interval=week");
    let c = figure(&api, &token, &series("closed_per_opened")).await;
    let o = figure(&api, &token, &series("tickets_opened")).await;
    let k = figure(&api, &token, &series("tickets_closed")).await;
    let points = c["current"]["points"].as_array().unwrap();
    assert_eq!(points.len(), o["current"]["points"].as_array().unwrap().len());
    for (i, p) in points.iter().enumerate() {
        let (opened, closed) = (
            o["current"]["points"][i]["value"].as_f64().unwrap(),
            k["current"]["points"][i]["value"].as_f64().unwrap(),
        );
        assert!(close(&p["value"], ratio(opened, closed)), "week {i}: {p}");
    }
    // Goals, the catalogue and KPIs take it like any metric.
    api.put(&token, "/api/admin/goals/closed_per_opened", serde_json::json!({"target": 0})).await;
    let v = api
        .ok(&token, &format!("/api/analytics/kpis?metrics=closed_per_opened,tickets_opened&{oct}"))
        .await;
    assert_eq!(v["items"][0]["goal"]["status"], "met");
    let cat = api.ok(&token, "/api/analytics/metrics").await;
    assert!(
        cat["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "closed_per_opened" && m["goal"]["target"] == 0.0)
    );
    // Another tenant knows nothing of it.
    let (s, _) = api.get(&other, "/api/analytics/metrics/closed_per_opened").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Definitions are checked when saved, and the error names the field.
    for (body, field) in [
        (
            serde_json::json!({"label": "x", "unit": "count", "better": "higher", "expression": "tickets_opened /"}),
            "expression",
        ),
        (
            serde_json::json!({"label": "x", "unit": "count", "better": "higher", "expression": "tickets_opened / nope"}),
            "expression",
        ),
        (
            serde_json::json!({"label": "", "unit": "count", "better": "higher", "expression": "tickets_opened"}),
            "label",
        ),
        (
            serde_json::json!({"label": "x", "unit": "apples", "better": "higher", "expression": "tickets_opened"}),
            "unit",
        ),
    ] {
        let (s, v) =
            api.send(reqwest::Method::PUT, &token, "/api/admin/metrics/bad_one", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
    }
    let (s, v) = api
        .send(reqwest::Method::PUT, &token, "/api/admin/metrics/tickets_opened", Some(def))
        .await;
    assert_eq!(
        (s, &v["error"]["details"]["field"]),
        (StatusCode::BAD_REQUEST, &Value::from("id")),
        "{v}"
    );
    // Removed, it is gone with its goal.
    let (s, _) = api
        .send(reqwest::Method::DELETE, &token, "/api/admin/metrics/closed_per_opened", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&token, "/api/analytics/metrics/closed_per_opened").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let goals = api.ok(&token, "/api/analytics/goals").await;
    assert!(goals["items"].as_array().unwrap().iter().all(|g| g["metric"] != "closed_per_opened"));
}
