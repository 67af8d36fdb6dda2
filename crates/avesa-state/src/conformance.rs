//! The state store's contract, written once and run against every [`StateStore`].
//!
//! Each case is a public async function taking a fresh, empty store. A backend's test file
//! runs them all with one line:
//!
//! ```text
//! avesa_state::state_store_conformance!(open_store);
//! ```
//!
//! where `open_store` is an `async fn() -> (Guard, Arc<dyn StateStore>)` that opens a fresh,
//! empty store (the guard keeps its files or database alive for the test). Enabled by the
//! `conformance` feature (dev-dependencies turn it on).

use std::sync::Arc;

use avesa_model::{ChunkId, Role, RunId, RunKind, TenantId};
use chrono::{Duration, Utc};

use crate::*;

/// Runs every case of the suite as its own `#[tokio::test]`.
#[macro_export]
macro_rules! state_store_conformance {
    ($open:path) => {
        $crate::state_store_conformance!(@cases $open;
            tenants_are_unique_and_listed,
            services_are_tenant_scoped_and_replaced,
            schedules_are_set_and_reset,
            services_are_enabled_and_disabled,
            users_are_tenant_scoped_and_emails_normalised,
            refresh_tokens_are_claimed_once_and_revocation_sticks,
            users_are_updated_disabled_and_their_sessions_ended,
            chunk_commit_moves_the_cursor_atomically,
            unfinished_chunks_resume_earliest_first,
            rebegun_chunk_moves_to_the_new_run,
            tables_and_tenants_are_independent,
            runs_are_listed_per_tenant_newest_first,
            interrupted_runs_are_marked_once,
            running_runs_can_be_asked_to_stop,
            settings_are_tenant_scoped_replaced_listed_and_deleted,
            leases_are_exclusive_until_they_expire_and_tokens_grow,
            a_commit_under_a_lost_lease_is_refused,
            run_outcomes_complete_the_run_exactly_once,
            concurrent_outcomes_complete_the_run_exactly_once,
            workers_heartbeat_and_are_forgotten,
            saved_views_are_created_listed_updated_and_deleted,
            saved_view_names_are_unique_per_user_and_page,
            saved_views_are_private_to_their_user_and_tenant,
            saved_views_are_capped_per_user,
            concurrent_saved_views_never_pass_the_cap,
            report_schedules_are_kept_listed_and_deleted,
            a_due_report_is_claimed_once,
            report_schedules_are_capped_per_tenant,
        );
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, store) = $open().await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).expect("a valid tenant id")
}

fn key(t: &TenantId, table: &str) -> TableKey {
    TableKey { tenant_id: t.clone(), service: "connectwise".into(), table: table.into() }
}

fn run_record(t: Option<&TenantId>) -> RunRecord {
    RunRecord {
        id: RunId::new(),
        tenant_id: t.cloned(),
        kind: RunKind::Incremental,
        status: RunStatus::Running,
        started_at: Utc::now(),
        finished_at: None,
        error: None,
        tables_planned: None,
        cancel_requested: false,
    }
}

fn counts(records: u64) -> ChunkCounts {
    ChunkCounts {
        records,
        pages: 2,
        requests: 3,
        bytes: 4096,
        versions_inserted: records / 2,
        retries: 1,
        throttles: 1,
        millis: 1500,
        concurrency: 6,
    }
}

fn cursor(minutes: i64, id: &str, token: Option<&str>) -> Position {
    // Whole seconds: every backend stores at least that precision.
    let base = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a valid instant");
    Position {
        updated_at: base + Duration::minutes(minutes),
        id: id.into(),
        continuation: token.map(|t| Continuation::from_token(t).expect("a valid token")),
    }
}

async fn with_tenant(s: &dyn StateStore, id: &str) -> TenantId {
    let t = tenant(id);
    s.create_tenant(&t, &format!("Tenant {id}")).await.expect("create tenant");
    t
}

pub async fn tenants_are_unique_and_listed(s: Arc<dyn StateStore>) {
    assert!(s.list_tenants().await.unwrap().is_empty());
    let b = with_tenant(s.as_ref(), "beta").await;
    let a = with_tenant(s.as_ref(), "acme").await;
    assert!(matches!(s.create_tenant(&a, "Again").await, Err(StateError::AlreadyExists(_))));
    let got = s.get_tenant(&a).await.unwrap().expect("tenant exists");
    assert_eq!((got.id.as_str(), got.name.as_str()), ("acme", "Tenant acme"));
    assert!(s.get_tenant(&tenant("ghost")).await.unwrap().is_none());
    let ids: Vec<String> =
        s.list_tenants().await.unwrap().into_iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, vec![a.to_string(), b.to_string()], "listed by id");
}

pub async fn services_are_tenant_scoped_and_replaced(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let other = with_tenant(s.as_ref(), "other").await;
    assert!(matches!(
        s.upsert_service(&tenant("ghost"), "connectwise", b"x").await,
        Err(StateError::NotFound(_))
    ));
    s.upsert_service(&t, "servicenow", b"sn").await.unwrap();
    s.upsert_service(&t, "connectwise", b"one").await.unwrap();
    s.upsert_service(&t, "connectwise", b"two\x00\xff").await.unwrap();
    let svcs = s.list_services(&t).await.unwrap();
    let names: Vec<&str> = svcs.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["connectwise", "servicenow"], "one row per service, by name");
    assert_eq!(svcs[0].sealed_config, b"two\x00\xff", "the latest bytes, exactly");
    assert!(svcs[0].enabled);
    assert_eq!(svcs[0].schedule, None);
    assert_eq!(svcs[0].tenant_id, t);
    assert!(s.list_services(&other).await.unwrap().is_empty());
}

pub async fn schedules_are_set_and_reset(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    s.upsert_service(&t, "connectwise", b"cfg").await.unwrap();
    s.set_schedule(&t, "connectwise", Some("*/15 * * * *")).await.unwrap();
    let got = s.list_services(&t).await.unwrap();
    assert_eq!(got[0].schedule.as_deref(), Some("*/15 * * * *"));
    // Re-sealing the credentials keeps the schedule.
    s.upsert_service(&t, "connectwise", b"cfg2").await.unwrap();
    assert_eq!(s.list_services(&t).await.unwrap()[0].schedule.as_deref(), Some("*/15 * * * *"));
    s.set_schedule(&t, "connectwise", None).await.unwrap();
    assert_eq!(s.list_services(&t).await.unwrap()[0].schedule, None);
    assert!(matches!(
        s.set_schedule(&t, "salesforce", Some("0 * * * *")).await,
        Err(StateError::NotFound(_))
    ));
    let other = with_tenant(s.as_ref(), "other").await;
    assert!(matches!(
        s.set_schedule(&other, "connectwise", Some("0 * * * *")).await,
        Err(StateError::NotFound(_))
    ));
}

