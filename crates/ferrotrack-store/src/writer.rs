//! The metric writer: a buffer in front, a flush thread behind, segments on disk.
//!
//! Two locks, always taken in the order sink → front:
//! - `front` guards the buffer that `log` appends to; it is held for nanoseconds.
//! - `sink` serialises flushes, so segments are written in sequence order and the
//!   summary sees points in the order they were logged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType, UInt32Type};
use arrow_array::RecordBatch;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::buffer::{Buffer, Columns, BYTES_PER_POINT};
use crate::claim::{claim as claim_rank, claim_free, RankClaim};
use crate::compaction::{merge, CompactionPolicy, SegmentInfo};
use crate::durability::Durability;
use crate::error::{StoreError, StoreResult};
use crate::layout::{metrics_dir, summary_path, SegmentId};
use crate::meta::RunMeta;
use crate::reader::read_run;
use crate::recovery::{recover_rank, RecoveryReport};
use crate::schema::{
    columns_to_batch, point_schema, reclaim_columns, writer_properties, KEY_RANK, KEY_SEQ_HI,
    KEY_SEQ_LO,
};
use crate::segment::{sync_paths, write_parquet_atomic};
use crate::summary::Summary;

/// How a writer behaves.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The run folder (`.../run=<id>`).
    pub run_dir: PathBuf,
    /// This process's rank; each rank writes its own segments, and a writer holds its
    /// rank (see [`crate::claim`]) from open to close.
    pub rank: u32,
    /// Whether `rank` is only where the search starts: the writer then claims the lowest
    /// rank from `rank` on that no live process holds (for processes attaching to a run).
    pub free_rank: bool,
    /// Longest time a point waits in memory before the flush thread writes it.
    pub flush_interval: Duration,
    /// The flush thread is woken as soon as this many points wait.
    pub max_rows: usize,
    /// Past this many bytes of points in memory (waiting, plus being written), `log`
    /// flushes itself instead of growing.
    pub memory_cap_bytes: usize,
    pub durability: Durability,
    pub compaction: CompactionPolicy,
    /// Whether a background thread flushes; without it only explicit flushes write.
    pub background: bool,
}

impl WriterConfig {
    /// Defaults for a run folder: 1 s interval, 256 Ki rows, 32 MiB cap, fsync at close.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        WriterConfig {
            run_dir: run_dir.into(),
            rank: 0,
            free_rank: false,
            flush_interval: Duration::from_secs(1),
            max_rows: 1 << 18,
            memory_cap_bytes: 32 << 20,
            durability: Durability::OnClose,
            compaction: CompactionPolicy::default(),
            background: true,
        }
    }
}

/// Counters of what a writer has written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub points_written: u64,
    pub segment_bytes_written: u64,
    pub segments_written: u64,
    pub compactions: u64,
}

/// What `log` locks: the buffer, plus room `E` for the binding's own cache.
#[derive(Debug, Default)]
pub struct Front<E> {
    pub buffer: Buffer,
    pub ext: E,
    /// Points of this rank before the buffer's first one: in the store when the writer
    /// opened, plus those taken by flushes (being written or written).
    rows_before: u64,
    flush_requested: bool,
    closed: bool,
}

impl<E> Front<E> {
    /// Whether the writer was closed.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Points of this rank so far (stored, being written, waiting): the row index the
    /// next point logged will have.
    #[inline]
    pub fn rows(&self) -> u64 {
        self.rows_before + self.buffer.len() as u64
    }
}

#[derive(Debug, Default)]
struct Signal {
    requested: bool,
    stop: bool,
}

/// Flushed batches waiting for a subscriber (the plugin orchestrator), oldest first.
#[derive(Debug, Default)]
struct Feed {
    enabled: bool,
    max_batches: usize,
    queue: std::collections::VecDeque<(u64, RecordBatch)>,
    dropped: u64,
}

#[derive(Debug)]
struct Sink {
    next_seq: u64,
    /// Points of this rank already in the store: the row index of the next point.
    rows_before: u64,
    summary: Summary,
    segments: Vec<SegmentInfo>,
    unsynced: Vec<PathBuf>,
    stats: WriterStats,
    meta: Option<RunMeta>,
}

