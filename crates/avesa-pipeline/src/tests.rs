//! The pipeline's rules, in milliseconds: a fake vendor (a [`Connector`] over a list in
//! memory), an in-memory object store for the lake, the reference warehouse
//! ([`MemoryWarehouse`]) and a SQLite state store in a temporary folder. Resume,
//! supersede, watermark, cancellation and key-scan rules are checked here; the end-to-end
//! tests in `avesa-cli` check the same against the simulators, DuckDB and real processes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use avesa_connectors::{Connector, ConnectorError, FetchStats, Page};
use avesa_lake::Lake;
use avesa_model::{CanonicalTable, ChunkId, RunId, TenantId};
use avesa_state::{
    ChunkRecord, ChunkStatus, Cipher, Position, RunStatus, SqliteStore, StateStore, TableKey,
};
use avesa_warehouse::{MemoryWarehouse, Warehouse};
use chrono::{DateTime, Duration, Utc};

use crate::*;

const TABLE: &str = "service/tickets";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("in range")
}

/// One vendor record: updated at `t0 + minutes`, id zero-padded so text order is numeric.
#[derive(Clone, Debug)]
struct VendorRecord {
    updated: DateTime<Utc>,
    id: String,
    summary: String,
}

/// A ConnectWise-shaped vendor in memory: pages in `(updated_at, id)` order after a
/// position, with failures, a cancel hook and a request log on demand.
#[derive(Default)]
struct FakeVendor {
    records: Mutex<Vec<VendorRecord>>,
    /// Fail every request from this page number on (1-based), until cleared.
    fail_from_page: Mutex<Option<usize>>,
    /// Cancel this pipeline once this many pages have been served.
    cancel_after: Mutex<Option<(usize, CancelHandle)>>,
    /// Every page takes this long.
    page_delay: Mutex<Option<std::time::Duration>>,
    pages: AtomicUsize,
    /// Count probes asked for.
    counts: AtomicUsize,
    /// Pages being served now, and the most ever at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl FakeVendor {
    fn with(n: usize) -> Arc<Self> {
        let v = Arc::new(FakeVendor::default());
        for i in 0..n {
            v.upsert(i, i as i64, "first");
        }
        v
    }

    fn upsert(&self, id: usize, minute: i64, summary: &str) {
        let mut r = self.records.lock().unwrap();
        let id = format!("{id:05}");
        r.retain(|x| x.id != id);
        r.push(VendorRecord {
            updated: t0() + Duration::minutes(minute),
            id,
            summary: summary.into(),
        });
        r.sort_by(|a, b| (a.updated, &a.id).cmp(&(b.updated, &b.id)));
    }

    fn remove(&self, id: usize) {
        self.records.lock().unwrap().retain(|x| x.id != format!("{id:05}"));
    }