pub async fn users_are_tenant_scoped_and_emails_normalised(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let other = with_tenant(s.as_ref(), "other").await;
    let new = |tenant: &TenantId, email: &str| NewUser {
        tenant_id: tenant.clone(),
        email: email.into(),
        name: "A".into(),
        role: Role::TenantAdmin,
        password_hash: "$argon2id$hash".into(),
    };
    assert!(matches!(
        s.create_user(new(&tenant("ghost"), "a@b.test")).await,
        Err(StateError::NotFound(_))
    ));
    let u = s.create_user(new(&t, " Admin@Acme.test ")).await.unwrap();
    assert_eq!(u.email, "admin@acme.test");
    assert_eq!(u.role, Role::TenantAdmin);
    assert!(matches!(
        s.create_user(new(&t, "ADMIN@acme.test")).await,
        Err(StateError::AlreadyExists(_))
    ));
    // The same address in another tenant is another user.
    let u2 = s.create_user(new(&other, "admin@acme.test")).await.unwrap();
    assert_ne!(u.id, u2.id);
    let found = s.find_user_by_email(&t, "ADMIN@acme.test ").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.password_hash.as_str()),
        (u.id.as_str(), "$argon2id$hash")
    );
    assert!(s.find_user_by_email(&tenant("ghost"), "admin@acme.test").await.unwrap().is_none());
    assert!(s.get_user(&other, &u.id).await.unwrap().is_none(), "users are tenant-scoped");
    assert_eq!(s.get_user(&t, &u.id).await.unwrap().unwrap().email, "admin@acme.test");
    s.create_user(NewUser { role: Role::Viewer, ..new(&t, "b@acme.test") }).await.unwrap();
    let listed: Vec<String> =
        s.list_users(&t).await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(listed, ["admin@acme.test", "b@acme.test"]);
    assert_eq!(s.list_users(&other).await.unwrap().len(), 1);
}

pub async fn refresh_tokens_are_claimed_once_and_revocation_sticks(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let tok = |hash: &str, family: &str| NewRefreshToken {
        token_hash: hash.into(),
        family_id: family.into(),
        user_id: "u".into(),
        tenant_id: t.clone(),
        expires_at: Utc::now() + Duration::days(1),
    };
    s.insert_refresh_token(tok("a", "fam")).await.unwrap();
    s.insert_refresh_token(tok("x", "other-family")).await.unwrap();
    // Concurrent uses: exactly one sees the token unused.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move { s.use_refresh_token("a").await.unwrap().unwrap() }));
    }
    let mut fresh = 0;
    for h in handles {
        let rec = h.await.unwrap();
        assert_eq!((rec.family_id.as_str(), rec.tenant_id.as_str()), ("fam", "acme"));
        if !rec.used {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    assert!(s.use_refresh_token("nope").await.unwrap().is_none());
    s.revoke_token_family("fam").await.unwrap();
    assert!(s.use_refresh_token("a").await.unwrap().unwrap().revoked);
    // A token minted into a revoked family (a refresh racing the revocation) is revoked.
    s.insert_refresh_token(tok("b", "fam")).await.unwrap();
    assert!(s.use_refresh_token("b").await.unwrap().unwrap().revoked);
    // Other families are untouched.
    let x = s.use_refresh_token("x").await.unwrap().unwrap();
    assert!(!x.revoked && !x.used);
}

pub async fn users_are_updated_disabled_and_their_sessions_ended(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let other = with_tenant(s.as_ref(), "other").await;
    let u = s
        .create_user(NewUser {
            tenant_id: t.clone(),
            email: "a@acme.test".into(),
            name: "A".into(),
            role: Role::Analyst,
            password_hash: "$argon2id$one".into(),
        })
        .await
        .unwrap();
    assert!(!u.disabled);
    let tok = |hash: &str, family: &str, user: &str| NewRefreshToken {
        token_hash: hash.into(),
        family_id: family.into(),
        user_id: user.into(),
        tenant_id: t.clone(),
        expires_at: Utc::now() + Duration::days(1),
    };
    s.insert_refresh_token(tok("h1", "f1", &u.id)).await.unwrap();
    s.insert_refresh_token(tok("h2", "f2", &u.id)).await.unwrap();
    s.insert_refresh_token(tok("h3", "f3", "someone-else")).await.unwrap();
    assert!(s.session_live(&t, &u.id, "f1").await.unwrap());
    assert!(!s.session_live(&t, &u.id, "f3").await.unwrap(), "another user's session");
    assert!(!s.session_live(&other, &u.id, "f1").await.unwrap(), "another tenant");
    assert!(!s.session_live(&t, &u.id, "unknown").await.unwrap());
    // A rotation keeps the session; a revocation ends it.
    s.use_refresh_token("h1").await.unwrap();
    s.insert_refresh_token(tok("h1b", "f1", &u.id)).await.unwrap();
    assert!(s.session_live(&t, &u.id, "f1").await.unwrap());
    s.revoke_token_family("f1").await.unwrap();
    assert!(!s.session_live(&t, &u.id, "f1").await.unwrap());
    assert!(s.session_live(&t, &u.id, "f2").await.unwrap());
    // Only the named fields change; another tenant's id changes nothing.
    assert!(
        s.update_user(&other, &u.id, UserUpdate { disabled: Some(true), ..UserUpdate::default() })
            .await
            .unwrap()
            .is_none()
    );
    let changed = s
        .update_user(
            &t,
            &u.id,
            UserUpdate { role: Some(Role::Viewer), disabled: Some(true), ..UserUpdate::default() },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((changed.role, changed.disabled, changed.name.as_str()), (Role::Viewer, true, "A"));
    assert_eq!(changed.password_hash, "$argon2id$one");
    assert!(s.get_user(&t, &u.id).await.unwrap().unwrap().disabled);
    let changed = s
        .update_user(
            &t,
            &u.id,
            UserUpdate {
                disabled: Some(false),
                password_hash: Some("$argon2id$two".into()),
                name: Some("Ann".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (changed.disabled, changed.name.as_str(), changed.password_hash.as_str()),
        (false, "Ann", "$argon2id$two")
    );
    // Ending all of a user's sessions leaves others' alone.
    s.revoke_user_tokens(&t, &u.id).await.unwrap();
    assert!(!s.session_live(&t, &u.id, "f2").await.unwrap());
    assert!(!s.use_refresh_token("h3").await.unwrap().unwrap().revoked);
}

pub async fn chunk_commit_moves_the_cursor_atomically(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let k = key(&t, "service/tickets");
    let run = run_record(Some(&t));
    s.create_run(&run).await.unwrap();
    assert!(s.get_cursor(&k).await.unwrap().is_none());
    assert!(s.last_commit_at(&t).await.unwrap().is_none());

    let c1 = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None);
    s.begin_chunk(&c1).await.unwrap();
    let end = cursor(5, "42", Some("next:http://x/2"));
    let commit = ChunkCommit {
        chunk_id: c1.id,
        key: k.clone(),
        end: Some(end.clone()),
        counts: counts(10),
        files: vec!["a.parquet".into(), "b.parquet".into()],
        fence: None,
    };
    let before = Utc::now() - Duration::seconds(1);
    s.commit_chunk(&commit).await.unwrap();
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(end.clone()), "token kept exactly");
    let last = s.last_commit_at(&t).await.unwrap().expect("a commit happened");
    assert!(last >= before && last <= Utc::now() + Duration::seconds(1));
    // Committing twice is refused; failing or abandoning a committed chunk changes nothing.
    assert!(s.commit_chunk(&commit).await.is_err());
    s.fail_chunk(c1.id, "late failure").await.unwrap();
    s.abandon_chunk(c1.id, None).await.unwrap();
    let chunks = s.list_chunks(run.id).await.unwrap();
    assert_eq!(chunks.len(), 1);
    let c = &chunks[0];
    assert_eq!(c.status, ChunkStatus::Committed);
    assert_eq!(c.files, ["a.parquet", "b.parquet"]);
    assert_eq!(c.counts, counts(10));
    assert_eq!(c.start, None);
    assert_eq!(c.end.as_ref(), Some(&end));
    assert_eq!(c.error, None);
    assert!(c.finished_at.is_some());
    assert_eq!(c.key.key(), k);
    assert!(s.find_unfinished_chunk(&k).await.unwrap().is_none());

    // A chunk that read nothing commits without moving the cursor.
    let c2 = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), Some(end.clone()));
    s.begin_chunk(&c2).await.unwrap();
    s.commit_chunk(&ChunkCommit {
        chunk_id: c2.id,
        key: k.clone(),
        end: None,
        counts: ChunkCounts::default(),
        files: vec![],
        fence: None,
    })
    .await
    .unwrap();
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(end.clone()));

    // A commit of an unknown chunk fails and moves nothing.
    let ghost = ChunkCommit {
        chunk_id: ChunkId::new(),
        key: k.clone(),
        end: Some(cursor(60, "99", None)),
        counts: counts(1),
        files: vec![],
        fence: None,
    };
    assert!(s.commit_chunk(&ghost).await.is_err());
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(end.clone()));

    // Freshness: the table's last commit, watermark and records (its partitions' records
    // among them); a backfill's own progress and other tenants' tables are not the table's.
    let part = key(&t, "service/tickets@part-20261206T014400-2of4");
    let c4 = ChunkRecord::running(ChunkId::new(), run.id, part.clone(), None);
    s.begin_chunk(&c4).await.unwrap();
    s.commit_chunk(&ChunkCommit {
        chunk_id: c4.id,
        key: part,
        end: Some(cursor(80, "5", None)),
        counts: counts(4),
        files: vec![],
        fence: None,
    })
    .await
    .unwrap();
    let bf = key(&t, "service/tickets@backfill-20240101T000000-20240201T000000");
    let c3 = ChunkRecord::running(ChunkId::new(), run.id, bf.clone(), None);
    s.begin_chunk(&c3).await.unwrap();
    s.commit_chunk(&ChunkCommit {
        chunk_id: c3.id,
        key: bf,
        end: Some(cursor(90, "7", None)),
        counts: counts(3),
        files: vec![],
        fence: None,
    })
    .await
    .unwrap();
    let other = with_tenant(s.as_ref(), "other").await;
    assert!(s.table_freshness(&other).await.unwrap().is_empty());
    let fresh = s.table_freshness(&t).await.unwrap();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    let f = &fresh[0];
    assert_eq!(
        (f.service.as_str(), f.table.as_str(), f.records),
        ("connectwise", "service/tickets", 14)
    );
    assert_eq!(f.watermark, Some(end.updated_at));
    assert!(f.last_commit_at.is_some_and(|at| at >= before));
}

