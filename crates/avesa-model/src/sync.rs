//! The vocabulary connectors, the pipeline and the state store share: a record as fetched
//! ([`RawRecord`]), a position in a source table's change stream ([`Position`]) with the
//! vendor's own continuation ([`Continuation`]), why reading stopped early
//! ([`StopReason`]), what kind of run it is ([`RunKind`]) and a backfill's identity
//! ([`Backfill`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::IdError;
use crate::json::{MemberIndex, Members};

/// One record as fetched from a vendor.
#[derive(Clone, Debug)]
pub struct RawRecord {
    pub source_id: String,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The record's JSON text, unmodified.
    pub json: String,
    /// Where the members of `json` lie, when the connector split the record already (so
    /// the mapping does not parse it again); a cache of `json`'s structure, not compared.
    pub index: Option<MemberIndex>,
}

impl RawRecord {
    /// A record with no member index (the mapping parses its text).
    pub fn new(
        source_id: impl Into<String>,
        updated_at: Option<DateTime<Utc>>,
        deleted: bool,
        json: impl Into<String>,
    ) -> Self {
        RawRecord {
            source_id: source_id.into(),
            updated_at,
            deleted,
            json: json.into(),
            index: None,
        }
    }

    /// The members of the record's JSON text: from its index when it has one that fits,
    /// otherwise parsed; `None` when the text is not a JSON object.
    pub fn members(&self) -> Option<Members<'_>> {
        self.index
            .as_ref()
            .and_then(|i| i.members(&self.json))
            .or_else(|| Members::parse(&self.json))
    }
}

impl PartialEq for RawRecord {
    fn eq(&self, other: &Self) -> bool {
        (&self.source_id, self.updated_at, self.deleted, &self.json)
            == (&other.source_id, other.updated_at, other.deleted, &other.json)
    }
}

/// Where the next page comes from when the vendor says so itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Continuation {
    /// The next page of an open query (a next-page URL or query locator; valid for
    /// minutes). When it has expired, reading falls back to the keyset position.
    NextPage(String),
    /// A delta link (Microsoft Graph; valid for days): the only position an incremental
    /// run keeps exactly, without an overlap rewind. When it has expired, the table is
    /// read in full again.
    Delta(String),
    /// The parent ids still to read, for a table read parent by parent.
    Parents(Vec<String>),
    /// AVESA's own, never a vendor's: the plan of a table read in partitions, kept in the
    /// table's cursor while they run — the partitions' bounds by updated-at, in order,
    /// the last one the instant the plan was made (its horizon). Partition `i` reads
    /// `[bounds[i], bounds[i + 1])`.
    Partitions(Vec<DateTime<Utc>>),
}

impl Continuation {
    /// The continuation as stored: `next:URL`, `delta:URL`, `parents:ID,ID,…`,
    /// `partitions:RFC3339,RFC3339,…`.
    pub fn to_token(&self) -> String {
        match self {
            Continuation::NextPage(u) => format!("next:{u}"),
            Continuation::Delta(u) => format!("delta:{u}"),
            Continuation::Parents(ids) => format!("parents:{}", ids.join(",")),
            Continuation::Partitions(bounds) => format!(
                "partitions:{}",
                bounds
                    .iter()
                    .map(|b| b.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// Parses a stored continuation.
    pub fn from_token(token: &str) -> Result<Self, IdError> {
        if let Some(u) = token.strip_prefix("next:") {
            Ok(Continuation::NextPage(u.to_owned()))
        } else if let Some(u) = token.strip_prefix("delta:") {
            Ok(Continuation::Delta(u.to_owned()))
        } else if let Some(ids) = token.strip_prefix("parents:") {
            Ok(Continuation::Parents(
                ids.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            ))
        } else if let Some(bounds) = token.strip_prefix("partitions:") {
            let bounds = bounds
                .split(',')
                .map(|b| {
                    DateTime::parse_from_rfc3339(b)
                        .map(|d| d.to_utc())
                        .map_err(|e| IdError(format!("partition bound {b:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if bounds.len() < 2 || bounds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(IdError(format!(
                    "partition bounds {token:?}: expected at least two, in increasing order"
                )));
            }
            Ok(Continuation::Partitions(bounds))
        } else {
            Err(IdError(format!(
                "unknown continuation {token:?}: expected next:, delta:, parents: or partitions:"
            )))
        }
    }

    pub fn is_delta(&self) -> bool {
        matches!(self, Continuation::Delta(_))
    }
}

/// A keyset position in a source table's change stream: everything up to and including
/// `(updated_at, id)` has been read, so the pair is a resumable, gap-free position. An
/// empty `id` means "from `updated_at` inclusive" (an overlap window or a range start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub updated_at: DateTime<Utc>,
    pub id: String,
    /// The vendor's own continuation, where it has one.
    pub continuation: Option<Continuation>,
}

impl Position {
    /// After `(updated_at, id)`.
    pub fn new(updated_at: DateTime<Utc>, id: impl Into<String>) -> Self {
        Position { updated_at, id: id.into(), continuation: None }
    }

    /// From `updated_at`, inclusive.
    pub fn from_instant(updated_at: DateTime<Utc>) -> Self {
        Position { updated_at, id: String::new(), continuation: None }
    }

    pub fn with(self, continuation: Continuation) -> Self {
        Position { continuation: Some(continuation), ..self }
    }

    /// The continuation as stored (see [`Continuation::to_token`]).
    pub fn token(&self) -> Option<String> {
        self.continuation.as_ref().map(Continuation::to_token)
    }
}

/// How a position looks in JSON (run records): the continuation as its stored token.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct PositionJson {
    /// The vendor's updated-at of the last record read.
    updated_at: DateTime<Utc>,
    /// Its source id (empty: from `updated_at` inclusive).
    id: String,
    /// The vendor's own continuation (`next:URL`, `delta:URL`, `parents:ID,…`); shown
    /// to platform admins only.
    #[serde(default)]
    token: Option<String>,
}

impl utoipa::PartialSchema for Position {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <PositionJson as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Position {
    fn name() -> std::borrow::Cow<'static, str> {
        "Position".into()
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PositionJson { updated_at: self.updated_at, id: self.id.clone(), token: self.token() }
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = PositionJson::deserialize(d)?;
        let continuation = p
            .token
            .as_deref()
            .map(Continuation::from_token)
            .transpose()
            .map_err(serde::de::Error::custom)?;
        Ok(Position { updated_at: p.updated_at, id: p.id, continuation })
    }
}

/// Why a chunk stopped reading before its source ran out, without failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The vendor's request quota is used up (the vendor's message): the table stops for
    /// this run and the next run resumes.
    Quota(String),
    /// The pipeline was cancelled (Ctrl-C, SIGTERM): commit what was read, stop.
    Cancelled,
    /// The chunk's time budget ran out: commit what was read, a continuation chunk reads
    /// on.
    TimeBudget,
}

impl StopReason {
    /// Whether the table's work ends for this run (a quota or a cancel), rather than
    /// going on in a continuation chunk (a time budget).
    pub fn ends_table(&self) -> bool {
        !matches!(self, StopReason::TimeBudget)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Quota(m) => f.write_str(m),
            StopReason::Cancelled => f.write_str("cancelled"),
            StopReason::TimeBudget => f.write_str("time budget reached"),
        }
    }
}

/// What kind of sync a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// From each table's watermark.
    Incremental,
    /// Whole tables, ending with a key scan for deletions.
    Full,
    /// A date range, without moving watermarks.
    Backfill,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Incremental => "incremental",
            RunKind::Full => "full",
            RunKind::Backfill => "backfill",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunKind {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        match s {
            "incremental" => Ok(RunKind::Incremental),
            "full" => Ok(RunKind::Full),
            "backfill" => Ok(RunKind::Backfill),
            other => Err(IdError(format!("unknown run kind {other:?}"))),
        }
    }
}

