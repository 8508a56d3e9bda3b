//! Store errors raised as the exceptions of `ferrotrack.core.errors`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use ferrotrack_store::StoreError;

/// An exception class of `ferrotrack.core.errors`, looked up once.
fn error_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<Bound<'py, PyType>> {
    cell.get_or_try_init(py, || {
        py.import("ferrotrack.core.errors")?
            .getattr(name)?
            .cast_into::<PyType>()
            .map(Bound::unbind)
            .map_err(PyErr::from)
    })
    .map(|t| t.bind(py).clone())
}

macro_rules! raise {
    ($py:expr, $name:literal, $msg:expr) => {{
        static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        match error_class($py, &CELL, $name) {
            Ok(cls) => PyErr::from_type(cls, $msg),
            Err(e) => e,
        }
    }};
}

/// Converts a store error to the matching Python exception.
pub fn to_py(py: Python<'_>, err: StoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        StoreError::InvalidName { .. } => raise!(py, "InvalidMetricError", msg),
        StoreError::Closed { .. } => raise!(py, "RunClosedError", msg),
        StoreError::Io { .. } => raise!(py, "StoreWriteError", msg),
        StoreError::Parquet { .. } | StoreError::Format { .. } => {
            raise!(py, "StoreCorruptError", msg)
        }
        StoreError::Meta(_) => raise!(py, "InvalidMetricError", msg),
        StoreError::RankInUse { .. } | StoreError::NoFreeRank { .. } => {
            raise!(py, "RankInUseError", msg)
        }
        StoreError::InvalidRank { .. } => raise!(py, "InvalidArgumentError", msg),
    }
}

/// A `TypeError` for a value that is not a number; `label` is the quoted metric name.
pub fn not_a_number(py: Python<'_>, label: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let ty = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    raise!(
        py,
        "InvalidValueError",
        format!("metric {label}: expected a number (int or float), got {ty}")
    )
}

/// Emits a `StoreCorruptWarning` (an error if warnings are filtered to errors).
pub fn warn_corrupt(py: Python<'_>, msg: &str) -> PyResult<()> {
    static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let cls = error_class(py, &CELL, "StoreCorruptWarning")?;
    let msg = std::ffi::CString::new(msg.replace('\0', "")).expect("no NUL left");
    PyErr::warn(py, cls.as_any(), &msg, 1)
}

/// A `StoreWriteError` carrying the OS error number, like the `OSError` it derives from.
pub fn write_error(py: Python<'_>, errno: Option<i32>, msg: String) -> PyErr {
    match errno {
        Some(n) => raise!(py, "StoreWriteError", (n, msg)),
        None => raise!(py, "StoreWriteError", msg),
    }
}

/// An `InvalidValueError` for a metric value that cannot be stored.
pub fn bad_value(py: Python<'_>, msg: String) -> PyErr {
    raise!(py, "InvalidValueError", msg)
}

/// An `InvalidMetricError` for an unusable metric name.
pub fn bad_name(py: Python<'_>, msg: String) -> PyErr {
    raise!(py, "InvalidMetricError", msg)
}

/// A `ValueError` for bad arrays and other bad arguments.
pub fn bad_argument(py: Python<'_>, msg: String) -> PyErr {
    raise!(py, "InvalidArgumentError", msg)
}
