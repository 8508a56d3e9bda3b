//! `MetricWriter`: the hot path from Python into the store.

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};
use pyo3::Borrowed;
use pyo3_arrow::{PyRecordBatch, PyTable};

use ferrotrack_store::claim::check_rank;
use ferrotrack_store::compaction::CompactionPolicy;
use ferrotrack_store::schema::point_schema;
use ferrotrack_store::{Durability, Front, MetricWriter as StoreWriter, StoreError, WriterConfig};

use crate::errors::{bad_argument, bad_name, bad_value, not_a_number, to_py};
use crate::inputs::{
    int_array, metric_value, step_arg, timestamp_ns, type_name, value_without_python,
    with_float_slice, Label,
};
use crate::name_cache::NameCache;
use crate::run_files::{recovery_dict, summary_dict};

type Guard<'a> = parking_lot::MutexGuard<'a, Front<NameCache>>;

/// Appends metric points of one run (one rank) and writes them as Parquet segments.
///
/// `log` costs a fraction of a list append: the name is looked up by the identity of
/// the `str` object, the point is pushed to four columns under one short lock, and
/// the flush thread does everything else without the GIL.
#[pyclass(frozen, module = "ferrotrack.core._native")]
pub struct MetricWriter {
    inner: StoreWriter<NameCache>,
}

/// A refusal found while the front is locked. It becomes a Python exception only after
/// the lock is released: creating one may run Python code (the first one imports
/// `ferrotrack.core.errors`), and no Python code may run under the front lock — code that
/// logs to the same writer would wait for it forever, and so would another thread that
/// waits for the lock while holding the GIL.
enum Refusal<'py> {
    Store(StoreError),
    /// A name that is not valid Unicode text (a lone surrogate).
    Unencodable(Bound<'py, PyString>),
    /// A mapping key that is not a `str`.
    NotAName(Bound<'py, PyAny>),
    /// A value whose conversion may run Python code (`__float__`): convert it unlocked.
    NeedsConversion,
}

impl Refusal<'_> {
    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Refusal::Store(e) => to_py(py, e),
            Refusal::Unencodable(name) => bad_name(
                py,
                format!(
                    "invalid metric name {}: not valid Unicode text (it holds a lone surrogate)",
                    name.as_any().to_string_lossy_or_repr()
                ),
            ),
            Refusal::NotAName(key) => bad_name(
                py,
                format!(
                    "log: metric names must be str, got {} {}",
                    type_name(&key),
                    key.to_string_lossy_or_repr()
                ),
            ),
            Refusal::NeedsConversion => bad_value(py, "log: a value needs converting".into()),
        }
    }
}