    fn after(&self, after: Option<&Position>) -> Vec<VendorRecord> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| match after {
                None => true,
                // An empty id means "from updated_at inclusive" (an overlap window).
                Some(a) if a.id.is_empty() => r.updated >= a.updated_at,
                Some(a) => (r.updated, r.id.as_str()) > (a.updated_at, a.id.as_str()),
            })
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Connector for FakeVendor {
    fn service(&self) -> &str {
        "connectwise"
    }

    fn tables(&self) -> Vec<String> {
        vec![TABLE.into()]
    }

    async fn fetch_page(
        &self,
        _table: &str,
        after: Option<&Position>,
        page_size: u32,
    ) -> avesa_connectors::Result<Page> {
        let delay = *self.page_delay.lock().unwrap();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let n = self.pages.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_from_page.lock().unwrap().is_some_and(|f| n >= f) {
            return Err(ConnectorError::Exhausted {
                service: "connectwise".into(),
                endpoint: TABLE.into(),
                attempts: 3,
                message: "HTTP 503".into(),
            });
        }
        let rows: Vec<VendorRecord> =
            self.after(after).into_iter().take(page_size as usize).collect();
        if let Some((after_pages, handle)) = &*self.cancel_after.lock().unwrap()
            && n >= *after_pages
        {
            handle.cancel();
        }
        let records: Vec<avesa_model::RawRecord> = rows
            .iter()
            .map(|r| {
                avesa_model::RawRecord::new(
                    r.id.clone(),
                    Some(r.updated),
                    false,
                    serde_json::json!({"id": r.id, "summary": r.summary}).to_string(),
                )
            })
            .collect();
        let last = rows.last().map(|r| Position::new(r.updated, r.id.clone()));
        Ok(Page {
            more: records.len() == page_size as usize,
            records,
            last,
            stats: FetchStats { requests: 1, ..FetchStats::default() },
        })
    }

    async fn count(&self, _table: &str, after: Option<&Position>) -> avesa_connectors::Result<u64> {
        self.counts.fetch_add(1, Ordering::SeqCst);
        Ok(self.after(after).len() as u64)
    }

    async fn test(&self) -> avesa_connectors::Result<()> {
        Ok(())
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    vendor: Arc<FakeVendor>,
    store: Arc<dyn StateStore>,
    warehouse: Arc<MemoryWarehouse>,
    lake: Lake,
    pipeline: Pipeline,
    tenant: TenantId,
}

impl Rig {
    async fn new(vendor: Arc<FakeVendor>) -> Rig {
        Rig::with(vendor, |_| {}).await
    }

    /// A rig whose pipeline options `tune` changes.
    async fn with(vendor: Arc<FakeVendor>, tune: impl FnOnce(&mut PipelineOptions)) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
        let cipher = Cipher::from_key(&[7; 32]);
        let tenant = TenantId::new("acme").unwrap();
        store.create_tenant(&tenant, "Acme").await.unwrap();
        let cfg = ServiceConfig::new("connectwise", Vec::<(String, String)>::new());
        store
            .upsert_service(&tenant, "connectwise", &seal_service_config(&cipher, &tenant, &cfg))
            .await
            .unwrap();
        let fake = vendor.clone();
        let catalogue = Catalogue::builtin()
            .with_connectors(move |_, _, _| Ok(fake.clone() as Arc<dyn Connector>));
        let lake = Lake::new(Arc::new(object_store::memory::InMemory::new()));
        let warehouse = Arc::new(MemoryWarehouse::new());
        let mut opts = PipelineOptions {
            chunk_records: 10,
            page_size: 5,
            overlap: chrono::Duration::zero(),
            ..PipelineOptions::default()
        };
        tune(&mut opts);
        let pipeline =
            Pipeline::new(store.clone(), lake.clone(), warehouse.clone(), cipher, catalogue, opts);
        Rig { _dir: dir, vendor, store, warehouse, lake, pipeline, tenant }
    }

    fn key(&self) -> TableKey {
        TableKey {
            tenant_id: self.tenant.clone(),
            service: "connectwise".into(),
            table: TABLE.into(),
        }
    }

    async fn run(&self, full: bool) -> RunSummary {
        let req = SyncRequest { tenant: Some(self.tenant.clone()), full, ..SyncRequest::default() };
        self.pipeline.run(req).await.unwrap()
    }

    async fn versions(&self) -> u64 {
        self.warehouse.version_count(&self.tenant, CanonicalTable::Tickets).await.unwrap()
    }

    async fn cursor(&self) -> Option<Position> {
        self.store.get_cursor(&self.key()).await.unwrap()
    }

    async fn chunks(&self, run: RunId) -> Vec<ChunkRecord> {
        self.store.list_chunks(run).await.unwrap()
    }

    async fn lake_files(&self) -> BTreeSet<String> {
        self.lake.list("acme/").await.unwrap().into_iter().map(|p| p.to_string()).collect()
    }

    async fn current(&self) -> BTreeSet<String> {
        let ids = self
            .warehouse
            .current_ids(&self.tenant, CanonicalTable::Tickets, "connectwise")
            .await
            .unwrap();
        ids.into_iter().collect()
    }
}

fn at(minute: i64, id: usize) -> Position {
    Position::new(t0() + Duration::minutes(minute), format!("{id:05}"))
}

#[tokio::test]
async fn chunks_commit_in_order_and_the_watermark_follows() {
    let rig = Rig::new(FakeVendor::with(23)).await;
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let t = &run.tables[0];
    assert_eq!((t.records, t.chunks, t.planned), (23, 3, Some(23)));
    assert_eq!(rig.versions().await, 23);
    assert_eq!(rig.cursor().await, Some(at(22, 22)));
    let chunks = rig.chunks(run.run_id).await;
    assert!(chunks.iter().all(|c| c.status == ChunkStatus::Committed));
    // Each chunk starts where the one before ended.
    assert_eq!(chunks[0].start, None);
    assert_eq!(chunks[1].start, chunks[0].end);
    assert_eq!(chunks[2].start, chunks[1].end);
    assert_eq!(rig.lake_files().await.len(), 6, "one raw and one canonical file per chunk");

    assert_eq!(rig.vendor.counts.load(Ordering::SeqCst), 1, "a first sync is planned");

    // Nothing new: nothing read past the watermark, no new versions, and it costs one
    // request (no count probe) and one empty chunk that records the read.
    let again = rig.run(false).await;
    assert_eq!(again.tables[0].records, 0);
    assert_eq!((again.tables[0].requests, again.tables[0].planned), (1, None));
    assert_eq!(rig.vendor.counts.load(Ordering::SeqCst), 1, "no probe for an incremental run");
    let read = rig.chunks(again.run_id).await;
    assert_eq!(read.len(), 1);
    assert_eq!((read[0].status, read[0].counts.records), (ChunkStatus::Committed, 0));
    assert_eq!(rig.versions().await, 23);
    // Two updates and a new record: exactly those are read.
    rig.vendor.upsert(3, 30, "second");
    rig.vendor.upsert(7, 31, "second");
    rig.vendor.upsert(99, 32, "new");
    let inc = rig.run(false).await;
    assert_eq!(inc.tables[0].records, 3);
    assert_eq!(rig.versions().await, 26);
    assert_eq!(rig.cursor().await, Some(at(32, 99)));
}

