//! Why a table's sync failed, typed and with its source kept, so that a run record, the
//! logs and the CLI can tell a vendor's failure from a configuration mistake, a platform
//! outage and a bug in AVESA.

use serde::{Deserialize, Serialize};

/// Who has to act on a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The vendor failed or misbehaved (outage, throttling past retries, a page served
    /// twice): retried by the next run.
    Vendor,
    /// The tenant's configuration: refused credentials, a bad URL, a service without a
    /// mapping. Retrying does not help; fixing the configuration does.
    Config,
    /// A record AVESA could not map (the vendor's data, or a mapping to fix).
    Data,
    /// AVESA's own infrastructure (state store, lake, warehouse): an outage or a full disk.
    Platform,
    /// A bug in AVESA: a broken contract between its parts.
    Bug,
    /// The run was cancelled (a shutdown): resumed by the next run.
    Cancelled,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Vendor => "vendor",
            ErrorClass::Config => "config",
            ErrorClass::Data => "data",
            ErrorClass::Platform => "platform",
            ErrorClass::Bug => "bug",
            ErrorClass::Cancelled => "cancelled",
        }
    }
}

/// Why one table's sync failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Vendor(#[from] avesa_connectors::ConnectorError),
    /// The vendor broke its own paging contract.
    #[error("{0}")]
    Source(String),
    #[error("mapping failed: {0}")]
    Mapping(#[from] Box<avesa_transform::TransformError>),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] avesa_state::StateError),
    #[error(transparent)]
    Lake(#[from] avesa_lake::LakeError),
    #[error(transparent)]
    Warehouse(#[from] avesa_warehouse::WarehouseError),
    #[error("cancelled; the next run resumes from the last commit")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl TableError {
    /// Who has to act on it.
    pub fn class(&self) -> ErrorClass {
        use avesa_warehouse::WarehouseError as W;
        match self {
            TableError::Vendor(e) if e.is_permanent() => ErrorClass::Config,
            TableError::Vendor(_) | TableError::Source(_) => ErrorClass::Vendor,
            TableError::Mapping(_) => ErrorClass::Data,
            TableError::Config(_) => ErrorClass::Config,
            TableError::Warehouse(W::Internal(_) | W::BadRequest(_)) => ErrorClass::Bug,
            TableError::State(avesa_state::StateError::Corrupt(_)) => ErrorClass::Bug,
            TableError::State(_) | TableError::Lake(_) | TableError::Warehouse(_) => {
                ErrorClass::Platform
            }
            TableError::Cancelled => ErrorClass::Cancelled,
            TableError::Internal(_) => ErrorClass::Bug,
        }
    }

    /// Whether the table's lease was taken over by another worker while this one ran it
    /// (the other now runs the table; this one's work is void).
    pub fn is_fenced(&self) -> bool {
        matches!(self, TableError::State(avesa_state::StateError::Fenced(_)))
    }

    /// Whether this is a bug in AVESA rather than a condition of the world.
    pub fn is_bug(&self) -> bool {
        self.class() == ErrorClass::Bug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classed_by_who_acts() {
        let auth = avesa_connectors::ConnectorError::Auth {
            service: "connectwise".into(),
            message: "401".into(),
        };
        assert_eq!(TableError::from(auth).class(), ErrorClass::Config);
        let down = avesa_connectors::ConnectorError::Exhausted {
            service: "connectwise".into(),
            endpoint: "service/tickets".into(),
            attempts: 5,
            message: "HTTP 503".into(),
        };
        let e = TableError::from(down);
        assert_eq!(e.class(), ErrorClass::Vendor);
        assert!(std::error::Error::source(&e).is_none() || e.to_string().contains("503"));
        let bug = TableError::from(avesa_warehouse::WarehouseError::Internal("shape".into()));
        assert!(bug.is_bug());
        let outage = TableError::from(avesa_warehouse::WarehouseError::engine("disk full"));
        assert_eq!(outage.class(), ErrorClass::Platform);
        assert!(!outage.is_bug());
        assert_eq!(TableError::Cancelled.class(), ErrorClass::Cancelled);
    }
}
