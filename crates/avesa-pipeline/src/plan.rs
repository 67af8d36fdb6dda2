//! Planning a run: the request (tenant, service, table, full or backfill) becomes one job
//! per table, each with its tenant's connector and its mapping, interleaved by tenant so
//! that one tenant's many tables do not queue ahead of everyone else. An invalid request
//! (an unknown tenant, service or table) is an error before anything is recorded; what
//! cannot run (a connector that cannot be built, a table without a mapping) becomes a
//! failed outcome of the run.

use std::collections::BTreeMap;
use std::sync::Arc;

use avesa_connectors::Connector;
use avesa_model::{Backfill, TenantId};
use avesa_state::TableKey;

use crate::{
    ErrorClass, Pipeline, PipelineError, SyncRequest, TableOutcome, failed, open_service_config,
};

/// One table of one tenant's service, to sync.
pub(crate) struct TableJob {
    pub(crate) key: TableKey,
    /// The source table to read (`key.table` differs for a backfill).
    pub(crate) source: String,
    /// A backfill's range.
    pub(crate) range: Option<Backfill>,
    pub(crate) connector: Arc<dyn Connector>,
    /// `None`: the table is landed as raw Parquet only.
    pub(crate) mapping: Option<Arc<avesa_transform::Mapping>>,
    /// The fencing token of the table's lease, when a worker runs the job: every commit
    /// is checked against it, and an unfinished chunk is superseded rather than resumed
    /// (its first runner may still be alive, writing under its id).
    pub(crate) fence: Option<u64>,
    /// Set once the job's run has been asked to stop (see [`Pipeline::sync_table`]).
    pub(crate) stop: Arc<std::sync::atomic::AtomicBool>,
}

/// A planned run.
pub(crate) struct Plan {
    /// In the order they should start.
    pub(crate) jobs: Vec<TableJob>,
    /// Tables that cannot run, recorded as failed.
    pub(crate) outcomes: Vec<TableOutcome>,
}

impl Pipeline {
    /// Plans `req` into table jobs.
    pub(crate) async fn plan(&self, req: &SyncRequest) -> Result<Plan, PipelineError> {
        let tenants = match &req.tenant {
            Some(t) => match self.store.get_tenant(t).await? {
                Some(t) => vec![t],
                None => return Err(PipelineError::UnknownTenant(t.clone())),
            },
            None => self.store.list_tenants().await?,
        };
        let mut outcomes = Vec::new();
        let mut jobs = Vec::new();
        for tenant in &tenants {
            let services = self.store.list_services(&tenant.id).await?;
            let services: Vec<_> = services
                .into_iter()
                .filter(|s| s.enabled && req.service.as_ref().is_none_or(|w| *w == s.service))
                .collect();
            if req.service.is_some() && services.is_empty() && req.tenant.is_some() {
                return Err(PipelineError::UnknownService {
                    tenant: tenant.id.clone(),
                    service: req.service.clone().unwrap_or_default(),
                });
            }
            for svc in services {
                let connector = open_service_config(
                    &self.cipher,
                    &svc.tenant_id,
                    &svc.service,
                    &svc.sealed_config,
                )
                .and_then(|cfg| self.catalogue.connector(&tenant.id, &cfg));
                let connector: Arc<dyn Connector> = match connector {
                    Ok(c) => c,
                    Err(e) => {
                        outcomes.push(failed(&tenant.id, &svc.service, "*", ErrorClass::Config, e));
                        continue;
                    }
                };
                let known = connector.tables();
                if let Some(t) = req.tables.iter().find(|t| !known.contains(t)) {
                    return Err(PipelineError::UnknownTable {
                        service: svc.service.clone(),
                        table: t.clone(),
                        known,
                    });
                }
                for table in known {
                    if !req.tables.is_empty() && !req.tables.contains(&table) {
                        continue;
                    }
                    let key = TableKey {
                        tenant_id: tenant.id.clone(),
                        service: svc.service.clone(),
                        table: match req.backfill {
                            Some(b) => b.key(&table),
                            None => table.clone(),
                        },
                    };
                    if req.backfill.is_some() && !connector.supports_range(&table) {
                        if !req.tables.is_empty() {
                            outcomes.push(failed(
                                &tenant.id,
                                &svc.service,
                                &table,
                                ErrorClass::Config,
                                "a backfill needs a table read by an updated-at cursor",
                            ));
                        }
                        continue;
                    }
                    let base = TableJob {
                        key,
                        source: table.clone(),
                        range: req.backfill,
                        connector: connector.clone(),
                        mapping: None,
                        fence: None,
                        stop: Arc::default(),
                    };
                    let Some(source) = connector.mapping_of(&table) else {
                        jobs.push(base);
                        continue;
                    };
                    match self.catalogue.mapping(&svc.service, &source) {
                        Some(m) => jobs.push(TableJob { mapping: Some(m), ..base }),
                        None => outcomes.push(failed(
                            &tenant.id,
                            &svc.service,
                            &table,
                            ErrorClass::Config,
                            format!("no mapping for {} {source}", svc.service),
                        )),
                    }
                }
            }
        }
        // Interleave tenants so that one tenant's many tables don't queue ahead of others.
        jobs.sort_by_key(|j| j.key.tenant_id.clone());
        Ok(Plan { jobs: interleave_by_tenant(jobs), outcomes })
    }
}