#[tokio::test]
async fn an_incremental_a_little_over_one_chunk_commits_once() {
    // Chunks of 10, pages of 5: a chunk may read up to a quarter more (12) to finish.
    let rig = Rig::new(FakeVendor::with(3)).await;
    rig.run(false).await;
    let probes = rig.vendor.counts.load(Ordering::SeqCst);
    for id in 100..112 {
        rig.vendor.upsert(id, id as i64, "new");
    }
    let inc = rig.run(false).await;
    let t = &inc.tables[0];
    assert_eq!((t.records, t.chunks, t.planned), (12, 1, Some(12)));
    assert_eq!(t.requests, 3, "three pages, the last one short (the probe is not a page)");
    assert_eq!(rig.vendor.counts.load(Ordering::SeqCst), probes + 1);
    assert_eq!(rig.chunks(inc.run_id).await.len(), 1);
    assert_eq!(rig.versions().await, 15);
    assert_eq!(rig.cursor().await, Some(at(111, 111)));

    // One more than a quarter over: a second chunk reads the rest, planned all the same.
    for id in 200..213 {
        rig.vendor.upsert(id, id as i64, "new");
    }
    let inc = rig.run(false).await;
    let t = &inc.tables[0];
    assert_eq!((t.records, t.chunks, t.planned), (13, 2, Some(13)));
    let chunks = rig.chunks(inc.run_id).await;
    assert_eq!(chunks.iter().map(|c| c.counts.records).collect::<Vec<_>>(), [10, 3]);
    assert_eq!(rig.vendor.counts.load(Ordering::SeqCst), probes + 2, "one probe a run");
    assert_eq!(rig.versions().await, 28);

    // A small change makes no probe at all: its first page comes back short.
    rig.vendor.upsert(300, 300, "new");
    let inc = rig.run(false).await;
    assert_eq!((inc.tables[0].records, inc.tables[0].planned), (1, None));
    assert_eq!(rig.vendor.counts.load(Ordering::SeqCst), probes + 2);
}

#[tokio::test]
async fn the_watermark_never_passes_a_failed_chunk_and_the_next_run_resumes_it() {
    let rig = Rig::new(FakeVendor::with(23)).await;
    // Pages 1–2 make chunk 1; page 3 is chunk 2's first, page 4 fails.
    *rig.vendor.fail_from_page.lock().unwrap() = Some(4);
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.tables[0].error.as_deref().unwrap().contains("HTTP 503"));
    assert_eq!(
        run.tables[0].error_class,
        Some(ErrorClass::Vendor),
        "the vendor's failure, not ours"
    );
    assert_eq!(rig.cursor().await, Some(at(9, 9)), "the end of the one committed chunk");
    let chunks = rig.chunks(run.run_id).await;
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].status, ChunkStatus::Failed);
    let failed_id = chunks[1].id;
    assert_eq!(rig.versions().await, 10, "the failed chunk applied nothing");

    *rig.vendor.fail_from_page.lock().unwrap() = None;
    let next = rig.run(false).await;
    assert_eq!(next.status, RunStatus::Succeeded);
    let resumed = rig.chunks(next.run_id).await;
    assert_eq!(resumed[0].id, failed_id, "resumed under its own id");
    assert_eq!(resumed[0].start, Some(at(9, 9)));
    assert_eq!(rig.versions().await, 23, "every record once");
    assert_eq!(rig.cursor().await, Some(at(22, 22)));
}

