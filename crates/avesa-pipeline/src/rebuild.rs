//! Rebuilding a tenant's canonical files and warehouse tables from its raw lake, without
//! calling any vendor: after a mapping changed, a warehouse was lost, or to prove the
//! warehouse is what the lake says.
//!
//! The raw lake is the replay log: each committed chunk's records exactly as the vendor
//! sent them, with the instant they were extracted (an abandoned chunk's files are
//! deleted, so only committed ones are there). The SCD2 apply is idempotent and
//! independent of order (a version is keyed by the vendor's updated-at; ties go to the
//! later extraction, then the greater hash), so purging a table and applying every raw
//! file of it again — through the same mapping code as a sync — yields the same versions
//! an incremental build made.

use std::collections::BTreeMap;
use std::sync::Arc;

use avesa_lake::{Lake, read_raw};
use avesa_model::{CanonicalTable, TenantId};
use avesa_state::RunStatus;
use avesa_transform::Mapping;
use serde::Serialize;

use crate::{Pipeline, TableError};

/// What a rebuild did to one canonical table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableRebuilt {
    pub table: String,
    /// Versions the warehouse held before.
    pub removed: u64,
    /// Raw files read (one per committed chunk).
    pub files: u64,
    /// Raw records mapped.
    pub records: u64,
    /// Versions the warehouse holds now.
    pub versions: u64,
}

/// The settings key a rebuild stamps with its end: serving processes key cached answers
/// by the tenant's settings, so they stop serving answers from before the rebuild.
pub const REBUILT_AT: &str = "rebuilt_at";

impl Pipeline {
    /// Rebuilds the tenant's canonical tables (all, or `only`) from the raw lake. Refused
    /// while a run of the tenant is running; the tables are held against runs of this
    /// pipeline until it ends.
    pub async fn rebuild(
        &self,
        tenant: &TenantId,
        only: Option<CanonicalTable>,
    ) -> Result<Vec<TableRebuilt>, TableError> {
        if self.store.get_tenant(tenant).await?.is_none() {
            return Err(TableError::Config(format!("unknown tenant {tenant}")));
        }
        if let Some(run) = self
            .store
            .list_runs(Some(tenant), 50)
            .await?
            .into_iter()
            .find(|r| r.status == RunStatus::Running)
        {
            return Err(TableError::Config(format!(
                "run {} of tenant {tenant} is running; let it finish (or cancel it) and rebuild then",
                run.id
            )));
        }
        let mut by_table: BTreeMap<CanonicalTable, Vec<Arc<Mapping>>> = BTreeMap::new();
        for m in self.catalogue.mappings() {
            if only.is_none_or(|t| t == m.canonical_table) {
                by_table.entry(m.canonical_table).or_default().push(m.clone());
            }
        }
        let mut out = Vec::new();
        for (table, mappings) in by_table {
            // Hold the service tables against this pipeline's runs while rebuilding.
            let mut held = Vec::new();
            for m in &mappings {
                let key = avesa_state::TableKey {
                    tenant_id: tenant.clone(),
                    service: m.service.clone(),
                    table: m.source_table.clone(),
                };
                held.push(self.active_tables.claim(&key).ok_or_else(|| {
                    TableError::Config(format!(
                        "{}/{} of tenant {tenant} is being synced; rebuild when it is done",
                        m.service, m.source_table
                    ))
                })?);
            }
            out.push(self.rebuild_table(tenant, table, &mappings).await?);
            drop(held);
        }
        let now = chrono::Utc::now().to_rfc3339();
        self.store.put_setting(tenant, REBUILT_AT, &serde_json::json!(now)).await?;
        Ok(out)
    }

    async fn rebuild_table(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        mappings: &[Arc<Mapping>],
    ) -> Result<TableRebuilt, TableError> {
        let mut done = TableRebuilt { table: table.name().to_owned(), ..Default::default() };
        done.removed = self.warehouse.purge(tenant, table).await?;
        for m in mappings {
            let prefix = Lake::raw_prefix(tenant, &m.service, &m.source_table);
            // One file at a time: memory stays at one chunk's records.
            for path in self.lake.list(&prefix).await? {
                let batches = self.lake.read_batches(&path).await?;
                let Some(raw) = read_raw(&batches)? else { continue };
                done.files += 1;
                done.records += raw.records.len() as u64;
                let (mapping, t) = (m.clone(), tenant.clone());
                let chunk = raw.chunk;
                let batch = tokio::task::spawn_blocking(move || {
                    mapping.apply(&t, raw.chunk, raw.extracted_at, &raw.records)
                })
                .await
                .map_err(|e| TableError::Internal(format!("mapping task failed: {e}")))??;
                let canonical = Lake::canonical_path(tenant, table, &m.service, chunk);
                self.lake.put_batch(&canonical, batch.clone()).await?;
                self.warehouse.apply(table, batch).await?;
            }
        }
        done.versions = self.warehouse.version_count(tenant, table).await?;
        self.reorder_after(tenant, table, done.versions).await;
        tracing::info!(
            tenant = %tenant,
            %table,
            removed = done.removed,
            files = done.files,
            versions = done.versions,
            "table rebuilt from the raw lake"
        );
        Ok(done)
    }
}
