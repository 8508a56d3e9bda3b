//! Turning Python arguments into numbers without a Python loop.

use pyo3::buffer::{Element, PyBuffer, PyUntypedBuffer};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyFloat, PyList, PyString, PyTuple};

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::types::PyInt;

use crate::errors::{bad_argument, bad_value, not_a_number};

/// The value of metric `name` as a float, from any Python number (int, float, bool, numpy
/// scalar, anything with `__float__`). May run Python code (`__float__`): never call it
/// with the writer's front locked.
#[inline]
pub fn metric_value(value: &Bound<'_, PyAny>, name: &Bound<'_, PyAny>) -> PyResult<f64> {
    match exact_float(value) {
        Some(v) => Ok(v),
        None => converted_value(value, name),
    }
}

#[cold]
fn converted_value(value: &Bound<'_, PyAny>, name: &Bound<'_, PyAny>) -> PyResult<f64> {
    let py = value.py();
    value.extract::<f64>().map_err(|err| {
        let label = name.to_string_lossy_or_repr();
        if value.is_instance_of::<PyInt>() && err.is_instance_of::<PyOverflowError>(py) {
            return bad_value(
                py,
                format!(
                    "metric {label}: the int given ({} bits) is out of float range (at most about ±1.8e308)",
                    bit_length(value)
                ),
            );
        }
        if err.is_instance_of::<PyTypeError>(py) {
            return not_a_number(py, &label, value);
        }
        // `__float__` itself failed: say so, and keep its exception as the cause.
        let failure = bad_value(
            py,
            format!(
                "metric {label}: converting the {} to a float raised {}: {}",
                type_name(value),
                type_name(err.value(py).as_any()),
                err.value(py)
            ),
        );
        failure.set_cause(py, Some(err));
        failure
    })
}

/// A value read without running Python code: a plain `float`, or a plain `int` in float
/// range. `None` for anything else, whose conversion (`__float__`) may run Python code.
#[inline]
pub fn value_without_python(value: &Bound<'_, PyAny>) -> Option<f64> {
    if let Some(v) = exact_float(value) {
        return Some(v);
    }
    if value.is_exact_instance_of::<PyInt>() {
        // int's own conversion is C code; an overflow goes to the slow path for its message.
        return value.extract::<f64>().ok();
    }
    None
}

/// The value of a plain `float` (not a subclass), read without calling into Python.
#[inline]
pub fn exact_float(value: &Bound<'_, PyAny>) -> Option<f64> {
    value.cast_exact::<PyFloat>().ok().map(|f| f.value())
}

/// The name of an object's type, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// An int for a message: its digits, or its size when it has too many to show.
pub fn int_text(obj: &Bound<'_, PyAny>) -> String {
    match obj.str() {
        Ok(s) if s.len().is_ok_and(|n| n <= 40) => s.to_string(),
        _ => format!("of {} bits", bit_length(obj)),
    }
}

/// The number of bits of an int (0 if it cannot say).
fn bit_length(obj: &Bound<'_, PyAny>) -> u64 {
    obj.call_method0("bit_length")
        .and_then(|b| b.extract::<u64>())
        .unwrap_or(0)
}

/// A metric name for a message: `'text'`, or Python's repr when it is not valid Unicode
/// text or not a `str` at all.
pub trait Label {
    fn to_string_lossy_or_repr(&self) -> String;
}

impl Label for Bound<'_, PyAny> {
    fn to_string_lossy_or_repr(&self) -> String {
        match self.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
            Some(text) => format!("'{text}'"),
            None => self
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "?".into()),
        }
    }
}

/// A step from an int (anything with `__index__`): a `TypeError` for another type, an
/// `InvalidArgumentError` for an int beyond the int64 range.
pub fn step_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    obj.extract::<i64>().map_err(|_| {
        if obj.is_instance_of::<PyInt>() {
            bad_argument(
                obj.py(),
                format!(
                    "{what}: step {} is out of the int64 range (-2**63 to 2**63-1)",
                    int_text(obj)
                ),
            )
        } else {
            PyTypeError::new_err(format!(
                "{what}: step must be an int or None, got {}",
                type_name(obj)
            ))
        }
    })
}