struct Shared<E> {
    config: WriterConfig,
    front: Mutex<Front<E>>,
    sink: Mutex<Sink>,
    signal: Mutex<Signal>,
    wake: Condvar,
    failed: AtomicBool,
    error: Mutex<Option<StoreError>>,
    /// Bytes of points taken from the front and not yet written.
    inflight: AtomicUsize,
    feed: Mutex<Feed>,
    fed: Condvar,
}

/// Appends points, flushes them to Parquet segments, keeps their summary.
pub struct MetricWriter<E: Default + Send + 'static = ()> {
    shared: Arc<Shared<E>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    recovery: RecoveryReport,
    /// The writer's hold on its rank, given back at close.
    claim: Mutex<Option<RankClaim>>,
}

impl<E: Default + Send + 'static> MetricWriter<E> {
    /// Opens (or resumes) the writer of `config.rank` in `config.run_dir`.
    ///
    /// The rank is claimed first ([`StoreError::RankInUse`] if a live process writes it),
    /// then its files are recovered: leftovers set aside, a stale summary rebuilt,
    /// automatic steps continued after the last step of each metric.
    pub fn open(mut config: WriterConfig) -> StoreResult<Self> {
        let mdir = metrics_dir(&config.run_dir);
        std::fs::create_dir_all(&mdir).map_err(|e| StoreError::io("create", &mdir, e))?;
        let claim = if config.free_rank {
            claim_free(&config.run_dir, config.rank)?
        } else {
            claim_rank(&config.run_dir, config.rank)?
        };
        config.rank = claim.rank();
        config.free_rank = false;
        let (state, recovery) = recover_rank(&config.run_dir, config.rank)?;
        let mut buffer = Buffer::new();
        if config.background {
            // Mapping memory costs ~2 µs a page on a VM: pay for the first columns here,
            // once, and let the flush thread prepare the next ones.
            buffer.start_with(Columns::prefaulted(spare_rows(&config)));
        }
        for (name, stat) in state.summary.iter() {
            let id = buffer.intern(name)?;
            buffer.continue_steps_after(id, stat.last_step);
        }
        let rows_before: u64 = state.segments.iter().map(|s| s.rows).sum();
        let shared = Arc::new(Shared {
            front: Mutex::new(Front {
                buffer,
                ext: E::default(),
                rows_before,
                flush_requested: false,
                closed: false,
            }),
            sink: Mutex::new(Sink {
                next_seq: state.next_seq,
                rows_before,
                summary: state.summary,
                segments: state.segments,
                unsynced: Vec::new(),
                stats: WriterStats::default(),
                meta: None,
            }),
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            inflight: AtomicUsize::new(0),
            feed: Mutex::new(Feed::default()),
            fed: Condvar::new(),
            config,
        });
        let thread = if shared.config.background {
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name("ferrotrack-flush".into())
                .spawn(move || s.flush_loop())
                .map_err(|e| StoreError::io("start flush thread for", &shared.config.run_dir, e))?;
            Some(handle)
        } else {
            None
        };
        Ok(MetricWriter {
            shared,
            thread: Mutex::new(thread),
            recovery,
            claim: Mutex::new(Some(claim)),
        })
    }

    /// The configuration the writer runs with.
    pub fn config(&self) -> &WriterConfig {
        &self.shared.config
    }

    /// What recovery did when the writer opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Locks the front for appending. Hold it briefly.
    #[inline]
    pub fn front(&self) -> MutexGuard<'_, Front<E>> {
        self.shared.front.lock()
    }

    /// Whether memory held for points (the buffer's allocation, plus points being
    /// written) reaches the memory cap: the caller must [`flush`](Self::flush) (without
    /// the lock) before appending more.
    #[inline]
    pub fn is_full(&self, front: &Front<E>) -> bool {
        front.buffer.allocated_bytes() + self.shared.inflight.load(Ordering::Relaxed)
            >= self.shared.config.memory_cap_bytes
    }

    /// Wakes the flush thread once the buffer holds `max_rows` points. Call after appending.
    #[inline]
    pub fn after_append(&self, front: &mut Front<E>) {
        if front.buffer.len() >= self.shared.config.max_rows && !front.flush_requested {
            front.flush_requested = true;
            let mut signal = self.shared.signal.lock();
            signal.requested = true;
            self.shared.wake.notify_one();
        }
    }

    /// Whether a background flush failed since the last [`take_error`](Self::take_error).
    #[inline]
    pub fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// The error of a failed background flush, once. Its points are still buffered.
    pub fn take_error(&self) -> Option<StoreError> {
        let err = self.shared.error.lock().take();
        self.shared.failed.store(false, Ordering::Relaxed);
        err
    }

    /// Writes every waiting point to a segment now.
    pub fn flush(&self) -> StoreResult<()> {
        let mut sink = self.shared.sink.lock();
        self.shared
            .flush_locked(&mut sink, self.shared.config.compaction)
    }

    /// Sets the run metadata that the flush thread rewrites with a fresh heartbeat, and writes it.
    pub fn set_run_meta(&self, json: &str) -> StoreResult<()> {
        let mut sink = self.shared.sink.lock();
        match &mut sink.meta {
            Some(meta) => meta.replace(json)?,
            None => {
                sink.meta = Some(RunMeta::new(
                    self.shared.config.run_dir.join("run.json"),
                    json,
                )?)
            }
        }
        let sync = self.shared.config.durability == Durability::EveryFlush;
        sink.meta
            .as_mut()
            .map_or(Ok(()), |m| m.beat_and_write(sync))
    }

    /// Flushes, compacts and syncs everything, then refuses further points.
    /// Idempotent; on failure the writer stays open and nothing is lost.
    pub fn close(&self) -> StoreResult<()> {
        {
            let mut front = self.shared.front.lock();
            if front.closed {
                return Ok(());
            }
            front.closed = true;
        }
        if let Err(e) = self.shared.finish() {
            self.shared.front.lock().closed = false;
            return Err(e);
        }
        self.stop_thread();
        self.claim.lock().take();
        self.shared.fed.notify_all();
        Ok(())
    }

    fn stop_thread(&self) {
        self.shared.signal.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
    }

    /// Keeps every batch flushed from now on for [`next_flushed`](Self::next_flushed),
    /// at most `max_batches` of them (older ones are dropped: a subscriber notices the gap
    /// from the row numbers and reads those points from the store).
    pub fn subscribe(&self, max_batches: usize) {
        let mut feed = self.shared.feed.lock();
        feed.enabled = true;
        feed.max_batches = max_batches.max(1);
    }

    /// The next flushed batch and the row index (within this rank) of its first point;
    /// waits up to `timeout`. `None` on timeout, or when closed and nothing is left.
    pub fn next_flushed(&self, timeout: Duration) -> Option<(u64, RecordBatch)> {
        let mut feed = self.shared.feed.lock();
        if feed.queue.is_empty() && !self.is_closed() {
            self.shared.fed.wait_for(&mut feed, timeout);
        }
        feed.queue.pop_front()
    }

    /// Number of flushed batches dropped because no subscriber took them in time.
    pub fn feed_dropped(&self) -> u64 {
        self.shared.feed.lock().dropped
    }

    /// Whether the writer was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.front.lock().closed
    }

    /// Summaries of every metric, the waiting points included.
    pub fn summary(&self) -> Summary {
        let sink = self.shared.sink.lock();
        let mut summary = sink.summary.clone();
        let front = self.shared.front.lock();
        summary.update(front.buffer.columns(), front.buffer.names());
        summary
    }

    /// Every point of this rank, written and waiting, as record batches in logging order.
    pub fn read_all(&self) -> StoreResult<Vec<RecordBatch>> {
        let _sink = self.shared.sink.lock();
        let mut batches = read_run(&self.shared.config.run_dir, Some(self.shared.config.rank))?;
        let front = self.shared.front.lock();
        if !front.buffer.is_empty() {
            batches.push(columns_to_batch(
                front.buffer.columns().clone(),
                front.buffer.names(),
            ));
        }
        Ok(batches)
    }

    /// What was written so far.
    pub fn stats(&self) -> WriterStats {
        self.shared.sink.lock().stats
    }

    /// Points of this rank so far: in the store when the writer opened, plus written,
    /// plus waiting; the `first_row` the next flushed point will have. Takes only the
    /// front lock (no I/O, never waits for a flush).
    pub fn rows(&self) -> u64 {
        self.shared.front.lock().rows()
    }

    /// Number of points waiting in memory.
    pub fn pending(&self) -> usize {
        self.shared.front.lock().buffer.len()
    }
}

