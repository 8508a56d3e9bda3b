//! Functions over run folders that need no writer: recovery and reading.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_arrow::PyTable;

use ferrotrack_store::claim::check_rank;
use ferrotrack_store::recovery::RecoveryReport;
use ferrotrack_store::schema::point_schema;
use ferrotrack_store::{StoreError, Summary};

use crate::errors::{bad_argument, to_py, warn_corrupt, write_error};

/// A summary as `{name: {count, first, last, min, max, first_step, last_step, last_timestamp, nan_count}}`.
pub fn summary_dict<'py>(py: Python<'py>, summary: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, s) in summary.iter() {
        let d = PyDict::new(py);
        d.set_item("count", s.count)?;
        d.set_item("first", s.first)?;
        d.set_item("last", s.last)?;
        d.set_item("min", s.min)?;
        d.set_item("max", s.max)?;
        d.set_item("first_step", s.first_step)?;
        d.set_item("last_step", s.last_step)?;
        d.set_item("last_timestamp", s.last_timestamp)?;
        d.set_item("nan_count", s.nan_count)?;
        out.set_item(name, d)?;
    }
    Ok(out)
}

/// A recovery report as a dict of lists.
pub fn recovery_dict<'py>(py: Python<'py>, r: &RecoveryReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("quarantined", r.quarantined.clone())?;
    d.set_item("removed_covered", r.removed_covered.clone())?;
    d.set_item("rebuilt_summaries", r.rebuilt_summaries.clone())?;
    Ok(d)
}

/// Recovers every rank of a run folder (only when no process writes to it).
#[pyfunction]
pub fn recover_run<'py>(
    py: Python<'py>,
    run_dir: std::path::PathBuf,
) -> PyResult<Bound<'py, PyDict>> {
    let report = py
        .detach(|| ferrotrack_store::recovery::recover_run(&run_dir))
        .map_err(|e| to_py(py, e))?;
    recovery_dict(py, &report)
}

/// Every point of a run folder (all ranks, or one), each once, as an Arrow table; with
/// `start` or `limit` (which need a `rank`), the points of that rank from row `start`,
/// at most `limit` of them, read from the segments that hold them only.
#[pyfunction]
#[pyo3(signature = (run_dir, rank=None, start=0, limit=None))]
pub fn read_run(
    py: Python<'_>,
    run_dir: std::path::PathBuf,
    rank: Option<i64>,
    start: i64,
    limit: Option<i64>,
) -> PyResult<PyTable> {
    let rank = rank
        .map(|r| check_rank(r).map_err(|e| to_py(py, e)))
        .transpose()?;
    let count = |what: &str, n: i64| {
        u64::try_from(n).map_err(|_| {
            bad_argument(
                py,
                format!("read_run: {what} must be a count of rows (>= 0), got {n}"),
            )
        })
    };
    let start = count("start", start)?;
    let limit = limit.map(|l| count("limit", l)).transpose()?;
    let batches = match rank {
        Some(rank) if start > 0 || limit.is_some() => {
            py.detach(|| ferrotrack_store::reader::read_range(&run_dir, rank, start, limit))
        }
        None if start > 0 || limit.is_some() => {
            return Err(bad_argument(
                py,
                "read_run: start and limit count the rows of one rank; give rank=".into(),
            ))
        }
        _ => py.detach(|| ferrotrack_store::reader::read_run(&run_dir, rank)),
    }
    .map_err(|e| to_py(py, e))?;
    PyTable::try_new(batches, point_schema())
}

