//! The HTTP layer every REST connector shares: timeouts, retries with capped exponential
//! backoff and full jitter on 5xx/408/429/timeouts/resets/truncated bodies, `Retry-After`
//! honoured, and errors that keep the vendor's message. Other 4xx are never retried.

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode};

use crate::budget::Budget;
use crate::{ConnectorError, FetchStats, Result};

/// Retry policy.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` we accept before giving up on this attempt series.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.max_delay);
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        cap.mul_f64(jitter).max(Duration::from_millis(10))
    }
}

/// A successful response body with its headers.
pub struct Fetched {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub fn build_client() -> Client {
    Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(8)
        .user_agent(concat!("avesa/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is static and valid")
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (at.timestamp_millis() - chrono::Utc::now().timestamp_millis()).max(0);
    Some(Duration::from_millis(secs as u64))
}

/// Sends the request built by `make` until it succeeds, retrying transient failures.
/// `error_message` extracts the vendor's message and error code from an error body. Each
/// attempt first takes a place in `budget`'s concurrency window and a token; how it went
/// adapts the window, and a throttle slows the rate down.
pub async fn send_with_retry(
    service: &str,
    endpoint: &str,
    policy: &RetryPolicy,
    budget: Option<&Budget>,
    stats: &mut FetchStats,
    make: impl Fn() -> reqwest::RequestBuilder,
    error_message: impl Fn(&[u8]) -> (String, Option<String>),
) -> Result<Fetched> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let permit = match budget {
            Some(b) => Some(b.acquire().await),
            None => None,
        };
        stats.requests += 1;
        let outcome = match make().send().await {
            Ok(resp) => classify(resp).await,
            Err(e) => Outcome::Transient {
                message: transport_message(&e),
                wait: None,
                unreachable: e.is_connect(),
            },
        };
        let (message, wait, unreachable) = match outcome {
            Outcome::Ok(f) => {
                stats.bytes += f.body.len() as u64;
                if let Some(p) = permit {
                    p.succeeded();
                }
                return Ok(f);
            }
            Outcome::Permanent { status, body } => {
                // The vendor answered: no sign of congestion.
                if let Some(p) = permit {
                    p.succeeded();
                }
                let (message, code) = error_message(&body);
                return Err(ConnectorError::Rejected {
                    service: service.into(),
                    endpoint: endpoint.into(),
                    status: status.as_u16(),
                    message,
                    code,
                });
            }
            Outcome::Throttled { wait, body } => {
                stats.throttles += 1;
                if let Some(p) = permit {
                    p.throttled(wait);
                }
                (format!("throttled: {}", error_message(&body).0), wait, false)
            }
            Outcome::Transient { message, wait, unreachable } => {
                if let Some(p) = permit {
                    p.failed();
                }
                (message, wait, unreachable)
            }
        };
        if attempt >= policy.max_attempts {
            return Err(if unreachable {
                ConnectorError::Unreachable {
                    service: service.into(),
                    url: endpoint.into(),
                    message,
                }
            } else {
                ConnectorError::Exhausted {
                    service: service.into(),
                    endpoint: endpoint.into(),
                    attempts: attempt,
                    message,
                }
            });
        }
        let delay = match wait {
            Some(w) if w > policy.max_retry_after => {
                return Err(ConnectorError::Exhausted {
                    service: service.into(),
                    endpoint: endpoint.into(),
                    attempts: attempt,
                    message: format!("{message} (Retry-After {}s is too long)", w.as_secs()),
                });
            }
            Some(w) => w,
            None => policy.backoff(attempt - 1),
        };
        stats.retries += 1;
        tracing::warn!(service, endpoint, attempt, delay_ms = delay.as_millis() as u64, %message, "retrying");
        tokio::time::sleep(delay).await;
    }
}

enum Outcome {
    Ok(Fetched),
    Permanent { status: StatusCode, body: Vec<u8> },
    Throttled { wait: Option<Duration>, body: Vec<u8> },
    Transient { message: String, wait: Option<Duration>, unreachable: bool },
}

async fn classify(resp: Response) -> Outcome {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            return Outcome::Transient {
                message: format!("HTTP {status}: body cut off: {}", transport_message(&e)),
                wait: None,
                unreachable: false,
            };
        }
    };
    if status.is_success() {
        return Outcome::Ok(Fetched { headers, body });
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        return Outcome::Throttled { wait: retry_after(&headers), body };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Outcome::Transient {
            message: format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
            wait: retry_after(&headers),
            unreachable: false,
        };
    }
    Outcome::Permanent { status, body }
}

fn transport_message(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
        for hostile in ["inf", "1e20", "-3", "NaN"] {
            h.insert(RETRY_AFTER, hostile.parse().unwrap());
            assert_eq!(retry_after(&h), None, "{hostile}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy { max_delay: Duration::from_secs(2), ..Default::default() };
        for a in 0..30 {
            assert!(p.backoff(a) <= Duration::from_secs(2));
        }
    }
}