impl<E: Default + Send + 'static> Drop for MetricWriter<E> {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            eprintln!(
                "ferrotrack: closing the writer of {} failed: {e}",
                self.shared.config.run_dir.display()
            );
        }
        self.stop_thread();
    }
}

/// Points the columns hold: a whole flush and a quarter more, so that points logged
/// while the flush thread wakes up do not make them grow; within half the memory cap.
fn spare_rows(config: &WriterConfig) -> usize {
    (config.max_rows + config.max_rows / 4).min(config.memory_cap_bytes / BYTES_PER_POINT / 2)
}

impl<E: Send> Shared<E> {
    fn flush_loop(&self) {
        loop {
            let stop = {
                let mut signal = self.signal.lock();
                if !signal.requested && !signal.stop {
                    self.wake.wait_for(&mut signal, self.config.flush_interval);
                }
                signal.requested = false;
                signal.stop
            };
            if stop {
                return;
            }
            let mut sink = self.sink.lock();
            let result = self
                .flush_locked(&mut sink, self.config.compaction)
                .and_then(|()| self.beat(&mut sink));
            drop(sink);
            if let Err(e) = result {
                *self.error.lock() = Some(e);
                self.failed.store(true, Ordering::Relaxed);
            }
            // After the flush, so that taking the waiting points is never delayed, and not
            // while the run starts (the writer opens with columns already mapped, and
            // mapping more then would compete with the first points).
            self.prepare_spare();
        }
    }

