//! Opaque tokens: OAuth access tokens, list `$skiptoken`s and delta `$skiptoken`/`$deltatoken`s.
//!
//! Every token is base64url (no padding) of a small JSON document plus a checksum, so a
//! client cannot read meaning into it and a damaged token is detected. Access tokens have the
//! shape of a JWT (`header.payload.signature`), as Entra ID's do; the "signature" is a keyed
//! checksum, not cryptography — this is a simulator.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Kind;
use super::data::fnv;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Key of the checksums (constant: tokens survive a simulator restart with the same data).
const KEY: &str = "avesa-graph-sim";

fn checksum(body: &str) -> String {
    format!("{:016x}", fnv(&format!("{KEY}\u{1}{body}")))
}

fn seal<T: Serialize>(value: &T) -> String {
    let body = serde_json::to_string(value).unwrap_or_default();
    let sum = checksum(&body);
    B64.encode(format!("{sum}{body}"))
}

fn open<T: DeserializeOwned>(token: &str) -> Option<T> {
    let raw = B64.decode(token.trim().trim_end_matches('=')).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (sum, body) = (text.get(..16)?, text.get(16..)?);
    (sum == checksum(body)).then_some(())?;
    serde_json::from_str(body).ok()
}

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AccessClaims {
    pub aud: String,
    pub iss: String,
    /// Wall-clock issue and expiry, Unix seconds.
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub tid: String,
    pub roles: Vec<String>,
    /// Access-token epoch of the simulator (see `GraphSim::expire_tokens`).
    pub sim_epoch: u64,
    /// Unique token id.
    pub uti: String,
}

pub(crate) fn access_token(claims: &AccessClaims) -> String {
    let header = B64.encode(r#"{"typ":"JWT","alg":"none","kid":"avesa-sim"}"#);
    let payload = B64.encode(serde_json::to_string(claims).unwrap_or_default());
    let sig = B64.encode(checksum(&format!("{header}.{payload}")));
    format!("{header}.{payload}.{sig}")
}

/// The claims of a well-formed access token (not checked for expiry).
pub(crate) fn read_access_token(token: &str) -> Option<AccessClaims> {
    let mut parts = token.split('.');
    let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let expected = B64.encode(checksum(&format!("{header}.{payload}")));
    (sig == expected).then_some(())?;
    let json = B64.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

/// A position in a `/users` or `/groups` list: the last id served.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ListToken {
    pub t: String,
    pub k: Kind,
    pub after: String,
}

pub(crate) fn list_token(t: &ListToken) -> String {
    seal(&("l", t))
}

pub(crate) fn read_list_token(s: &str) -> Option<ListToken> {
    let (tag, t): (String, ListToken) = open(s)?;
    (tag == "l").then_some(t)
}

/// A delta position: either a finished round (`$deltatoken`: changes after `pos`) or a round
/// in progress (`$skiptoken`: continue after `pos`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct DeltaState {
    /// Tenant id.
    pub t: String,
    pub k: Kind,
    /// Change sequence position.
    pub pos: u64,
    /// Simulated time (Unix seconds) the round's originating delta token was issued (or the
    /// round started, for a first sync); a skiptoken keeps its round's time.
    pub issued: i64,
    /// Delta epoch at issue (see `GraphSim::expire_delta_tokens`).
    pub epoch: u64,
    /// The `$select` of the first call, as normalised property names (`None`: default set).
    pub select: Option<Vec<String>>,
    /// True within a first (full) round: deleted objects are skipped, not reported.
    pub initial: bool,
    /// `Prefer: odata.maxpagesize` of the round's first call, when sent.
    pub page: Option<usize>,
}

pub(crate) fn delta_token(d: &DeltaState) -> String {
    seal(&("d", d))
}

pub(crate) fn skip_token(d: &DeltaState) -> String {
    seal(&("s", d))
}

/// Decodes a delta `$deltatoken` (`skip == false`) or `$skiptoken` (`skip == true`).
pub(crate) fn read_delta(s: &str, skip: bool) -> Option<DeltaState> {
    let (tag, d): (String, DeltaState) = open(s)?;
    (tag == if skip { "s" } else { "d" }).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_detect_damage() {
        let d = DeltaState {
            t: "tid".into(),
            k: Kind::Users,
            pos: 42,
            issued: 1_700_000_000,
            epoch: 0,
            select: Some(vec!["displayName".into()]),
            initial: false,
            page: None,
        };
        let tok = delta_token(&d);
        assert!(tok.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(read_delta(&tok, false), Some(d.clone()));
        assert_eq!(read_delta(&tok, true), None, "a delta token is not a skiptoken");
        let mut bad = tok.into_bytes();
        let n = bad.len() / 2;
        bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
        assert_eq!(read_delta(std::str::from_utf8(&bad).unwrap(), false), None);
        assert_eq!(read_list_token("garbage!"), None);

        let claims = AccessClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: "x".into(),
            iat: 1,
            nbf: 1,
            exp: 2,
            appid: "a".into(),
            tid: "t".into(),
            roles: vec![],
            sim_epoch: 3,
            uti: "u".into(),
        };
        let at = access_token(&claims);
        assert_eq!(at.split('.').count(), 3);
        assert_eq!(read_access_token(&at), Some(claims));
        assert_eq!(read_access_token(&format!("{at}x")), None);
    }
}