/// Nanoseconds since the epoch from an int (ns) or a float (seconds, like `time.time()`),
/// within the int64 range of nanoseconds (years 1677 to 2262).
pub fn timestamp_ns(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = value.py();
    if let Ok(ns) = value.extract::<i64>() {
        return Ok(ns);
    }
    if value.is_instance_of::<PyInt>() {
        return Err(bad_argument(
            py,
            format!(
                "timestamp: {} nanoseconds is out of the int64 range (years 1677 to 2262)",
                int_text(value)
            ),
        ));
    }
    match value.extract::<f64>() {
        // 2**63 is exact as a float; every float below it in magnitude fits an i64.
        Ok(s) if s.is_finite() && (s * 1e9).round().abs() < 2f64.powi(63) => {
            Ok((s * 1e9).round() as i64)
        }
        Ok(s) => Err(bad_argument(
            py,
            format!(
                "timestamp: {s:?} seconds is out of the range of int64 nanoseconds (years 1677 to 2262)"
            ),
        )),
        Err(_) => Err(bad_argument(
            py,
            format!(
                "timestamp: expected int nanoseconds or float seconds since the epoch, got {}",
                type_name(value)
            ),
        )),
    }
}

fn as_vec<T: Element + Copy, U>(
    obj: &Bound<'_, PyAny>,
    convert: fn(T) -> U,
) -> Option<PyResult<Vec<U>>> {
    let buf = PyBuffer::<T>::get(obj).ok()?;
    Some(match buf.as_slice_ptr() {
        // SAFETY: the buffer stays exported (and its memory alive) while `buf` lives,
        // and the GIL is held, so no Python code mutates it during the copy.
        Some(ptr) => Ok(unsafe { ptr.as_ref() }
            .iter()
            .copied()
            .map(convert)
            .collect()),
        None => buf
            .to_vec(obj.py())
            .map(|v| v.into_iter().map(convert).collect()),
    })
}

/// `obj` as something to read a vector of numbers from, checked to have one dimension.
///
/// A buffer or a plain sequence is `obj` itself. Anything else speaking DLPack or
/// `__array__` (a PyTorch, JAX or CuPy tensor) becomes a numpy copy or view of it in host
/// memory, made by `ferrotrack.core._arrays.host_array`: without it a tensor would be read
/// element by element, one device sync per point.
fn host_vector<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(buf) = PyUntypedBuffer::get(obj) {
        one_dimensional(&buf, obj.py(), what)?;
        return Ok(obj.clone());
    }
    let plain = obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>();
    if plain || !(obj.hasattr("__dlpack__")? || obj.hasattr("__array__")?) {
        return Ok(obj.clone());
    }
    let py = obj.py();
    static CONVERT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let convert = CONVERT.get_or_try_init(py, || {
        py.import("ferrotrack.core._arrays")?
            .getattr("host_array")
            .map(Bound::unbind)
    })?;
    let converted = convert.bind(py).call1((obj,)).map_err(|e| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        bad_argument(
            py,
            format!("{what}: could not read this {ty} as numbers in host memory ({e})"),
        )
    })?;
    if let Ok(buf) = PyUntypedBuffer::get(&converted) {
        one_dimensional(&buf, py, what)?;
    }
    Ok(converted)
}

/// Refuses a buffer of more than one dimension.
fn one_dimensional(buf: &PyUntypedBuffer, py: Python<'_>, what: &str) -> PyResult<()> {
    if buf.dimensions() > 1 {
        return Err(bad_argument(
            py,
            format!(
                "{what}: expected a one-dimensional array, got {} dimensions",
                buf.dimensions()
            ),
        ));
    }
    Ok(())
}