    /// Gives the front pre-faulted spare columns if it has none, so that the logging
    /// thread fills memory the kernel has already mapped (page faults happen here).
    /// Sized to stay well inside the memory cap.
    fn prepare_spare(&self) {
        if !self.front.lock().buffer.wants_spare() {
            return;
        }
        let rows = spare_rows(&self.config);
        let spare = crate::pool::take(rows).unwrap_or_else(|| Columns::prefaulted(rows));
        self.front.lock().buffer.offer_spare(spare);
    }

    fn beat(&self, sink: &mut Sink) -> StoreResult<()> {
        let sync = self.config.durability == Durability::EveryFlush;
        sink.meta
            .as_mut()
            .map_or(Ok(()), |m| m.beat_and_write(sync))
    }

    fn finish(&self) -> StoreResult<()> {
        let mut sink = self.sink.lock();
        self.flush_locked(&mut sink, self.config.compaction.at_close())?;
        if self.config.durability == Durability::OnClose {
            sync_paths(sink.unsynced.iter().map(|p| p.as_path()))?;
            sink.unsynced.clear();
        }
        self.beat(&mut sink)
    }

    /// Takes the waiting points and writes them as the next segment. On failure the
    /// points go back to the front of the buffer.
    fn flush_locked(&self, sink: &mut Sink, policy: CompactionPolicy) -> StoreResult<()> {
        let (columns, names) = {
            let mut front = self.front.lock();
            front.flush_requested = false;
            if front.buffer.is_empty() {
                drop(front);
                return self.compact(sink, policy);
            }
            let taken = front.buffer.take(self.config.max_rows);
            front.rows_before += taken.len() as u64;
            self.inflight
                .store(taken.len() * BYTES_PER_POINT, Ordering::Relaxed);
            (taken, front.buffer.names().to_vec())
        };
        let result = self.write_taken(sink, columns, names);
        self.inflight.store(0, Ordering::Relaxed);
        result?;
        self.write_summary(sink)?;
        self.compact(sink, policy)
    }

