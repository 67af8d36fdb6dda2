//! The configuration reaches what it configures: the app built from resolved settings
//! serves CORS for the configured origins only and refuses bodies over the configured
//! limit; `avesa config show` prints the resolved settings with their sources.

use std::collections::BTreeMap;

use avesa_cli::{app::App, demo};

#[tokio::test]
async fn the_api_honours_cors_origins_and_the_body_limit() {
    let dir = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> =
        [("AVESA_CORS_ORIGINS", "https://dash.example.com"), ("AVESA_BODY_LIMIT", "2KiB")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let resolved = avesa_config::resolve(&avesa_config::Inputs {
        env,
        flags: vec![("data_dir", "--data-dir", dir.path().join("data").display().to_string())],
        working_dir: dir.path().to_owned(),
        ..Default::default()
    })
    .unwrap();
    let app = App::open_with(resolved.settings).await.unwrap();
    let (addr, _task) = demo::serve(&app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("http://{addr}/auth/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let ok = preflight("https://dash.example.com").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some("https://dash.example.com")
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let login = |password: String| {
        http.post(format!("http://{addr}/auth/login"))
            .header("content-type", "application/json")
            .body(format!(
                "{{\"tenant_id\":\"acme\",\"email\":\"a@acme.example\",\"password\":\"{password}\"}}"
            ))
            .send()
    };
    // Under the limit the login is judged (and refused); over it the body is not read.
    assert_eq!(login("x".repeat(1000)).await.unwrap().status(), 401);
    let over = login("x".repeat(4096)).await.unwrap();
    assert_eq!(over.status(), 400);
    let body: serde_json::Value = over.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
}

#[test]
fn config_show_prints_sources_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("avesa.toml"), "[pipeline]\nchunk_records = 1234\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_avesa"))
        .current_dir(dir.path())
        .args(["--log", "warn", "config", "show"])
        .env("AVESA_JWT_SECRET", "a-jwt-secret-that-is-long-enough-for-hs256")
        .env_remove("AVESA_CONFIG")
        .env_remove("AVESA_DATA_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("chunk_records = 1234") && text.contains("# config file"), "{text}");
    assert!(text.contains("# environment variable AVESA_JWT_SECRET"), "{text}");
    assert!(!text.contains("a-jwt-secret"), "{text}");
    assert!(text.contains("# flag --log"), "{text}");
    // A bad value: one line naming the key, where it came from and what is accepted.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_avesa"))
        .current_dir(dir.path())
        .args(["config", "show"])
        .env("AVESA_PAGE_SIZE", "lots")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("pipeline.page_size")
            && err.contains("AVESA_PAGE_SIZE")
            && err.contains("1 to 10000"),
        "{err}"
    );
}
