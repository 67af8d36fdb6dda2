//! Backends chosen by URL: `sqlite://PATH` for the state store, `file://PATH` for the
//! lake, `duckdb://PATH` for the warehouse. A path after `scheme://` is taken as written:
//! `sqlite://avesa-data/state.db` is relative to the working folder,
//! `sqlite:///var/lib/avesa/state.db` absolute.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The state store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateBackend {
    Sqlite(PathBuf),
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

url_backend!(StateBackend, "state store", "sqlite" => Sqlite);
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
    fn other_schemes_and_empty_paths_are_refused() {
        assert!(
            "postgres://localhost/avesa"
                .parse::<StateBackend>()
                .unwrap_err()
                .contains("postgres://")
        );
        assert!("s3://bucket/prefix".parse::<LakeBackend>().unwrap_err().contains("s3://"));
        assert!("/plain/path".parse::<WarehouseBackend>().unwrap_err().contains("not a URL"));
        assert!("sqlite://".parse::<StateBackend>().unwrap_err().contains("needs a path"));
        assert!("sqlitex://a".parse::<StateBackend>().is_err());
        assert!("file://a?b".parse::<LakeBackend>().is_err());
    }
}
