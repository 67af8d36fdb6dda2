//! Backends chosen by URL: `sqlite://PATH` or `postgres://…` for the state store,
//! `file://PATH` or `s3://BUCKET[/PREFIX]` for the lake, `duckdb://PATH` or
//! `clickhouse+http(s)://[USER[:PASSWORD]@]HOST:PORT[/DATABASE]` for the warehouse. A path after `scheme://` is taken as written:
//! `sqlite://avesa-data/state.db` is relative to the working folder,
//! `sqlite:///var/lib/avesa/state.db` absolute.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The state store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateBackend {
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/database`), as
    /// given. Shown with its password masked; [`StateBackend::connection_url`] is the real one.
    Postgres(String),
}

impl StateBackend {
    /// The URL to connect with (the password unmasked), for a network backend.
    pub fn connection_url(&self) -> Option<&str> {
        match self {
            StateBackend::Sqlite(_) => None,
            StateBackend::Postgres(url) => Some(url),
        }
    }
}

impl FromStr for StateBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = path_of(s, "sqlite") {
            return p.map(StateBackend::Sqlite);
        }
        let t = s.trim();
        for scheme in ["postgres", "postgresql"] {
            if let Some(rest) = t.strip_prefix(scheme).and_then(|r| r.strip_prefix("://")) {
                let host = rest.split(['/', '?']).next().unwrap_or_default();
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                if host.is_empty() {
                    return Err(format!(
                        "{scheme}:// needs a host: {scheme}://user@host:5432/database"
                    ));
                }
                return Ok(StateBackend::Postgres(t.to_string()));
            }
        }
        Err(unsupported(s, "state store"))
    }
}

impl fmt::Display for StateBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateBackend::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StateBackend::Postgres(url) => f.write_str(&mask_password(url)),
        }
    }
}

/// `url` with the password of its user part (`user:password@`) and of a `password=`
/// parameter replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    if scheme.is_empty() {
        format!("{authority}{tail}")
    } else {
        format!("{scheme}://{authority}{tail}")
    }
}

/// The lake (raw and canonical Parquet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LakeBackend {
    File(PathBuf),
    /// A bucket of an S3-compatible store and a key prefix inside it (no leading or
    /// trailing `/`; empty for the bucket's root). Endpoint, region and credentials are
    /// the `s3.*` settings.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl FromStr for LakeBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = path_of(s, "file") {
            return p.map(LakeBackend::File);
        }
        if let Some(rest) = s.trim().strip_prefix("s3://") {
            if rest.contains(['?', '#']) {
                return Err("s3:// takes a bucket and a prefix, without ? or #".into());
            }
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            check_bucket(bucket)?;
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|p| p.is_empty() || p == "." || p == "..")
                && !prefix.is_empty()
            {
                return Err(format!("s3:// prefix {prefix:?} has an empty, . or .. part"));
            }
            return Ok(LakeBackend::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        Err(unsupported(s, "lake"))
    }
}

/// S3's bucket naming rules: 3 to 63 lower-case letters, digits, `-` and `.`, starting
/// and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if bucket.is_empty() {
        Err("s3:// needs a bucket: s3://bucket/prefix".into())
    } else if !(3..=63).contains(&bucket.len())
        || !ok_chars
        || !ends(bucket.chars().next())
        || !ends(bucket.chars().last())
    {
        Err(format!(
            "{bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, - and .)"
        ))
    } else {
        Ok(())
    }
}

impl fmt::Display for LakeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeBackend::File(p) => write!(f, "file://{}", p.display()),
            LakeBackend::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeBackend::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The warehouse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarehouseBackend {
    DuckDb(PathBuf),
    /// ClickHouse over its HTTP interface.
    ClickHouse(ClickHouseUrl),
}

/// Where a ClickHouse warehouse is: `clickhouse+http://[USER[:PASSWORD]@]HOST:PORT[/DATABASE]`
/// (or `clickhouse+https://`). Shown with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://HOST:PORT` (or `https://`), what requests go to.
    pub endpoint: String,
    /// The database holding AVESA's tables (`default` when the URL names none).
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for ClickHouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClickHouseUrl({self})")
    }
}

