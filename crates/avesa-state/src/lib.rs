//! The state store: tenants, services and their encrypted credentials, users, refresh
//! tokens, sync cursors (watermarks), runs and chunks, tenant settings, users' saved views.
//!
//! [`StateStore`] is the seam, with two implementations held to the same conformance suite:
//! [`SqliteStore`], the embedded default, and [`PostgresStore`], shared by several processes
//! (its schema is versioned and applied by [`PostgresStore::migrate`]). The one operation
//! that carries the pipeline's correctness is [`StateStore::commit_chunk`]: it marks a chunk
//! committed, records its files and counts, and advances the table's cursor, all in one
//! transaction. Everything a chunk does before that commit is idempotent.

#[cfg(feature = "conformance")]
pub mod conformance;
mod crypto;
mod postgres;
mod sqlite;
mod types;

pub use crypto::{BOUND_MAGIC, Cipher, CipherError, Opened};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::*;

use async_trait::async_trait;
use avesa_model::{ChunkId, RunId, TenantId};
pub use avesa_model::{Continuation, Position};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What can go wrong in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("state store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("state store holds invalid data: {0}")]
    Corrupt(String),
    /// A write by a worker whose lease was taken over by another (it was paused, cut off
    /// or slow past its lease): refused, so that nothing lands twice.
    #[error("lease {0} was taken over by another worker; this worker's write is refused")]
    Fenced(String),
    /// The write conflicts with what is stored and was not made: a saved view's name is
    /// taken on its page, or a limit is reached. The message says which, for a person.
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// The state store seam. Every method that touches tenant data takes the tenant id
/// explicitly; nothing is looked up across tenants except by platform operations.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    // --- tenants ---
    async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<Tenant>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    // --- services (config is already encrypted by the caller's [`Cipher`]) ---
    async fn upsert_service(
        &self,
        tenant: &TenantId,
        service: &str,
        sealed_config: &[u8],
    ) -> Result<()>;
    async fn list_services(&self, tenant: &TenantId) -> Result<Vec<ServiceRecord>>;
    /// Sets (or, with `None`, resets to the default) a service's run schedule.
    async fn set_schedule(
        &self,
        tenant: &TenantId,
        service: &str,
        schedule: Option<&str>,
    ) -> Result<()>;

    /// Turns a service's runs on or off; `false` if the tenant has no such service.
    async fn set_service_enabled(
        &self,
        tenant: &TenantId,
        service: &str,
        enabled: bool,
    ) -> Result<bool>;
    /// Each table's freshness (tables that have committed data), by service and table.
    async fn table_freshness(&self, tenant: &TenantId) -> Result<Vec<TableFreshness>>;

    // --- users ---
    async fn create_user(&self, user: NewUser) -> Result<User>;
    async fn find_user_by_email(&self, tenant: &TenantId, email: &str) -> Result<Option<User>>;
    async fn get_user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<User>>;
    async fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>>;
    /// Applies `update` to the user; the user as it is now, `None` if there is none.
    async fn update_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
        update: UserUpdate,
    ) -> Result<Option<User>>;

    // --- refresh tokens (stored by hash) ---
    async fn insert_refresh_token(&self, token: NewRefreshToken) -> Result<()>;
    /// Marks the token used and returns it as it was before; `None` if unknown. Atomic:
    /// of two concurrent uses exactly one sees `used == false`.
    async fn use_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>>;
    async fn revoke_token_family(&self, family_id: &str) -> Result<()>;
    /// Revokes every refresh-token family of a user (a disabled user, a new password).
    async fn revoke_user_tokens(&self, tenant: &TenantId, user_id: &str) -> Result<()>;
    /// Whether a session (a refresh-token family) still stands: it exists for this user
    /// and none of its tokens has been revoked.
    async fn session_live(&self, tenant: &TenantId, user_id: &str, family_id: &str)
    -> Result<bool>;

    // --- saved views (each user's own: every method takes the tenant and the user) ---
    /// The user's saved views, of one page or of all, ordered by page, then name (byte
    /// order).
    async fn list_views(
        &self,
        tenant: &TenantId,
        user_id: &str,
        page: Option<&str>,
    ) -> Result<Vec<SavedView>>;
    /// Saves a view for the user. [`StateError::Conflict`] when the user has a view of
    /// that name on the page, or already [`MAX_SAVED_VIEWS`] views (checked atomically);
    /// [`StateError::NotFound`] when the tenant has no such user.
    async fn create_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        view: NewSavedView,
    ) -> Result<SavedView>;
    /// Renames the user's view and/or replaces its query; the view as it is now, `None`
    /// if the user has no view `id` (another user's id included). Renaming onto another
    /// view's name on its page is a [`StateError::Conflict`].
    async fn update_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        id: &str,
        update: SavedViewUpdate,
    ) -> Result<Option<SavedView>>;
    /// Deletes the user's view; `false` if the user has no view `id`.
    async fn delete_view(&self, tenant: &TenantId, user_id: &str, id: &str) -> Result<bool>;

    // --- sync state ---
    async fn get_cursor(&self, key: &TableKey) -> Result<Option<Position>>;
    async fn create_run(&self, run: &RunRecord) -> Result<()>;
    async fn finish_run(&self, run_id: RunId, status: RunStatus, error: Option<&str>)
    -> Result<()>;
    async fn get_run(&self, run_id: RunId) -> Result<Option<RunRecord>>;
    /// Asks a running run to stop: each of its tables commits what it has read and stops,
    /// as in a shutdown, and the run ends `cancelled` (the next run resumes). `false` when
    /// the run is not running (finished, or unknown).
    async fn request_cancel(&self, run_id: RunId) -> Result<bool>;
    /// Sets one of a tenant's settings (time zone, goals, calculated metrics, member
    /// capacities …: the analytics layer gives keys and values their meaning).
    async fn put_setting(
        &self,
        tenant: &TenantId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()>;
    /// One setting, if set.
    async fn get_setting(&self, tenant: &TenantId, key: &str) -> Result<Option<serde_json::Value>>;
    /// The tenant's settings whose keys start with `prefix`, by key.
    async fn list_settings(
        &self,
        tenant: &TenantId,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>>;
    /// Removes a setting; `false` if it was not set.
    async fn delete_setting(&self, tenant: &TenantId, key: &str) -> Result<bool>;
    /// Whether the run has been asked to stop ([`StateStore::request_cancel`]).
    async fn cancel_requested(&self, run_id: RunId) -> Result<bool>;
    /// Marks every run still `running` as `interrupted`, with `reason`; returns how many.
    /// Only for the one process that owns the installation, at its start (a run of an
    /// earlier process that is still `running` then can only have been cut off).
    async fn interrupt_running_runs(&self, reason: &str) -> Result<u64>;
    /// Newest first. With a tenant: its own runs and the all-tenant runs that touched it.
    async fn list_runs(&self, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<RunRecord>>;
    /// Records a chunk as running. Re-beginning an existing chunk (a resume) moves it to
    /// the new run and back to running. With [`ChunkRecord::fence`], refused
    /// ([`StateError::Fenced`]) once the table's lease is another's.
    async fn begin_chunk(&self, chunk: &ChunkRecord) -> Result<()>;
    /// A chunk left running or failed by an earlier run of this table: the next run
    /// resumes it under the same id, so its lake files are overwritten, not duplicated.
    async fn find_unfinished_chunk(&self, key: &TableKey) -> Result<Option<ChunkRecord>>;
    /// The commit: chunk state, files, counts and the cursor advance, in one transaction.
    async fn commit_chunk(&self, commit: &ChunkCommit) -> Result<()>;
    /// Marks a running chunk failed (a committed chunk is never touched).
    async fn fail_chunk(&self, chunk_id: ChunkId, error: &str) -> Result<()>;
    /// Marks an unfinished chunk abandoned, so it is never resumed. With a fence (the
    /// lease's name and the token the caller holds), refused ([`StateError::Fenced`]) once
    /// the lease is another's: a worker that lost a table must not abandon the chunk its
    /// new holder is running.
    async fn abandon_chunk(&self, chunk_id: ChunkId, fence: Option<(&str, u64)>) -> Result<()>;
    async fn list_chunks(&self, run_id: RunId) -> Result<Vec<ChunkRecord>>;
    /// When the tenant's data was last committed, if ever.
    async fn last_commit_at(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>>;

    // --- work shared by several processes: leases with fencing tokens, run outcomes,
    // --- workers' heartbeats ---
    /// Claims the lease `name` for `holder` for `ttl`, if it is free, released or expired
    /// (by the store's clock). Returns its fencing token, greater than every earlier
    /// claim's; `None` while another holds it.
    async fn claim_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>>;
    /// Extends a lease held with `token` by `ttl` from now; `false` if another has claimed
    /// it since (the caller is fenced).
    async fn renew_lease(&self, name: &str, token: u64, ttl: Duration) -> Result<bool>;
    /// Frees a lease held with `token` (nothing if another has claimed it since).
    async fn release_lease(&self, name: &str, token: u64) -> Result<()>;
    /// Records one table's outcome (`table`: its key as the run knows it, `outcome`: JSON)
    /// in a run with [`RunRecord::tables_planned`]; recording it again replaces it. When
    /// this makes the run's outcomes complete, returns all of them — to exactly one caller,
    /// who finishes the run; otherwise `None`.
    async fn record_outcome(
        &self,
        run_id: RunId,
        table: &str,
        outcome: &str,
    ) -> Result<Option<Vec<String>>>;
    /// The table outcomes recorded in a run so far (JSON), ordered by table.
    async fn list_outcomes(&self, run_id: RunId) -> Result<Vec<String>>;
    /// Records a worker's heartbeat (and forgets workers silent for a day).
    async fn worker_heartbeat(&self, worker: &WorkerRecord) -> Result<()>;
    /// Workers that have sent a heartbeat, most recently seen first.
    async fn list_workers(&self) -> Result<Vec<WorkerRecord>>;
    /// Forgets a worker (it stopped cleanly).
    async fn remove_worker(&self, id: &str) -> Result<()>;

    // --- client report schedules ---
    /// Stores a new schedule. [`StateError::Conflict`] when the tenant already has
    /// [`MAX_REPORT_SCHEDULES`].
    async fn create_report_schedule(&self, schedule: &ReportSchedule) -> Result<()>;
    /// The tenant's schedules, oldest first.
    async fn list_report_schedules(&self, tenant: &TenantId) -> Result<Vec<ReportSchedule>>;
    /// Deletes one of the tenant's schedules; `false` if it has no such schedule.
    async fn delete_report_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool>;
    /// Schedules of every tenant due at `now` (`next_run_at <= now`), longest due first, at
    /// most `limit`.
    async fn due_report_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReportSchedule>>;
    /// Takes the delivery due at `due` for the caller: moves the schedule's `next_run_at`
    /// from `due` to `next` and marks it `sending` since `now`, only if it is still due
    /// at `due`. `true` for exactly one of any number of callers racing for it, however
    /// many processes run; the winner delivers, then calls
    /// [`finish_report_schedule`](Self::finish_report_schedule).
    async fn claim_report_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records how the claimed delivery went (`sent` or `failed`, with the error).
    async fn finish_report_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<()>;
}

/// The conflict of a create beyond [`MAX_REPORT_SCHEDULES`].
pub(crate) fn report_schedules_limit_reached() -> String {
    format!(
        "the tenant has {MAX_REPORT_SCHEDULES} report schedules, the most it may keep; delete one first"
    )
}

/// The conflict of a saved view whose name its user already has on the page.
pub(crate) fn views_name_taken(name: &str) -> String {
    format!("you already have a view named {name:?} on this page")
}

/// The conflict of a create beyond [`MAX_SAVED_VIEWS`].
pub(crate) fn views_limit_reached() -> String {
    format!("you have {MAX_SAVED_VIEWS} saved views, the most one user may keep; delete one first")
}

/// Now, as saved views' times are stored: to the microsecond, the precision every
/// backend keeps, so a view reads back exactly as it was returned.
pub(crate) fn view_clock() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// A stored setting's JSON, or the store's corruption named by its key.
pub(crate) fn parse_setting(key: &str, v: &str) -> Result<serde_json::Value> {
    serde_json::from_str(v).map_err(|e| StateError::Corrupt(format!("setting {key:?}: {e}")))
}
