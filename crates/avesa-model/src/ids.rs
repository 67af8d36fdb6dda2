//! Identifiers and small closed enums.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A rejected identifier, with the reason in words a user can act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct IdError(pub String);

/// A tenant's id: a slug of lowercase ASCII letters, digits, `-` and `_`, 2–63 characters,
/// starting with a letter. It appears in object keys and SQL literals, so it is checked
/// once, here, and every other layer may rely on it.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "acme")]
pub struct TenantId(String);

impl TenantId {
    pub fn new(raw: &str) -> Result<Self, IdError> {
        let ok_len = (2..=63).contains(&raw.len());
        let first_ok = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let chars_ok = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok_len && first_ok && chars_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError(format!(
                "invalid tenant id {raw:?}: use 2-63 lowercase letters, digits, '-' or '_', starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> Self {
        t.0
    }
}

macro_rules! uuid_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            Serialize,
            Deserialize,
            utoipa::ToSchema,
        )]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| IdError(format!("invalid id {s:?}: expected a UUID")))
            }
        }
    };
}

uuid_id!(RunId, "A sync run: one invocation over one or more tenants.");
uuid_id!(
    ChunkId,
    "A chunk: a bounded slice of one table of one tenant's service. Lake file names derive from it, so a retried chunk overwrites its own files."
);

/// The vendor services AVESA can ingest from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Connectwise,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 1] = [ServiceKind::Connectwise];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Connectwise => "connectwise",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceKind {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "connectwise" => Ok(ServiceKind::Connectwise),
            other => {
                Err(IdError(format!("unknown service {other:?}: known services are connectwise")))
            }
        }
    }
}

/// What a user may do inside their tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    TenantAdmin,
    Analyst,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "platform_admin" => Ok(Role::PlatformAdmin),
            "tenant_admin" => Ok(Role::TenantAdmin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(IdError(format!(
                "unknown role {other:?}: use platform_admin, tenant_admin, analyst or viewer"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::new("sitetechnology").is_ok());
        assert!(TenantId::new("acme-msp_2").is_ok());
        for bad in ["", "a", "Upper", "1abc", "has space", "semi;colon", "quote'"] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_and_services_round_trip() {
        for r in [Role::PlatformAdmin, Role::TenantAdmin, Role::Analyst, Role::Viewer] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert_eq!("connectwise".parse::<ServiceKind>().unwrap(), ServiceKind::Connectwise);
        assert!("servicenow2".parse::<ServiceKind>().is_err());
    }
}