impl fmt::Display for ClickHouseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, host) = self.endpoint.split_once("://").unwrap_or(("http", &self.endpoint));
        write!(f, "clickhouse+{scheme}://")?;
        match (&self.user, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:***@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        write!(f, "{host}/{}", self.database)
    }
}

fn parse_clickhouse(s: &str) -> Option<Result<ClickHouseUrl, String>> {
    let t = s.trim();
    let (scheme, rest) = ["http", "https"].iter().find_map(|sc| {
        t.strip_prefix("clickhouse+")?.strip_prefix(sc)?.strip_prefix("://").map(|r| (*sc, r))
    })?;
    Some((|| {
        if rest.contains(['?', '#']) {
            return Err("clickhouse+http:// takes no ? or # part".to_owned());
        }
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(format!(
                "clickhouse+{scheme}:// needs a host: clickhouse+{scheme}://HOST:8123/DATABASE"
            ));
        }
        let database = database.trim_end_matches('/');
        let database = if database.is_empty() { "default" } else { database };
        if !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || database.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "{database:?} is not a database name (letters, digits and _, not starting with a digit)"
            ));
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
                None => ((!u.is_empty()).then(|| u.to_owned()), None),
            },
        };
        Ok(ClickHouseUrl {
            endpoint: format!("{scheme}://{host}"),
            database: database.to_owned(),
            user,
            password,
        })
    })())
}

impl FromStr for WarehouseBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = path_of(s, "duckdb") {
            return p.map(WarehouseBackend::DuckDb);
        }
        if let Some(c) = parse_clickhouse(s) {
            return c.map(WarehouseBackend::ClickHouse);
        }
        Err(unsupported(s, "warehouse"))
    }
}

impl fmt::Display for WarehouseBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseBackend::DuckDb(p) => write!(f, "duckdb://{}", p.display()),
            WarehouseBackend::ClickHouse(c) => c.fmt(f),
        }
    }
}

/// The path of `scheme://PATH`, if `url` has that scheme and a path.
fn path_of(url: &str, scheme: &str) -> Option<Result<PathBuf, String>> {
    let rest = url.trim().strip_prefix(scheme)?.strip_prefix("://")?;
    Some(if rest.is_empty() {
        Err(format!("{scheme}:// needs a path"))
    } else if rest.contains(['?', '#']) {
        Err(format!("{scheme}:// takes a plain path, without ? or #"))
    } else {
        Ok(PathBuf::from(rest))
    })
}

