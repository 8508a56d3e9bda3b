//! Turning Python arguments into numbers without a Python loop.

use pyo3::buffer::{Element, PyBuffer, PyUntypedBuffer};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyFloat, PyList, PyString, PyTuple};

use crate::errors::bad_argument;

/// A float from a Python number (int, float, bool, numpy scalar, anything with `__float__`).
#[inline]
pub fn number(value: &Bound<'_, PyAny>) -> Option<f64> {
    match exact_float(value) {
        Some(v) => Some(v),
        None => value.extract::<f64>().ok(),
    }
}

/// The value of a plain `float` (not a subclass), read without calling into Python.
#[inline]
pub fn exact_float(value: &Bound<'_, PyAny>) -> Option<f64> {
    value.cast_exact::<PyFloat>().ok().map(|f| f.value())
}

/// Nanoseconds since the epoch from an int (ns) or a float (seconds, like `time.time()`).
pub fn timestamp_ns(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(ns) = value.extract::<i64>() {
        return Ok(ns);
    }
    match value.extract::<f64>() {
        Ok(s) if s.is_finite() => Ok((s * 1e9).round() as i64),
        _ => Err(bad_argument(
            value.py(),
            "timestamp: expected int nanoseconds or float seconds since the epoch".into(),
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
    obj.extract::<Vec<T>>().map_err(|_| {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        bad_argument(
            obj.py(),
            format!("{what}: expected a numeric array or a sequence of {kind}s, got {ty} with non-numeric items"),
        )
    })
}
