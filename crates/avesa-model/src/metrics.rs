//! Process-wide metrics in the Prometheus text format.
//!
//! The pipeline counts records, requests, retries, throttles, bytes and versions per
//! service and table (and tenant, unless [`set_tenant_label`] turned that label off for a
//! large deployment), and times chunks and runs; the API times requests. `GET /metrics`
//! serves [`render`]. Counters and histograms live in one registry behind a mutex: updates
//! happen per chunk and per request, never per record.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

/// Histogram bucket bounds, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// What each metric is (the `# HELP` lines); a name not listed here is still exported.
const HELP: &[(&str, &str)] = &[
    ("avesa_records_total", "Records fetched from vendors."),
    ("avesa_pages_total", "Pages fetched from vendors."),
    ("avesa_requests_total", "HTTP requests sent to vendors (retries included)."),
    ("avesa_retries_total", "Vendor requests retried after a transient failure."),
    ("avesa_throttles_total", "Vendor responses that throttled us (429/503)."),
    ("avesa_bytes_total", "Bytes of vendor responses (JSON)."),
    ("avesa_versions_inserted_total", "SCD2 versions inserted into the warehouse."),
    ("avesa_chunks_total", "Chunks finished, by status."),
    ("avesa_runs_total", "Sync runs finished, by status."),
    ("avesa_chunk_duration_seconds", "Wall time of a chunk: fetch, land, apply, commit."),
    ("avesa_run_duration_seconds", "Wall time of a sync run."),
    ("avesa_http_requests_total", "API requests served, by route and status."),
    ("avesa_http_request_duration_seconds", "API request latency, by route."),
];

static TENANT_LABEL: AtomicBool = AtomicBool::new(true);

/// Turns the `tenant` label on or off (off: series are summed over tenants).
pub fn set_tenant_label(on: bool) {
    TENANT_LABEL.store(on, Ordering::Relaxed);
}

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, String), f64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `{a="x",b="y"}`, without the tenant label when it is off.
fn labels(pairs: &[(&str, &str)]) -> String {
    let tenant = TENANT_LABEL.load(Ordering::Relaxed);
    let body: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| tenant || *k != "tenant")
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if body.is_empty() { String::new() } else { format!("{{{}}}", body.join(",")) }
}

/// Adds `v` to a counter.
pub fn add(name: &'static str, pairs: &[(&str, &str)], v: f64) {
    if v == 0.0 {
        return;
    }
    *registry().counters.entry((name, labels(pairs))).or_default() += v;
}

/// Records one observation (seconds) in a histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    let mut r = registry();
    let h = r.histograms.entry((name, labels(pairs))).or_default();
    if h.counts.is_empty() {
        h.counts = vec![0; BUCKETS.len()];
    }
    for (i, b) in BUCKETS.iter().enumerate() {
        if seconds <= *b {
            h.counts[i] += 1;
        }
    }
    h.sum += seconds;
    h.count += 1;
}

/// The current value of a counter (tests and diagnostics).
pub fn counter_value(name: &'static str, pairs: &[(&str, &str)]) -> f64 {
    registry().counters.get(&(name, labels(pairs))).copied().unwrap_or(0.0)
}

/// Everything in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    let r = registry();
    let mut out = String::new();
    let mut last = "";
    let mut header = |out: &mut String, name: &'static str, kind: &str| {
        if name != last {
            if let Some((_, help)) = HELP.iter().find(|(n, _)| *n == name) {
                let _ = writeln!(out, "# HELP {name} {help}");
            }
            let _ = writeln!(out, "# TYPE {name} {kind}");
            last = name;
        }
    };
    for ((name, labels), v) in &r.counters {
        header(&mut out, name, "counter");
        let _ = writeln!(out, "{name}{labels} {v}");
    }
    for ((name, labels), h) in &r.histograms {
        header(&mut out, name, "histogram");
        let inner = labels.trim_start_matches('{').trim_end_matches('}');
        let with = |extra: String| {
            if inner.is_empty() { format!("{{{extra}}}") } else { format!("{{{inner},{extra}}}") }
        };
        for (b, c) in BUCKETS.iter().zip(&h.counts) {
            let _ = writeln!(out, "{name}_bucket{} {c}", with(format!("le=\"{b}\"")));
        }
        let _ = writeln!(out, "{name}_bucket{} {}", with("le=\"+Inf\"".into()), h.count);
        let _ = writeln!(out, "{name}_sum{labels} {}", h.sum);
        let _ = writeln!(out, "{name}_count{labels} {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_histograms_and_escaping_render_in_the_text_format() {
        add("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")], 2.0);
        add("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")], 3.0);
        assert_eq!(
            counter_value("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")]),
            5.0
        );
        observe("avesa_test_seconds", &[("service", "s")], 0.3);
        observe("avesa_test_seconds", &[("service", "s")], 7.0);
        let text = render();
        assert!(text.contains("# TYPE avesa_test_total counter"), "{text}");
        assert!(text.contains(r#"avesa_test_total{service="x\"y",tenant="t1"} 5"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="0.5"} 1"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="10"} 2"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="+Inf"} 2"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_count{service="s"} 2"#), "{text}");
    }
}