pub async fn services_are_enabled_and_disabled(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    assert!(!s.set_service_enabled(&t, "connectwise", false).await.unwrap(), "no such service");
    s.upsert_service(&t, "connectwise", b"sealed").await.unwrap();
    assert!(s.list_services(&t).await.unwrap()[0].enabled);
    assert!(s.set_service_enabled(&t, "connectwise", false).await.unwrap());
    let svc = &s.list_services(&t).await.unwrap()[0];
    assert!(!svc.enabled);
    assert_eq!(svc.sealed_config, b"sealed");
    // New credentials keep the service as it was switched.
    s.upsert_service(&t, "connectwise", b"sealed-2").await.unwrap();
    assert!(!s.list_services(&t).await.unwrap()[0].enabled);
    assert!(s.set_service_enabled(&t, "connectwise", true).await.unwrap());
    assert!(s.list_services(&t).await.unwrap()[0].enabled);
}

pub async fn unfinished_chunks_resume_earliest_first(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let k = key(&t, "service/tickets");
    let run = run_record(Some(&t));
    s.create_run(&run).await.unwrap();
    let later =
        ChunkRecord::running(ChunkId::new(), run.id, k.clone(), Some(cursor(60, "9", None)));
    let earlier = ChunkRecord::running(
        ChunkId::new(),
        run.id,
        k.clone(),
        Some(cursor(0, "10", Some("delta:x"))),
    );
    s.begin_chunk(&later).await.unwrap();
    s.begin_chunk(&earlier).await.unwrap();
    s.fail_chunk(earlier.id, "boom").await.unwrap();
    let next = s.find_unfinished_chunk(&k).await.unwrap().unwrap();
    assert_eq!(next.id, earlier.id);
    assert_eq!(next.status, ChunkStatus::Failed);
    assert_eq!(next.error.as_deref(), Some("boom"));
    assert_eq!(next.start, Some(cursor(0, "10", Some("delta:x"))));
    // A chunk from the table's beginning comes before any positioned one.
    let first = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None);
    s.begin_chunk(&first).await.unwrap();
    assert_eq!(s.find_unfinished_chunk(&k).await.unwrap().unwrap().id, first.id);
    for c in [&first, &earlier] {
        s.abandon_chunk(c.id, None).await.unwrap();
    }
    assert_eq!(s.find_unfinished_chunk(&k).await.unwrap().unwrap().id, later.id);
    s.abandon_chunk(later.id, None).await.unwrap();
    assert!(s.find_unfinished_chunk(&k).await.unwrap().is_none());
    let statuses: Vec<ChunkStatus> =
        s.list_chunks(run.id).await.unwrap().into_iter().map(|c| c.status).collect();
    assert_eq!(statuses, [ChunkStatus::Abandoned; 3]);
    // An abandoned chunk cannot be committed.
    let commit = ChunkCommit {
        chunk_id: later.id,
        key: k.clone(),
        end: Some(cursor(90, "1", None)),
        counts: counts(1),
        files: vec![],
        fence: None,
    };
    assert!(s.commit_chunk(&commit).await.is_err());
    assert!(s.get_cursor(&k).await.unwrap().is_none());
}

pub async fn rebegun_chunk_moves_to_the_new_run(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let k = key(&t, "service/tickets");
    let first = run_record(Some(&t));
    let second = run_record(Some(&t));
    s.create_run(&first).await.unwrap();
    s.create_run(&second).await.unwrap();
    let c = ChunkRecord::running(ChunkId::new(), first.id, k.clone(), Some(cursor(1, "5", None)));
    s.begin_chunk(&c).await.unwrap();
    s.fail_chunk(c.id, "vendor down").await.unwrap();
    // The next run resumes it under the same id.
    let resumed = ChunkRecord { run_id: second.id, ..c.clone() };
    s.begin_chunk(&resumed).await.unwrap();
    assert!(s.list_chunks(first.id).await.unwrap().is_empty());
    let got = s.list_chunks(second.id).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id, got[0].status, got[0].error.as_deref()),
        (c.id, ChunkStatus::Running, None)
    );
    assert_eq!(got[0].start, Some(cursor(1, "5", None)));
    s.commit_chunk(&ChunkCommit {
        chunk_id: c.id,
        key: k.clone(),
        end: Some(cursor(2, "6", None)),
        counts: counts(4),
        files: vec!["f".into()],
        fence: None,
    })
    .await
    .unwrap();
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(cursor(2, "6", None)));
}