#[tokio::test]
async fn a_chunk_left_running_by_a_crash_is_resumed_under_its_id() {
    let rig = Rig::new(FakeVendor::with(15)).await;
    rig.run(false).await;
    rig.vendor.upsert(20, 40, "late");
    // A process died mid-chunk: the chunk is recorded running from the watermark.
    let dead_run = RunId::new();
    let crashed = ChunkRecord::running(ChunkId::new(), dead_run, rig.key(), rig.cursor().await);
    rig.store.begin_chunk(&crashed).await.unwrap();
    let run = rig.run(false).await;
    let chunks = rig.chunks(run.run_id).await;
    assert_eq!(chunks.len(), 1);
    assert_eq!((chunks[0].id, chunks[0].status), (crashed.id, ChunkStatus::Committed));
    assert_eq!(chunks[0].counts.records, 1);
    assert_eq!(rig.versions().await, 16);
}

#[tokio::test]
async fn an_unfinished_full_read_is_superseded_by_an_incremental_run() {
    let rig = Rig::new(FakeVendor::with(12)).await;
    rig.run(false).await;
    let before = rig.lake_files().await;
    // A full sync's first chunk (reading from the beginning) was cut off after writing
    // its raw file.
    let cut = ChunkRecord::running(ChunkId::new(), RunId::new(), rig.key(), None);
    rig.store.begin_chunk(&cut).await.unwrap();
    let stray = Lake::raw_path(&rig.tenant, "connectwise", TABLE, cut.id);
    let batch = avesa_lake::raw_batch(&rig.tenant, "connectwise", TABLE, cut.id, Utc::now(), &[]);
    rig.lake.put_batch(&stray, batch).await.unwrap();
    rig.vendor.upsert(50, 60, "new");
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let chunks = rig.chunks(run.run_id).await;
    assert_eq!(chunks.len(), 1);
    assert_ne!(chunks[0].id, cut.id, "not resumed: superseded");
    assert_eq!(chunks[0].counts.records, 1, "read on from the watermark, not from the start");
    assert!(rig.store.find_unfinished_chunk(&rig.key()).await.unwrap().is_none());
    let after = rig.lake_files().await;
    assert!(!after.contains(&stray.to_string()), "the superseded chunk's file is gone");
    assert_eq!(after.len(), before.len() + 2);
}

#[tokio::test]
async fn a_cancelled_run_commits_what_it_read_and_the_next_run_goes_on() {
    let rig = Rig::new(FakeVendor::with(40)).await;
    *rig.vendor.cancel_after.lock().unwrap() = Some((3, rig.pipeline.cancel_handle()));
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.tables[0].error_class, Some(ErrorClass::Cancelled));
    let read = run.tables[0].records;
    assert!((10..40).contains(&read), "stopped part-way, after committing: {read}");
    assert_eq!(rig.versions().await, read);
    let committed: u64 = rig
        .chunks(run.run_id)
        .await
        .iter()
        .filter(|c| c.status == ChunkStatus::Committed)
        .map(|c| c.counts.records)
        .sum();
    assert_eq!(committed, read, "everything read was committed");
    assert!(matches!(
        rig.pipeline.run(SyncRequest::default()).await,
        Err(PipelineError::ShuttingDown)
    ));

    // A new pipeline (the next process) finishes the table: every record exactly once.
    let rig2 = Rig { pipeline: rig.pipeline_without_cancel(), ..rig };
    let next = rig2.run(false).await;
    assert_eq!(next.status, RunStatus::Succeeded);
    assert_eq!(rig2.versions().await, 40);
    assert_eq!(rig2.current().await.len(), 40);
}

#[tokio::test]
async fn a_run_asked_to_stop_commits_what_it_read_and_the_next_run_goes_on() {
    let rig = Rig::new(FakeVendor::with(400)).await;
    *rig.vendor.page_delay.lock().unwrap() = Some(std::time::Duration::from_millis(30));
    let run_id = RunId::new();
    let req = SyncRequest {
        tenant: Some(rig.tenant.clone()),
        run_id: Some(run_id),
        ..SyncRequest::default()
    };
    let pipeline = rig.pipeline.clone();
    let running = tokio::spawn(async move { pipeline.run(req).await });
    while rig.vendor.pages.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(rig.store.request_cancel(run_id).await.unwrap());
    let run = running.await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.tables[0].error_class, Some(ErrorClass::Cancelled));
    let read = run.tables[0].records;
    assert!((10..400).contains(&read), "stopped part-way, after committing: {read}");
    assert_eq!(rig.versions().await, read);
    let committed: u64 = rig
        .chunks(run_id)
        .await
        .iter()
        .filter(|c| c.status == ChunkStatus::Committed)
        .map(|c| c.counts.records)
        .sum();
    assert_eq!(committed, read, "everything read was committed");
    let record = rig.store.get_run(run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Cancelled);
    assert!(record.cancel_requested);
    assert!(!rig.store.request_cancel(run_id).await.unwrap(), "it has finished");

    // The same pipeline runs on (only that run stopped) and finishes the table.
    *rig.vendor.page_delay.lock().unwrap() = None;
    let next = rig.run(false).await;
    assert_eq!(next.status, RunStatus::Succeeded);
    assert_eq!(rig.versions().await, 400);
    assert_eq!(rig.current().await.len(), 400);
}

