//! Resolution order (defaults < file < environment < flags), provenance, and the errors a
//! bad value gets. The environment is a map here: nothing touches the process's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use avesa_config::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn inputs(dir: &Path) -> Inputs {
    Inputs { working_dir: dir.to_owned(), ..Inputs::default() }
}

fn err(i: &Inputs) -> String {
    resolve(i).expect_err("should be refused").to_string()
}

#[test]
fn defaults_are_the_embedded_backends_under_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let r = resolve(&inputs(dir.path())).unwrap();
    let s = &r.settings;
    assert_eq!(s.data_dir, PathBuf::from("avesa-data"));
    assert_eq!(s.state, StateBackend::Sqlite("avesa-data/state.db".into()));
    assert_eq!(s.lake, LakeBackend::File("avesa-data/lake".into()));
    assert_eq!(s.warehouse, WarehouseBackend::DuckDb("avesa-data/warehouse.duckdb".into()));
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:3000");
    assert!(s.server.scheduler);
    assert_eq!(s.server.shutdown_grace, Duration::from_secs(120));
    assert_eq!((s.pipeline.chunk_records, s.pipeline.page_size), (5_000, 1_000));
    assert_eq!(s.pipeline.chunk_budget, Duration::from_secs(60));
    assert_eq!(s.duckdb.memory_limit_bytes, 256_000_000);
    assert_eq!(s.duckdb.checkpoint_threshold_bytes, 16 << 20, "DuckDB's own default");
    assert!(s.metrics.tenant_label && s.master_key.is_none() && s.jwt_secret.is_none());
    assert_eq!(r.file, None);
    assert_eq!(r.origin("server.bind"), &Origin::Default);
    assert_eq!(r.origin("state"), &Origin::UnderDataDir);
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("avesa.toml"),
        r#"
data_dir = "/srv/avesa"
warehouse = "duckdb:///fast/wh.duckdb"
[server]
bind = "0.0.0.0:8080"
shutdown_grace_secs = 30
[pipeline]
chunk_records = 2000
max_concurrent_chunks = 8
[duckdb]
memory_limit = "1GiB"
"#,
    )
    .unwrap();
    let mut i = inputs(dir.path());
    i.env = env(&[
        ("AVESA_BIND", "127.0.0.1:9000"),
        ("AVESA_CHUNK_RECORDS", "300"),
        ("AVESA_METRICS_TENANT_LABEL", "0"),
        ("AVESA_WEBHOOK_URL", ""),
        ("AVESA_DUCKDB_CHECKPOINT_THRESHOLD", "256MB"),
        ("UNRELATED", "x"),
    ]);
    i.flags = vec![("pipeline.chunk_records", "--chunk-records", "7".into())];
    let r = resolve(&i).unwrap();
    let s = &r.settings;
    let file = dir.path().join("avesa.toml");
    assert_eq!(r.file.as_deref(), Some(file.as_path()));
    assert_eq!(s.data_dir, PathBuf::from("/srv/avesa"));
    assert_eq!(
        s.state,
        StateBackend::Sqlite("/srv/avesa/state.db".into()),
        "derived from the file's data_dir"
    );
    assert_eq!(s.warehouse, WarehouseBackend::DuckDb("/fast/wh.duckdb".into()));
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:9000", "environment over file");
    assert_eq!(s.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(s.pipeline.chunk_records, 7, "flag over environment over file");
    assert_eq!(s.pipeline.max_concurrent_chunks, 8);
    assert_eq!(s.duckdb.memory_limit_bytes, 1 << 30);
    assert_eq!(s.duckdb.checkpoint_threshold_bytes, 256_000_000);
    assert!(!s.metrics.tenant_label);
    assert_eq!(s.pipeline.webhook_url, None, "an empty variable is unset");
    assert_eq!(r.origin("data_dir"), &Origin::File(file.clone()));
    assert_eq!(r.origin("server.bind"), &Origin::Env("AVESA_BIND"));
    assert_eq!(r.origin("pipeline.chunk_records"), &Origin::Flag("--chunk-records"));
    assert_eq!(r.origin("pipeline.max_concurrent_chunks"), &Origin::File(file));
    assert_eq!(r.origin("pipeline.page_size"), &Origin::Default);
}