fn unsupported(url: &str, what: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}:// is not a supported {what}"),
        None => format!("not a URL (scheme://…) naming a {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_round_trip_and_keep_relative_and_absolute_paths() {
        for u in ["sqlite://avesa-data/state.db", "sqlite:///var/lib/avesa/state.db"] {
            let b: StateBackend = u.parse().unwrap();
            assert_eq!(b.to_string(), u);
        }
        assert_eq!(
            "file:///srv/lake".parse::<LakeBackend>().unwrap(),
            LakeBackend::File("/srv/lake".into())
        );
        assert_eq!(
            "duckdb://wh.duckdb".parse::<WarehouseBackend>().unwrap(),
            WarehouseBackend::DuckDb("wh.duckdb".into())
        );
    }

    #[test]
    fn postgres_urls_are_kept_whole_and_shown_without_their_password() {
        let b: StateBackend = "postgres://avesa:s3cret@db.internal:5432/avesa".parse().unwrap();
        assert_eq!(b.connection_url(), Some("postgres://avesa:s3cret@db.internal:5432/avesa"));
        assert_eq!(b.to_string(), "postgres://avesa:***@db.internal:5432/avesa");
        let b: StateBackend =
            "postgresql://db/avesa?user=a&password=p%40ss&sslmode=disable".parse().unwrap();
        assert_eq!(b.to_string(), "postgresql://db/avesa?user=a&password=***&sslmode=disable");
        assert!(!b.to_string().contains("p%40ss"));
        assert_eq!(
            "postgres://u@h/d".parse::<StateBackend>().unwrap().to_string(),
            "postgres://u@h/d"
        );
        assert!("postgres:///avesa".parse::<StateBackend>().unwrap_err().contains("needs a host"));
        assert_eq!("sqlite://a.db".parse::<StateBackend>().unwrap().connection_url(), None);
    }

    #[test]
    fn s3_lakes_name_a_bucket_and_an_optional_prefix() {
        let b: LakeBackend = "s3://avesa-lake/prod/eu/".parse().unwrap();
        assert_eq!(b, LakeBackend::S3 { bucket: "avesa-lake".into(), prefix: "prod/eu".into() });
        assert_eq!(b.to_string(), "s3://avesa-lake/prod/eu");
        let b: LakeBackend = "s3://avesa-lake".parse().unwrap();
        assert_eq!(b, LakeBackend::S3 { bucket: "avesa-lake".into(), prefix: String::new() });
        assert_eq!(b.to_string(), "s3://avesa-lake");
        for (bad, says) in [
            ("s3://", "needs a bucket"),
            ("s3:///prefix", "needs a bucket"),
            ("s3://Avesa/x", "not a bucket name"),
            ("s3://ab/x", "not a bucket name"),
            ("s3://-lake/x", "not a bucket name"),
            ("s3://lake_1/x", "not a bucket name"),
            ("s3://lake/a//b", "empty, . or .."),
            ("s3://lake/a/../b", "empty, . or .."),
            ("s3://lake/a?x=1", "without ? or #"),
        ] {
            let e = bad.parse::<LakeBackend>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn clickhouse_urls_name_an_endpoint_a_database_and_credentials() {
        let b: WarehouseBackend =
            "clickhouse+http://avesa:s3cret@ch.internal:8123/analytics".parse().unwrap();
        let WarehouseBackend::ClickHouse(c) = &b else { panic!("{b:?}") };
        assert_eq!(c.endpoint, "http://ch.internal:8123");
        assert_eq!(c.database, "analytics");
        assert_eq!((c.user.as_deref(), c.password.as_deref()), (Some("avesa"), Some("s3cret")));
        assert_eq!(b.to_string(), "clickhouse+http://avesa:***@ch.internal:8123/analytics");
        assert!(!format!("{b:?}").contains("s3cret"));
        let b: WarehouseBackend = "clickhouse+https://ch.example.com".parse().unwrap();
        assert_eq!(b.to_string(), "clickhouse+https://ch.example.com/default");
        for (bad, says) in [
            ("clickhouse+http://", "needs a host"),
            ("clickhouse+http://u@/db", "needs a host"),
            ("clickhouse+http://h:8123/my-db", "not a database name"),
            ("clickhouse+http://h:8123/db?x=1", "no ? or #"),
            ("clickhouse://h:9000/db", "clickhouse:// is not a supported warehouse"),
        ] {
            let e = bad.parse::<WarehouseBackend>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn other_schemes_and_empty_paths_are_refused() {
        assert!(
            "mysql://localhost/avesa".parse::<StateBackend>().unwrap_err().contains("mysql://")
        );
        assert!("gs://bucket/prefix".parse::<LakeBackend>().unwrap_err().contains("gs://"));
        assert!("/plain/path".parse::<WarehouseBackend>().unwrap_err().contains("not a URL"));
        assert!("sqlite://".parse::<StateBackend>().unwrap_err().contains("needs a path"));
        assert!("sqlitex://a".parse::<StateBackend>().is_err());
        assert!("file://a?b".parse::<LakeBackend>().is_err());
    }
}