impl Rig {
    /// The same installation under a fresh pipeline (not cancelled).
    fn pipeline_without_cancel(&self) -> Pipeline {
        let fake = self.vendor.clone();
        Pipeline::new(
            self.store.clone(),
            self.lake.clone(),
            self.warehouse.clone(),
            Cipher::from_key(&[7; 32]),
            Catalogue::builtin()
                .with_connectors(move |_, _, _| Ok(fake.clone() as Arc<dyn Connector>)),
            self.pipeline.opts.clone(),
        )
    }
}

#[tokio::test]
async fn a_request_naming_what_does_not_exist_is_a_typed_error() {
    let rig = Rig::new(FakeVendor::with(3)).await;
    let ask = |tenant: &str, service: Option<&str>, table: Option<&str>| SyncRequest {
        tenant: Some(TenantId::new(tenant).unwrap()),
        service: service.map(str::to_string),
        tables: table.map(str::to_string).into_iter().collect(),
        ..SyncRequest::default()
    };
    match rig.pipeline.run(ask("nobody", None, None)).await {
        Err(e @ PipelineError::UnknownTenant(_)) => {
            assert_eq!(e.to_string(), "unknown tenant nobody")
        }
        other => panic!("{other:?}"),
    }
    match rig.pipeline.run(ask("acme", Some("salesforce"), None)).await {
        Err(PipelineError::UnknownService { tenant, service }) => {
            assert_eq!((tenant.as_str(), service.as_str()), ("acme", "salesforce"))
        }
        other => panic!("{other:?}"),
    }
    match rig.pipeline.run(ask("acme", None, Some("service/nope"))).await {
        Err(e @ PipelineError::UnknownTable { .. }) => assert_eq!(
            e.to_string(),
            format!("connectwise has no table \"service/nope\"; tables: {TABLE}")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.versions().await, 0, "nothing ran");
}

#[tokio::test]
async fn a_full_sync_finds_what_the_vendor_deleted() {
    let rig = Rig::new(FakeVendor::with(12)).await;
    rig.run(false).await;
    rig.vendor.remove(4);
    rig.vendor.remove(11);
    let incremental = rig.run(false).await;
    assert_eq!(incremental.tables[0].records, 0);
    assert_eq!(rig.current().await.len(), 12, "an incremental read cannot see deletions");
    let full = rig.run(true).await;
    assert_eq!(full.status, RunStatus::Succeeded);
    let current = rig.current().await;
    assert_eq!(current.len(), 10);
    assert!(!current.contains("00004") && !current.contains("00011"));
    let chunks = rig.chunks(full.run_id).await;
    let scan = chunks.last().unwrap();
    assert_eq!(
        (scan.counts.records, scan.counts.versions_inserted),
        (2, 2),
        "the key scan's chunk"
    );
    // A second full sync deletes nothing more.
    let again = rig.run(true).await;
    assert_eq!(again.tables[0].versions_inserted, 0);
}

#[tokio::test]
async fn one_run_at_a_time_per_table() {
    let rig = Rig::new(FakeVendor::with(5)).await;
    let key = rig.key();
    let held = rig.pipeline.active_tables.claim(&key).expect("free");
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(run.tables[0].notice.as_deref().unwrap().contains("another run"));
    assert_eq!(rig.versions().await, 0);
    drop(held);
    rig.run(false).await;
    assert_eq!(rig.versions().await, 5);
}

mod start_of {
    use super::*;
    use crate::table::{Start, start_of};

    fn rewind(c: Position) -> Position {
        Position::from_instant(c.updated_at - Duration::minutes(1))
    }

    fn unfinished(start: Option<Position>) -> ChunkRecord {
        ChunkRecord::running(
            ChunkId::new(),
            RunId::new(),
            TableKey {
                tenant_id: TenantId::new("acme").unwrap(),
                service: "connectwise".into(),
                table: TABLE.into(),
            },
            start,
        )
    }

    #[test]
    fn a_first_run_starts_at_the_beginning_and_later_ones_at_the_watermark() {
        assert_eq!(
            start_of(None, None, false, None, &rewind),
            Start::Fresh { supersede: None, from: None }
        );
        assert_eq!(
            start_of(None, Some(at(10, 1)), false, None, &rewind),
            Start::Fresh { supersede: None, from: Some(rewind(at(10, 1))) }
        );
        assert_eq!(
            start_of(None, Some(at(10, 1)), true, None, &rewind),
            Start::Fresh { supersede: None, from: None },
            "a full sync reads everything"
        );
    }

    #[test]
    fn an_unfinished_chunk_resumes_under_its_id_from_its_start() {
        let c = unfinished(Some(at(5, 2)));
        assert_eq!(
            start_of(Some(&c), Some(at(4, 9)), false, None, &rewind),
            Start::Resume { chunk: c.id, from: Some(rewind(at(5, 2))) }
        );
        // A first run's first chunk, with no watermark yet, resumes from the beginning.
        let first = unfinished(None);
        assert_eq!(
            start_of(Some(&first), None, false, None, &rewind),
            Start::Resume { chunk: first.id, from: None }
        );
    }

    #[test]
    fn full_reads_are_superseded_not_resumed() {
        let from_start = unfinished(None);
        assert_eq!(
            start_of(Some(&from_start), Some(at(9, 3)), false, None, &rewind),
            Start::Fresh { supersede: Some(from_start.id), from: Some(rewind(at(9, 3))) },
            "an incremental run goes on from the watermark"
        );
        let mid = unfinished(Some(at(5, 2)));
        assert_eq!(
            start_of(Some(&mid), Some(at(9, 3)), true, None, &rewind),
            Start::Fresh { supersede: Some(mid.id), from: None },
            "a full sync starts over"
        );
    }

    #[test]
    fn a_backfill_starts_at_its_range() {
        let from = t0() + Duration::days(1);
        let range = Some(avesa_model::Backfill::new(from, from + Duration::days(1)).unwrap());
        assert_eq!(
            start_of(None, None, false, range, &rewind),
            Start::Fresh { supersede: None, from: Some(Position::from_instant(from)) }
        );
    }
}

/// A job as a worker runs it: rebuilt from its queue message, under the table's lease.
async fn leased_job(rig: &Rig, token: u64) -> plan::TableJob {
    let message = queue::JobMessage {
        run_id: RunId::new(),
        tenant: rig.tenant.clone(),
        service: "connectwise".into(),
        source: TABLE.into(),
        full: false,
        backfill: None,
    };
    let mut job = rig.pipeline.job_from_message(&message).await.expect("a runnable job");
    job.fence = Some(token);
    job
}

#[tokio::test]
async fn under_a_lease_a_dead_workers_chunk_is_taken_over_under_a_new_id() {
    let rig = Rig::new(FakeVendor::with(15)).await;
    rig.run(false).await;
    rig.vendor.upsert(20, 40, "late");
    // A worker died mid-chunk, after writing its raw file.
    let dead = ChunkRecord::running(ChunkId::new(), RunId::new(), rig.key(), rig.cursor().await);
    rig.store.begin_chunk(&dead).await.unwrap();
    let stray = Lake::raw_path(&rig.tenant, "connectwise", TABLE, dead.id);
    let batch = avesa_lake::raw_batch(&rig.tenant, "connectwise", TABLE, dead.id, Utc::now(), &[]);
    rig.lake.put_batch(&stray, batch).await.unwrap();
    let lease = std::time::Duration::from_secs(60);
    let token = rig.store.claim_lease(&rig.key().lease_name(), "w2", lease).await.unwrap().unwrap();
    let run = RunId::new();
    let out = rig.pipeline.sync_table(run, leased_job(&rig, token).await, false).await;
    assert_eq!(out.status, ChunkStatus::Committed, "{out:?}");
    assert_eq!(out.records, 1);
    let chunks = rig.chunks(run).await;
    assert_eq!(chunks.len(), 1);
    assert_ne!(chunks[0].id, dead.id, "its first runner may be alive: a new id");
    assert_eq!(chunks[0].start, dead.start, "from the same position");
    assert!(!rig.lake_files().await.contains(&stray.to_string()), "the dead chunk's file is gone");
    assert!(rig.store.find_unfinished_chunk(&rig.key()).await.unwrap().is_none());
    assert_eq!(rig.versions().await, 16);
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_commits_nothing_and_leaves_no_files() {
    let rig = Rig::new(FakeVendor::with(12)).await;
    rig.run(false).await;
    let before = rig.lake_files().await;
    let cursor = rig.cursor().await;
    rig.vendor.upsert(30, 40, "changed");
    let name = rig.key().lease_name();
    let short = std::time::Duration::from_millis(100);
    let mine = rig.store.claim_lease(&name, "w1", short).await.unwrap().unwrap();
    // The worker begins its chunk, then stalls on the vendor past its lease, and another
    // takes the table over before it comes back to commit.
    *rig.vendor.page_delay.lock().unwrap() = Some(std::time::Duration::from_millis(400));
    let run = RunId::new();
    let job = leased_job(&rig, mine).await;
    let pipeline = rig.pipeline.clone();
    let stalled = tokio::spawn(async move { pipeline.sync_table(run, job, false).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let theirs = rig.store.claim_lease(&name, "w2", short).await.unwrap().unwrap();
    assert!(theirs > mine);
    let out = stalled.await.unwrap();
    assert_eq!(out.status, ChunkStatus::Failed);
    assert!(out.error.as_deref().unwrap().contains("taken over by another worker"), "{out:?}");
    assert_eq!(out.error_class, Some(ErrorClass::Platform));
    assert_eq!(rig.cursor().await, cursor, "the watermark did not move");
    let chunks = rig.chunks(run).await;
    assert_eq!(chunks.len(), 1, "it began its chunk under its lease");
    assert_eq!(chunks[0].status, ChunkStatus::Abandoned, "the void chunk is never resumed");
    assert_eq!(rig.lake_files().await, before, "its files are gone");
    assert!(rig.store.find_unfinished_chunk(&rig.key()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_before_it_began_leaves_the_new_holders_chunk_alone() {
    let rig = Rig::new(FakeVendor::with(12)).await;
    rig.run(false).await;
    rig.vendor.upsert(30, 40, "changed");
    let name = rig.key().lease_name();
    let short = std::time::Duration::from_millis(50);
    let mine = rig.store.claim_lease(&name, "w1", short).await.unwrap().unwrap();
    // Paused right after claiming: the table goes to another worker, which is mid-chunk
    // when this one wakes up and starts the table.
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let long = std::time::Duration::from_secs(60);
    let theirs = rig.store.claim_lease(&name, "w2", long).await.unwrap().unwrap();
    let running = ChunkRecord {
        fence: Some(theirs),
        ..ChunkRecord::running(ChunkId::new(), RunId::new(), rig.key(), rig.cursor().await)
    };
    rig.store.begin_chunk(&running).await.unwrap();
    let out = rig.pipeline.sync_table(RunId::new(), leased_job(&rig, mine).await, false).await;
    assert_eq!(out.status, ChunkStatus::Failed);
    assert!(out.error.as_deref().unwrap().contains("taken over by another worker"), "{out:?}");
    let unfinished = rig.store.find_unfinished_chunk(&rig.key()).await.unwrap().unwrap();
    assert_eq!(unfinished.id, running.id, "the new holder's chunk is untouched");
    assert_eq!(unfinished.status, ChunkStatus::Running);
}

/// Partitions on: 200 records make four partitions of about 50.
async fn partitioned(vendor: Arc<FakeVendor>) -> Rig {
    Rig::with(vendor, |o| {
        o.partitions = 4;
        o.partition_records = 40;
        o.reorder_after = 150;
    })
    .await
}

fn partition_tables(chunks: &[ChunkRecord]) -> BTreeSet<String> {
    chunks.iter().map(|c| c.key.table.clone()).filter(|t| t.contains("@part-")).collect()
}

#[tokio::test]
async fn a_big_table_is_read_in_partitions_side_by_side() {
    let vendor = FakeVendor::with(200);
    *vendor.page_delay.lock().unwrap() = Some(std::time::Duration::from_millis(5));
    let rig = partitioned(vendor).await;
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let t = &run.tables[0];
    assert_eq!((t.records, t.planned), (200, Some(200)), "every record read once");
    assert_eq!(t.partitions, 4, "the run record shows the partitions it read");
    assert_eq!(rig.versions().await, 200);
    let chunks = rig.chunks(run.run_id).await;
    let parts = partition_tables(&chunks);
    assert_eq!(parts.len(), 4, "{parts:?}");
    assert!(rig.vendor.max_in_flight.load(Ordering::SeqCst) >= 2, "partitions read side by side");
    // Every partition read its own range: no record twice.
    let per_part: u64 =
        chunks.iter().filter(|c| c.key.table.contains("@part-")).map(|c| c.counts.records).sum();
    assert_eq!(per_part, 200);
    // Partitions land interleaved: a run that wrote this much has the warehouse put the
    // tenant's rows back in date order, once.
    assert_eq!(rig.warehouse.reorders(), [("acme".to_owned(), CanonicalTable::Tickets)]);
    // Sized from count probes: about a quarter each, though the records lie years
    // before AVESA's clock (the probes narrow to where they are).
    for p in &parts {
        let n: u64 = chunks.iter().filter(|c| &c.key.table == p).map(|c| c.counts.records).sum();
        assert!((30..=70).contains(&n), "{p}: {n} records");
    }
    // The table's cursor is the last record read, without the plan.
    assert_eq!(rig.cursor().await, Some(at(199, 199)));
    // The raw lake keeps every partition's files under the table: a rebuild finds them.
    let raw: Vec<String> =
        rig.lake_files().await.into_iter().filter(|f| f.contains("/raw/")).collect();
    assert!(raw.iter().all(|f| f.contains("/raw/connectwise/service_tickets/")), "{raw:?}");
    // Nothing new: the next run reads on from there, with one request; a change is read.
    let again = rig.run(false).await;
    assert_eq!((again.tables[0].records, again.tables[0].requests), (0, 1));
    rig.vendor.upsert(17, 250, "second");
    assert_eq!(rig.run(false).await.tables[0].records, 1);
    assert_eq!(rig.versions().await, 201);
    assert_eq!(rig.warehouse.reorders().len(), 1, "small runs leave the order alone");
}

#[tokio::test]
async fn a_partitioned_read_cut_off_resumes_its_partitions_and_loses_nothing() {
    let rig = partitioned(FakeVendor::with(200)).await;
    // Twelve pages in, every request fails: some partitions are part-way.
    *rig.vendor.fail_from_page.lock().unwrap() = Some(13);
    let run = rig.run(false).await;
    assert_eq!(run.status, RunStatus::Failed);
    let first_parts = partition_tables(&rig.chunks(run.run_id).await);
    let cursor = rig.cursor().await.unwrap();
    let plan = crate::partition::plan_of(&cursor).expect("the plan stays in the cursor");
    assert_eq!(plan.len(), 5);
    assert!(cursor.updated_at < plan[4], "the watermark waits for the unfinished partitions");
    let read_before = rig.current().await;
    assert!(!read_before.is_empty() && read_before.len() < 200, "{}", read_before.len());

    // The vendor changes meanwhile: three updates (to records read or not) and a new one.
    for id in [1, 120, 199] {
        rig.vendor.upsert(id, 300 + id as i64, "second");
    }
    rig.vendor.upsert(500, 600, "new");
    *rig.vendor.fail_from_page.lock().unwrap() = None;
    let next = rig.run(false).await;
    assert_eq!(next.status, RunStatus::Succeeded, "{next:?}");
    assert_eq!(
        partition_tables(&rig.chunks(next.run_id).await),
        first_parts,
        "the same partitions, resumed"
    );
    assert_eq!(rig.current().await.len(), 201);
    // Exactly the versions the vendor had while we read: one per record, and a second
    // for the updated records whose first version had been read before the cut.
    let updated_and_read =
        ["00001", "00120", "00199"].iter().filter(|id| read_before.contains(**id)).count() as u64;
    assert_eq!(rig.versions().await, 201 + updated_and_read);
    assert_eq!(rig.cursor().await.unwrap().continuation, None, "the plan is done");
}

#[tokio::test]
async fn a_full_sync_in_partitions_finds_deletions_and_starts_a_cut_off_plan_over() {
    let rig = partitioned(FakeVendor::with(200)).await;
    // A first read cut off part-way leaves a plan …
    *rig.vendor.fail_from_page.lock().unwrap() = Some(13);
    assert_eq!(rig.run(false).await.status, RunStatus::Failed);
    assert!(crate::partition::plan_of(&rig.cursor().await.unwrap()).is_some());
    *rig.vendor.fail_from_page.lock().unwrap() = None;
    // … which a full sync drops: it reads everything under a new plan and its key scan
    // sees every record the vendor still lists.
    for id in [5, 77, 150] {
        rig.vendor.remove(id);
    }
    let full = rig.run(true).await;
    assert_eq!(full.status, RunStatus::Succeeded, "{full:?}");
    assert!(partition_tables(&rig.chunks(full.run_id).await).len() >= 2);
    let current = rig.current().await;
    assert_eq!(current.len(), 197);
    assert!(!current.contains("00077"));
    assert_eq!(rig.cursor().await.unwrap().continuation, None);
}
