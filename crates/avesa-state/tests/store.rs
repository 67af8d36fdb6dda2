//! The state store's contract, on a real SQLite file. (The PostgreSQL store will run the
//! same tests.)

use std::sync::Arc;

use avesa_model::{ChunkId, Role, RunId, TenantId};
use avesa_state::*;
use chrono::{Duration, Utc};

async fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    (dir, Arc::new(s))
}

fn key(t: &TenantId) -> TableKey {
    TableKey {
        tenant_id: t.clone(),
        service: "connectwise".into(),
        table: "service/tickets".into(),
    }
}

fn chunk(run: RunId, t: &TenantId, start: Option<Cursor>) -> ChunkRecord {
    ChunkRecord::running(ChunkId::new(), run, key(t), start)
}

#[tokio::test]
async fn tenants_users_and_services() {
    let (_d, s) = store().await;
    let t = TenantId::new("acme").unwrap();
    s.create_tenant(&t, "Acme").await.unwrap();
    assert!(matches!(s.create_tenant(&t, "Again").await, Err(StateError::AlreadyExists(_))));
    let ghost = TenantId::new("ghost").unwrap();
    assert!(matches!(
        s.upsert_service(&ghost, "connectwise", b"x").await,
        Err(StateError::NotFound(_))
    ));
    s.upsert_service(&t, "connectwise", b"one").await.unwrap();
    s.upsert_service(&t, "connectwise", b"two").await.unwrap();
    let svcs = s.list_services(&t).await.unwrap();
    assert_eq!(svcs.len(), 1);
    assert_eq!(svcs[0].sealed_config, b"two");
    let u = s
        .create_user(NewUser {
            tenant_id: t.clone(),
            email: " Admin@Acme.test ".into(),
            name: "A".into(),
            role: Role::TenantAdmin,
            password_hash: "h".into(),
        })
        .await
        .unwrap();
    assert_eq!(u.email, "admin@acme.test");
    assert!(s.find_user_by_email(&t, "ADMIN@acme.test").await.unwrap().is_some());
    assert!(s.find_user_by_email(&ghost, "admin@acme.test").await.unwrap().is_none());
    assert!(s.get_user(&ghost, &u.id).await.unwrap().is_none(), "users are tenant-scoped");
}

#[tokio::test]
async fn refresh_tokens_are_claimed_once_and_revocation_sticks() {
    let (_d, s) = store().await;
    let t = TenantId::new("acme").unwrap();
    let tok = |hash: &str| NewRefreshToken {
        token_hash: hash.into(),
        family_id: "fam".into(),
        user_id: "u".into(),
        tenant_id: t.clone(),
        expires_at: Utc::now() + Duration::days(1),
    };
    s.insert_refresh_token(tok("a")).await.unwrap();
    // Concurrent uses: exactly one sees the token unused.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move { s.use_refresh_token("a").await.unwrap().unwrap() }));
    }
    let mut fresh = 0;
    for h in handles {
        if !h.await.unwrap().used {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
    assert!(s.use_refresh_token("nope").await.unwrap().is_none());
    s.revoke_token_family("fam").await.unwrap();
    // A token minted into a revoked family (a refresh racing the revocation) is revoked.
    s.insert_refresh_token(tok("b")).await.unwrap();
    assert!(s.use_refresh_token("b").await.unwrap().unwrap().revoked);
}

#[tokio::test]
async fn chunk_commit_moves_the_cursor_and_unfinished_chunks_resume_in_order() {
    let (_d, s) = store().await;
    let t = TenantId::new("acme").unwrap();
    s.create_tenant(&t, "Acme").await.unwrap();
    let run = RunRecord {
        id: RunId::new(),
        tenant_id: Some(t.clone()),
        kind: "incremental".into(),
        status: RunStatus::Running,
        started_at: Utc::now(),
        finished_at: None,
        error: None,
    };
    s.create_run(&run).await.unwrap();
    assert!(s.get_cursor(&key(&t)).await.unwrap().is_none());

    let c1 = chunk(run.id, &t, None);
    s.begin_chunk(&c1).await.unwrap();
    let end =
        Cursor { updated_at: Utc::now(), id: "42".into(), token: Some("next:http://x/2".into()) };
    let commit = ChunkCommit {
        chunk_id: c1.id,
        key: key(&t),
        end: Some(end.clone()),
        counts: ChunkCounts {
            records: 10,
            pages: 1,
            requests: 1,
            bytes: 100,
            versions_inserted: 10,
            retries: 2,
            throttles: 1,
            millis: 1500,
        },
        files: vec!["a.parquet".into()],
    };
    s.commit_chunk(&commit).await.unwrap();
    assert_eq!(s.get_cursor(&key(&t)).await.unwrap(), Some(end.clone()));
    // Committing twice is refused; failing a committed chunk changes nothing.
    assert!(s.commit_chunk(&commit).await.is_err());
    s.fail_chunk(c1.id, "late failure").await.unwrap();
    let chunks = s.list_chunks(run.id).await.unwrap();
    assert_eq!(chunks[0].status, ChunkStatus::Committed);
    assert_eq!(chunks[0].files, vec!["a.parquet".to_owned()]);
    assert_eq!(
        (chunks[0].counts.retries, chunks[0].counts.throttles, chunks[0].counts.millis),
        (2, 1, 1500)
    );
    assert_eq!(chunks[0].counts.records, 10);

    // Two unfinished chunks: the earlier position resumes first.
    let later = chunk(
        run.id,
        &t,
        Some(Cursor {
            updated_at: end.updated_at + Duration::hours(1),
            id: "9".into(),
            token: None,
        }),
    );
    let earlier = chunk(run.id, &t, Some(end.clone()));
    s.begin_chunk(&later).await.unwrap();
    s.begin_chunk(&earlier).await.unwrap();
    s.fail_chunk(earlier.id, "boom").await.unwrap();
    let next = s.find_unfinished_chunk(&key(&t)).await.unwrap().unwrap();
    assert_eq!(next.id, earlier.id);
    assert_eq!(next.status, ChunkStatus::Failed);
    assert_eq!(next.error.as_deref(), Some("boom"));
    s.abandon_chunk(earlier.id).await.unwrap();
    s.abandon_chunk(later.id).await.unwrap();
    assert!(s.find_unfinished_chunk(&key(&t)).await.unwrap().is_none());

    s.finish_run(run.id, RunStatus::Succeeded, None).await.unwrap();
    let got = s.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(got.status, RunStatus::Succeeded);
    assert!(got.finished_at.is_some());
    assert_eq!(s.list_runs(Some(&t), 10).await.unwrap().len(), 1);
    assert!(s.last_commit_at(&t).await.unwrap().is_some());

    // A run a killed process left `running` is marked interrupted by the next process;
    // finished runs keep their status.
    let cut = RunRecord { id: RunId::new(), ..run.clone() };
    s.create_run(&cut).await.unwrap();
    assert_eq!(s.interrupt_running_runs("the process stopped").await.unwrap(), 1);
    let got = s.get_run(cut.id).await.unwrap().unwrap();
    assert_eq!(got.status, RunStatus::Interrupted);
    assert_eq!(got.error.as_deref(), Some("the process stopped"));
    assert!(got.finished_at.is_some());
    assert_eq!(s.get_run(run.id).await.unwrap().unwrap().status, RunStatus::Succeeded);
    assert_eq!(s.interrupt_running_runs("again").await.unwrap(), 0);
}
