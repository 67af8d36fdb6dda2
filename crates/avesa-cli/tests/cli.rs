//! The operator CLI as a user runs it: clear one-line errors, credentials from flags,
//! environment or refusal to prompt without a terminal, and secrets never echoed.

use std::process::Command;

fn avesa(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_avesa"));
    c.arg("--data-dir").arg(data).env_remove("AVESA_DATA_DIR");
    for v in [
        "CONNECTWISE_API_URL",
        "CONNECTWISE_COMPANY_ID",
        "CONNECTWISE_PUBLIC_KEY",
        "CONNECTWISE_PRIVATE_KEY",
        "CONNECTWISE_CLIENT_ID",
        "AVESA_MASTER_KEY",
        "AVESA_JWT_SECRET",
        "AVESA_USER_PASSWORD",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().expect("avesa runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_line_error(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "want one error line, got:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    lines[0]
}

#[test]
fn operator_commands_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let (ok, _, err) = run(avesa(&data).args(["tenant", "add", "Bad Id", "--name", "x"]));
    assert!(!ok);
    assert!(one_line_error(&err).contains("invalid tenant id"), "{err}");

    let (ok, out, err) = run(avesa(&data).args(["tenant", "add", "acme", "--name", "Acme MSP"]));
    assert!(ok, "{err}");
    assert!(out.contains("acme"));
    let (ok, _, err) = run(avesa(&data).args(["tenant", "add", "acme", "--name", "Again"]));
    assert!(!ok);
    assert!(one_line_error(&err).contains("already exists"), "{err}");
    let (ok, out, _) = run(avesa(&data).args(["tenant", "list"]));
    assert!(ok && out.contains("acme\tAcme MSP"), "{out}");

    // Stopping a run that does not exist, or is not a run id: one clear line.
    let (ok, _, err) =
        run(avesa(&data).args(["runs", "cancel", "0190b3c4-7a41-7000-8000-000000000000"]));
    assert!(!ok);
    assert!(one_line_error(&err).contains("unknown run"), "{err}");
    let (ok, _, err) = run(avesa(&data).args(["runs", "cancel", "yesterday"]));
    assert!(!ok);
    assert!(one_line_error(&err).contains("yesterday"), "{err}");

    // A wrong flag: clap's usage error, no backtrace.
    let (ok, _, err) = run(avesa(&data).args(["tenant", "add", "x1", "--nmae", "x"]));
    assert!(!ok);
    assert!(err.contains("--nmae"), "{err}");

    // Every service's fields come from its spec; unknown fields are named.
    let (ok, out, _) = run(avesa(&data).args(["service", "fields", "servicenow"]));
    assert!(ok && out.contains("--instance-url") && out.contains("secret"), "{out}");
    let (ok, _, err) = run(avesa(&data).args([
        "service",
        "add",
        "--tenant",
        "acme",
        "--service",
        "salesforce",
        "--colour",
        "red",
    ]));
    assert!(!ok && err.contains("no field --colour") && err.contains("--client-id"), "{err}");
    let (ok, _, err) = run(avesa(&data).args(["service", "fields", "jira"]));
    assert!(!ok && err.contains("unknown service") && err.contains("microsoft365"), "{err}");

    // Missing credential and no terminal to prompt on: one clear line.
    let (ok, _, err) = run(avesa(&data)
        .args(["service", "add", "--tenant", "acme", "--service", "connectwise"])
        .env("CONNECTWISE_API_URL", "http://127.0.0.1:9")
        .env("CONNECTWISE_COMPANY_ID", "acme")
        .env("CONNECTWISE_PUBLIC_KEY", "pub"));
    assert!(!ok);
    assert!(one_line_error(&err).contains("Private key"), "{err}");

    // Unreachable API: one line naming the service and the URL, secrets not echoed.
    let (ok, _, err) = run(avesa(&data)
        .args(["service", "add", "--tenant", "acme", "--service", "connectwise"])
        .env("CONNECTWISE_API_URL", "http://127.0.0.1:9")
        .env("CONNECTWISE_COMPANY_ID", "acme")
        .env("CONNECTWISE_PUBLIC_KEY", "pub")
        .env("CONNECTWISE_PRIVATE_KEY", "sup3r-s3cret")
        .env("CONNECTWISE_CLIENT_ID", "cid"));
    assert!(!ok);
    let line = one_line_error(&err);
    assert!(line.contains("connectwise") && line.contains("127.0.0.1:9"), "{line}");
    assert!(!err.contains("sup3r-s3cret"));

    // Stored without testing; the listing never shows the secret, nor does the file.
    let (ok, _, err) = run(avesa(&data).args([
        "service",
        "add",
        "--tenant",
        "acme",
        "--service",
        "connectwise",
        "--no-test",
        "--api-url",
        "http://127.0.0.1:9",
        "--company-id",
        "acme",
        "--public-key",
        "pub",
        "--private-key",
        "sup3r-s3cret",
        "--client-id",
        "cid",
    ]));
    assert!(ok, "{err}");
    let (ok, out, _) = run(avesa(&data).args(["service", "list", "--tenant", "acme"]));
    assert!(ok && out.contains("connectwise") && !out.contains("sup3r-s3cret"), "{out}");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(12).any(|w| w == b"sup3r-s3cret"),
                "credential stored in clear text in {}",
                path.display()
            );
        }
    }

    let (ok, _, err) = run(avesa(&data).args(["sync", "--tenant", "nobody"]));
    assert!(!ok);
    assert!(one_line_error(&err).contains("unknown tenant"), "{err}");

    let (ok, _, err) = run(avesa(&data)
        .args([
            "user",
            "add",
            "--tenant",
            "acme",
            "--email",
            "a@acme.test",
            "--role",
            "tenant_admin",
        ])
        .env("AVESA_USER_PASSWORD", "secret1"));
    assert!(!ok, "a 7-character password is refused");
    assert!(one_line_error(&err).contains("at least 12 characters"), "{err}");
    let (ok, _, err) = run(avesa(&data)
        .args([
            "user",
            "add",
            "--tenant",
            "acme",
            "--email",
            "a@acme.test",
            "--role",
            "tenant_admin",
        ])
        .env("AVESA_USER_PASSWORD", "a-long-enough-secret"));
    assert!(ok, "{err}");
    let (ok, _, err) = run(avesa(&data)
        .args(["user", "add", "--tenant", "acme", "--email", "b@acme.test", "--role", "boss"])
        .env("AVESA_USER_PASSWORD", "a-long-enough-secret"));
    assert!(!ok);
    assert!(one_line_error(&err).contains("unknown role"), "{err}");
}

