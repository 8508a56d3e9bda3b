//! TensorBoard event files from Python: whole Arrow batches in, whole files out, encoded
//! and decoded by `ferrotrack-tb` with the GIL released.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray};
use arrow_array::{Float64Array, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use pyo3_arrow::{PyRecordBatch, PyTable};

use ferrotrack_tb::append::reason;
use ferrotrack_tb::hparams::{Experiment, HValue, PluginData, SessionEnd, SessionStart, Status};
use ferrotrack_tb::time::seconds;
use ferrotrack_tb::{AppendError, Appender, Encoder, ScalarKind};

use crate::errors::bad_argument;

/// One event file being appended to. Each write is one `write` of whole records; one
/// that fails part way is cut back to where it began (so a retry writes each event once)
/// and its tags' metadata is written again with the retry. One that cannot be cut back
/// poisons the file: later writes raise OSError (the backend's next opening starts a
/// new event file).
#[pyclass(frozen, module = "ferrotrack.core._native")]
pub struct TensorboardFile {
    path: PathBuf,
    inner: Mutex<Option<Appender>>,
}

/// A hyperparameter value from Python: bool, int or float (numbers), or str.
pub struct HParamArg(HValue);

impl<'a, 'py> FromPyObject<'a, 'py> for HParamArg {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() {
            return Ok(HParamArg(HValue::Bool(obj.extract()?)));
        }
        if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
            return Ok(HParamArg(HValue::Number(obj.extract()?)));
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(HParamArg(HValue::Text(s.to_str()?.to_owned())));
        }
        Err(bad_argument(
            obj.py(),
            format!(
                "tensorboard hparams: a value must be bool, int, float or str, got {}",
                obj.get_type().name()?
            ),
        ))
    }
}

fn status_of(py: Python<'_>, status: &str) -> PyResult<Status> {
    Ok(match status {
        "success" => Status::Success,
        "failure" => Status::Failure,
        "running" => Status::Running,
        "unknown" => Status::Unknown,
        other => {
            return Err(bad_argument(
                py,
                format!(
                    "tensorboard: status {other:?}, expected success, failure, running or unknown"
                ),
            ))
        }
    })
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Success => "success",
        Status::Failure => "failure",
        Status::Running => "running",
        Status::Unknown => "unknown",
    }
}

/// The point columns of a batch: names (a dictionary's values, or distinct strings),
/// a code per point, steps, timestamps (ns) and values.
struct Columns<'a> {
    names: Vec<&'a str>,
    codes: Vec<u32>,
    steps: &'a [i64],
    stamps: &'a [i64],
    values: &'a [f64],
}

fn strings(array: &dyn Array) -> Option<Vec<&str>> {
    if let Some(a) = array.as_string_opt::<i32>() {
        return Some((0..a.len()).map(|i| a.value(i)).collect());
    }
    if let Some(a) = array.as_string_opt::<i64>() {
        return Some((0..a.len()).map(|i| a.value(i)).collect());
    }
    array
        .as_string_view_opt()
        .map(|a| (0..a.len()).map(|i| a.value(i)).collect())
}

fn columns(batch: &RecordBatch) -> Result<Columns<'_>, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("the batch has no column {name:?}"))
    };
    for name in ["name", "step", "timestamp", "value"] {
        if column(name)?.null_count() > 0 {
            return Err(format!("column {name:?} holds nulls"));
        }
    }
    let name = column("name")?;
    let (names, codes) = if let Some(dict) = name.as_any_dictionary_opt() {
        let names = strings(dict.values().as_ref())
            .ok_or("column \"name\": a dictionary of strings expected")?;
        let codes = dict
            .normalized_keys()
            .into_iter()
            .map(|k| k as u32)
            .collect();
        (names, codes)
    } else {
        let all = strings(name.as_ref()).ok_or("column \"name\": strings expected")?;
        let mut index = std::collections::HashMap::new();
        let mut names = Vec::new();
        let codes = all
            .iter()
            .map(|&n| {
                *index.entry(n).or_insert_with(|| {
                    names.push(n);
                    names.len() as u32 - 1
                })
            })
            .collect();
        (names, codes)
    };
    let step = column("step")?;
    let steps = step
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| format!("column \"step\": int64 expected, got {}", step.data_type()))?;
    let stamp = column("timestamp")?;
    let stamps: &[i64] = match stamp.data_type() {
        DataType::Int64 => stamp.as_primitive::<Int64Type>().values(),
        DataType::Timestamp(arrow_schema::TimeUnit::Nanosecond, _) => stamp
            .as_primitive::<arrow_array::types::TimestampNanosecondType>()
            .values(),
        other => {
            return Err(format!(
                "column \"timestamp\": int64 or timestamp[ns] expected, got {other}"
            ))
        }
    };
    let value = column("value")?;
    let values = value.as_primitive_opt::<Float64Type>().ok_or_else(|| {
        format!(
            "column \"value\": float64 expected, got {}",
            value.data_type()
        )
    })?;
    Ok(Columns {
        names,
        codes,
        steps: steps.values(),
        stamps,
        values: values.values(),
    })
}