#[test]
fn lists_come_from_arrays_in_the_file_and_commas_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("avesa.toml"),
        "[server]\ncors_origins = [\"https://a.example\", \"http://localhost:5173\"]\nbody_limit = \"64KiB\"\n",
    )
    .unwrap();
    let r = resolve(&inputs(dir.path())).unwrap();
    assert_eq!(r.settings.server.cors_origins, ["https://a.example", "http://localhost:5173"]);
    assert_eq!(r.settings.server.body_limit_bytes, 64 * 1024);
    let mut i = inputs(dir.path());
    i.env = env(&[("AVESA_CORS_ORIGINS", " https://b.example , * ")]);
    let r = resolve(&i).unwrap();
    assert_eq!(r.settings.server.cors_origins, ["https://b.example", "*"]);
    assert!(r.show().contains(r#"cors_origins = ["https://b.example", "*"]"#), "{}", r.show());
}

#[test]
fn the_config_file_can_be_named_and_must_then_exist() {
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("prod.toml");
    std::fs::write(&named, "[server]\nbind = \"127.0.0.1:4000\"\n").unwrap();
    std::fs::write(dir.path().join("avesa.toml"), "[server]\nbind = \"127.0.0.1:5000\"\n").unwrap();
    let mut i = inputs(dir.path());
    i.env = env(&[("AVESA_CONFIG", named.to_str().unwrap())]);
    assert_eq!(resolve(&i).unwrap().settings.server.bind.port(), 4000);
    let flagged = dir.path().join("flag.toml");
    std::fs::write(&flagged, "[server]\nbind = \"127.0.0.1:6000\"\n").unwrap();
    i.config_flag = Some(flagged);
    assert_eq!(
        resolve(&i).unwrap().settings.server.bind.port(),
        6000,
        "--config over AVESA_CONFIG"
    );
    i.config_flag = Some(dir.path().join("missing.toml"));
    let e = err(&i);
    assert!(e.contains("missing.toml") && e.contains("flag --config"), "{e}");
    i.config_flag = None;
    i.env = env(&[("AVESA_CONFIG", "/nonexistent/avesa.toml")]);
    let e = err(&i);
    assert!(e.contains("environment variable AVESA_CONFIG"), "{e}");
}

#[test]
fn a_bad_value_names_its_key_its_source_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (
            &[("AVESA_BIND", "localhost")],
            &["server.bind", "environment variable AVESA_BIND", "127.0.0.1:3000"],
        ),
        (
            &[("AVESA_SHUTDOWN_GRACE_SECS", "soon")],
            &["server.shutdown_grace_secs", "AVESA_SHUTDOWN_GRACE_SECS", "whole number of seconds"],
        ),
        (
            &[("AVESA_STATE", "mysql://db/avesa")],
            &["state", "mysql://", "sqlite://PATH", "postgres://"],
        ),
        (
            &[("AVESA_STATE", "postgres://avesa:hunter2@/x")],
            &["state", "needs a host", "avesa:***@"],
        ),
        (&[("AVESA_LAKE", "gs://bucket/prefix")], &["lake", "gs://", "file://PATH", "s3://"]),
        (&[("AVESA_LAKE", "s3://Bad_Bucket/x")], &["lake", "not a bucket name"]),
        (
            &[("AVESA_WAREHOUSE", "clickhouse+http://u:hunter2@h:8123/my-db")],
            &["warehouse", "not a database name", "u:***@", "clickhouse+http://"],
        ),
        (&[("AVESA_S3_ENDPOINT", "127.0.0.1:9000")], &["s3.endpoint", "http(s) URL"]),
        (&[("AVESA_S3_REGION", "us east")], &["s3.region", "not a region name"]),
        (&[("AVESA_S3_ACCESS_KEY_ID", "AKIA123")], &["s3.secret_access_key", "its secret is not"]),
        (
            &[("AVESA_S3_SECRET_ACCESS_KEY", "hunter2")],
            &["s3.access_key_id", "not the key it belongs to"],
        ),
        (&[("AVESA_WAREHOUSE", "/plain/path")], &["warehouse", "duckdb://PATH"]),
        (&[("AVESA_DUCKDB_MEMORY_LIMIT", "lots")], &["duckdb.memory_limit", "\"lots\"", "256MB"]),
        (&[("AVESA_DUCKDB_MEMORY_LIMIT", "1MB")], &["duckdb.memory_limit", "too small"]),
        (
            &[("AVESA_DUCKDB_CHECKPOINT_THRESHOLD", "often")],
            &["duckdb.checkpoint_threshold", "\"often\"", "16MB"],
        ),
        (
            &[("AVESA_DUCKDB_CHECKPOINT_THRESHOLD", "100KB")],
            &["duckdb.checkpoint_threshold", "1MiB to 64GiB"],
        ),
        (&[("AVESA_CHUNK_RECORDS", "0")], &["pipeline.chunk_records", "at least 1"]),
        (&[("AVESA_PAGE_SIZE", "50000")], &["pipeline.page_size", "1 to 10000"]),
        (&[("AVESA_WEBHOOK_URL", "ftp://x")], &["pipeline.webhook_url", "http://"]),
        (&[("AVESA_METRICS_TENANT_LABEL", "maybe")], &["metrics.tenant_label", "true or false"]),
        (&[("AVESA_QUEUE", "http://nats:4222")], &["queue.url", "nats://HOST:PORT"]),
        (&[("AVESA_QUEUE", "nats://nats:port")], &["queue.url", "nats://HOST:PORT"]),
        (&[("AVESA_QUEUE_STREAM", "jobs.v1")], &["queue.stream", "letters, digits"]),
        (&[("AVESA_QUEUE_LEASE_SECS", "2")], &["queue.lease_secs", "5 to 3600"]),
        (&[("AVESA_WORKER_CONCURRENCY", "0")], &["queue.worker_concurrency", "1 to 256"]),
        (&[("AVESA_MASTER_KEY", "c2hvcnQ=")], &["master_key", "decodes to 5 bytes", "32 bytes"]),
        (&[("AVESA_JWT_SECRET", "short-secret-value")], &["jwt_secret", "at least 32 characters"]),
        (
            &[("AVESA_CORS_ORIGINS", "https://ok.example, evil.example/path")],
            &["server.cors_origins", "\"evil.example/path\"", "https://avesa.example.com"],
        ),
        (&[("AVESA_BODY_LIMIT", "5GiB")], &["server.body_limit", "1KiB to 1GiB"]),
        (&[("AVESA_SMTP_URL", "mail.example.com:25")], &["smtp.url", "smtps://HOST"]),
        (
            &[
                ("AVESA_SMTP_URL", "smtp://u:hunter2@mail.example.com"),
                ("AVESA_SMTP_FROM", "a@b.c"),
            ],
            &["smtp.url", "smtp.username and smtp.password"],
        ),
        (&[("AVESA_SMTP_URL", "smtp://mail.example.com")], &["smtp.from", "need a sender address"]),
        (&[("AVESA_SMTP_FROM", "reports")], &["smtp.from", "not an e-mail address"]),
        (&[("AVESA_SMTP_USERNAME", "reports")], &["smtp.password", "its password is not"]),
        (&[("AVESA_SMTP_PASSWORD", "hunter2")], &["smtp.username", "not the user"]),
    ];
    for (vars, needles) in cases {
        let mut i = inputs(dir.path());
        i.env = env(vars);
        let e = err(&i);
        for n in *needles {
            assert!(e.contains(n), "{vars:?}: {e:?} lacks {n:?}");
        }
    }
    // Secrets are never echoed, even when wrong.
    for var in ["AVESA_JWT_SECRET", "AVESA_S3_SECRET_ACCESS_KEY", "AVESA_SMTP_PASSWORD"] {
        let mut i = inputs(dir.path());
        i.env = env(&[(var, "hunter2-hunter2")]);
        assert!(!err(&i).contains("hunter2"), "{var}");
    }
    let mut i = inputs(dir.path());
    i.env = env(&[("AVESA_WAREHOUSE", "clickhouse+http://u:hunter2@/x")]);
    assert!(!err(&i).contains("hunter2"));
}

