//! Per-tenant data epochs: a counter that moves whenever a tenant's data changes in this
//! process, so that caches of what the warehouse answered can be keyed by it.
//!
//! [`EpochWarehouse`] wraps any [`Warehouse`] and bumps the epoch of every tenant in a
//! batch after the batch is applied. A process that only reads (the API of the distributed
//! shape, whose workers apply elsewhere) sees no bumps and learns of changes from the state
//! store instead; see the API's response cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use avesa_model::{CanonicalTable, TenantId};

use crate::{
    ApplyReport, DashboardStats, EntityId, ListQuery, Page, Record, Result, StatusCount,
    TopCompany, Warehouse,
};

/// Each tenant's epoch (0 until its data first changes in this process). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct DataEpochs(Arc<Mutex<HashMap<String, u64>>>);

impl DataEpochs {
    /// The tenant's current epoch.
    pub fn get(&self, tenant: &TenantId) -> u64 {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(tenant.as_str()).copied().unwrap_or(0)
    }

    /// Moves the tenant's epoch on.
    pub fn bump(&self, tenant: &str) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(tenant.to_owned()).or_insert(0) += 1;
    }
}

/// A warehouse that bumps [`DataEpochs`] after every apply, for each tenant in the batch.
pub struct EpochWarehouse {
    inner: Arc<dyn Warehouse>,
    epochs: DataEpochs,
}

impl EpochWarehouse {
    pub fn new(inner: Arc<dyn Warehouse>, epochs: DataEpochs) -> Self {
        EpochWarehouse { inner, epochs }
    }
}

/// The distinct values of the batch's `tenant_id` column.
fn tenants_of(batch: &RecordBatch) -> Vec<String> {
    let Some(col) = batch.column_by_name("tenant_id") else { return Vec::new() };
    let Some(col) = col.as_any().downcast_ref::<StringArray>() else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for i in 0..col.len() {
        if col.is_valid(i) && !out.iter().any(|t| t == col.value(i)) {
            out.push(col.value(i).to_owned());
        }
    }
    out
}

#[async_trait]
impl Warehouse for EpochWarehouse {
    async fn apply(&self, table: CanonicalTable, batch: RecordBatch) -> Result<ApplyReport> {
        let tenants = tenants_of(&batch);
        // Bump whatever the outcome: a failed apply may have changed nothing, and a new
        // epoch only costs one recomputation.
        let r = self.inner.apply(table, batch).await;
        for t in &tenants {
            self.epochs.bump(t);
        }
        r
    }
    async fn list(&self, tenant: &TenantId, table: CanonicalTable, q: &ListQuery) -> Result<Page> {
        self.inner.list(tenant, table, q).await
    }
    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        as_of: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Record>> {
        self.inner.get(tenant, table, id, as_of).await
    }
    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>> {
        self.inner.history(tenant, table, id).await
    }
    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats> {
        self.inner.dashboard(tenant).await
    }
    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>> {
        self.inner.ticket_status(tenant).await
    }
    async fn top_companies(&self, tenant: &TenantId, limit: u32) -> Result<Vec<TopCompany>> {
        self.inner.top_companies(tenant, limit).await
    }
    async fn version_count(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        self.inner.version_count(tenant, table).await
    }
    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>> {
        self.inner.current_ids(tenant, table, service).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn purge(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let r = self.inner.purge(tenant, table).await;
        self.epochs.bump(tenant.as_str());
        r
    }
    async fn aggregate(
        &self,
        tenant: &TenantId,
        q: &crate::Aggregate,
    ) -> Result<Vec<crate::AggRow>> {
        self.inner.aggregate(tenant, q).await
    }
    async fn aggregate_many(
        &self,
        tenant: &TenantId,
        qs: &[crate::Aggregate],
    ) -> Result<Vec<Vec<crate::AggRow>>> {
        self.inner.aggregate_many(tenant, qs).await
    }
    /// Changes no answer: no new epoch.
    async fn reorder(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        self.inner.reorder(tenant, table).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_move_per_tenant() {
        let e = DataEpochs::default();
        let a = TenantId::new("acme").unwrap();
        let b = TenantId::new("globex").unwrap();
        assert_eq!((e.get(&a), e.get(&b)), (0, 0));
        e.bump("acme");
        e.bump("acme");
        assert_eq!((e.get(&a), e.get(&b)), (2, 0));
    }

    #[tokio::test]
    async fn an_apply_bumps_the_tenants_of_its_batch() {
        use arrow::datatypes::{DataType, Field, Schema};
        let epochs = DataEpochs::default();
        let w = EpochWarehouse::new(Arc::new(crate::MemoryWarehouse::new()), epochs.clone());
        let table = CanonicalTable::Companies;
        // Only the tenant column matters here (the inner warehouse refuses the batch).
        let schema = Arc::new(Schema::new(vec![Field::new("tenant_id", DataType::Utf8, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["acme", "acme"]))])
                .unwrap();
        let _ = w.apply(table, batch).await;
        assert_eq!(epochs.get(&TenantId::new("acme").unwrap()), 1);
        assert_eq!(epochs.get(&TenantId::new("globex").unwrap()), 0);
    }
}
