//! The browser test: headless Chromium (Debian's `chromium`, driven by playwright-core in
//! `web/e2e/dashboard.mjs`) logs in with the demo credentials and checks that the
//! dashboard shows the API's numbers. Needs `web/node_modules` and `web/dist`
//! (`scripts/test.sh` builds both) and `/usr/bin/chromium`.

use std::net::SocketAddr;
use std::path::Path;

use avesa_cli::demo::{self, DemoOptions, MAIN, SECOND};
use avesa_sim::CwSizes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        web.join("node_modules/playwright-core").exists() && web.join("dist/index.html").exists(),
        "run scripts/test.sh (it builds web/ first)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.main_sizes = CwSizes::small();
    opts.second_sizes = demo::SecondSizes::small();
    // As `avesa demo`: the data ends now, so the dashboard's periods hold it.
    opts.epoch = demo::DemoEpoch::FirstRun;
    // Client reports are e-mailed to the SMTP sink scripts/services.sh starts.
    opts.settings.smtp.url =
        Some(std::env::var("AVESA_TEST_SMTP").unwrap_or_else(|_| "smtp://127.0.0.1:12525".into()));
    opts.settings.smtp.from = Some("AVESA reports <reports@avesa.example>".into());
    let d = demo::prepare(opts).await.expect("demo prepares");
    let (addr, _server) = demo::serve(&d.app, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let out = tokio::process::Command::new("node")
        .arg("e2e/dashboard.mjs")
        .current_dir(&web)
        .env("AVESA_URL", format!("http://{addr}"))
        .env("AVESA_TENANT", MAIN.id)
        .env("AVESA_EMAIL", MAIN.email)
        .env("AVESA_PASSWORD", MAIN.password)
        // The second tenant: signed in to, it must find none of the first one's names.
        .env("AVESA_TENANT2", SECOND.id)
        .env("AVESA_EMAIL2", SECOND.email)
        .env("AVESA_PASSWORD2", SECOND.password)
        // Every page is checked for accessibility too: allow a loaded machine its time.
        .env("AVESA_E2E_TIMEOUT_MS", "480000")
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("e2e ok"), "{stdout}");
    // What it checked (`cargo test --test browser -- --nocapture` shows it).
    println!("{stdout}");
}