impl TensorboardFile {
    /// Encodes with `f` and appends the bytes in one write, all or nothing (see
    /// [`Appender`]); a file whose failed write could not be cut back refuses further
    /// writes with an OSError that says so.
    fn append(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Encoder, &mut Vec<u8>) -> Result<(), String> + Send,
    ) -> PyResult<usize> {
        let path = &self.path;
        let outcome = py.detach(|| match self.inner.lock().as_mut() {
            Some(open) => open.append(f),
            None => Err(AppendError::Encode(format!("{} is closed", path.display()))),
        });
        let os_error = |errno: Option<i32>, why: String| {
            let msg = format!("cannot append to {}: {why}", path.display());
            match errno {
                Some(n) => pyo3::exceptions::PyOSError::new_err((n, msg)),
                None => pyo3::exceptions::PyOSError::new_err(msg),
            }
        };
        outcome.map_err(|e| match e {
            AppendError::Io(io) => os_error(io.raw_os_error(), reason(&io)),
            AppendError::CutBack { write, why } => os_error(write.raw_os_error(), why),
            AppendError::Poisoned { errno, why } => os_error(errno, why),
            AppendError::Encode(msg) => bad_argument(py, format!("tensorboard: {msg}")),
        })
    }
}

#[pymethods]
impl TensorboardFile {
    /// Opens `path` for appending (created when missing, its folder must exist); a new
    /// or empty file gets the `file_version` event first. `float64=True` stores scalars
    /// as exact float64 tensors, else as float32 `simple_value`s.
    #[new]
    #[pyo3(signature = (path, *, float64=false, wall_time=0))]
    fn new(py: Python<'_>, path: PathBuf, float64: bool, wall_time: i64) -> PyResult<Self> {
        let kind = if float64 {
            ScalarKind::Float64
        } else {
            ScalarKind::Float32
        };
        let file = py
            .detach(|| OpenOptions::new().append(true).create(true).open(&path))
            .map_err(PyErr::from)?;
        let this = TensorboardFile {
            path,
            inner: Mutex::new(Some(Appender::new(file, Encoder::new(kind)))),
        };
        let empty = {
            let guard = this.inner.lock();
            let open = guard.as_ref().expect("just opened");
            open.file().metadata().map_err(PyErr::from)?.len() == 0
        };
        if empty {
            this.append(py, |enc, out| {
                enc.file_version(out, wall_time);
                Ok(())
            })?;
        }
        Ok(this)
    }

    /// Appends one scalar event per point of `batch` (columns name, step, timestamp,
    /// value, as the store gives them); returns the bytes written.
    fn write_points(&self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<usize> {
        let batch = batch.into_inner();
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        self.append(py, |enc, out| {
            let c = columns(&batch)?;
            enc.scalars(out, &c.names, &c.codes, c.steps, c.stamps, c.values)
                .map_err(|e| e.to_string())
        })
    }

    /// Appends a text summary (TensorBoard's Text tab).
    #[pyo3(signature = (tag, text, step, wall_time))]
    fn write_text(
        &self,
        py: Python<'_>,
        tag: String,
        text: String,
        step: i64,
        wall_time: i64,
    ) -> PyResult<usize> {
        self.append(py, |enc, out| {
            enc.text(out, &tag, step, wall_time, &text);
            Ok(())
        })
    }

    /// Appends the HParams plugin's session start: the run's hyperparameters.
    #[pyo3(signature = (hparams, wall_time, group_name=String::new()))]
    fn write_session_start(
        &self,
        py: Python<'_>,
        hparams: Vec<(String, HParamArg)>,
        wall_time: i64,
        group_name: String,
    ) -> PyResult<usize> {
        let data = PluginData::SessionStart(SessionStart {
            hparams: hparams.into_iter().map(|(k, v)| (k, v.0)).collect(),
            group_name,
            start_time_secs: seconds(wall_time),
        });
        self.append(py, |enc, out| {
            enc.hparams(out, &data, wall_time);
            Ok(())
        })
    }

    /// Appends the HParams plugin's session end: success, failure, running or unknown.
    fn write_session_end(&self, py: Python<'_>, status: &str, wall_time: i64) -> PyResult<usize> {
        let data = PluginData::SessionEnd(SessionEnd {
            status: status_of(py, status)?,
            end_time_secs: seconds(wall_time),
        });
        self.append(py, |enc, out| {
            enc.hparams(out, &data, wall_time);
            Ok(())
        })
    }

    /// Appends the HParams plugin's experiment: the dashboard's hyperparameter columns
    /// (typed by the values given) and metric columns (`(group, tag)`: it shows each
    /// one's last scalar).
    fn write_experiment(
        &self,
        py: Python<'_>,
        hparams: Vec<(String, HParamArg)>,
        metrics: Vec<(String, String)>,
        wall_time: i64,
    ) -> PyResult<usize> {
        let data = PluginData::Experiment(Experiment {
            hparams: hparams
                .into_iter()
                .map(|(k, v)| (k, v.0.data_type()))
                .collect(),
            metrics,
            time_created_secs: seconds(wall_time),
        });
        self.append(py, |enc, out| {
            enc.hparams(out, &data, wall_time);
            Ok(())
        })
    }

    /// fsyncs the file.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| match self.inner.lock().as_ref() {
            Some(open) => open.file().sync_data(),
            None => Ok(()),
        })
        .map_err(PyErr::from)
    }

    /// Closes the file (further writes are refused); waits for a write or flush in
    /// progress without holding the GIL.
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(self.inner.lock().take()));
    }

    /// The file written.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Whether float64 tensors hold the scalars.
    #[getter]
    fn float64(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            self.inner
                .lock()
                .as_ref()
                .is_some_and(|o| o.encoder().kind() == ScalarKind::Float64)
        })
    }
}

