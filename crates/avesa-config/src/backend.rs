//! Backends chosen by URL: `sqlite://PATH` or `postgres://…` for the state store,
//! `file://PATH` for the lake, `duckdb://PATH` for the warehouse. A path after `scheme://` is taken as written:
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
}

/// The warehouse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarehouseBackend {
    DuckDb(PathBuf),
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

/// `FromStr` and `Display` of a backend enum whose variants are `scheme://PATH`.
macro_rules! url_backend {
    ($ty:ident, $what:literal, $($scheme:literal => $variant:ident),+ $(,)?) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $(
                    if let Some(p) = path_of(s, $scheme) {
                        return p.map($ty::$variant);
                    }
                )+
                Err(unsupported(s, $what))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($ty::$variant(p) => write!(f, "{}://{}", $scheme, p.display()),)+
                }
            }
        }
    };
}

url_backend!(LakeBackend, "lake", "file" => File);
url_backend!(WarehouseBackend, "warehouse", "duckdb" => DuckDb);

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
    fn other_schemes_and_empty_paths_are_refused() {
        assert!(
            "mysql://localhost/avesa".parse::<StateBackend>().unwrap_err().contains("mysql://")
        );
        assert!("s3://bucket/prefix".parse::<LakeBackend>().unwrap_err().contains("s3://"));
        assert!("/plain/path".parse::<WarehouseBackend>().unwrap_err().contains("not a URL"));
        assert!("sqlite://".parse::<StateBackend>().unwrap_err().contains("needs a path"));
        assert!("sqlitex://a".parse::<StateBackend>().is_err());
        assert!("file://a?b".parse::<LakeBackend>().is_err());
    }
}