#[test]
fn an_s3_lake_and_a_clickhouse_warehouse_are_taken_and_shown_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("avesa.toml"),
        r#"
lake = "s3://avesa-lake/prod"
warehouse = "clickhouse+http://avesa:hunter2@ch.internal:8123/analytics"
[s3]
endpoint = "http://minio.internal:9000/"
region = "eu-west-1"
"#,
    )
    .unwrap();
    let mut i = inputs(dir.path());
    i.env = env(&[
        ("AVESA_S3_ACCESS_KEY_ID", "AKIA123"),
        ("AVESA_S3_SECRET_ACCESS_KEY", "s3-secret-value"),
    ]);
    let r = resolve(&i).unwrap();
    let s = &r.settings;
    assert_eq!(s.lake, LakeBackend::S3 { bucket: "avesa-lake".into(), prefix: "prod".into() });
    assert_eq!(s.s3.endpoint.as_deref(), Some("http://minio.internal:9000"));
    assert_eq!(s.s3.region, "eu-west-1");
    assert_eq!(s.s3.access_key_id.as_deref(), Some("AKIA123"));
    assert_eq!(s.s3.secret_access_key.as_ref().map(Secret::expose), Some("s3-secret-value"));
    let WarehouseBackend::ClickHouse(ch) = &s.warehouse else { panic!("{:?}", s.warehouse) };
    assert_eq!(ch.endpoint, "http://ch.internal:8123");
    assert_eq!(ch.database, "analytics");
    assert_eq!(ch.password.as_deref(), Some("hunter2"));
    let shown = r.show();
    assert!(!shown.contains("hunter2") && !shown.contains("s3-secret-value"), "{shown}");
    assert!(shown.contains("clickhouse+http://avesa:***@ch.internal:8123/analytics"), "{shown}");
    assert!(shown.contains("lake = \"s3://avesa-lake/prod\""), "{shown}");
    assert!(shown.contains("[s3]") && shown.contains("access_key_id = \"AKIA123\""), "{shown}");
    assert!(shown.contains("environment variable AVESA_S3_SECRET_ACCESS_KEY"), "{shown}");
    assert!(!format!("{s:?}").contains("hunter2"), "Debug never shows a password");
    assert!(!format!("{s:?}").contains("s3-secret-value"));
}

