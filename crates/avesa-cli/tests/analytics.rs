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
        })
        .collect();
    tickets.extend(sf.tables["Case"].iter().map(|v| Ticket {
        opened: time(&v["CreatedDate"]),
        closed: flag(&v["IsClosed"]) == Some(true),
        closed_at: time(&v["ClosedDate"]),
        sla: None,
        board: text(&v["Type"]),
        company: text(&v["AccountId"]).map(|c| format!("salesforce:{c}")),
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

    async fn ok(&self, token: &str, path: &str) -> Value {
        let (s, v) = self.get(token, path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }
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
resolution_hours_avg,resolution_hours_median,sla_met_pct,hours_worked,time_entries,billable_hours,\
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
        // Each group links the list behind it, and that list holds exactly its tickets.
        let g = &v["groups"][0];
        let list = api.ok(&token, &format!("{}&page_size=1", g["drill"].as_str().unwrap())).await;
        assert_eq!(list["total"].as_f64(), g["value"].as_f64(), "{} drill of {g}", t.id);

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