#[test]
fn backfill_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, _, err) = run(avesa(&data).args([
        "backfill",
        "--tenant",
        "x",
        "--service",
        "connectwise",
        "--from",
        "2024-02-01",
        "--to",
        "2024-01-01",
    ]));
    assert!(!ok && err.contains("must be before"), "{err}");
    let (ok, _, err) = run(avesa(&data).args([
        "backfill",
        "--tenant",
        "x",
        "--service",
        "connectwise",
        "--from",
        "last tuesday",
        "--to",
        "2024-01-01",
    ]));
    assert!(!ok && err.contains("--from") && err.contains("YYYY-MM-DD"), "{err}");
}

#[test]
fn an_unreachable_backend_is_one_line_naming_it_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(avesa(dir.path())
        .args(["sync", "--tenant", "acme"])
        .env("AVESA_WAREHOUSE", "clickhouse+http://avesa:hunter2@127.0.0.1:9/analytics"));
    assert!(!ok);
    let line = one_line_error(&err);
    assert!(line.contains("clickhouse+http://avesa:***@127.0.0.1:9/analytics"), "{line}");
    assert_eq!(line.matches("unreachable").count(), 1, "each cause once: {line}");
    assert!(!err.contains("hunter2"), "{err}");

    let (ok, _, err) = run(avesa(dir.path())
        .args(["sync", "--tenant", "acme"])
        .env("AVESA_LAKE", "s3://avesa-lake/x")
        .env("AVESA_S3_ENDPOINT", "http://127.0.0.1:9")
        .env("AVESA_S3_ACCESS_KEY_ID", "AKIA123")
        .env("AVESA_S3_SECRET_ACCESS_KEY", "s3-secret-value"));
    assert!(!ok);
    let line = one_line_error(&err);
    assert!(line.contains("the lake s3://avesa-lake/x (at http://127.0.0.1:9)"), "{line}");
    assert!(!err.contains("s3-secret-value"), "{err}");
}

/// The data folder holds password hashes, sealed credentials and every tenant's data: it
/// and what is in it are its owner's alone, on a new installation and on one an earlier
/// version left readable.
#[cfg(unix)]
#[test]
fn the_data_folder_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, _, err) = run(avesa(&data).args(["tenant", "add", "acme", "--name", "Acme MSP"]));
    assert!(ok, "{err}");
    assert_eq!(mode(&data), 0o700);
    for f in ["state.db", "master.key"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    // An installation left world-readable is tightened on the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("state.db"), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let (ok, _, err) = run(avesa(&data).args(["tenant", "add", "globex", "--name", "Globex"]));
    assert!(ok, "{err}");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("state.db")), 0o600);
    // Everything the process wrote is private too.
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}, want {want:o}", p.display(), mode(&p));
    }
}