/// A backfill: the records of a table updated in `[from, to)`. Its progress is kept under
/// a key of its own ([`Backfill::key`]), so it never moves the table's watermark and the
/// same backfill run again resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backfill {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Backfill {
    /// A range; `from` must be before `to`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, IdError> {
        if from >= to {
            return Err(IdError(format!(
                "a backfill's start ({from}) must be before its end ({to})"
            )));
        }
        Ok(Backfill { from, to })
    }

    /// The key its progress lives under:
    /// `service/tickets@backfill-20240101T000000-20240201T000000`.
    pub fn key(&self, table: &str) -> String {
        format!(
            "{table}@backfill-{}-{}",
            self.from.format("%Y%m%dT%H%M%S"),
            self.to.format("%Y%m%dT%H%M%S")
        )
    }

    /// Whether `updated_at` falls in the range.
    pub fn contains(&self, updated_at: DateTime<Utc>) -> bool {
        self.from <= updated_at && updated_at < self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_round_trip_through_their_tokens() {
        for c in [
            Continuation::NextPage("https://x/api?page=2&a=b:c".into()),
            Continuation::Delta("https://graph/delta?$deltatoken=abc".into()),
            Continuation::Parents(vec!["1".into(), "22".into()]),
            Continuation::Parents(vec![]),
            Continuation::Partitions(vec![
                DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
                DateTime::from_timestamp(1_700_000_060, 500_000_000).unwrap(),
                DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            ]),
        ] {
            assert_eq!(Continuation::from_token(&c.to_token()).unwrap(), c);
        }
        assert!(Continuation::from_token("http://x").is_err());
        assert!(Continuation::from_token("partitions:2026-01-01T00:00:00Z").is_err());
        assert!(
            Continuation::from_token("partitions:2026-01-02T00:00:00Z,2026-01-01T00:00:00Z")
                .is_err()
        );
    }

    #[test]
    fn positions_serialize_with_their_token() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let p = Position::new(t, "42").with(Continuation::NextPage("http://x/2".into()));
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(j["token"], "next:http://x/2");
        assert_eq!(j["id"], "42");
        assert_eq!(serde_json::from_value::<Position>(j).unwrap(), p);
    }

    #[test]
    fn backfills_have_a_key_and_a_range() {
        let at = |d: &str| crate::parse_instant(d).unwrap();
        let b = Backfill::new(at("2024-01-01"), at("2024-02-01")).unwrap();
        assert_eq!(
            b.key("service/tickets"),
            "service/tickets@backfill-20240101T000000-20240201T000000"
        );
        assert!(b.contains(at("2024-01-31")) && !b.contains(at("2024-02-01")));
        assert!(Backfill::new(at("2024-02-01"), at("2024-01-01")).is_err());
        assert_eq!("full".parse::<RunKind>().unwrap(), RunKind::Full);
        assert!("weekly".parse::<RunKind>().is_err());
    }
}