    /// Writes taken points as the next segment and accounts for them.
    fn write_taken(
        &self,
        sink: &mut Sink,
        columns: Columns,
        names: Vec<std::sync::Arc<str>>,
    ) -> StoreResult<()> {
        let rows = columns.len() as u64;
        let mut summary = sink.summary.clone();
        summary.update(&columns, &names);
        let seq = sink.next_seq;
        summary.max_seq = seq;
        let id = SegmentId::single(self.config.rank, seq);
        let path = metrics_dir(&self.config.run_dir).join(id.file_name());
        let batch = columns_to_batch(columns, &names);
        let props = writer_properties(&[
            (KEY_RANK, self.config.rank.to_string()),
            (KEY_SEQ_LO, seq.to_string()),
            (KEY_SEQ_HI, seq.to_string()),
        ]);
        let sync = self.config.durability == Durability::EveryFlush;
        let bytes = match write_parquet_atomic(
            &path,
            point_schema(),
            std::slice::from_ref(&batch),
            props,
            sync,
        ) {
            Ok(bytes) => bytes,
            Err(e) => {
                let mut front = self.front.lock();
                front.buffer.restore(batch_to_columns(&batch));
                front.rows_before -= rows;
                return Err(e);
            }
        };
        sink.next_seq += 1;
        sink.summary = summary;
        self.publish(sink.rows_before, batch);
        sink.rows_before += rows;
        sink.segments.push(SegmentInfo {
            id,
            path: path.clone(),
            rows,
        });
        if self.config.durability == Durability::OnClose {
            sink.unsynced.push(path);
        }
        sink.stats.points_written += rows;
        sink.stats.segment_bytes_written += bytes;
        sink.stats.segments_written += 1;
        Ok(())
    }

    /// Hands a written batch to the backends' feed if one is open; otherwise its columns
    /// go to the process-wide pool, to be filled again without page faults.
    fn publish(&self, first_row: u64, batch: RecordBatch) {
        let mut feed = self.feed.lock();
        if !feed.enabled {
            drop(feed);
            if let Some(columns) = reclaim_columns(batch) {
                crate::pool::give(columns);
            }
            return;
        }
        feed.queue.push_back((first_row, batch));
        while feed.queue.len() > feed.max_batches {
            feed.queue.pop_front();
            feed.dropped += 1;
        }
        self.fed.notify_all();
    }

    fn write_summary(&self, sink: &mut Sink) -> StoreResult<()> {
        let path = summary_path(&self.config.run_dir, self.config.rank);
        sink.summary
            .write(&path, self.config.durability == Durability::EveryFlush)?;
        if self.config.durability == Durability::OnClose && !sink.unsynced.contains(&path) {
            sink.unsynced.push(path);
        }
        Ok(())
    }

    fn compact(&self, sink: &mut Sink, policy: CompactionPolicy) -> StoreResult<()> {
        let sync = self.config.durability != Durability::None;
        while let Some(range) = policy.plan(&sink.segments) {
            let merged = merge(&self.config.run_dir, &sink.segments[range.clone()], sync)?;
            let removed: Vec<PathBuf> = sink.segments[range.clone()]
                .iter()
                .map(|s| s.path.clone())
                .collect();
            sink.unsynced.retain(|p| !removed.contains(p));
            sink.segments.splice(range, std::iter::once(merged));
            sink.stats.compactions += 1;
        }
        Ok(())
    }
}

/// Recovers buffered columns from a batch built by [`columns_to_batch`] (failure path only).
fn batch_to_columns(batch: &RecordBatch) -> Columns {
    let name = batch.column(0).as_dictionary::<UInt32Type>();
    Columns {
        name: name.keys().values().to_vec(),
        step: batch
            .column(1)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        timestamp: batch
            .column(2)
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec(),
        value: batch
            .column(3)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
    }
}
