//! Configuration of the API: token signing and lifetimes, CORS and the body-size limit.

use std::fmt;

/// How tokens are signed and how long they live.
///
/// Access tokens are JWTs signed with HS256 (the only algorithm accepted) under
/// `jwt_secret`; `iss` and `aud` are set to `issuer` and `audience` and checked on every
/// request. Refresh tokens are opaque random strings stored by hash.
#[derive(Clone)]
pub struct AuthConfig {
    /// The HMAC key. Use at least 32 random bytes.
    pub jwt_secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    /// Lifetime of an access token (default 15 minutes).
    pub access_ttl: chrono::Duration,
    /// Lifetime of a refresh token (default 30 days). Each rotation issues a token with a
    /// fresh lifetime.
    pub refresh_ttl: chrono::Duration,
}

/// Default issuer (`iss`) of access tokens.
pub const DEFAULT_ISSUER: &str = "avesa";
/// Default audience (`aud`) of access tokens.
pub const DEFAULT_AUDIENCE: &str = "avesa-api";
/// The shortest `jwt_secret` [`AuthConfig::validate`] accepts.
pub const MIN_SECRET_LEN: usize = 32;

impl AuthConfig {
    /// A configuration with the default issuer, audience and lifetimes.
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        AuthConfig {
            jwt_secret: jwt_secret.into(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            access_ttl: chrono::Duration::minutes(15),
            refresh_ttl: chrono::Duration::days(30),
        }
    }

    /// Checks the configuration is usable: a secret of at least [`MIN_SECRET_LEN`] bytes,
    /// non-empty issuer and audience, positive lifetimes.
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the JWT secret is {} bytes; use at least {MIN_SECRET_LEN} random bytes",
                self.jwt_secret.len()
            ));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err("the JWT issuer and audience must not be empty".into());
        }
        if self.access_ttl <= chrono::Duration::zero()
            || self.refresh_ttl <= chrono::Duration::zero()
        {
            return Err("token lifetimes must be positive".into());
        }
        Ok(())
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"***")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

/// HTTP-level settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Origins allowed to call the API from a browser (CORS), e.g.
    /// `https://avesa.example.com`. Empty (the default) sends no CORS headers at all, so
    /// browsers refuse cross-origin calls; the UI is served from the same origin and needs
    /// none. `"*"` allows any origin (bearer tokens are never sent automatically, but be
    /// sure that is what you want).
    pub cors_allowed_origins: Vec<String>,
    /// The largest request body accepted, in bytes (default 1 MiB).
    pub body_limit_bytes: usize,
    /// How long a request may take, body to answer, before it is answered 503 (default
    /// 30 s).
    pub request_timeout: std::time::Duration,
    /// Bounds on warehouse reads and the response cache.
    pub reads: crate::guard::ReadLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cors_allowed_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout: std::time::Duration::from_secs(30),
            reads: crate::guard::ReadLimits::default(),
        }
    }
}

impl HttpConfig {
    /// Checks every CORS origin is `*` or a valid `scheme://host[:port]` header value.
    pub fn validate(&self) -> Result<(), String> {
        for o in &self.cors_allowed_origins {
            if o == "*" {
                continue;
            }
            let shaped = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && axum::http::HeaderValue::from_str(o).is_ok();
            if !shaped {
                return Err(format!(
                    "invalid CORS origin {o:?}: expected \"*\" or scheme://host[:port] without a trailing slash"
                ));
            }
        }
        if self.body_limit_bytes == 0 {
            return Err("the body limit must be positive".into());
        }
        if self.request_timeout.is_zero() {
            return Err("the request timeout must be positive".into());
        }
        self.reads.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let c = AuthConfig::new(b"super-secret-key-super-secret-key".to_vec());
        assert!(!format!("{c:?}").contains("super-secret"));
        assert!(c.validate().is_ok());
        assert!(AuthConfig::new(b"short".to_vec()).validate().is_err());
    }

    #[test]
    fn origins_are_checked() {
        let mut h = HttpConfig::default();
        assert!(h.validate().is_ok());
        h.cors_allowed_origins = vec!["https://a.example".into(), "*".into()];
        assert!(h.validate().is_ok());
        h.cors_allowed_origins = vec!["a.example/".into()];
        assert!(h.validate().is_err());
    }
}
