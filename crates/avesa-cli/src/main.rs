//! `avesa`: the one binary. Run `avesa --help`.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use avesa_cli::app::{App, Ops};
use avesa_cli::demo;
use avesa_config::{Resolved, Settings, StateBackend};
use avesa_model::{Role, TenantId};
use avesa_pipeline::{ServiceConfig, SyncRequest, seal_service_config};
use avesa_state::{NewUser, PostgresStore, SqliteStore};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "avesa", version, about = "AVESA: multi-tenant data platform for MSPs")]
#[command(after_help = "Settings come from defaults, then a config file (avesa.toml in the \
working folder, or --config / AVESA_CONFIG), then AVESA_* environment variables, then flags. \
`avesa config show` prints them and where each came from; docs/configuration.md lists them all.")]
struct Cli {
    /// The config file (default: avesa.toml in the working folder, if present).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Folder holding the embedded backends' files and the keys [data_dir; default avesa-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log filter, e.g. info or info,avesa_pipeline=debug [log.filter; default info].
    #[arg(long, global = true)]
    log: Option<String>,
    /// Log as JSON lines [log.json].
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulators → pipeline → warehouse → API + UI, with two demo tenants.
    Demo {
        /// Address for the API and UI [server.bind; default 127.0.0.1:3000].
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Set up and sync, then exit instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the API and UI.
    Serve {
        /// Address for the API and UI [server.bind; default 127.0.0.1:3000].
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Do not start scheduled runs (see `avesa service schedule`).
        #[arg(long)]
        no_scheduler: bool,
    },
    /// Run table jobs from the job queue (queue.url), beside any number of other workers
    /// and `avesa serve` processes sharing the state store, lake and warehouse.
    Worker {
        /// Jobs run at once [queue.worker_concurrency; default 2].
        #[arg(long)]
        concurrency: Option<u64>,
    },
    /// Sync data from vendors into the warehouse.
    Sync {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        service: Option<String>,
        /// One source table, e.g. service/tickets.
        #[arg(long)]
        table: Option<String>,
        /// Read whole tables instead of from the watermark.
        #[arg(long)]
        full: bool,
        /// Records per chunk, the unit of commit [pipeline.chunk_records; default 5000].
        #[arg(long)]
        chunk_records: Option<u64>,
    },
    /// Re-read the records updated in a date range, without moving the tables'
    /// watermarks. Running the same backfill again resumes it.
    Backfill {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        service: String,
        /// One source table (default: every table read by an updated-at cursor).
        #[arg(long)]
        table: Option<String>,
        /// Start of the range, inclusive: YYYY-MM-DD or an RFC 3339 instant (UTC).
        #[arg(long)]
        from: String,
        /// End of the range, exclusive.
        #[arg(long)]
        to: String,
        /// Records per chunk [pipeline.chunk_records; default 5000].
        #[arg(long)]
        chunk_records: Option<u64>,
    },
    /// Rebuild a tenant's canonical files and warehouse tables from the raw lake, without
    /// calling any vendor (after a mapping changed, or to check the warehouse). Refused
    /// while a run of the tenant is running.
    Rebuild {
        #[arg(long)]
        tenant: String,
        /// One canonical table: companies, contacts, tickets, time_entries or members
        /// (default: all).
        #[arg(long)]
        table: Option<String>,
    },
    /// Rewrite a tenant's warehouse rows in date order, so that a period's analytics scan
    /// skips the rest (a sync that writes much does it by itself: pipeline.reorder_after).
    Reorder {
        #[arg(long)]
        tenant: String,
        /// One canonical table (default: all).
        #[arg(long)]
        table: Option<String>,
    },
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Apply the state store's schema and say its version. PostgreSQL: versioned
    /// migrations under an advisory lock, safe to run twice and from several processes at
    /// once (every process also applies them when it starts).
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Manage a tenant's services.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Run a vendor simulator on its own.
    #[command(subcommand)]
    Sim(SimCmd),
    /// Sync runs: list them, or show one with its chunks.
    Runs {
        #[command(subcommand)]
        show: Option<RunsCmd>,
        /// Only this tenant's runs.
        #[arg(long)]
        tenant: Option<String>,
        /// How many runs to list, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// The resolved settings, secrets masked, each with where it came from.
    Show,
}

#[derive(Subcommand)]
enum RunsCmd {
    /// One run and its chunks.
    Show { run: String },
    /// Ask a running run to stop: its tables commit what they have read and stop within
    /// seconds, wherever they run; the run ends `cancelled` and the next run resumes.
    Cancel { run: String },
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Add a tenant.
    Add {
        /// Tenant id: lowercase letters, digits, '-' and '_'.
        id: String,
        #[arg(long)]
        name: String,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// Attach a service with its credentials (flags, else environment, else a prompt).
    Add(ServiceAdd),
    /// List a tenant's services (credentials are never shown).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// The configuration fields a service needs (from its spec).
    Fields { service: String },
    /// When `avesa serve` runs a service's syncs: a 5-field cron expression in UTC
    /// (minute hour day-of-month month day-of-week) reads all its tables when it fires;
    /// `--default` goes back to reading each table on its own refresh interval (tickets
    /// and time every 4 minutes, the rest hourly).
    Schedule {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        service: String,
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        cron: Option<String>,
        #[arg(long)]
        default: bool,
    },
    /// Check a service's credentials and reachability.
    Test {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        service: String,
    },
}

#[derive(Args)]
#[command(after_help = "Fields come from the service's spec (`avesa service fields SERVICE` \
lists them), given as `--field-name VALUE`, else from the environment as \
SERVICE_FIELD_NAME (e.g. CONNECTWISE_PRIVATE_KEY), else from a prompt (hidden for secrets).")]
struct ServiceAdd {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    service: String,
    /// Store the credentials without testing them first.
    #[arg(long)]
    no_test: bool,
    /// The service's configuration fields: `--api-url https://… --company-id acme …`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "--FIELD VALUE")]
    fields: Vec<String>,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user (password from --password, AVESA_USER_PASSWORD, or a hidden prompt).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "viewer")]
        role: String,
        #[arg(long, env = "AVESA_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List a tenant's users.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum SimCmd {
    /// The ConnectWise PSA simulator, with the two demo companies.
    Connectwise(SimArgs),
    /// The ServiceNow Table API simulator, with the second demo tenant's instance.
    Servicenow(SimArgs),
    /// The Salesforce REST (SOQL) simulator, with the second demo tenant's org.
    Salesforce(SimArgs),
    /// The Microsoft Graph simulator, with the second demo tenant's directory.
    Microsoft365(SimArgs),
}