impl MetricWriter {
    /// Locks the front, refusing when closed or when a background flush failed.
    #[inline]
    fn lock(&self, py: Python<'_>) -> PyResult<Guard<'_>> {
        if self.inner.has_failed() {
            if let Some(e) = self.inner.take_error() {
                return Err(to_py(py, e));
            }
        }
        let front = self.inner.front();
        if front.is_closed() {
            drop(front);
            return Err(to_py(py, closed(&self.inner)));
        }
        Ok(front)
    }

    /// Makes room when the memory cap is reached: flushes in this thread, GIL released.
    #[inline]
    fn room<'a>(&'a self, py: Python<'_>, front: Guard<'a>) -> PyResult<Guard<'a>> {
        if !self.inner.is_full(&front) {
            return Ok(front);
        }
        drop(front);
        py.detach(|| self.inner.flush()).map_err(|e| to_py(py, e))?;
        self.lock(py)
    }

    /// Like [`room`](Self::room) but keeps the GIL, for callers that borrow Python memory.
    fn room_keeping_gil<'a>(&'a self, py: Python<'_>, front: Guard<'a>) -> PyResult<Guard<'a>> {
        if !self.inner.is_full(&front) {
            return Ok(front);
        }
        drop(front);
        self.inner.flush().map_err(|e| to_py(py, e))?;
        self.lock(py)
    }

    /// The id of a metric name; runs no Python code (the front is locked).
    #[inline]
    fn name_id<'py>(
        front: &mut Guard<'_>,
        name: &Bound<'py, PyString>,
    ) -> Result<u32, Refusal<'py>> {
        match front.ext.get(name) {
            Some(id) => Ok(id),
            None => Self::intern_name(front, name),
        }
    }

    #[cold]
    fn intern_name<'py>(
        front: &mut Guard<'_>,
        name: &Bound<'py, PyString>,
    ) -> Result<u32, Refusal<'py>> {
        let Ok(text) = name.to_str() else {
            return Err(Refusal::Unencodable(name.clone()));
        };
        let id = front.buffer.intern(text).map_err(Refusal::Store)?;
        // Only plain `str` objects are cached: dropping one evicted from the cache runs no
        // Python code, while a subclass instance could run its `__del__` under the lock.
        if name.is_exact_instance_of::<PyString>() {
            front.ext.put(name, id);
        }
        Ok(id)
    }

    /// Logs one point, `log(name, value, step=None, timestamp=None)`, or several
    /// points at one step, `log({name: value, ...}, step=None)`.
    /// (Reached from Python through `fast_call`, which binds the arguments.)
    #[inline]
    pub(crate) fn log_point(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        step: Option<i64>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Ok(name) = name.cast::<PyString>() else {
            return self.log_not_a_str(py, name, value, step, timestamp);
        };
        let Some(value) = value else {
            return Err(not_a_number(
                py,
                &name.as_any().to_string_lossy_or_repr(),
                &py.None().into_bound(py),
            ));
        };
        // Converting may run Python code (`__float__`): before the front is locked.
        let v = metric_value(value, name.as_any())?;
        let ts = match timestamp {
            Some(t) => Some(timestamp_ns(t)?),
            None => None,
        };
        let front = self.lock(py)?;
        let mut front = self.room(py, front)?;
        let id = match Self::name_id(&mut front, name) {
            Ok(id) => id,
            Err(refusal) => {
                drop(front);
                return Err(refusal.into_py(py));
            }
        };
        front.buffer.push(id, v, step, ts);
        self.inner.after_append(&mut front);
        Ok(())
    }

    /// `log(first, ...)` where `first` is not a `str`: a mapping of names to values (with
    /// the step given by position or keyword), or a name of the wrong type.
    #[cold]
    fn log_not_a_str(
        &self,
        py: Python<'_>,
        first: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        step: Option<i64>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mapping = first.is_instance_of::<PyDict>() || first.hasattr("items")?;
        if !mapping {
            return Err(bad_name(
                py,
                format!(
                    "log: a metric name must be a str (or a mapping of names to numbers), got {} {}",
                    type_name(first),
                    first.to_string_lossy_or_repr()
                ),
            ));
        }
        if timestamp.is_some() {
            return Err(bad_argument(
                py,
                "log(mapping): timestamp= is for one point; the points of a mapping share the time of the call".into(),
            ));
        }
        let step = match (step, value) {
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "log(mapping) got multiple values for argument 'step'",
                ))
            }
            (Some(s), None) => Some(s),
            (None, Some(v)) => Some(step_arg(v, "log")?),
            (None, None) => None,
        };
        self.log_mapping(py, first, step)
    }

    fn log_mapping(
        &self,
        py: Python<'_>,
        mapping: &Bound<'_, PyAny>,
        step: Option<i64>,
    ) -> PyResult<()> {
        let converted;
        let dict = match mapping.cast::<PyDict>() {
            Ok(d) => d,
            Err(_) => {
                converted =
                    PyDict::from_sequence(&mapping.call_method0("items")?).map_err(|_| {
                        bad_argument(
                            py,
                            "log: expected a metric name (str) or a mapping of names to numbers"
                                .into(),
                        )
                    })?;
                &converted
            }
        };
        let front = self.lock(py)?;
        let mut front = self.room(py, front)?;
        let (mark, now) = front.buffer.begin_row(dict.len());
        match Self::push_items(py, &mut front, dict, step, now) {
            Ok(()) => {
                front.buffer.end_row(mark);
                self.inner.after_append(&mut front);
                Ok(())
            }
            Err(refusal) => {
                // A bad item logs nothing of its row.
                front.buffer.abandon_row(mark);
                drop(front);
                match refusal {
                    Refusal::NeedsConversion => self.log_converted(py, dict, step),
                    other => Err(other.into_py(py)),
                }
            }
        }
    }

    /// Pushes every `(name, value)` of a dict as one row, or stops at the first item it
    /// cannot push without running Python code. Iterates with borrowed references (no
    /// reference counting per item): nothing here runs Python code, so the dict cannot
    /// change under the loop.
    #[inline]
    fn push_items<'py>(
        py: Python<'py>,
        front: &mut Guard<'_>,
        dict: &Bound<'py, PyDict>,
        step: Option<i64>,
        now: i64,
    ) -> Result<(), Refusal<'py>> {
        let mut pos: pyo3::ffi::Py_ssize_t = 0;
        let mut key: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
        // SAFETY: the GIL is held; PyDict_Next yields borrowed references that stay valid
        // while no Python code runs, and none runs in this loop.
        while unsafe { pyo3::ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) } != 0
        {
            let key = unsafe { Borrowed::from_ptr(py, key) };
            let Ok(name) = key.cast::<PyString>() else {
                return Err(Refusal::NotAName(key.to_owned()));
            };
            let value = unsafe { Borrowed::from_ptr(py, value) };
            let Some(v) = value_without_python(&value) else {
                return Err(Refusal::NeedsConversion);
            };
            let id = Self::name_id(front, &name)?;
            front.buffer.push_in_row(id, v, step, now);
        }
        Ok(())
    }

    /// Logs a mapping holding values whose conversion may run Python code: converts them
    /// all first, with nothing locked (a `__float__` may even log to this writer), then
    /// pushes the row.
    #[cold]
    fn log_converted(
        &self,
        py: Python<'_>,
        dict: &Bound<'_, PyDict>,
        step: Option<i64>,
    ) -> PyResult<()> {
        // A snapshot: converting may change the dict.
        let items = dict.items();
        let mut row: Vec<(Bound<'_, PyString>, f64)> = Vec::with_capacity(items.len());
        for item in items.iter() {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let Ok(name) = key.cast_into::<PyString>() else {
                let key = item.get_item(0)?;
                return Err(Refusal::NotAName(key).into_py(py));
            };
            let v = metric_value(&value, name.as_any())?;
            row.push((name, v));
        }
        let front = self.lock(py)?;
        let mut front = self.room(py, front)?;
        let (mark, now) = front.buffer.begin_row(row.len());
        for (name, v) in &row {
            match Self::name_id(&mut front, name) {
                Ok(id) => front.buffer.push_in_row(id, *v, step, now),
                Err(refusal) => {
                    front.buffer.abandon_row(mark);
                    drop(front);
                    return Err(refusal.into_py(py));
                }
            }
        }
        front.buffer.end_row(mark);
        self.inner.after_append(&mut front);
        Ok(())
    }
}

