//! `ferrotrack.core._native`: the Python face of the ferrotrack store.

mod errors;
mod fast_call;
mod inputs;
mod name_cache;
mod run_files;
mod tensorboard;
mod writer;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<writer::MetricWriter>()?;
    fast_call::install(&m.py().get_type::<writer::MetricWriter>())?;
    m.add_function(wrap_pyfunction!(run_files::recover_run, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::read_run, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::read_summaries, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::read_files, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::live_segments, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::summary_files, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::write_file_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(run_files::verify_run, m)?)?;
    m.add_class::<tensorboard::TensorboardFile>()?;
    m.add_function(wrap_pyfunction!(tensorboard::read_tensorboard, m)?)?;
    m.add("FORMAT_VERSION", ferrotrack_store::FORMAT_VERSION)?;
    m.add("MAX_NAME_BYTES", ferrotrack_store::MAX_NAME_BYTES)?;
    Ok(())
}