/// Calls `f` with the values of `obj` as f64: straight from the buffer's memory for a
/// contiguous float64 buffer (no copy), converted otherwise.
pub fn with_float_slice<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[f64]) -> PyResult<R>,
) -> PyResult<R> {
    let obj = &host_vector(obj, what)?;
    if let Ok(buf) = PyBuffer::<f64>::get(obj) {
        if let Some(ptr) = buf.as_slice_ptr() {
            // SAFETY: the buffer stays exported while `buf` lives, and `f` keeps the GIL
            // (it flushes without releasing it), so no Python code can touch the memory.
            return f(unsafe { ptr.as_ref() });
        }
    }
    f(&float_array(obj, what)?)
}

/// Values of a numeric buffer (numpy array, `array.array`, memoryview) or a sequence, as f64.
pub fn float_array(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f64>> {
    let obj = &host_vector(obj, what)?;
    let tried = as_vec::<f64, f64>(obj, |v| v)
        .or_else(|| as_vec::<f32, f64>(obj, f64::from))
        .or_else(|| as_vec::<i64, f64>(obj, |v| v as f64))
        .or_else(|| as_vec::<i32, f64>(obj, f64::from))
        .or_else(|| as_vec::<i16, f64>(obj, f64::from))
        .or_else(|| as_vec::<i8, f64>(obj, f64::from))
        .or_else(|| as_vec::<u64, f64>(obj, |v| v as f64))
        .or_else(|| as_vec::<u32, f64>(obj, f64::from))
        .or_else(|| as_vec::<u16, f64>(obj, f64::from))
        .or_else(|| as_vec::<u8, f64>(obj, f64::from));
    match tried {
        Some(v) => v,
        None => sequence(obj, what, "float"),
    }
}

/// Steps from an integer buffer or a sequence of ints.
pub fn int_array(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    let obj = &host_vector(obj, what)?;
    let tried = as_vec::<i64, i64>(obj, |v| v)
        .or_else(|| as_vec::<i32, i64>(obj, i64::from))
        .or_else(|| as_vec::<i16, i64>(obj, i64::from))
        .or_else(|| as_vec::<i8, i64>(obj, i64::from))
        .or_else(|| as_vec::<u32, i64>(obj, i64::from))
        .or_else(|| as_vec::<u16, i64>(obj, i64::from))
        .or_else(|| as_vec::<u8, i64>(obj, i64::from));
    match tried {
        Some(v) => v,
        None => sequence(obj, what, "int"),
    }
}

fn sequence<T: for<'a, 'py> FromPyObject<'a, 'py>>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    kind: &str,
) -> PyResult<Vec<T>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(bad_argument(
            obj.py(),
            format!("{what}: expected a numeric array, got str/bytes"),
        ));
    }
    if let Ok(buf) = PyUntypedBuffer::get(obj) {
        let fmt = buf.format().to_string_lossy().into_owned();
        return Err(bad_argument(
            obj.py(),
            format!("{what}: expected a numeric array of {kind}s, got a buffer of format {fmt:?}"),
        ));
    }
    obj.extract::<Vec<T>>()
        .map_err(|_| bad_item(obj, what, kind))
}

/// Names the first item of a sequence that is not a `kind` (or not in its range).
#[cold]
fn bad_item(obj: &Bound<'_, PyAny>, what: &str, kind: &str) -> PyErr {
    let py = obj.py();
    let ty = type_name(obj);
    let Ok(items) = obj.try_iter() else {
        return bad_argument(
            py,
            format!("{what}: expected a numeric array or a sequence of {kind}s, got {ty}"),
        );
    };
    for (i, item) in items.enumerate() {
        let Ok(item) = item else { break };
        let fits = match kind {
            "int" => item.extract::<i64>().is_ok(),
            _ => item.extract::<f64>().is_ok(),
        };
        if fits {
            continue;
        }
        let problem = if item.is_instance_of::<PyInt>() {
            let range = match kind {
                "int" => "the int64 range (-2**63 to 2**63-1)",
                _ => "float range (at most about ±1.8e308)",
            };
            format!("item {i} (an int {}) is out of {range}", int_text(&item))
        } else {
            format!("item {i} is a {}, not a number", type_name(&item))
        };
        return bad_argument(py, format!("{what}: {problem}"));
    }
    bad_argument(
        py,
        format!("{what}: expected a numeric array or a sequence of {kind}s, got {ty} with non-numeric items"),
    )
}