#[test]
fn a_bad_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("avesa.toml");
    std::fs::write(&path, "[server]\nbind = \n").unwrap();
    let e = err(&inputs(dir.path()));
    assert!(e.contains("avesa.toml"), "{e}");
    std::fs::write(&path, "[server]\nbnid = \"127.0.0.1:1\"\n").unwrap();
    let e = err(&inputs(dir.path()));
    assert!(
        e.contains("bnid") && e.contains("server.bind"),
        "an unknown key lists the known ones: {e}"
    );
    std::fs::write(&path, "[pipeline]\nchunk_records = \"many\"\n").unwrap();
    let e = err(&inputs(dir.path()));
    assert!(
        e.contains("pipeline.chunk_records")
            && e.contains("config file")
            && e.contains("at least 1"),
        "{e}"
    );
}

#[test]
fn show_masks_secrets_and_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = inputs(dir.path());
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    i.env = env(&[
        ("AVESA_MASTER_KEY", key),
        ("AVESA_JWT_SECRET", "a-very-long-jwt-signing-secret-of-40-chars"),
    ]);
    i.flags = vec![("data_dir", "--data-dir", "/tmp/x".into())];
    let r = resolve(&i).unwrap();
    assert_eq!(r.settings.master_key.as_ref().unwrap().expose(), key);
    let shown = r.show();
    assert!(!shown.contains(key) && !shown.contains("a-very-long"), "{shown}");
    assert!(!format!("{:?}", r.settings).contains(key), "Debug masks too");
    for line in [
        "master_key = \"********\"",
        "# environment variable AVESA_MASTER_KEY",
        "data_dir = \"/tmp/x\"",
        "# flag --data-dir",
        "state = \"sqlite:///tmp/x/state.db\"",
        "# default, under data_dir",
        "[pipeline]",
        "chunk_records = 5000",
    ] {
        assert!(shown.contains(line), "{line:?} missing from:\n{shown}");
    }
    // Every key is shown once, and the output is itself a valid config file.
    for k in KEYS {
        let name = k.path.rsplit('.').next().unwrap();
        assert!(shown.lines().any(|l| l.starts_with(&format!("{name} = "))), "{}", k.path);
    }
    let round_trip = dir.path().join("shown.toml");
    let without_secrets: String = shown
        .lines()
        .filter(|l| !l.starts_with("master_key") && !l.starts_with("jwt_secret"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&round_trip, without_secrets).unwrap();
    let again = resolve(&Inputs { config_flag: Some(round_trip), ..inputs(dir.path()) }).unwrap();
    assert_eq!(again.settings.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(again.settings.state, r.settings.state);
}

#[test]
fn embedded_settings_read_nothing_but_the_folder() {
    let s = Settings::embedded(Path::new("/data/avesa"));
    assert_eq!(s.state, StateBackend::Sqlite("/data/avesa/state.db".into()));
    assert_eq!(s.lake, LakeBackend::File("/data/avesa/lake".into()));
}

#[test]
fn every_key_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    for k in KEYS {
        let row = doc
            .lines()
            .find(|l| {
                l.starts_with(&format!("| `{}`", k.path)) && l.contains(&format!("| `{}` |", k.env))
            })
            .unwrap_or_else(|| {
                panic!("docs/configuration.md has no row for {} with {}", k.path, k.env)
            });
        assert_eq!(row.contains("(secret)"), k.secret, "{} secrecy", k.path);
    }
}