fn hvalue<'py>(py: Python<'py>, v: &HValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        HValue::Number(x) => x.into_pyobject(py)?.into_any(),
        HValue::Text(s) => s.into_pyobject(py)?.into_any(),
        HValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
    })
}

/// Reads the event files of one run, in the order given (TensorBoard's: by name), into
/// a dict: `points` (an Arrow table: name, step, timestamp int64 ns, value float64),
/// `texts` (`[(tag, step, ns, text)]`), `session_start` (`{"hparams", "group_name",
/// "start"}` or None), `session_end` (`{"status", "end"}` or None), `experiment`,
/// `first`/`last` wall times (ns or None), `events`, and `damage`: `[(path, offset,
/// what, bytes skipped)]` for each damaged place (its records are skipped, the rest kept).
#[pyfunction]
pub fn read_tensorboard<'py>(py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyDict>> {
    let decoded = py.detach(|| -> std::io::Result<_> {
        let mut reader = ferrotrack_tb::Reader::new();
        for p in &paths {
            reader.read_path(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display()))
            })?;
        }
        Ok(reader.finish())
    });
    let d = decoded.map_err(PyErr::from)?;
    let s = d.scalars;
    let names = DictionaryArray::new(
        UInt32Array::from(s.codes),
        Arc::new(StringArray::from(s.names)) as ArrayRef,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "name",
            DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("step", DataType::Int64, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(names),
            Arc::new(Int64Array::from(s.steps)),
            Arc::new(Int64Array::from(s.wall_ns)),
            Arc::new(Float64Array::from(s.values)),
        ],
    )
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item(
        "points",
        PyTable::try_new(vec![batch], schema)?.into_pyobject(py)?,
    )?;
    let texts: Vec<_> = d
        .texts
        .into_iter()
        .map(|t| (t.tag, t.step, t.wall_ns, t.text))
        .collect();
    out.set_item("texts", texts)?;
    match d.session_start {
        Some(start) => {
            let hp = PyDict::new(py);
            for (k, v) in &start.hparams {
                hp.set_item(k, hvalue(py, v)?)?;
            }
            let st = PyDict::new(py);
            st.set_item("hparams", hp)?;
            st.set_item("group_name", start.group_name)?;
            st.set_item("start", ferrotrack_tb::time::nanos(start.start_time_secs))?;
            out.set_item("session_start", st)?;
        }
        None => out.set_item("session_start", py.None())?,
    }
    match d.session_end {
        Some(end) => {
            let e = PyDict::new(py);
            e.set_item("status", status_name(end.status))?;
            e.set_item("end", ferrotrack_tb::time::nanos(end.end_time_secs))?;
            out.set_item("session_end", e)?;
        }
        None => out.set_item("session_end", py.None())?,
    }
    match d.experiment {
        Some(x) => {
            let e = PyDict::new(py);
            e.set_item("hparams", x.hparams)?;
            e.set_item("metrics", x.metrics)?;
            e.set_item("created", ferrotrack_tb::time::nanos(x.time_created_secs))?;
            out.set_item("experiment", e)?;
        }
        None => out.set_item("experiment", py.None())?,
    }
    out.set_item("first", d.first_wall_ns)?;
    out.set_item("last", d.last_wall_ns)?;
    out.set_item("events", d.events)?;
    let damage: Vec<_> = d
        .damage
        .into_iter()
        .map(|fd| {
            (
                paths[fd.file].clone(),
                fd.damage.offset,
                fd.damage.what,
                fd.damage.skipped,
            )
        })
        .collect();
    out.set_item("damage", damage)?;
    Ok(out)
}