/// Summaries of many run folders at once, read on every core: an Arrow table with
/// `run_idx` (position in `run_dirs`), `rank`, `name`, then the summary columns (all, or
/// those in `columns`); with `name`, only that metric's rows. A summary file that cannot
/// be read is rebuilt in memory from its rank's segments, with a `StoreCorruptWarning`.
#[pyfunction]
#[pyo3(signature = (run_dirs, name=None, columns=None))]
pub fn read_summaries(
    py: Python<'_>,
    run_dirs: Vec<std::path::PathBuf>,
    name: Option<String>,
    columns: Option<Vec<String>>,
) -> PyResult<PyTable> {
    use ferrotrack_store::catalog::SummaryColumns;
    let columns = match columns {
        None => SummaryColumns::all(),
        Some(c) => SummaryColumns::named(&c)
            .map_err(|e| bad_argument(py, format!("read_summaries: {e}")))?,
    };
    let (batch, problems) = py
        .detach(|| ferrotrack_store::catalog::read_summaries(&run_dirs, name.as_deref(), &columns))
        .map_err(|e| to_py(py, e))?;
    for (path, problem) in problems {
        warn_corrupt(
            py,
            &format!(
                "{}: unreadable summary: {problem}; run `ferrotrack doctor --fix` to repair it",
                path.display()
            ),
        )?;
    }
    PyTable::try_new(vec![batch], columns.schema())
}

/// Every live segment and summary file of a run that cannot be read, as `(path, problem)`
/// with a one-line problem each; segments are checked by their footer only (fast).
#[pyfunction]
pub fn verify_run(py: Python<'_>, run_dir: std::path::PathBuf) -> PyResult<Vec<(String, String)>> {
    let problems = py
        .detach(|| ferrotrack_store::recovery::verify_run(&run_dir))
        .map_err(|e| to_py(py, e))?;
    Ok(problems
        .into_iter()
        .map(|(path, problem)| (path.to_string_lossy().into_owned(), problem))
        .collect())
}

/// The contents of many small files at once (`None` where a file cannot be read).
#[pyfunction]
pub fn read_files<'py>(
    py: Python<'py>,
    paths: Vec<std::path::PathBuf>,
) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
    let contents = py.detach(|| ferrotrack_store::catalog::read_files(&paths));
    Ok(contents
        .into_iter()
        .map(|c| c.map(|bytes| PyBytes::new(py, &bytes)))
        .collect())
}

/// `(live, covered)` segments of a run folder, decided from file names by the compaction
/// rule of `docs/format.md`: live ones as `(rank, lo, hi, path)` sorted by rank and flush,
/// covered ones (already merged into a live one) as paths.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn live_segments(
    run_dir: std::path::PathBuf,
) -> PyResult<(
    Vec<(u32, u64, u64, std::path::PathBuf)>,
    Vec<std::path::PathBuf>,
)> {
    use ferrotrack_store::layout::{list_all_segments, metrics_dir, split_covered};
    let all =
        list_all_segments(&metrics_dir(&run_dir)).map_err(|e| Python::attach(|py| to_py(py, e)))?;
    let (live, covered) = split_covered(all);
    Ok((
        live.into_iter()
            .map(|s| (s.id.rank, s.id.lo, s.id.hi, s.path))
            .collect(),
        covered.into_iter().map(|s| s.path).collect(),
    ))
}

/// Writes `data` to `path` atomically (a temporary file unique to this call, fsynced with
/// `sync`, renamed over `path`): the store's one atomic writer, shared with `run.json`.
/// Raises `StoreWriteError` (an `OSError` with its `errno`) when the file cannot be written.
#[pyfunction]
#[pyo3(signature = (path, data, sync=false))]
pub fn write_file_atomic(
    py: Python<'_>,
    path: std::path::PathBuf,
    data: &Bound<'_, PyBytes>,
    sync: bool,
) -> PyResult<()> {
    let bytes = data.as_bytes();
    py.detach(|| ferrotrack_store::meta::write_file_atomic(&path, bytes, sync))
        .map_err(|e| match e {
            StoreError::Io { source, .. } => {
                let reason = source.to_string();
                let reason = reason.split(" (os error").next().unwrap_or_default();
                write_error(
                    py,
                    source.raw_os_error(),
                    format!("cannot write {}: {reason}", path.display()),
                )
            }
            other => to_py(py, other),
        })
}

/// The summary files of a run folder as `(rank, path)`, sorted by rank.
#[pyfunction]
pub fn summary_files(run_dir: std::path::PathBuf) -> Vec<(u32, std::path::PathBuf)> {
    ferrotrack_store::layout::summary_files(&run_dir)
}