pub async fn tables_and_tenants_are_independent(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    let run = run_record(None);
    s.create_run(&run).await.unwrap();
    let keys = [
        key(&a, "service/tickets"),
        key(&a, "company/companies"),
        key(&b, "service/tickets"),
        key(&a, "service/tickets@backfill-20240101T000000-20240201T000000"),
    ];
    for (i, k) in keys.iter().enumerate() {
        let c = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None);
        s.begin_chunk(&c).await.unwrap();
        s.commit_chunk(&ChunkCommit {
            chunk_id: c.id,
            key: k.clone(),
            end: Some(cursor(i as i64, &i.to_string(), None)),
            counts: counts(1),
            files: vec![],
            fence: None,
        })
        .await
        .unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get_cursor(k).await.unwrap(), Some(cursor(i as i64, &i.to_string(), None)));
    }
    let unfinished = ChunkRecord::running(ChunkId::new(), run.id, keys[0].clone(), None);
    s.begin_chunk(&unfinished).await.unwrap();
    for k in &keys[1..] {
        assert!(s.find_unfinished_chunk(k).await.unwrap().is_none(), "{k:?}");
    }
    let c = tenant("gamma");
    assert!(s.get_cursor(&key(&c, "service/tickets")).await.unwrap().is_none());
    assert!(s.last_commit_at(&c).await.unwrap().is_none());
}

pub async fn runs_are_listed_per_tenant_newest_first(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
    let ra = RunRecord { started_at: at(1), ..run_record(Some(&a)) };
    let rb = RunRecord { started_at: at(2), ..run_record(Some(&b)) };
    // A run over every tenant that touched only beta, and one that touched acme.
    let all_b = RunRecord { started_at: at(3), ..run_record(None) };
    let all_a = RunRecord { started_at: at(4), kind: RunKind::Full, ..run_record(None) };
    for r in [&ra, &rb, &all_b, &all_a] {
        s.create_run(r).await.unwrap();
    }
    s.begin_chunk(&ChunkRecord::running(ChunkId::new(), all_b.id, key(&b, "t"), None))
        .await
        .unwrap();
    s.begin_chunk(&ChunkRecord::running(ChunkId::new(), all_a.id, key(&a, "t"), None))
        .await
        .unwrap();
    let ids = |v: Vec<RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_runs(Some(&a), 10).await.unwrap()), [all_a.id, ra.id]);
    assert_eq!(ids(s.list_runs(Some(&b), 10).await.unwrap()), [all_b.id, rb.id]);
    assert_eq!(ids(s.list_runs(None, 10).await.unwrap()), [all_a.id, all_b.id, rb.id, ra.id]);
    assert_eq!(ids(s.list_runs(None, 2).await.unwrap()), [all_a.id, all_b.id]);

    s.finish_run(ra.id, RunStatus::PartiallyFailed, Some("tickets: vendor said 500"))
        .await
        .unwrap();
    let got = s.get_run(ra.id).await.unwrap().unwrap();
    assert_eq!(got.status, RunStatus::PartiallyFailed);
    assert_eq!(got.error.as_deref(), Some("tickets: vendor said 500"));
    assert_eq!(got.tenant_id.as_ref(), Some(&a));
    assert_eq!(got.kind, RunKind::Incremental);
    assert_eq!(got.started_at, at(1));
    assert!(got.finished_at.is_some());
    assert_eq!(s.get_run(all_a.id).await.unwrap().unwrap().tenant_id, None);
    assert_eq!(s.get_run(all_a.id).await.unwrap().unwrap().kind, RunKind::Full);
    assert!(s.get_run(RunId::new()).await.unwrap().is_none());
}

pub async fn settings_are_tenant_scoped_replaced_listed_and_deleted(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    assert_eq!(s.get_setting(&a, "time_zone").await.unwrap(), None);
    s.put_setting(&a, "time_zone", &serde_json::json!("Europe/Amsterdam")).await.unwrap();
    s.put_setting(&a, "goal:tickets_closed", &serde_json::json!({"target": 100})).await.unwrap();
    s.put_setting(&a, "goal:sla_met_pct", &serde_json::json!({"target": 95.5})).await.unwrap();
    s.put_setting(&a, "goal_x", &serde_json::json!(1)).await.unwrap();
    s.put_setting(&b, "goal:tickets_closed", &serde_json::json!({"target": 7})).await.unwrap();
    // Replaced, not added.
    s.put_setting(&a, "goal:tickets_closed", &serde_json::json!({"target": 120})).await.unwrap();
    assert_eq!(
        s.get_setting(&a, "time_zone").await.unwrap(),
        Some(serde_json::json!("Europe/Amsterdam"))
    );
    let goals = s.list_settings(&a, "goal:").await.unwrap();
    assert_eq!(
        goals,
        vec![
            ("goal:sla_met_pct".to_owned(), serde_json::json!({"target": 95.5})),
            ("goal:tickets_closed".to_owned(), serde_json::json!({"target": 120})),
        ],
        "by key, only the prefix, only the tenant's"
    );
    assert_eq!(s.list_settings(&b, "goal:").await.unwrap().len(), 1);
    assert_eq!(s.list_settings(&a, "").await.unwrap().len(), 4);
    // A prefix is text, not a pattern.
    assert!(s.list_settings(&a, "goal%").await.unwrap().is_empty());
    assert!(s.delete_setting(&a, "goal:sla_met_pct").await.unwrap());
    assert!(!s.delete_setting(&a, "goal:sla_met_pct").await.unwrap());
    assert_eq!(s.list_settings(&a, "goal:").await.unwrap().len(), 1);
    assert_eq!(s.get_setting(&b, "time_zone").await.unwrap(), None);
}

pub async fn running_runs_can_be_asked_to_stop(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let running = run_record(Some(&t));
    let other = run_record(Some(&t));
    let done = run_record(Some(&t));
    for r in [&running, &other, &done] {
        s.create_run(r).await.unwrap();
    }
    s.finish_run(done.id, RunStatus::Succeeded, None).await.unwrap();
    assert!(!s.cancel_requested(running.id).await.unwrap());
    assert!(!s.get_run(running.id).await.unwrap().unwrap().cancel_requested);

    assert!(s.request_cancel(running.id).await.unwrap());
    assert!(s.cancel_requested(running.id).await.unwrap());
    assert!(s.get_run(running.id).await.unwrap().unwrap().cancel_requested);
    // Asking twice is fine; other runs are untouched.
    assert!(s.request_cancel(running.id).await.unwrap());
    assert!(!s.cancel_requested(other.id).await.unwrap());
    // A finished or unknown run cannot be asked.
    assert!(!s.request_cancel(done.id).await.unwrap());
    assert!(!s.cancel_requested(done.id).await.unwrap());
    assert!(!s.request_cancel(RunId::new()).await.unwrap());
    assert!(!s.cancel_requested(RunId::new()).await.unwrap());
    // It ends as the pipeline records it; the request stays on record.
    s.finish_run(running.id, RunStatus::Cancelled, None).await.unwrap();
    let got = s.get_run(running.id).await.unwrap().unwrap();
    assert_eq!(got.status, RunStatus::Cancelled);
    assert!(got.cancel_requested);
    assert!(!s.request_cancel(running.id).await.unwrap());
}

