//! Analytics: the metrics an MSP runs its business on, defined once over the warehouse's
//! [aggregates](avesa_warehouse::aggregate) and evaluated for any period in the tenant's
//! time zone, with filters, comparison with the previous period, `as_of`, breakdowns and
//! series, on every warehouse backend.
//!
//! - [`period`]: named and custom periods, their previous periods, local-time buckets;
//! - [`filters`]: the filter parameters every analytics route and list accepts;
//! - [`metrics`]: the built-in metrics and their evaluation;
//! - [`calculated`]: a tenant's own metrics, expressions over the built-in ones;
//! - [`settings`]: a tenant's time zone, capacities, goals and calculated metrics.

pub mod calculated;
pub mod filters;
pub mod metrics;
pub mod period;
pub mod settings;

pub use filters::Filters;
pub use metrics::{METRICS, Metric, MetricError, Query};
pub use period::{Interval, Period, PeriodError};
