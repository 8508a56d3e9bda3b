//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt32Type};
use arrow_array::RecordBatch;
use ferrotrack_store::compaction::CompactionPolicy;
use ferrotrack_store::{MetricWriter, WriterConfig};

/// A writer without a background thread (only explicit flushes write) that never
/// compacts, so that tests see one file per flush.
pub fn manual_writer(dir: &Path) -> MetricWriter {
    MetricWriter::open(WriterConfig {
        background: false,
        compaction: CompactionPolicy {
            small_rows: 0,
            ..CompactionPolicy::default()
        },
        ..WriterConfig::new(dir)
    })
    .unwrap()
}

/// Logs one point the way the binding does.
pub fn log(w: &MetricWriter, name: &str, value: f64, step: Option<i64>) {
    let mut front = w.front();
    let id = front.buffer.intern(name).unwrap();
    front.buffer.push(id, value, step, None);
    w.after_append(&mut front);
}

/// `(name, step, value)` rows of batches, in order.
pub fn rows(batches: &[RecordBatch]) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for b in batches {
        let names = b.column(0).as_dictionary::<UInt32Type>();
        let dict = names.values().as_string::<i32>();
        let steps = b.column(1).as_primitive::<Int64Type>();
        let values = b.column(3).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let key = names.keys().value(i) as usize;
            out.push((dict.value(key).to_owned(), steps.value(i), values.value(i)));
        }
    }
    out
}

/// Rows grouped by name, order kept; values compared bit for bit (NaN == NaN).
pub fn by_name(rows: &[(String, i64, f64)]) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut m: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for (n, s, v) in rows {
        m.entry(n.clone()).or_default().push((*s, v.to_bits()));
    }
    m
}

/// Number of segment files in a run's metrics folder.
pub fn segment_files(run: &Path) -> usize {
    std::fs::read_dir(run.join("metrics"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .count()
}