pub async fn interrupted_runs_are_marked_once(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let done = run_record(Some(&t));
    let cut = run_record(Some(&t));
    let cut_all = run_record(None);
    for r in [&done, &cut, &cut_all] {
        s.create_run(r).await.unwrap();
    }
    s.finish_run(done.id, RunStatus::Succeeded, None).await.unwrap();
    assert_eq!(s.interrupt_running_runs("the process stopped").await.unwrap(), 2);
    for id in [cut.id, cut_all.id] {
        let got = s.get_run(id).await.unwrap().unwrap();
        assert_eq!(got.status, RunStatus::Interrupted);
        assert_eq!(got.error.as_deref(), Some("the process stopped"));
        assert!(got.finished_at.is_some());
    }
    let kept = s.get_run(done.id).await.unwrap().unwrap();
    assert_eq!((kept.status, kept.error), (RunStatus::Succeeded, None));
    assert_eq!(s.interrupt_running_runs("again").await.unwrap(), 0);
}

pub async fn leases_are_exclusive_until_they_expire_and_tokens_grow(s: Arc<dyn StateStore>) {
    let long = std::time::Duration::from_secs(60);
    let short = std::time::Duration::from_millis(300);
    let first = s.claim_lease("table/a/x/t", "w1", long).await.unwrap().expect("free lease");
    assert_eq!(s.claim_lease("table/a/x/t", "w2", long).await.unwrap(), None, "held");
    // Another lease is independent.
    assert!(s.claim_lease("table/a/x/u", "w2", long).await.unwrap().is_some());
    assert!(s.renew_lease("table/a/x/t", first, short).await.unwrap());
    // Still held until it expires…
    assert_eq!(s.claim_lease("table/a/x/t", "w2", long).await.unwrap(), None);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    // …then anyone may take it, with a greater token; the old holder is fenced.
    let second = s.claim_lease("table/a/x/t", "w2", long).await.unwrap().expect("expired");
    assert!(second > first, "{second} > {first}");
    assert!(!s.renew_lease("table/a/x/t", first, long).await.unwrap(), "fenced");
    // A stale release does nothing; the holder's release frees it at once.
    s.release_lease("table/a/x/t", first).await.unwrap();
    assert_eq!(s.claim_lease("table/a/x/t", "w3", long).await.unwrap(), None);
    s.release_lease("table/a/x/t", second).await.unwrap();
    let third = s.claim_lease("table/a/x/t", "w3", long).await.unwrap().expect("released");
    assert!(third > second);
    assert!(s.renew_lease("table/a/x/t", third, long).await.unwrap());
}

pub async fn a_commit_under_a_lost_lease_is_refused(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let k = key(&t, "tickets");
    let run = run_record(Some(&t));
    s.create_run(&run).await.unwrap();
    let lease = std::time::Duration::from_millis(200);
    let mine = s.claim_lease(&k.lease_name(), "w1", lease).await.unwrap().unwrap();
    let chunk = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None);
    s.begin_chunk(&chunk).await.unwrap();
    let commit = ChunkCommit {
        chunk_id: chunk.id,
        key: k.clone(),
        end: Some(cursor(5, "5", None)),
        counts: counts(5),
        files: vec!["a.parquet".into()],
        fence: Some(mine),
    };
    // w1 stalls past its lease and w2 takes the table over.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let theirs = s.claim_lease(&k.lease_name(), "w2", lease).await.unwrap().unwrap();
    match s.commit_chunk(&commit).await {
        Err(StateError::Fenced(name)) => assert_eq!(name, k.lease_name()),
        other => panic!("a fenced commit must fail, got {other:?}"),
    }
    // Nothing of it landed: the cursor did not move and the chunk is still running.
    assert_eq!(s.get_cursor(&k).await.unwrap(), None);
    assert_eq!(s.find_unfinished_chunk(&k).await.unwrap().unwrap().id, chunk.id);
    // Nor may the fenced worker begin a chunk, or abandon one (the new holder's).
    let late = ChunkRecord {
        fence: Some(mine),
        ..ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None)
    };
    assert!(matches!(s.begin_chunk(&late).await, Err(StateError::Fenced(_))));
    assert!(matches!(
        s.abandon_chunk(chunk.id, Some((&k.lease_name(), mine))).await,
        Err(StateError::Fenced(_))
    ));
    assert_eq!(s.find_unfinished_chunk(&k).await.unwrap().unwrap().id, chunk.id, "untouched");
    assert!(s.list_chunks(run.id).await.unwrap().iter().all(|c| c.id != late.id));
    // The new holder's commit lands.
    let fresh = ChunkRecord {
        fence: Some(theirs),
        ..ChunkRecord::running(ChunkId::new(), run.id, k.clone(), None)
    };
    s.abandon_chunk(chunk.id, Some((&k.lease_name(), theirs))).await.unwrap();
    s.begin_chunk(&fresh).await.unwrap();
    s.commit_chunk(&ChunkCommit { chunk_id: fresh.id, fence: Some(theirs), ..commit.clone() })
        .await
        .unwrap();
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(cursor(5, "5", None)));
    // A commit without a fence (one process, no leases) is not checked.
    let plain = ChunkRecord::running(ChunkId::new(), run.id, k.clone(), Some(cursor(5, "5", None)));
    s.begin_chunk(&plain).await.unwrap();
    s.commit_chunk(&ChunkCommit {
        chunk_id: plain.id,
        end: Some(cursor(6, "6", None)),
        fence: None,
        ..commit
    })
    .await
    .unwrap();
    assert_eq!(s.get_cursor(&k).await.unwrap(), Some(cursor(6, "6", None)));
}

