//! Metrics in the Prometheus text format, as a value: the app makes one [`Metrics`] and
//! hands it to the pipeline and the API, and `GET /metrics` renders that one. Each crate
//! declares what it counts in one place ([`Metrics::declare`] with its own list: the
//! pipeline's `metrics.rs`, the API's `METRICS`), which gives the `# HELP` lines.
//!
//! The pipeline counts records, requests, retries, throttles, bytes and versions per
//! service and table (and tenant, unless [`Metrics::set_tenant_label`] turned that label
//! off for a large deployment), and times chunks and runs; the API times requests.
//! Counters and histograms live behind a mutex: updates happen per chunk and per request,
//! never per record.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Histogram bucket bounds, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// A metric a crate declares: its name and what it is (the `# HELP` line).
pub type MetricDef = (&'static str, &'static str);

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    help: BTreeMap<&'static str, &'static str>,
    counters: BTreeMap<(&'static str, String), f64>,
    gauges: BTreeMap<(&'static str, String), f64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

struct Inner {
    tenant_label: AtomicBool,
    registry: Mutex<Registry>,
}

/// One registry of counters and histograms; clones share it.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Arc::new(Inner { tenant_label: AtomicBool::new(true), registry: Mutex::default() }))
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a crate's metrics (their `# HELP` lines). Declaring twice is harmless.
    pub fn declare(&self, defs: &[MetricDef]) -> &Self {
        let mut r = self.registry();
        for (name, help) in defs {
            r.help.insert(name, help);
        }
        self
    }

    /// Turns the `tenant` label on or off (off: series are summed over tenants).
    pub fn set_tenant_label(&self, on: bool) {
        self.0.tenant_label.store(on, Ordering::Relaxed);
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.0.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `{a="x",b="y"}`, without the tenant label when it is off.
    fn labels(&self, pairs: &[(&str, &str)]) -> String {
        let tenant = self.0.tenant_label.load(Ordering::Relaxed);
        let body: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| tenant || *k != "tenant")
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if body.is_empty() { String::new() } else { format!("{{{}}}", body.join(",")) }
    }

    /// Adds `v` to a counter.
    pub fn add(&self, name: &'static str, pairs: &[(&str, &str)], v: f64) {
        if v == 0.0 {
            return;
        }
        let labels = self.labels(pairs);
        *self.registry().counters.entry((name, labels)).or_default() += v;
    }

    /// Sets a gauge (a value that goes up and down: workers alive, jobs queued).
    pub fn set(&self, name: &'static str, pairs: &[(&str, &str)], v: f64) {
        let labels = self.labels(pairs);
        self.registry().gauges.insert((name, labels), v);
    }

    /// The current value of a gauge (tests and diagnostics).
    pub fn gauge_value(&self, name: &'static str, pairs: &[(&str, &str)]) -> Option<f64> {
        let labels = self.labels(pairs);
        self.registry().gauges.get(&(name, labels)).copied()
    }

    /// Records one observation (seconds) in a histogram.
    pub fn observe(&self, name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
        let labels = self.labels(pairs);
        let mut r = self.registry();
        let h = r.histograms.entry((name, labels)).or_default();
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
    pub fn counter_value(&self, name: &'static str, pairs: &[(&str, &str)]) -> f64 {
        let labels = self.labels(pairs);
        self.registry().counters.get(&(name, labels)).copied().unwrap_or(0.0)
    }

    /// Everything in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let r = self.registry();
        let mut out = String::new();
        let mut last = "";
        let mut header = |out: &mut String, name: &'static str, kind: &str| {
            if name != last {
                if let Some(help) = r.help.get(name) {
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
        for ((name, labels), v) in &r.gauges {
            header(&mut out, name, "gauge");
            let _ = writeln!(out, "{name}{labels} {v}");
        }
        for ((name, labels), h) in &r.histograms {
            header(&mut out, name, "histogram");
            let inner = labels.trim_start_matches('{').trim_end_matches('}');
            let with = |extra: String| {
                if inner.is_empty() {
                    format!("{{{extra}}}")
                } else {
                    format!("{{{inner},{extra}}}")
                }
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
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_histograms_and_escaping_render_in_the_text_format() {
        let m = Metrics::new();
        m.declare(&[("avesa_test_total", "Things.")]);
        m.add("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")], 2.0);
        m.add("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")], 3.0);
        assert_eq!(
            m.counter_value("avesa_test_total", &[("service", "x\"y"), ("tenant", "t1")]),
            5.0
        );
        m.observe("avesa_test_seconds", &[("service", "s")], 0.3);
        m.observe("avesa_test_seconds", &[("service", "s")], 7.0);
        let text = m.render();
        assert!(text.contains("# HELP avesa_test_total Things."), "{text}");
        assert!(text.contains("# TYPE avesa_test_total counter"), "{text}");
        assert!(text.contains(r#"avesa_test_total{service="x\"y",tenant="t1"} 5"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="0.5"} 1"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="10"} 2"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_bucket{service="s",le="+Inf"} 2"#), "{text}");
        assert!(text.contains(r#"avesa_test_seconds_count{service="s"} 2"#), "{text}");
        m.set("avesa_test_gauge", &[("kind", "a")], 3.0);
        m.set("avesa_test_gauge", &[("kind", "a")], 1.0);
        assert_eq!(m.gauge_value("avesa_test_gauge", &[("kind", "a")]), Some(1.0));
        let text = m.render();
        assert!(text.contains("# TYPE avesa_test_gauge gauge"), "{text}");
        assert!(text.contains(r#"avesa_test_gauge{kind="a"} 1"#), "{text}");
    }

    #[test]
    fn registries_are_separate_values_and_the_tenant_label_can_go() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.add("avesa_x_total", &[("tenant", "t1")], 1.0);
        assert_eq!(b.counter_value("avesa_x_total", &[("tenant", "t1")]), 0.0);
        b.set_tenant_label(false);
        b.add("avesa_x_total", &[("service", "s"), ("tenant", "t1")], 1.0);
        b.add("avesa_x_total", &[("service", "s"), ("tenant", "t2")], 1.0);
        assert!(b.render().contains(r#"avesa_x_total{service="s"} 2"#), "{}", b.render());
        let shared = a.clone();
        shared.add("avesa_x_total", &[("tenant", "t1")], 1.0);
        assert_eq!(a.counter_value("avesa_x_total", &[("tenant", "t1")]), 2.0);
    }
}
