//! Service configurations: what `avesa service add` stores (sealed) and how a connector
//! is built from it and the service's spec.

use std::sync::{Arc, LazyLock};

use avesa_connectors::{Connector, ServiceCredentials, Spec, SpecConnector, builtin_specs};
use avesa_state::Cipher;

static SPECS: LazyLock<Vec<Arc<Spec>>> =
    LazyLock::new(|| builtin_specs().into_iter().map(Arc::new).collect());

/// The specs of every service AVESA knows.
pub fn specs() -> &'static [Arc<Spec>] {
    &SPECS
}

/// The spec of `service`, or an error listing the known services.
pub fn spec(service: &str) -> Result<Arc<Spec>, String> {
    SPECS.iter().find(|s| s.service == service).cloned().ok_or_else(|| {
        format!(
            "unknown service {service:?}; known services: {}",
            SPECS.iter().map(|s| s.service.as_str()).collect::<Vec<_>>().join(", ")
        )
    })
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

    /// The configuration with secrets replaced by `***`, for display.
    pub fn redacted(&self) -> Vec<(String, String)> {
        match spec(&self.service) {
            Ok(s) => self.creds.redacted(&s).into_iter().collect(),
            Err(_) => self.creds.0.keys().map(|k| (k.clone(), "***".to_owned())).collect(),
        }
    }

    /// The tenant's connector for this service.
    pub fn connector(&self, tenant: &str) -> Result<Box<dyn Connector>, String> {
        let spec = spec(&self.service)?;
        SpecConnector::new(spec, tenant, &self.creds)
            .map(|c| Box::new(c) as Box<dyn Connector>)
            .map_err(|e| e.to_string())
    }
}

/// Encrypts a service configuration for the state store.
pub fn seal_service_config(cipher: &Cipher, cfg: &ServiceConfig) -> Vec<u8> {
    cipher.seal(&serde_json::to_vec(&cfg.creds).expect("a string map serializes"))
}

/// Decrypts and parses a stored service configuration.
pub fn open_service_config(
    cipher: &Cipher,
    service: &str,
    sealed: &[u8],
) -> Result<ServiceConfig, String> {
    let plain = cipher.open(sealed).map_err(|e| format!("{service}: {e}"))?;
    let creds: ServiceCredentials = serde_json::from_slice(&plain)
        .map_err(|e| format!("{service}: stored configuration is invalid: {e}"))?;
    Ok(ServiceConfig { service: service.to_owned(), creds })
}
