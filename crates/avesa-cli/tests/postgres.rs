//! The binary on a PostgreSQL state store, chosen by configuration only: `avesa migrate`
//! (twice), then tenants created and listed through it; the URL's password never appears
//! in what the binary prints. The server is `AVESA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, trust auth); the test makes a database of its
//! own and drops it.

use std::process::{Command, Output};

use sqlx::{Connection, PgConnection};

fn server_url() -> String {
    std::env::var("AVESA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn avesa(dir: &std::path::Path, state: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avesa"))
        .current_dir(dir)
        .args(["--log", "warn"])
        .args(args)
        .env("AVESA_STATE", state)
        .env_remove("AVESA_CONFIG")
        .env_remove("AVESA_DATA_DIR")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn the_binary_runs_on_postgres_by_configuration_only() {
    let server = server_url();
    let name = format!("avesa_cli_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server).await.expect("PostgreSQL for the tests");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();

    // Trust auth ignores the password, so one can be given to check it is never shown.
    let mut url = reqwest::Url::parse(&server).expect("AVESA_TEST_POSTGRES_URL is a URL");
    url.set_password(Some("hunter2")).unwrap();
    url.set_path(&name);
    let state = url.to_string();
    let plain = {
        let mut u = reqwest::Url::parse(&server).unwrap();
        u.set_path(&name);
        u.to_string()
    };
    let shown = state.replace("hunter2", "***");
    let dir = tempfile::tempdir().unwrap();
    let result = tokio::spawn(check(dir.path().to_owned(), state, plain, shown)).await;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn check(dir: std::path::PathBuf, state: String, plain: String, shown: String) {
    let dir = dir.as_path();
    for _ in 0..2 {
        let out = avesa(dir, &state, &["migrate"]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(t.contains("schema at version") && t.contains(&shown), "{t}");
        assert!(!t.contains("hunter2"), "{t}");
    }
    let out = avesa(dir, &state, &["tenant", "add", "acme", "--name", "Acme MSP"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = avesa(dir, &state, &["tenant", "add", "acme", "--name", "Again"]);
    assert!(!out.status.success(), "a second acme is refused");
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
    let out = avesa(dir, &state, &["tenant", "list"]);
    let t = text(&out);
    assert!(out.status.success() && t.contains("acme") && t.contains("Acme MSP"), "{t}");
    let out = avesa(dir, &state, &["config", "show"]);
    let t = text(&out);
    assert!(t.contains(&shown) && !t.contains("hunter2"), "{t}");
    // What the binary stored is in PostgreSQL, not in a SQLite file.
    let mut c = PgConnection::connect(&plain).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE id = 'acme'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let _ = c.close().await;
    assert!(!dir.join("avesa-data/state.db").exists());
}
