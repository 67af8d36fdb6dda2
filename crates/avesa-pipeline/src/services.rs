//! Service configurations: what `avesa service add` stores (sealed) and how a connector
//! is built from it and the service's spec.

use std::sync::Arc;

use avesa_connectors::budget::Budgets;
use avesa_connectors::{Connector, ServiceCredentials, Spec, SpecConnector, builtin_specs};
use avesa_model::TenantId;
use avesa_state::Cipher;
use avesa_transform::Mapping;

/// Builds a tenant's connector for a service configuration.
pub type ConnectorFactory = dyn Fn(&Catalogue, &TenantId, &ServiceConfig) -> Result<Arc<dyn Connector>, String>
    + Send
    + Sync;

/// What the pipeline knows about services: each one's spec, the mappings of its tables,
/// how a tenant's connector is built, and the request budgets every connector it builds
/// draws from (one bucket per tenant and service, whichever run asks). A value handed to
/// the pipeline (no process-wide registry), so tests bring their own services and
/// connectors.
#[derive(Clone)]
pub struct Catalogue {
    specs: Arc<Vec<Arc<Spec>>>,
    mappings: Arc<Vec<Arc<Mapping>>>,
    connect: Arc<ConnectorFactory>,
    budgets: Budgets,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("services", &self.specs.iter().map(|s| s.service.as_str()).collect::<Vec<_>>())
            .field("mappings", &self.mappings.len())
            .finish()
    }
}

impl Catalogue {
    /// The services AVESA ships: the built-in specs and mappings, connectors from specs.
    pub fn builtin() -> Self {
        Self::new(builtin_specs(), avesa_transform::builtin_mappings())
    }

    /// These specs and mappings; connectors are built from the specs.
    pub fn new(specs: Vec<Spec>, mappings: Vec<Mapping>) -> Self {
        Catalogue {
            specs: Arc::new(specs.into_iter().map(Arc::new).collect()),
            mappings: Arc::new(mappings.into_iter().map(Arc::new).collect()),
            budgets: Budgets::new(),
            connect: Arc::new(|cat: &Catalogue, tenant: &TenantId, cfg: &ServiceConfig| {
                let spec = cat.spec(&cfg.service)?;
                SpecConnector::with_budgets(spec, tenant.as_str(), &cfg.creds, &cat.budgets)
                    .map(|c| Arc::new(c) as Arc<dyn Connector>)
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// The same services, with connectors built by `f` (tests: a fake vendor).
    pub fn with_connectors(
        mut self,
        f: impl Fn(&Catalogue, &TenantId, &ServiceConfig) -> Result<Arc<dyn Connector>, String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.connect = Arc::new(f);
        self
    }

    /// Every service's spec.
    pub fn specs(&self) -> &[Arc<Spec>] {
        &self.specs
    }

    /// The spec of `service`, or an error listing the known services.
    pub fn spec(&self, service: &str) -> Result<Arc<Spec>, String> {
        self.specs.iter().find(|s| s.service == service).cloned().ok_or_else(|| {
            format!(
                "unknown service {service:?}; known services: {}",
                self.specs.iter().map(|s| s.service.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Every mapping: which canonical table each service table lands in.
    pub fn mappings(&self) -> &[Arc<Mapping>] {
        &self.mappings
    }

    /// The mapping of a service's source table, if it has one.
    pub fn mapping(&self, service: &str, source_table: &str) -> Option<Arc<Mapping>> {
        self.mappings
            .iter()
            .find(|m| m.service == service && m.source_table == source_table)
            .cloned()
    }

    /// The tenant's connector for a service configuration.
    pub fn connector(
        &self,
        tenant: &TenantId,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Connector>, String> {
        (self.connect)(self, tenant, cfg)
    }

    /// The configuration with secrets replaced by `***`, for display.
    pub fn redacted(&self, cfg: &ServiceConfig) -> Vec<(String, String)> {
        match self.spec(&cfg.service) {
            Ok(s) => cfg.creds.redacted(&s).into_iter().collect(),
            Err(_) => cfg.creds.0.keys().map(|k| (k.clone(), "***".to_owned())).collect(),
        }
    }
}

/// A service's configuration, credentials included. Never logged: `Debug` shows only
/// the field names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub service: String,
    pub creds: ServiceCredentials,
}

impl ServiceConfig {
    pub fn new(service: &str, fields: impl IntoIterator<Item = (String, String)>) -> Self {
        ServiceConfig {
            service: service.to_owned(),
            creds: ServiceCredentials(fields.into_iter().collect()),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

/// What a service configuration's seal is bound to: its tenant and service, so that a
/// sealed configuration copied to another tenant's (or service's) row does not open.
fn seal_context(tenant: &avesa_model::TenantId, service: &str) -> Vec<u8> {
    format!("avesa/service-config/{tenant}/{service}").into_bytes()
}

/// Encrypts a service configuration of `tenant` for the state store, bound to the tenant
/// and the service.
pub fn seal_service_config(
    cipher: &Cipher,
    tenant: &avesa_model::TenantId,
    cfg: &ServiceConfig,
) -> Vec<u8> {
    cipher.seal_bound(
        &serde_json::to_vec(&cfg.creds).expect("a string map serializes"),
        &seal_context(tenant, &cfg.service),
    )
}

/// Decrypts and parses a stored service configuration of `tenant`.
pub fn open_service_config(
    cipher: &Cipher,
    tenant: &avesa_model::TenantId,
    service: &str,
    sealed: &[u8],
) -> Result<ServiceConfig, String> {
    let opened = cipher
        .open_bound(sealed, &seal_context(tenant, service))
        .map_err(|e| format!("{service}: {e}"))?;
    let creds: ServiceCredentials = serde_json::from_slice(opened.plaintext())
        .map_err(|e| format!("{service}: stored configuration is invalid: {e}"))?;
    Ok(ServiceConfig { service: service.to_owned(), creds })
}

/// Whether a stored configuration was sealed before seals were bound to their tenant and
/// service (`avesa` seals such ones again at start).
pub fn is_unbound_seal(sealed: &[u8]) -> bool {
    !sealed.starts_with(&avesa_state::BOUND_MAGIC)
}

#[cfg(test)]
mod seal_tests {
    use super::*;

    #[test]
    fn a_sealed_configuration_opens_only_for_its_tenant_and_service() {
        let cipher = Cipher::from_key(&[3u8; 32]);
        let acme = avesa_model::TenantId::new("acme").unwrap();
        let globex = avesa_model::TenantId::new("globex").unwrap();
        let cfg = ServiceConfig::new("connectwise", [("private_key".to_owned(), "k".to_owned())]);
        let sealed = seal_service_config(&cipher, &acme, &cfg);
        assert!(!is_unbound_seal(&sealed));
        let opened = open_service_config(&cipher, &acme, "connectwise", &sealed).unwrap();
        assert_eq!(opened.creds.0.get("private_key").map(String::as_str), Some("k"));
        // Copied to another tenant's row, or another service's: refused, saying why.
        let e = open_service_config(&cipher, &globex, "connectwise", &sealed).unwrap_err();
        assert!(e.contains("another tenant or service"), "{e}");
        assert!(open_service_config(&cipher, &acme, "servicenow", &sealed).is_err());
        // A configuration sealed before binding still opens (and is marked for resealing).
        let legacy = cipher.seal(br#"{"private_key":"old"}"#);
        assert!(is_unbound_seal(&legacy));
        assert!(open_service_config(&cipher, &acme, "connectwise", &legacy).is_ok());
    }
}