#[derive(Args)]
struct SimArgs {
    #[arg(long, default_value_t = 8081)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
}

fn main() -> ExitCode {
    // Everything this process creates (state, warehouse, lake files, keys, logs) is its
    // user's alone: 0600 files, 0700 folders.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let resolved = match settings(&cli) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = init_tracing(&resolved) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    // Crash-test failpoints (test builds only): `name=actions;…`, the `fail` crate's syntax.
    if let Some(spec) = std::env::var_os("AVESA_FAILPOINTS")
        && let Err(e) = avesa_pipeline::failpoints::configure(&spec.to_string_lossy())
    {
        eprintln!("error: AVESA_FAILPOINTS: {e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, resolved)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, `: `-separated, leaving out a cause whose text
/// the line already holds (an error that shows its source in its own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The settings, resolved once: defaults, config file, environment, then these flags.
fn settings(cli: &Cli) -> Result<Resolved, avesa_config::ConfigError> {
    let mut flags: Vec<(&'static str, &'static str, String)> = Vec::new();
    if let Some(d) = &cli.data_dir {
        flags.push(("data_dir", "--data-dir", d.display().to_string()));
    }
    if let Some(l) = &cli.log {
        flags.push(("log.filter", "--log", l.clone()));
    }
    if cli.log_json {
        flags.push(("log.json", "--log-json", "true".into()));
    }
    match &cli.command {
        Command::Demo { bind: Some(b), .. } => flags.push(("server.bind", "--bind", b.to_string())),
        Command::Serve { bind, no_scheduler } => {
            if let Some(b) = bind {
                flags.push(("server.bind", "--bind", b.to_string()));
            }
            if *no_scheduler {
                flags.push(("server.scheduler", "--no-scheduler", "false".into()));
            }
        }
        Command::Worker { concurrency: Some(n) } => {
            flags.push(("queue.worker_concurrency", "--concurrency", n.to_string()));
        }
        Command::Sync { chunk_records: Some(n), .. }
        | Command::Backfill { chunk_records: Some(n), .. } => {
            flags.push(("pipeline.chunk_records", "--chunk-records", n.to_string()));
        }
        _ => {}
    }
    avesa_config::resolve(&avesa_config::Inputs {
        config_flag: cli.config.clone(),
        // Variables that are not UTF-8 cannot be settings; they are left out.
        env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        flags,
        working_dir: std::env::current_dir().unwrap_or_default(),
    })
}

fn init_tracing(resolved: &Resolved) -> Result<(), avesa_config::ConfigError> {
    let log = &resolved.settings.log;
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter).map_err(|e| {
        avesa_config::ConfigError::Invalid {
            key: "log.filter".into(),
            value: format!("{:?}", log.filter),
            origin: resolved.origin("log.filter").clone(),
            problem: e.to_string(),
            accepted: avesa_config::key_named("log.filter").map_or("", |k| k.accepted).into(),
        }
    })?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if log.json {
        builder.json().init();
    } else {
        // Colours only on a terminal: redirected logs stay plain text.
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
    Ok(())
}

fn tenant_id(s: &str) -> Result<TenantId> {
    Ok(TenantId::new(s)?)
}

async fn require_tenant(store: &dyn avesa_state::StateStore, id: &TenantId) -> Result<()> {
    if store.get_tenant(id).await?.is_none() {
        bail!("unknown tenant {id} (see `avesa tenant list`)");
    }
    Ok(())
}

async fn run(command: Command, resolved: Resolved) -> Result<()> {
    let settings = resolved.settings.clone();
    match command {
        Command::Migrate => {
            match &settings.state {
                StateBackend::Sqlite(path) => {
                    SqliteStore::open(path)
                        .await
                        .with_context(|| format!("opening the state store {}", settings.state))?;
                    println!("state store {}: schema applied", settings.state);
                }
                StateBackend::Postgres(url) => {
                    let store = PostgresStore::connect(url)
                        .await
                        .with_context(|| format!("opening the state store {}", settings.state))?;
                    store.migrate().await.context("migrating the state store")?;
                    println!(
                        "state store {}: schema at version {}",
                        settings.state,
                        PostgresStore::SCHEMA_VERSION
                    );
                    store.close().await;
                }
            }
            Ok(())
        }
        Command::Config(ConfigCmd::Show) => {
            print!("{}", resolved.show());
            Ok(())
        }
        Command::Demo { bind: _, no_serve } => run_demo(settings, no_serve).await,
        Command::Serve { .. } => {
            let bind = settings.server.bind;
            let app = App::open_with(settings.clone()).await?;
            // One pipeline for scheduled and API-triggered runs: one cancel stops both.
            // With a job queue, the pipeline plans runs and queues their tables for workers.
            let pipeline = app.serving_pipeline().await?;
            let queue = pipeline.queue().cloned();
            if let Some(q) = &queue {
                println!(
                    "runs' table jobs go to the queue {} (stream {}); start workers with `avesa worker`",
                    settings.queue.url.as_deref().unwrap_or_default(),
                    q.stream()
                );
            }
            let state = app.api_state_with(pipeline.clone());
            let (addr, task) =
                demo::serve_state(state.clone(), bind, demo::serve_options(&app.settings)).await?;
            println!("AVESA is serving on http://{addr}");
            // Scheduled client reports: every serving process looks; each slot is sent once.
            let reports = (settings.server.scheduler && app.mailer.is_some()).then(|| {
                println!(
                    "client reports: scheduled ones are e-mailed through {}",
                    settings.smtp.url.as_deref().unwrap_or_default()
                );
                // The server's own state: scheduled reports queue at the same read gate.
                tokio::spawn(avesa_api::schedules::run(state, std::time::Duration::from_secs(60)))
            });
            let every = std::time::Duration::from_secs(20);
            let scheduler = settings.server.scheduler.then(|| {
                let s = avesa_pipeline::schedule::Scheduler::new(
                    pipeline.clone(),
                    std::sync::Arc::new(avesa_pipeline::schedule::SystemClock),
                );
                match &queue {
                    None => {
                        println!(
                            "scheduler: each table is read on its refresh interval (tickets and time every 4 minutes, the rest hourly) unless its service has a schedule"
                        );
                        tokio::spawn(s.run(every))
                    }
                    Some(_) => {
                        println!(
                            "scheduler: one serving process at a time plans scheduled runs (the planner lease)"
                        );
                        let holder = avesa_pipeline::worker::WorkerOptions::new(1).id;
                        tokio::spawn(s.run_when_leader(every, settings.queue.lease, holder))
                    }
                }
            });
            // Keep the cluster gauges of /metrics current.
            let gauges = queue.clone().map(|q| {
                let (store, metrics) = (app.store.clone(), app.metrics.clone());
                tokio::spawn(async move {
                    loop {
                        avesa_pipeline::worker::cluster_status(store.as_ref(), &q, &metrics).await;
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                })
            });
            tokio::select! {
                r = task => return r.context("server task failed"),
                _ = shutdown_signal() => {}
            }
            for t in scheduler.into_iter().chain(gauges).chain(reports) {
                t.abort();
            }
            graceful_stop(&pipeline, settings.server.shutdown_grace).await
        }
        Command::Worker { .. } => {
            if settings.queue.url.is_none() {
                bail!(
                    "avesa worker takes its jobs from a queue: set queue.url (AVESA_QUEUE=nats://HOST:PORT)"
                );
            }
            if matches!(settings.warehouse, avesa_config::WarehouseBackend::DuckDb(_)) {
                bail!(
                    "avesa worker needs a warehouse shared by several processes \
                     (warehouse = clickhouse+http://…); a DuckDB file admits one process"
                );
            }
            let app = App::open_with(settings.clone()).await?;
            let queue = avesa_cli::app::open_queue(&settings)
                .await?
                .expect("queue.url is set, checked above");
            let pipeline = app.pipeline(app.pipeline_options());
            let opts =
                avesa_pipeline::worker::WorkerOptions::new(settings.queue.worker_concurrency);
            let worker = avesa_pipeline::worker::Worker::new(pipeline.clone(), queue.clone(), opts);
            println!(
                "worker {} takes up to {} job(s) at a time from {} (stream {})",
                worker.id(),
                settings.queue.worker_concurrency,
                settings.queue.url.as_deref().unwrap_or_default(),
                queue.stream()
            );
            let mut task = tokio::spawn(worker.run());
            tokio::select! {
                r = &mut task => return Ok(r.context("worker task failed")??),
                _ = shutdown_signal() => {}
            }
            println!("stopping: jobs in hand commit what they have read and go back to the queue");
            pipeline.cancel_handle().cancel();
            let grace = settings.server.shutdown_grace;
            tokio::select! {
                r = task => {
                    r.context("worker task failed")??;
                    println!("stopped cleanly");
                    Ok(())
                }
                _ = tokio::time::sleep(grace) => bail!(
                    "jobs still going after {}s; stopping anyway (their leases expire and other workers resume them)",
                    grace.as_secs()
                ),
                _ = shutdown_signal() => bail!("stopping at once; other workers resume the jobs after their lease"),
            }
        }
        Command::Sync { tenant, service, table, full, chunk_records: _ } => {
            let app = App::open_with(settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            let req = SyncRequest {
                tenant: Some(tenant),
                service,
                tables: table.into_iter().collect(),
                full,
                backfill: None,
                run_id: None,
            };
            let pipeline = app.pipeline(app.pipeline_options());
            let cancel = pipeline.cancel_handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                eprintln!("stopping: each table commits what it has read; run again to resume");
                cancel.cancel();
            });
            let summary = pipeline.run(req).await?;
            print_summary(&summary);
            if summary.status != avesa_state::RunStatus::Succeeded {
                bail!("run {} finished {}", summary.run_id, summary.status.as_str());
            }
            Ok(())
        }
        Command::Backfill { tenant, service, table, from, to, chunk_records: _ } => {
            let (from, to) = (parse_instant("--from", &from)?, parse_instant("--to", &to)?);
            if from >= to {
                bail!("--from ({from}) must be before --to ({to})");
            }
            let range = avesa_model::Backfill::new(from, to)?;
            let app = App::open_with(settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            let req = SyncRequest {
                tenant: Some(tenant),
                service: Some(service),
                tables: table.into_iter().collect(),
                full: false,
                backfill: Some(range),
                run_id: None,
            };
            let summary = app.pipeline(app.pipeline_options()).run(req).await?;
            print_summary(&summary);
            if summary.status != avesa_state::RunStatus::Succeeded {
                bail!("backfill run {} finished {}", summary.run_id, summary.status.as_str());
            }
            Ok(())
        }
        Command::Tenant(TenantCmd::Add { id, name }) => {
            let app = Ops::open(&settings).await?;
            let t = app.store.create_tenant(&tenant_id(&id)?, &name).await?;
            println!("tenant {} ({}) added", t.id, t.name);
            Ok(())
        }
        Command::Tenant(TenantCmd::List) => {
            let app = Ops::open(&settings).await?;
            for t in app.store.list_tenants().await? {
                println!("{}\t{}\t{}", t.id, t.name, t.created_at.format("%Y-%m-%d"));
            }
            Ok(())
        }
        Command::Service(ServiceCmd::Add(a)) => service_add(&settings, a).await,
        Command::Service(ServiceCmd::List { tenant }) => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            for s in app.store.list_services(&tenant).await? {
                let shown = avesa_pipeline::open_service_config(
                    &app.cipher,
                    &s.tenant_id,
                    &s.service,
                    &s.sealed_config,
                )
                .map(|c| {
                    app.catalogue
                        .redacted(&c)
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|e| format!("unreadable: {e}"));
                println!(
                    "{}\t{}\t{shown}",
                    s.service,
                    if s.enabled { "enabled" } else { "disabled" }
                );
            }
            Ok(())
        }
        Command::Service(ServiceCmd::Test { tenant, service }) => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            let svc = app
                .store
                .list_services(&tenant)
                .await?
                .into_iter()
                .find(|s| s.service == service)
                .with_context(|| format!("tenant {tenant} has no service {service}"))?;
            let cfg = avesa_pipeline::open_service_config(
                &app.cipher,
                &svc.tenant_id,
                &svc.service,
                &svc.sealed_config,
            )
            .map_err(anyhow::Error::msg)?;
            let connector = app.catalogue.connector(&tenant, &cfg).map_err(anyhow::Error::msg)?;
            if let Err(e) = connector.test().await {
                bail!("{}", e.explain());
            }
            println!("{service}: credentials accepted, API reachable");
            Ok(())
        }
        Command::Service(ServiceCmd::Schedule { tenant, service, cron, default: _ }) => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            if let Some(c) = &cron {
                let parsed: avesa_pipeline::schedule::Cron =
                    c.parse().map_err(anyhow::Error::msg)?;
                if parsed.next_after(chrono::Utc::now()).is_none() {
                    bail!("schedule {c:?} never fires");
                }
            }
            app.store
                .set_schedule(&tenant, &service, cron.as_deref())
                .await
                .with_context(|| format!("tenant {tenant} has no service {service}"))?;
            match &cron {
                Some(c) => println!(
                    "{service} of {tenant} reads all its tables on \"{c}\" (UTC) while avesa serve runs"
                ),
                None => println!(
                    "{service} of {tenant} reads {} while avesa serve runs",
                    avesa_pipeline::schedule::DEFAULT_SCHEDULE
                ),
            }
            Ok(())
        }
        Command::Service(ServiceCmd::Fields { service }) => {
            let spec =
                avesa_pipeline::Catalogue::builtin().spec(&service).map_err(anyhow::Error::msg)?;
            println!("{} ({}): configuration fields", spec.title, spec.service);
            for f in &spec.config {
                let mut notes = Vec::new();
                if f.secret {
                    notes.push("secret".to_owned());
                }
                if f.optional {
                    notes.push("optional".to_owned());
                }
                if let Some(d) = &f.default {
                    notes.push(format!("default {d}"));
                }
                println!(
                    "  --{:<16} {}{}",
                    f.name.replace('_', "-"),
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("[{}] ", notes.join(", "))
                    },
                    f.help
                );
            }
            Ok(())
        }
        Command::User(UserCmd::Add { tenant, email, name, role, password }) => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            let role: Role = role.parse()?;
            if !email.contains('@') {
                bail!("invalid email {email:?}");
            }
            let password = match password {
                Some(p) => p,
                None => prompt_secret("Password")?,
            };
            avesa_api::check_new_password(&password).map_err(anyhow::Error::msg)?;
            let user = app
                .store
                .create_user(NewUser {
                    tenant_id: tenant,
                    email: email.clone(),
                    name: name.unwrap_or_else(|| email.clone()),
                    role,
                    password_hash: avesa_api::hash_password(&password),
                })
                .await?;
            println!("user {} ({}) added to {}", user.email, user.role, user.tenant_id);
            Ok(())
        }
        Command::User(UserCmd::List { tenant }) => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            for u in app.store.list_users(&tenant).await? {
                println!("{}\t{}\t{}", u.email, u.role, u.name);
            }
            Ok(())
        }
        Command::Rebuild { tenant, table } => {
            let table = table
                .map(|t| t.parse::<avesa_model::CanonicalTable>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--table: {e}"))?;
            let app = App::open_with(settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            let pipeline = app.pipeline(app.pipeline_options());
            let done = pipeline.rebuild(&tenant, table).await?;
            println!(
                "{:<14} {:>10} {:>12} {:>12} {:>12}",
                "table", "raw files", "records", "versions", "before"
            );
            for t in &done {
                println!(
                    "{:<14} {:>10} {:>12} {:>12} {:>12}",
                    t.table, t.files, t.records, t.versions, t.removed
                );
            }
            Ok(())
        }
        Command::Reorder { tenant, table } => {
            let tables = match table {
                Some(t) => vec![
                    t.parse::<avesa_model::CanonicalTable>()
                        .map_err(|e| anyhow::anyhow!("--table: {e}"))?,
                ],
                None => avesa_model::CanonicalTable::ALL.to_vec(),
            };
            let app = App::open_with(settings).await?;
            let tenant = tenant_id(&tenant)?;
            require_tenant(app.store.as_ref(), &tenant).await?;
            println!("{:<14} {:>12} {:>10}", "table", "rewritten", "seconds");
            for t in tables {
                let started = std::time::Instant::now();
                let n = app.warehouse.reorder(&tenant, t).await?;
                println!("{:<14} {:>12} {:>10.1}", t.name(), n, started.elapsed().as_secs_f64());
            }
            Ok(())
        }
        Command::Runs { show: None, tenant, limit } => {
            let app = Ops::open(&settings).await?;
            let tenant = tenant.as_deref().map(tenant_id).transpose()?;
            if let Some(t) = &tenant {
                require_tenant(app.store.as_ref(), t).await?;
            }
            println!(
                "{:<36}  {:<16} {:<11} {:<16} {:<20} {:>8}  error",
                "run", "tenant", "kind", "status", "started", "seconds"
            );
            for r in app.store.list_runs(tenant.as_ref(), limit).await? {
                let secs =
                    r.finished_at.map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0);
                println!(
                    "{:<36}  {:<16} {:<11} {:<16} {:<20} {:>8}  {}",
                    r.id,
                    r.tenant_id.as_ref().map_or("(all)", |t| t.as_str()),
                    r.kind,
                    r.status.as_str(),
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    secs.map_or("-".into(), |s| format!("{s:.1}")),
                    r.error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Runs { show: Some(RunsCmd::Show { run }), .. } => {
            let app = Ops::open(&settings).await?;
            let id: avesa_model::RunId = run.parse()?;
            let r = app.store.get_run(id).await?.with_context(|| format!("unknown run {id}"))?;
            println!("run      {}", r.id);
            println!("tenant   {}", r.tenant_id.as_ref().map_or("(all)", |t| t.as_str()));
            println!("kind     {}", r.kind);
            println!("status   {}", r.status.as_str());
            println!("started  {}", r.started_at.to_rfc3339());
            if let Some(f) = r.finished_at {
                println!("finished {}", f.to_rfc3339());
            }
            if let Some(e) = &r.error {
                println!("error    {e}");
            }
            println!();
            println!(
                "{:<36}  {:<16} {:<20} {:<10} {:>8} {:>6} {:>8} {:>10} {:>9} {:>7} {:>9} {:>7}  error",
                "chunk",
                "tenant",
                "table",
                "status",
                "records",
                "pages",
                "requests",
                "bytes",
                "versions",
                "retries",
                "throttles",
                "ms"
            );
            for c in app.store.list_chunks(id).await? {
                println!(
                    "{:<36}  {:<16} {:<20} {:<10} {:>8} {:>6} {:>8} {:>10} {:>9} {:>7} {:>9} {:>7}  {}",
                    c.id,
                    c.key.tenant_id,
                    c.key.table,
                    c.status.as_str(),
                    c.counts.records,
                    c.counts.pages,
                    c.counts.requests,
                    c.counts.bytes,
                    c.counts.versions_inserted,
                    c.counts.retries,
                    c.counts.throttles,
                    c.counts.millis,
                    c.error.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Runs { show: Some(RunsCmd::Cancel { run }), .. } => {
            let app = Ops::open(&settings).await?;
            let id: avesa_model::RunId = run.parse()?;
            let r = app.store.get_run(id).await?.with_context(|| format!("unknown run {id}"))?;
            if !app.store.request_cancel(id).await? {
                anyhow::bail!("run {id} has already finished ({})", r.status.as_str());
            }
            println!("run {id} asked to stop; `avesa runs show {id}` follows it");
            Ok(())
        }
        Command::Sim(cmd) => run_sim(cmd).await,
    }
}

/// Serves one simulator with the demo tenants' data until Ctrl-C.
async fn run_sim(cmd: SimCmd) -> Result<()> {
    let sims =
        demo::demo_sims(&avesa_sim::CwSizes::demo(), &demo::SecondSizes::demo(), demo::sim_epoch());
    let (name, args) = match &cmd {
        SimCmd::Connectwise(a) => ("ConnectWise", a),
        SimCmd::Servicenow(a) => ("ServiceNow", a),
        SimCmd::Salesforce(a) => ("Salesforce", a),
        SimCmd::Microsoft365(a) => ("Microsoft Graph", a),
    };
    let bind = SocketAddr::new(args.host, args.port);
    let served = match &cmd {
        SimCmd::Connectwise(_) => sims.connectwise.serve(bind).await,
        SimCmd::Servicenow(_) => sims.servicenow.serve(bind).await,
        SimCmd::Salesforce(_) => sims.salesforce.serve(bind).await,
        SimCmd::Microsoft365(_) => sims.graph.serve(bind).await,
    };
    let (addr, task) = served.with_context(|| format!("cannot listen on {bind}"))?;
    println!("{name} simulator on http://{addr}");
    match name {
        "ConnectWise" => {
            println!("  API base: http://{addr}/v4_6_release/apis/3.0/");
            for t in [&demo::MAIN, &demo::SECOND] {
                let c = demo::demo_credentials(t, "");
                println!(
                    "  company {}: public key {}, private key {}, clientId {}",
                    c.company_id, c.public_key, c.private_key, c.client_id
                );
            }
        }
        "ServiceNow" => {
            for t in sims.servicenow.tenants() {
                println!(
                    "  instance_url http://{addr}/{}  username {}  password {}  client_id {}  client_secret {}",
                    t.instance, t.username, t.password, t.client_id, t.client_secret
                );
            }
        }
        "Salesforce" => {
            for o in sims.salesforce.orgs() {
                println!(
                    "  org {}: login_url http://{addr}  client_id {}  client_secret {}",
                    o.org, o.client_id, o.client_secret
                );
            }
        }
        _ => {
            for t in sims.graph.tenants() {
                println!(
                    "  tenant_id {} ({}): login_url/graph_url http://{addr}  client_id {}  client_secret {}",
                    t.tenant_id, t.domain, t.client_id, t.client_secret
                );
            }
        }
    }
    println!(
        "  control: /_sim/tenants, /_sim/truth, /_sim/advance, /_sim/requests, /_sim/faults, /_sim/rate_limit, /_sim/traffic"
    );
    wait_for_shutdown(task).await
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant.
fn parse_instant(flag: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    avesa_model::parse_instant(s)
        .with_context(|| format!("{flag} {s:?}: expected YYYY-MM-DD or an RFC 3339 instant"))
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// After Ctrl-C or SIGTERM: no new runs start, each table in flight commits the chunk it
/// is reading and stops, and the process exits once they have (the next start resumes
/// them). A second signal, or `server.shutdown_grace_secs` (default 120) passing, stops at
/// once: nothing is lost then either, as the next run resumes unfinished chunks.
async fn graceful_stop(
    pipeline: &avesa_pipeline::Pipeline,
    grace: std::time::Duration,
) -> Result<()> {
    pipeline.cancel_handle().cancel();
    let active = pipeline.active_runs();
    if active == 0 {
        println!("shutting down");
        return Ok(());
    }
    println!(
        "stopping: {active} run(s) commit their chunks in flight; the next start resumes them"
    );
    let secs = grace.as_secs();
    tokio::select! {
        _ = pipeline.drain() => {
            println!("stopped cleanly");
            Ok(())
        }
        _ = tokio::time::sleep(grace) => {
            bail!("runs still going after {secs}s; stopping anyway (the next run resumes them)")
        }
        _ = shutdown_signal() => bail!("stopping at once; the next run resumes unfinished chunks"),
    }
}

async fn wait_for_shutdown(task: tokio::task::JoinHandle<()>) -> Result<()> {
    tokio::select! {
        r = task => r.context("server task failed"),
        _ = shutdown_signal() => {
            println!("shutting down");
            Ok(())
        }
    }
}

async fn run_demo(settings: Settings, no_serve: bool) -> Result<()> {
    println!("Starting the AVESA demo in {} ...", settings.data_dir.display());
    let started = std::time::Instant::now();
    let bind = settings.server.bind;
    let opts = demo::DemoOptions {
        epoch: demo::DemoEpoch::FirstRun,
        ..demo::DemoOptions::with_settings(settings)
    };
    let d = demo::prepare(opts).await?;
    for (service, addr) in &d.sims.addrs {
        println!("{service} simulator: http://{addr}");
    }
    print_summary(&d.summary);
    println!("Demo data ready in {:.1}s.", started.elapsed().as_secs_f64());
    if no_serve {
        return Ok(());
    }
    let state = d.app.api_state_with(d.pipeline.clone());
    let (addr, task) =
        demo::serve_state(state.clone(), bind, demo::serve_options(&d.app.settings)).await?;
    // With an SMTP server configured, scheduled client reports go out from the demo too.
    if d.app.mailer.is_some() {
        tokio::spawn(avesa_api::schedules::run(state, std::time::Duration::from_secs(60)));
    }
    println!();
    println!("  AVESA is running: http://{addr}");
    for t in [&demo::MAIN, &demo::SECOND] {
        println!(
            "  {:<24} tenant {:<16} email {:<28} password {}",
            t.name, t.id, t.email, t.password
        );
    }
    println!("  Press Ctrl-C to stop. Run `avesa demo` again at any time: it resumes.");
    wait_for_shutdown(task).await
}

fn print_summary(s: &avesa_pipeline::RunSummary) {
    println!("run {} {} in {:.1}s", s.run_id, s.status.as_str(), s.seconds);
    for t in &s.tables {
        let rate = if t.seconds > 0.0 { t.records as f64 / t.seconds } else { 0.0 };
        print!(
            "  {:<16} {:<12} {:<20} {:>8} records {:>8} new versions {:>4} chunks {:>9.0} rec/s",
            t.tenant_id, t.service, t.table, t.records, t.versions_inserted, t.chunks, rate
        );
        match (&t.error, &t.notice) {
            (Some(e), _) => match t.error_class {
                Some(avesa_pipeline::ErrorClass::Bug) => {
                    println!("  FAILED (a bug in AVESA; please report it): {e}")
                }
                Some(c) => println!("  FAILED ({}): {e}", c.as_str()),
                None => println!("  FAILED: {e}"),
            },
            (None, Some(n)) => println!("  {n}"),
            (None, None) if t.partitions > 0 => println!(
                "  ({} partitions, up to {} requests in flight)",
                t.partitions, t.concurrency
            ),
            (None, None) => println!(),
        }
    }
    let total = s.records();
    println!("  total {total} records, {:.0} records/s", total as f64 / s.seconds.max(1e-9));
}

fn prompt_line(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("{label} is missing: pass it as a flag or environment variable");
    }
    print!("{label}: ");
    std::io::stdout().flush()?;
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    Ok(s.trim().to_owned())
}

fn prompt_secret(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("{label} is missing: pass it as a flag or environment variable");
    }
    Ok(rpassword::prompt_password(format!("{label}: "))?.trim().to_owned())
}

async fn service_add(settings: &Settings, a: ServiceAdd) -> Result<()> {
    let app = Ops::open(settings).await?;
    let tenant = tenant_id(&a.tenant)?;
    require_tenant(app.store.as_ref(), &tenant).await?;
    let spec = app.catalogue.spec(&a.service).map_err(anyhow::Error::msg)?;
    let mut given: std::collections::BTreeMap<String, String> = Default::default();
    let mut no_test = a.no_test;
    let mut args = a.fields.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--no-test" {
            no_test = true;
            continue;
        }
        let (name, value) = match flag.strip_prefix("--") {
            Some(f) if f.contains('=') => {
                let (n, v) = f.split_once('=').unwrap_or((f, ""));
                (n.to_owned(), v.to_owned())
            }
            Some(f) => {
                let v = args.next().with_context(|| format!("--{f} needs a value"))?;
                (f.to_owned(), v)
            }
            None => bail!("unexpected argument {flag:?}; fields are given as --field-name VALUE"),
        };
        let name = name.replace('-', "_");
        if spec.config_field(&name).is_none() {
            let known: Vec<String> =
                spec.config.iter().map(|f| format!("--{}", f.name.replace('_', "-"))).collect();
            bail!(
                "{} has no field --{}; its fields: {}",
                a.service,
                name.replace('_', "-"),
                known.join(" ")
            );
        }
        given.insert(name, value);
    }
    for f in &spec.config {
        if given.contains_key(&f.name) {
            continue;
        }
        let env = format!("{}_{}", spec.service, f.name).to_uppercase();
        match std::env::var(&env) {
            Ok(v) if !v.trim().is_empty() => {
                given.insert(f.name.clone(), v);
            }
            _ if f.optional || f.default.is_some() => {}
            _ => {
                let words = f.name.replace('_', " ");
                let mut c = words.chars();
                let words = c
                    .next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default();
                let label = format!("{}: {words} ({env})", spec.title);
                let v = if f.secret { prompt_secret(&label)? } else { prompt_line(&label)? };
                given.insert(f.name.clone(), v);
            }
        }
    }
    let cfg = ServiceConfig::new(&a.service, given);
    let connector = app.catalogue.connector(&tenant, &cfg).map_err(anyhow::Error::msg)?;
    if !no_test && let Err(e) = connector.test().await {
        bail!(
            "testing the credentials failed (use --no-test to store them anyway): {}",
            e.explain()
        );
    }
    app.store
        .upsert_service(&tenant, &a.service, &seal_service_config(&app.cipher, &tenant, &cfg))
        .await?;
    println!("service {} attached to {tenant} (credentials encrypted at rest)", a.service);
    Ok(())
}