impl Pipeline {
    /// The job a queued message describes, rebuilt by the worker that runs it (the
    /// connector from the service's sealed configuration as it is now). What cannot run
    /// becomes the table's failed outcome.
    pub(crate) async fn job_from_message(
        &self,
        m: &crate::queue::JobMessage,
    ) -> Result<TableJob, TableOutcome> {
        let fail = |class, e: String| failed(&m.tenant, &m.service, &m.source, class, e);
        let key = m.key().map_err(|e| fail(ErrorClass::Bug, e))?;
        let range = m.range().map_err(|e| fail(ErrorClass::Bug, e))?;
        let services = self
            .store
            .list_services(&m.tenant)
            .await
            .map_err(|e| fail(ErrorClass::Platform, e.to_string()))?;
        let Some(svc) = services.into_iter().find(|s| s.service == m.service && s.enabled) else {
            return Err(fail(
                ErrorClass::Config,
                format!("tenant {} no longer has service {}", m.tenant, m.service),
            ));
        };
        let connector =
            open_service_config(&self.cipher, &svc.tenant_id, &svc.service, &svc.sealed_config)
                .and_then(|cfg| self.catalogue.connector(&m.tenant, &cfg))
                .map_err(|e| fail(ErrorClass::Config, e.to_string()))?;
        let mapping = match connector.mapping_of(&m.source) {
            None => None,
            Some(source) => Some(self.catalogue.mapping(&m.service, &source).ok_or_else(|| {
                fail(ErrorClass::Config, format!("no mapping for {} {source}", m.service))
            })?),
        };
        let out = TableJob {
            key,
            source: m.source.clone(),
            range,
            connector,
            mapping,
            fence: None,
            stop: Arc::default(),
        };
        if out.range.is_some() && !out.connector.supports_range(&out.source) {
            return Err(fail(
                ErrorClass::Config,
                "a backfill needs a table read by an updated-at cursor".into(),
            ));
        }
        Ok(out)
    }
}

/// Round-robin over tenants: t1a, t2a, t1b, t2b, …
fn interleave_by_tenant(jobs: Vec<TableJob>) -> Vec<TableJob> {
    let mut groups: BTreeMap<TenantId, std::collections::VecDeque<TableJob>> = BTreeMap::new();
    for j in jobs {
        groups.entry(j.key.tenant_id.clone()).or_default().push_back(j);
    }
    let mut out = Vec::new();
    while !groups.is_empty() {
        groups.retain(|_, q| {
            if let Some(j) = q.pop_front() {
                out.push(j);
            }
            !q.is_empty()
        });
    }
    out
}