pub async fn run_outcomes_complete_the_run_exactly_once(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let run = RunRecord { tables_planned: Some(2), ..run_record(Some(&t)) };
    s.create_run(&run).await.unwrap();
    assert_eq!(s.get_run(run.id).await.unwrap().unwrap().tables_planned, Some(2));
    assert_eq!(s.record_outcome(run.id, "x/a", r#"{"n":1}"#).await.unwrap(), None);
    // Recorded again (a job delivered twice): replaced, not counted twice.
    assert_eq!(s.record_outcome(run.id, "x/a", r#"{"n":2}"#).await.unwrap(), None);
    let all = s.record_outcome(run.id, "x/b", r#"{"n":3}"#).await.unwrap().expect("complete");
    let values: Vec<serde_json::Value> =
        all.iter().map(|o| serde_json::from_str(o).unwrap()).collect();
    assert_eq!(values, vec![serde_json::json!({"n": 2}), serde_json::json!({"n": 3})]);
    // Once complete, later outcomes never complete it again.
    assert_eq!(s.record_outcome(run.id, "x/b", r#"{"n":4}"#).await.unwrap(), None);
    let listed: Vec<serde_json::Value> = s
        .list_outcomes(run.id)
        .await
        .unwrap()
        .iter()
        .map(|o| serde_json::from_str(o).unwrap())
        .collect();
    assert_eq!(listed, vec![serde_json::json!({"n": 2}), serde_json::json!({"n": 4})]);
    assert!(s.list_outcomes(RunId::new()).await.unwrap().is_empty());
    // A run its own process finishes has no planned count: never completed by outcomes.
    let local = run_record(Some(&t));
    s.create_run(&local).await.unwrap();
    assert_eq!(s.get_run(local.id).await.unwrap().unwrap().tables_planned, None);
    assert_eq!(s.record_outcome(local.id, "x/a", "{}").await.unwrap(), None);
    assert!(matches!(
        s.record_outcome(RunId::new(), "x/a", "{}").await,
        Err(StateError::NotFound(_))
    ));
}

pub async fn concurrent_outcomes_complete_the_run_exactly_once(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let n = 12;
    let run = RunRecord { tables_planned: Some(n), ..run_record(Some(&t)) };
    s.create_run(&run).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let s = s.clone();
        set.spawn(async move {
            s.record_outcome(run.id, &format!("x/t{i:02}"), &format!(r#"{{"i":{i}}}"#)).await
        });
    }
    let mut completions = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Some(all) = r.unwrap().unwrap() {
            completions.push(all);
        }
    }
    assert_eq!(completions.len(), 1, "exactly one recorder completes the run");
    assert_eq!(completions[0].len(), n as usize);
}

pub async fn workers_heartbeat_and_are_forgotten(s: Arc<dyn StateStore>) {
    let now = Utc::now();
    let w = |id: &str, seen: chrono::DateTime<Utc>| WorkerRecord {
        id: id.into(),
        host: "h1".into(),
        pid: 42,
        concurrency: 4,
        running: 1,
        started_at: now - Duration::minutes(5),
        seen_at: seen,
    };
    s.worker_heartbeat(&w("w1", now - Duration::seconds(10))).await.unwrap();
    s.worker_heartbeat(&w("w2", now - Duration::seconds(5))).await.unwrap();
    s.worker_heartbeat(&WorkerRecord { running: 3, ..w("w1", now) }).await.unwrap();
    let got = s.list_workers().await.unwrap();
    assert_eq!(got.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["w1", "w2"]);
    assert_eq!((got[0].running, got[0].concurrency, got[0].pid), (3, 4, 42));
    assert_eq!(got[0].seen_at.timestamp_millis(), now.timestamp_millis());
    s.remove_worker("w1").await.unwrap();
    assert_eq!(s.list_workers().await.unwrap().len(), 1);
    // A worker silent for over a day is forgotten at the next heartbeat.
    s.worker_heartbeat(&w("w3", now - Duration::days(2))).await.unwrap();
    s.worker_heartbeat(&w("w2", now)).await.unwrap();
    let ids: Vec<String> = s.list_workers().await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(ids, ["w2"]);
}

async fn view_user(s: &dyn StateStore, tenant: &TenantId, email: &str) -> String {
    s.create_user(NewUser {
        tenant_id: tenant.clone(),
        email: email.into(),
        name: email.into(),
        role: Role::Viewer,
        password_hash: "$argon2id$hash".into(),
    })
    .await
    .expect("create user")
    .id
}

fn new_view(page: &str, name: &str, query: &str) -> NewSavedView {
    NewSavedView { page: page.into(), name: name.into(), query: query.into() }
}

/// `(page, name)` of each view, in the order listed.
fn pages_and_names(views: &[SavedView]) -> Vec<(&str, &str)> {
    views.iter().map(|v| (v.page.as_str(), v.name.as_str())).collect()
}

pub async fn saved_views_are_created_listed_updated_and_deleted(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let u = view_user(s.as_ref(), &t, "ann@acme.test").await;
    assert!(s.list_views(&t, &u, None).await.unwrap().is_empty());
    let before = Utc::now() - Duration::seconds(1);
    let open =
        s.create_view(&t, &u, new_view("tickets", "Open", "status=New&sort=opened_at")).await;
    let open = open.unwrap();
    assert_eq!(
        (open.tenant_id.as_str(), open.user_id.as_str(), open.page.as_str(), open.name.as_str()),
        ("acme", u.as_str(), "tickets", "Open")
    );
    assert_eq!(open.query, "status=New&sort=opened_at");
    assert!(open.created_at >= before && open.created_at <= Utc::now() + Duration::seconds(1));
    assert_eq!(open.created_at, open.updated_at);
    // Byte order within a page; pages in order; any text (Unicode, an empty query) kept.
    for (page, name, query) in [
        ("tickets", "Zebra", "q=z"),
        ("tickets", "Ärger", "q=%C3%A4"),
        ("tickets", "Backlog", ""),
        ("dashboard", "Quarter", "period=90d"),
        ("companies", "Big", "sort=employee_count&order=desc"),
    ] {
        s.create_view(&t, &u, new_view(page, name, query)).await.unwrap();
    }
    let all = s.list_views(&t, &u, None).await.unwrap();
    assert_eq!(
        pages_and_names(&all),
        [
            ("companies", "Big"),
            ("dashboard", "Quarter"),
            ("tickets", "Backlog"),
            ("tickets", "Open"),
            ("tickets", "Zebra"),
            ("tickets", "Ärger"),
        ],
        "by page, then name, byte order"
    );
    assert_eq!(all[3], open, "read back exactly as created");
    assert_eq!(all[5].query, "q=%C3%A4");
    assert_eq!(all[2].query, "");
    let tickets = s.list_views(&t, &u, Some("tickets")).await.unwrap();
    assert_eq!(
        pages_and_names(&tickets),
        [("tickets", "Backlog"), ("tickets", "Open"), ("tickets", "Zebra"), ("tickets", "Ärger")]
    );
    assert!(s.list_views(&t, &u, Some("contacts")).await.unwrap().is_empty());
    // A prefix or pattern is not a page.
    assert!(s.list_views(&t, &u, Some("ticket%")).await.unwrap().is_empty());

    // Rename only: the query stays; query only: the name stays.
    let renamed = s
        .update_view(
            &t,
            &u,
            &open.id,
            SavedViewUpdate { name: Some("Open tickets".into()), ..SavedViewUpdate::default() },
        )
        .await
        .unwrap()
        .expect("the user's view");
    assert_eq!((renamed.id.as_str(), renamed.name.as_str()), (open.id.as_str(), "Open tickets"));
    assert_eq!((renamed.page.as_str(), renamed.query.as_str()), ("tickets", open.query.as_str()));
    assert_eq!(renamed.created_at, open.created_at);
    assert!(renamed.updated_at >= open.updated_at);
    let requeried = s
        .update_view(
            &t,
            &u,
            &open.id,
            SavedViewUpdate { query: Some("status=Closed".into()), ..SavedViewUpdate::default() },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (requeried.name.as_str(), requeried.query.as_str()),
        ("Open tickets", "status=Closed")
    );
    // Both at once.
    let both = s
        .update_view(
            &t,
            &u,
            &open.id,
            SavedViewUpdate {
                name: Some("Closed".into()),
                query: Some("status=Closed&q=x".into()),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((both.name.as_str(), both.query.as_str()), ("Closed", "status=Closed&q=x"));
    let listed = s.list_views(&t, &u, Some("tickets")).await.unwrap();
    assert_eq!(
        pages_and_names(&listed),
        [("tickets", "Backlog"), ("tickets", "Closed"), ("tickets", "Zebra"), ("tickets", "Ärger")],
        "a renamed view moves to its new place"
    );
    assert_eq!(listed[1], both);
    // An unknown id changes nothing.
    let ghost = uuid::Uuid::now_v7().to_string();
    assert!(
        s.update_view(
            &t,
            &u,
            &ghost,
            SavedViewUpdate { name: Some("X".into()), ..SavedViewUpdate::default() }
        )
        .await
        .unwrap()
        .is_none()
    );
    assert!(!s.delete_view(&t, &u, &ghost).await.unwrap());

    assert!(s.delete_view(&t, &u, &open.id).await.unwrap());
    assert!(!s.delete_view(&t, &u, &open.id).await.unwrap(), "deleted once");
    assert!(
        s.update_view(&t, &u, &open.id, SavedViewUpdate::default()).await.unwrap().is_none(),
        "a deleted view cannot be changed"
    );
    assert_eq!(s.list_views(&t, &u, None).await.unwrap().len(), 5);
    // Its name is free again.
    s.create_view(&t, &u, new_view("tickets", "Closed", "status=Closed")).await.unwrap();
    // A user the tenant does not have cannot save views.
    assert!(matches!(
        s.create_view(&t, "no-such-user", new_view("tickets", "X", "")).await,
        Err(StateError::NotFound(_))
    ));
}

pub async fn saved_view_names_are_unique_per_user_and_page(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let u = view_user(s.as_ref(), &t, "ann@acme.test").await;
    let other = view_user(s.as_ref(), &t, "bob@acme.test").await;
    let mine = s.create_view(&t, &u, new_view("tickets", "Mine", "q=a")).await.unwrap();
    let theirs = s.create_view(&t, &u, new_view("tickets", "Theirs", "q=b")).await.unwrap();
    match s.create_view(&t, &u, new_view("tickets", "Mine", "q=other")).await {
        Err(StateError::Conflict(m)) => assert!(m.contains("\"Mine\""), "{m}"),
        other => panic!("a duplicate name must conflict, got {other:?}"),
    }
    // The same name on another page, or for another user, is another view.
    s.create_view(&t, &u, new_view("contacts", "Mine", "q=a")).await.unwrap();
    s.create_view(&t, &other, new_view("tickets", "Mine", "q=a")).await.unwrap();
    // Names are compared exactly (the API trims them before).
    s.create_view(&t, &u, new_view("tickets", "mine", "q=a")).await.unwrap();
    // Renaming onto a taken name conflicts and changes nothing.
    match s
        .update_view(
            &t,
            &u,
            &theirs.id,
            SavedViewUpdate { name: Some("Mine".into()), query: Some("q=changed".into()) },
        )
        .await
    {
        Err(StateError::Conflict(m)) => assert!(m.contains("\"Mine\""), "{m}"),
        other => panic!("renaming onto a taken name must conflict, got {other:?}"),
    }
    let tickets = s.list_views(&t, &u, Some("tickets")).await.unwrap();
    assert_eq!(
        pages_and_names(&tickets),
        [("tickets", "Mine"), ("tickets", "Theirs"), ("tickets", "mine")]
    );
    assert_eq!(tickets[1], theirs, "the refused rename left the view as it was");
    assert_eq!(tickets[0], mine);
    // Renaming a view to its own name is no conflict.
    let same = s
        .update_view(
            &t,
            &u,
            &mine.id,
            SavedViewUpdate { name: Some("Mine".into()), ..SavedViewUpdate::default() },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.name, "Mine");
}

pub async fn saved_views_are_private_to_their_user_and_tenant(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let g = with_tenant(s.as_ref(), "globex").await;
    let ann = view_user(s.as_ref(), &t, "ann@acme.test").await;
    let bob = view_user(s.as_ref(), &t, "bob@acme.test").await;
    let gus = view_user(s.as_ref(), &g, "gus@globex.test").await;
    let v = s.create_view(&t, &ann, new_view("tickets", "Ann's", "status=New")).await.unwrap();
    s.create_view(&t, &bob, new_view("tickets", "Bob's", "status=Closed")).await.unwrap();
    s.create_view(&g, &gus, new_view("tickets", "Gus's", "q=x")).await.unwrap();
    let names = |views: Vec<SavedView>| views.into_iter().map(|v| v.name).collect::<Vec<_>>();
    assert_eq!(names(s.list_views(&t, &ann, None).await.unwrap()), ["Ann's"]);
    assert_eq!(names(s.list_views(&t, &bob, Some("tickets")).await.unwrap()), ["Bob's"]);
    assert_eq!(names(s.list_views(&g, &gus, None).await.unwrap()), ["Gus's"]);
    // Ann's user id under another tenant is nobody there.
    assert!(s.list_views(&g, &ann, None).await.unwrap().is_empty());
    // Nobody but Ann changes or deletes Ann's view, whatever they know of it.
    let rename = || SavedViewUpdate { name: Some("Taken".into()), query: Some("q=evil".into()) };
    for (tenant, user) in [(&t, &bob), (&g, &gus), (&g, &ann)] {
        assert!(
            s.update_view(tenant, user, &v.id, rename()).await.unwrap().is_none(),
            "{tenant}/{user} changed Ann's view"
        );
        assert!(!s.delete_view(tenant, user, &v.id).await.unwrap(), "{tenant}/{user} deleted it");
    }
    assert_eq!(s.list_views(&t, &ann, None).await.unwrap(), vec![v.clone()], "untouched");
    // A user in another tenant cannot save views under this one.
    assert!(matches!(
        s.create_view(&t, &gus, new_view("tickets", "Sneaky", "")).await,
        Err(StateError::NotFound(_))
    ));
    assert_eq!(names(s.list_views(&t, &gus, None).await.unwrap()), Vec::<String>::new());
    assert!(s.delete_view(&t, &ann, &v.id).await.unwrap());
    assert_eq!(names(s.list_views(&t, &bob, None).await.unwrap()), ["Bob's"]);
}

pub async fn saved_views_are_capped_per_user(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let ann = view_user(s.as_ref(), &t, "ann@acme.test").await;
    let bob = view_user(s.as_ref(), &t, "bob@acme.test").await;
    let mut first = None;
    for i in 0..MAX_SAVED_VIEWS {
        let page = if i % 2 == 0 { "tickets" } else { "dashboard" };
        let v = s.create_view(&t, &ann, new_view(page, &format!("v{i:03}"), "")).await.unwrap();
        first.get_or_insert(v);
    }
    // The cap counts every page.
    match s.create_view(&t, &ann, new_view("contacts", "one more", "")).await {
        Err(StateError::Conflict(m)) => assert!(m.contains(&MAX_SAVED_VIEWS.to_string()), "{m}"),
        other => panic!("a view beyond the cap must conflict, got {other:?}"),
    }
    assert_eq!(s.list_views(&t, &ann, None).await.unwrap().len(), MAX_SAVED_VIEWS as usize);
    // At the cap, views still change; another user is not capped by Ann's.
    let first = first.unwrap();
    s.update_view(
        &t,
        &ann,
        &first.id,
        SavedViewUpdate { name: Some("renamed".into()), ..SavedViewUpdate::default() },
    )
    .await
    .unwrap()
    .unwrap();
    s.create_view(&t, &bob, new_view("contacts", "one more", "")).await.unwrap();
    // Deleting one frees a place.
    assert!(s.delete_view(&t, &ann, &first.id).await.unwrap());
    s.create_view(&t, &ann, new_view("contacts", "one more", "")).await.unwrap();
    assert!(matches!(
        s.create_view(&t, &ann, new_view("contacts", "and another", "")).await,
        Err(StateError::Conflict(_))
    ));
}

pub async fn concurrent_saved_views_never_pass_the_cap(s: Arc<dyn StateStore>) {
    let t = with_tenant(s.as_ref(), "acme").await;
    let ann = view_user(s.as_ref(), &t, "ann@acme.test").await;
    let room = 4;
    for i in 0..MAX_SAVED_VIEWS - room {
        s.create_view(&t, &ann, new_view("tickets", &format!("v{i:03}"), "")).await.unwrap();
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (s, t, ann) = (s.clone(), t.clone(), ann.clone());
        set.spawn(async move {
            s.create_view(&t, &ann, new_view("dashboard", &format!("race {i}"), "")).await
        });
    }
    let (mut made, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => made += 1,
            Err(StateError::Conflict(_)) => refused += 1,
            Err(e) => panic!("a create failed otherwise: {e}"),
        }
    }
    assert_eq!((made, refused), (room, 12 - room));
    assert_eq!(s.list_views(&t, &ann, None).await.unwrap().len(), MAX_SAVED_VIEWS as usize);
}

fn report_schedule(t: &TenantId, id: &str, due_minutes: i64) -> ReportSchedule {
    // Whole seconds: what every backend keeps exactly.
    let base = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant");
    ReportSchedule {
        id: id.into(),
        tenant_id: t.clone(),
        company_id: "connectwise:250".into(),
        cadence: "monthly".into(),
        day: 1,
        hour: 8,
        tz: "Europe/Amsterdam".into(),
        period: "last_month".into(),
        recipients: vec!["ana@client.example".into(), "Bo Li <bo@client.example>".into()],
        contacts: true,
        message: Some("Your monthly report.".into()),
        created_by: "user-1".into(),
        created_at: base + Duration::seconds(due_minutes.abs()),
        next_run_at: base + Duration::minutes(due_minutes),
        last_run_at: None,
        last_status: None,
        last_error: None,
    }
}

pub async fn report_schedules_are_kept_listed_and_deleted(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    let first = report_schedule(&a, "s1", 10);
    let mut second = report_schedule(&a, "s2", 20);
    second.cadence = "weekly".into();
    second.day = 7;
    second.recipients = Vec::new();
    second.message = None;
    s.create_report_schedule(&second).await.unwrap();
    s.create_report_schedule(&first).await.unwrap();
    s.create_report_schedule(&report_schedule(&b, "s1", 5)).await.unwrap();
    // Oldest first, every field as stored.
    assert_eq!(s.list_report_schedules(&a).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(s.list_report_schedules(&b).await.unwrap().len(), 1);
    // Another tenant's id is not this tenant's.
    assert!(!s.delete_report_schedule(&b, "s2").await.unwrap());
    assert!(s.delete_report_schedule(&a, "s2").await.unwrap());
    assert!(!s.delete_report_schedule(&a, "s2").await.unwrap());
    assert_eq!(s.list_report_schedules(&a).await.unwrap(), vec![first]);
    assert_eq!(s.list_report_schedules(&b).await.unwrap().len(), 1, "b's own s1 stays");
}

pub async fn a_due_report_is_claimed_once(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    let sa = report_schedule(&a, "s1", 0);
    let sb = report_schedule(&b, "s1", -30);
    let later = report_schedule(&a, "s2", 60);
    for r in [&sa, &sb, &later] {
        s.create_report_schedule(r).await.unwrap();
    }
    let due = sa.next_run_at;
    assert!(s.due_report_schedules(due - Duration::minutes(31), 10).await.unwrap().is_empty());
    let now_due = s.due_report_schedules(due, 10).await.unwrap();
    assert_eq!(
        now_due.iter().map(|r| (r.tenant_id.as_str(), r.id.as_str())).collect::<Vec<_>>(),
        vec![("beta", "s1"), ("acme", "s1")],
        "every tenant's, longest due first"
    );
    assert_eq!(s.due_report_schedules(due, 1).await.unwrap().len(), 1, "at most the limit");
    // Racing claims of one delivery: exactly one wins.
    let next = due + Duration::days(30);
    let now = due + Duration::seconds(5);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (s, a) = (s.clone(), a.clone());
        set.spawn(async move { s.claim_report_schedule(&a, "s1", due, next, now).await });
    }
    let mut won = Vec::new();
    while let Some(r) = set.join_next().await {
        won.push(r.expect("the claim task"));
    }
    assert_eq!(won.iter().filter(|w| matches!(w, Ok(true))).count(), 1, "{won:?}");
    assert!(won.iter().all(|w| w.is_ok()), "{won:?}");
    // A claim of a slot already taken, or of another tenant's schedule, fails.
    assert!(!s.claim_report_schedule(&a, "s1", due, next, now).await.unwrap());
    assert!(!s.claim_report_schedule(&b, "s2", later.next_run_at, next, now).await.unwrap());
    let mine = s.list_report_schedules(&a).await.unwrap().remove(0);
    assert_eq!((mine.next_run_at, mine.last_run_at), (next, Some(now)));
    assert_eq!(mine.last_status.as_deref(), Some("sending"));
    assert_eq!(s.due_report_schedules(due, 10).await.unwrap().len(), 1, "only beta's is still due");
    s.finish_report_schedule(&a, "s1", "failed", Some("the SMTP server said no")).await.unwrap();
    let mine = s.list_report_schedules(&a).await.unwrap().remove(0);
    assert_eq!(mine.last_status.as_deref(), Some("failed"));
    assert_eq!(mine.last_error.as_deref(), Some("the SMTP server said no"));
    // The next claim clears the last error.
    assert!(
        s.claim_report_schedule(&a, "s1", next, next + Duration::days(31), next).await.unwrap()
    );
    s.finish_report_schedule(&a, "s1", "sent", None).await.unwrap();
    let mine = s.list_report_schedules(&a).await.unwrap().remove(0);
    assert_eq!((mine.last_status.as_deref(), mine.last_error), (Some("sent"), None));
    // The other tenant's schedule is untouched.
    assert_eq!(s.list_report_schedules(&b).await.unwrap(), vec![sb]);
}

pub async fn report_schedules_are_capped_per_tenant(s: Arc<dyn StateStore>) {
    let a = with_tenant(s.as_ref(), "acme").await;
    let b = with_tenant(s.as_ref(), "beta").await;
    for i in 0..MAX_REPORT_SCHEDULES {
        s.create_report_schedule(&report_schedule(&a, &format!("s{i}"), i64::from(i)))
            .await
            .unwrap();
    }
    let over = s.create_report_schedule(&report_schedule(&a, "one-more", 1)).await;
    assert!(matches!(over, Err(StateError::Conflict(_))), "{over:?}");
    // Another tenant's count is its own.
    s.create_report_schedule(&report_schedule(&b, "s0", 0)).await.unwrap();
    assert!(s.delete_report_schedule(&a, "s0").await.unwrap());
    s.create_report_schedule(&report_schedule(&a, "one-more", 1)).await.unwrap();
}