/// The `rank=` argument: an int (range-checked later, so that -1 and 2**70 are refused
/// with the range rather than a bare `OverflowError`), or `None` for the lowest free rank.
pub enum RankArg {
    Given(i64),
    TooLarge(String),
}

impl<'a, 'py> FromPyObject<'a, 'py> for RankArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !obj.is_instance_of::<PyInt>() {
            let ty = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(bad_argument(
                obj.py(),
                format!("rank: expected an int or None, got {ty}"),
            ));
        }
        match obj.extract::<i64>() {
            Ok(r) => Ok(RankArg::Given(r)),
            Err(_) => Ok(RankArg::TooLarge(obj.str()?.to_string())),
        }
    }
}

fn closed<E: Default + Send + 'static>(w: &StoreWriter<E>) -> StoreError {
    StoreError::Closed {
        dir: w.config().run_dir.clone(),
    }
}

#[pymethods]
impl MetricWriter {
    #[new]
    #[pyo3(signature = (run_dir, *, rank=Some(RankArg::Given(0)), flush_interval=1.0, max_rows=1<<18, memory_cap_bytes=32<<20,
                        durability="on_close", background=true, compact_small_rows=64*1024, compact_fanin=8))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        run_dir: std::path::PathBuf,
        rank: Option<RankArg>,
        flush_interval: f64,
        max_rows: usize,
        memory_cap_bytes: usize,
        durability: &str,
        background: bool,
        compact_small_rows: u64,
        compact_fanin: usize,
    ) -> PyResult<Self> {
        if !(flush_interval.is_finite() && flush_interval > 0.0) {
            return Err(bad_argument(
                py,
                format!(
                    "flush_interval: expected a positive number of seconds, got {flush_interval}"
                ),
            ));
        }
        if max_rows == 0 || memory_cap_bytes == 0 {
            return Err(bad_argument(
                py,
                "max_rows and memory_cap_bytes must be positive".into(),
            ));
        }
        let durability: Durability = durability
            .parse()
            .map_err(|e: String| bad_argument(py, e))?;
        let (rank, free_rank) = match rank {
            Some(RankArg::Given(r)) => (check_rank(r).map_err(|e| to_py(py, e))?, false),
            Some(RankArg::TooLarge(text)) => {
                return Err(bad_argument(
                    py,
                    format!(
                        "rank {text}: expected a rank from 0 to {}",
                        ferrotrack_store::claim::MAX_RANK
                    ),
                ))
            }
            None => (1, true),
        };
        let config = WriterConfig {
            rank,
            free_rank,
            flush_interval: Duration::from_secs_f64(flush_interval),
            max_rows,
            memory_cap_bytes,
            durability,
            compaction: CompactionPolicy {
                small_rows: compact_small_rows,
                fanin: compact_fanin,
                ..CompactionPolicy::default()
            },
            background,
            ..WriterConfig::new(run_dir)
        };
        let inner = py
            .detach(|| StoreWriter::open(config))
            .map_err(|e| to_py(py, e))?;
        Ok(MetricWriter { inner })
    }

    /// Logs several metrics at one step: `log_many({"loss": 0.1, "acc": 0.9}, step=3)`.
    #[pyo3(signature = (mapping, step=None))]
    fn log_many(
        &self,
        py: Python<'_>,
        mapping: &Bound<'_, PyAny>,
        step: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let step = match step {
            Some(s) if !s.is_none() => Some(step_arg(s, "log_many")?),
            _ => None,
        };
        if mapping.is_instance_of::<PyString>()
            || !(mapping.is_instance_of::<PyDict>() || mapping.hasattr("items")?)
        {
            return Err(bad_argument(
                py,
                format!(
                    "log_many: expected a mapping of metric names to numbers, got {}",
                    type_name(mapping)
                ),
            ));
        }
        self.log_mapping(py, mapping, step)
    }

    /// Logs a whole array of one metric: numpy arrays or any numeric buffer, no Python loop.
    /// `steps` (same length) default to continuing the metric's automatic steps;
    /// `timestamps` (same length, int64 ns since the epoch) default to the time of the call,
    /// and let an import keep the times the source recorded.
    #[pyo3(signature = (name, values, steps=None, timestamps=None))]
    fn log_array(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
        steps: Option<&Bound<'_, PyAny>>,
        timestamps: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Ok(name) = name.cast::<PyString>() else {
            return Err(bad_name(
                py,
                format!(
                    "log_array: a metric name must be a str, got {} {}",
                    type_name(name),
                    name.to_string_lossy_or_repr()
                ),
            ));
        };
        let label = name.as_any().to_string_lossy_or_repr();
        let steps = match steps {
            Some(s) if !s.is_none() => Some(int_array(s, &format!("log_array({label}) steps"))?),
            _ => None,
        };
        let timestamps = match timestamps {
            Some(t) if !t.is_none() => Some(int_array(
                t,
                &format!("log_array({label}) timestamps (int64 ns since the epoch)"),
            )?),
            _ => None,
        };
        with_float_slice(values, &format!("log_array({label}) values"), |values| {
            for (what, len) in [
                ("steps", steps.as_ref().map(Vec::len)),
                ("timestamps", timestamps.as_ref().map(Vec::len)),
            ] {
                if let Some(len) = len {
                    if len != values.len() {
                        return Err(bad_argument(
                            py,
                            format!(
                                "log_array({label}): values and {what} must have the same length, got {} and {len}",
                                values.len(),
                            ),
                        ));
                    }
                }
            }
            let front = self.lock(py)?;
            let mut front = self.room_keeping_gil(py, front)?;
            let id = match Self::name_id(&mut front, name) {
                Ok(id) => id,
                Err(refusal) => {
                    drop(front);
                    return Err(refusal.into_py(py));
                }
            };
            front
                .buffer
                .push_array(id, values, steps.as_deref(), timestamps.as_deref());
            self.inner.after_append(&mut front);
            Ok(())
        })
    }

    /// Writes every waiting point to a segment now.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        // A failed background flush is retried here, and this flush's outcome is what counts.
        let _ = self.inner.take_error();
        py.detach(|| self.inner.flush()).map_err(|e| to_py(py, e))
    }

    /// Flushes, compacts, syncs per the durability policy, and refuses further points.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.close()).map_err(|e| to_py(py, e))?;
        self.inner.front().ext.clear();
        Ok(())
    }

    /// Replaces the run metadata (a JSON object) that the flush thread keeps in `run.json`.
    fn set_run_meta(&self, py: Python<'_>, json: &str) -> PyResult<()> {
        py.detach(|| self.inner.set_run_meta(json))
            .map_err(|e| to_py(py, e))
    }

    /// Per-metric summary (count, first, last, min, max, first_step, last_step,
    /// last_timestamp, nan_count), waiting points included.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let summary = py.detach(|| self.inner.summary());
        summary_dict(py, &summary)
    }

    /// Every point of this writer's rank, written and waiting, via the Arrow C stream interface.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batches = py
            .detach(|| self.inner.read_all())
            .map_err(|e| to_py(py, e))?;
        let table = PyTable::try_new(batches, point_schema())?;
        Bound::new(py, table)?.call_method1("__arrow_c_stream__", (requested_schema,))
    }

    /// The schema of the exported points.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let table = PyTable::try_new(Vec::new(), point_schema())?;
        Bound::new(py, table)?.call_method0("__arrow_c_schema__")
    }

    /// Counters: points_written, segment_bytes_written, segments_written, compactions, pending.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("points_written", s.points_written)?;
        d.set_item("segment_bytes_written", s.segment_bytes_written)?;
        d.set_item("segments_written", s.segments_written)?;
        d.set_item("compactions", s.compactions)?;
        d.set_item("pending", self.inner.pending())?;
        d.set_item("feed_dropped", self.inner.feed_dropped())?;
        Ok(d)
    }

    /// What recovery did when this writer opened its rank.
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        recovery_dict(py, self.inner.recovery())
    }

    /// Keeps flushed batches for [`next_flushed`]: the feed of the plugin orchestrator.
    #[pyo3(signature = (max_batches=64))]
    fn subscribe(&self, max_batches: usize) {
        self.inner.subscribe(max_batches);
    }

    /// `(first_row, record_batch)` of the next flushed segment, waiting up to `timeout`
    /// seconds with the GIL released; `None` if nothing came. `first_row` is the index of
    /// the batch's first point among all points of this rank.
    fn next_flushed(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<(u64, PyRecordBatch)>> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let next = py.detach(|| self.inner.next_flushed(timeout));
        Ok(next.map(|(row, batch)| (row, PyRecordBatch::new(batch))))
    }

    /// The run folder.
    #[getter]
    fn run_dir(&self) -> std::path::PathBuf {
        self.inner.config().run_dir.clone()
    }

    /// Points of this rank so far (in the store when the writer opened, plus written,
    /// plus waiting): the `first_row` the next flushed point will have. No I/O.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// This writer's rank.
    #[getter]
    fn rank(&self) -> u32 {
        self.inner.config().rank
    }

    /// Whether `close()` has completed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.close(py)
    }
}
