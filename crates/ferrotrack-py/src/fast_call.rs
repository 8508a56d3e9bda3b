//! `MetricWriter.log` as a C method with the vectorcall convention.
//!
//! A `#[pymethods]` method finds keyword arguments by comparing their UTF-8 text with
//! each parameter name; at tens of nanoseconds per call that is a visible share of a
//! `log` that costs a few nanoseconds per point. This entry point matches keyword names
//! by the identity of interned strings (what CPython passes for `step=` written in
//! code), falling back to comparing text, and is installed on the class as an ordinary
//! method descriptor, so `writer.log` is a bound built-in method as before.

use std::ffi::CStr;
use std::sync::OnceLock;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::inputs::step_arg;
use crate::writer::MetricWriter;

const PARAMS: [&str; 4] = ["name", "value", "step", "timestamp"];

const DOC: &CStr = c"log(name, value=None, step=None, timestamp=None)
--

Logs one point, `log(name, value, step=None, timestamp=None)`, or several points at
one step, `log({name: value, ...}, step=None)`.";

/// Interned parameter names, created once per process.
static NAMES: OnceLock<[Py<PyString>; 4]> = OnceLock::new();

/// Replaces the class's `log` with the vectorcall method descriptor.
pub fn install(ty: &Bound<'_, PyType>) -> PyResult<()> {
    let py = ty.py();
    NAMES.get_or_init(|| PARAMS.map(|p| PyString::intern(py, p).unbind()));
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"log".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: log_vectorcall,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: DOC.as_ptr(),
    }));
    // SAFETY: the type object is alive and `def` lives for the rest of the process.
    let descr =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))? };
    ty.setattr("log", descr)
}

/// The position of keyword `kw` among [`PARAMS`].
fn param_index(names: &[Py<PyString>; 4], kw: &Bound<'_, PyAny>) -> Option<usize> {
    if let Some(i) = names.iter().position(|n| n.as_ptr() == kw.as_ptr()) {
        return Some(i);
    }
    let text = kw.cast::<PyString>().ok()?.to_str().ok()?;
    PARAMS.iter().position(|p| *p == text)
}

/// Sorts positional and keyword arguments into the four parameters.
///
/// # Safety
/// `args` holds `nargs` live objects followed by one per name in `kwnames` (a tuple or null).
unsafe fn bind<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Borrowed<'py, 'py, PyAny>>; 4]> {
    let mut out: [Option<Borrowed<'py, 'py, PyAny>>; 4] = [None; 4];
    let nargs = nargs as usize;
    if nargs > PARAMS.len() {
        return Err(PyTypeError::new_err(format!(
            "log() takes at most 4 arguments ({nargs} given)"
        )));
    }
    for (i, slot) in out.iter_mut().enumerate().take(nargs) {
        *slot = Some(Borrowed::from_ptr(py, *args.add(i)));
    }
    if !kwnames.is_null() {
        let names = NAMES.get().expect("installed before use");
        let nkw = ffi::PyTuple_GET_SIZE(kwnames) as usize;
        for k in 0..nkw {
            let kw = Borrowed::from_ptr(py, ffi::PyTuple_GET_ITEM(kwnames, k as ffi::Py_ssize_t));
            let Some(i) = param_index(names, &kw) else {
                return Err(PyTypeError::new_err(format!(
                    "log() got an unexpected keyword argument '{}'",
                    kw.str().map(|s| s.to_string()).unwrap_or_default()
                )));
            };
            if out[i].is_some() {
                return Err(PyTypeError::new_err(format!(
                    "log() got multiple values for argument '{}'",
                    PARAMS[i]
                )));
            }
            out[i] = Some(Borrowed::from_ptr(py, *args.add(nargs + k)));
        }
    }
    Ok(out)
}

unsafe extern "C" fn log_vectorcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls C methods attached to the interpreter.
    let py = Python::assume_attached();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> PyResult<()> {
        // SAFETY: the method descriptor only binds instances of MetricWriter.
        let slf = Borrowed::from_ptr(py, slf).cast::<MetricWriter>()?;
        let [name, value, step, timestamp] = bind(py, args, nargs, kwnames)?;
        let Some(name) = name else {
            return Err(PyTypeError::new_err(
                "log() missing required argument 'name' (pos 1)",
            ));
        };
        let step = match step {
            Some(s) if !s.is_none() => Some(step_arg(&s, "log")?),
            _ => None,
        };
        let value = value.filter(|v| !v.is_none());
        let timestamp = timestamp.filter(|t| !t.is_none());
        slf.get()
            .log_point(py, &name, value.as_deref(), step, timestamp.as_deref())
    }));
    match outcome {
        Ok(Ok(())) => {
            let none = ffi::Py_None();
            ffi::Py_IncRef(none);
            none
        }
        Ok(Err(e)) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic in MetricWriter.log".into());
            pyo3::panic::PanicException::new_err(msg).restore(py);
            std::ptr::null_mut()
        }
    }
}
