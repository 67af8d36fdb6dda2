//! Service configurations: what `avesa service add` stores (sealed) and how a connector
//! is built from it.

use avesa_connectors::{ConnectWise, ConnectWiseConfig, Connector, ConnectorError};
use avesa_state::Cipher;

/// A service's configuration, credentials included. Never logged: `Debug` redacts.
#[derive(Clone, Debug)]
pub enum ServiceConfig {
    Connectwise(ConnectWiseConfig),
}

impl ServiceConfig {
    pub fn service(&self) -> &'static str {
        match self {
            ServiceConfig::Connectwise(_) => "connectwise",
        }
    }

    pub fn connector(&self) -> Result<Box<dyn Connector>, String> {
        match self {
            ServiceConfig::Connectwise(c) => {
                ConnectWise::new(c.clone()).map(|c| Box::new(c) as Box<dyn Connector>)
            }
        }
        .map_err(|e: ConnectorError| e.to_string())
    }
}

/// Encrypts a service configuration for the state store.
pub fn seal_service_config(cipher: &Cipher, cfg: &ServiceConfig) -> Vec<u8> {
    let json = match cfg {
        ServiceConfig::Connectwise(c) => serde_json::to_vec(c),
    }
    .expect("service configs serialize");
    cipher.seal(&json)
}

/// Decrypts and parses a stored service configuration.
pub fn open_service_config(
    cipher: &Cipher,
    service: &str,
    sealed: &[u8],
) -> Result<ServiceConfig, String> {
    let plain = cipher.open(sealed).map_err(|e| format!("{service}: {e}"))?;
    match service {
        "connectwise" => serde_json::from_slice(&plain)
            .map(ServiceConfig::Connectwise)
            .map_err(|e| format!("{service}: stored configuration is invalid: {e}")),
        other => Err(format!("unknown service {other:?}")),
    }
}