#[test]
fn a_postgres_state_url_is_taken_and_shown_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://avesa:hunter2@db.internal:5432/avesa";
    let i = Inputs { env: env(&[("AVESA_STATE", url)]), ..inputs(dir.path()) };
    let r = resolve(&i).unwrap();
    assert_eq!(r.settings.state, StateBackend::Postgres(url.into()));
    assert_eq!(r.settings.state.connection_url(), Some(url));
    let shown = r.show();
    assert!(shown.contains("postgres://avesa:***@db.internal:5432/avesa"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let bad = Inputs {
        env: env(&[("AVESA_STATE", "postgres://avesa:hunter2@/x")]),
        ..inputs(dir.path())
    };
    assert!(!err(&bad).contains("hunter2"));
}

#[test]
fn the_environment_profiles_under_deploy_resolve() {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config");
    let mut seen = Vec::new();
    for name in ["dev", "staging", "prod"] {
        let file = profiles.join(format!("{name}.toml"));
        let i = Inputs { config_flag: Some(file.clone()), ..inputs(&profiles) };
        let r = resolve(&i).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        seen.push((name, r.settings));
    }
    assert!(matches!(seen[0].1.warehouse, WarehouseBackend::DuckDb(_)), "dev is embedded");
    for (name, s) in &seen[1..] {
        assert!(matches!(s.state, StateBackend::Postgres(_)), "{name}");
        assert!(matches!(s.lake, LakeBackend::S3 { .. }), "{name}");
        assert!(matches!(s.warehouse, WarehouseBackend::ClickHouse(_)), "{name}");
        assert!(s.master_key.is_none() && s.s3.secret_access_key.is_none(), "{name}: no secrets");
    }
}

#[test]
fn the_job_queue_is_off_by_default_and_set_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let s = resolve(&inputs(dir.path())).unwrap().settings;
    assert_eq!(s.queue.url, None);
    assert_eq!((s.queue.stream.as_str(), s.queue.lease.as_secs()), ("AVESA_JOBS", 60));
    assert_eq!(s.queue.worker_concurrency, 2);
    let mut i = inputs(dir.path());
    i.env = env(&[
        ("AVESA_QUEUE", " nats://127.0.0.1:4222 "),
        ("AVESA_QUEUE_STREAM", "AVESA_JOBS_EU"),
        ("AVESA_QUEUE_LEASE_SECS", "30"),
    ]);
    i.flags.push(("queue.worker_concurrency", "--concurrency", "8".into()));
    let r = resolve(&i).unwrap();
    let q = &r.settings.queue;
    assert_eq!(q.url.as_deref(), Some("nats://127.0.0.1:4222"));
    assert_eq!(
        (q.stream.as_str(), q.lease.as_secs(), q.worker_concurrency),
        ("AVESA_JOBS_EU", 30, 8)
    );
    let shown = r.show();
    assert!(shown.contains("[queue]") && shown.contains("worker_concurrency = 8"), "{shown}");
}

#[test]
fn reports_mail_is_off_by_default_and_its_password_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let s = resolve(&inputs(dir.path())).unwrap().settings;
    assert!(s.smtp.url.is_none() && s.smtp.from.is_none() && s.smtp.password.is_none());
    let mut i = inputs(dir.path());
    i.env = env(&[
        ("AVESA_SMTP_URL", " smtp://mail.example.com:587?tls=required "),
        ("AVESA_SMTP_FROM", "Acme Reports <reports@acme.example>"),
        ("AVESA_SMTP_USERNAME", "reports"),
        ("AVESA_SMTP_PASSWORD", "hunter2-hunter2"),
    ]);
    let r = resolve(&i).unwrap();
    let m = &r.settings.smtp;
    assert_eq!(m.url.as_deref(), Some("smtp://mail.example.com:587?tls=required"));
    assert_eq!(m.from.as_deref(), Some("Acme Reports <reports@acme.example>"));
    assert_eq!(m.password.as_ref().map(|p| p.expose()), Some("hunter2-hunter2"));
    let shown = r.show();
    assert!(shown.contains("[smtp]") && shown.contains("password = \"********\""), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
