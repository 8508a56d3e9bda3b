//! Reading what describes many runs at once: their summaries and their JSON files.
//!
//! Listing 10,000 runs means opening 30,000 small files; this module reads them on
//! every core, so that `runs()` costs one pass over the disk, not one Python call per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::StoreResult;
use crate::layout::summary_files;
use crate::segment::read_parquet;
use crate::summary::summary_schema;

/// The summary schema preceded by `run_idx` (index into the run folders given) and `rank`.
pub fn catalog_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("run_idx", DataType::Int64, false),
        Field::new("rank", DataType::Int64, false),
    ];
    fields.extend(summary_schema().fields().iter().map(|f| f.as_ref().clone()));
    Arc::new(Schema::new(fields))
}

fn with_owner(
    batch: &RecordBatch,
    run_idx: usize,
    rank: u32,
    name: Option<&str>,
) -> StoreResult<Option<RecordBatch>> {
    let batch = match name {
        None => batch.clone(),
        Some(wanted) => {
            let names = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| {
                    a.iter()
                        .map(|n| Some(n == Some(wanted)))
                        .collect::<BooleanArray>()
                });
            match names {
                Some(mask) => arrow_select::filter::filter_record_batch(batch, &mask)
                    .map_err(|e| crate::StoreError::parquet("<summary>", e))?,
                None => return Ok(None),
            }
        }
    };
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![run_idx as i64; n])),
        Arc::new(Int64Array::from(vec![rank as i64; n])),
    ];
    columns.extend(batch.columns().iter().cloned());
    RecordBatch::try_new(catalog_schema(), columns)
        .map(Some)
        .map_err(|e| crate::StoreError::parquet("<summary>", e))
}

fn summaries_of(run_idx: usize, run_dir: &Path, name: Option<&str>) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for (rank, path) in summary_files(run_dir) {
        // An unreadable summary is skipped here; `doctor` reports and rebuilds it.
        for batch in read_parquet(&path).unwrap_or_default() {
            if let Ok(Some(b)) = with_owner(&batch, run_idx, rank, name) {
                out.push(b);
            }
        }
    }
    out
}

/// Runs `f` over `items` on every core, keeping the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    if threads <= 1 || items.len() < 64 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let f = &f;
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, t)| f(c * chunk + i, t))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("catalog reader panicked"))
            .collect()
    })
}

/// Summaries of every rank of every run folder (optionally of one metric only), as one
/// batch of [`catalog_schema`] (one batch, not one per file: consumers pay per chunk).
pub fn read_summaries(run_dirs: &[PathBuf], name: Option<&str>) -> StoreResult<RecordBatch> {
    let batches: Vec<RecordBatch> = parallel_map(run_dirs, |i, dir| summaries_of(i, dir, name))
        .into_iter()
        .flatten()
        .collect();
    arrow_select::concat::concat_batches(&catalog_schema(), &batches)
        .map_err(|e| crate::StoreError::parquet("<summaries>", e))
}

/// The bytes of each file (`None` where it cannot be read), read on every core.
pub fn read_files(paths: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    parallel_map(paths, |_, p| std::fs::read(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricWriter, WriterConfig};

    #[test]
    fn summaries_of_many_runs_carry_their_run_and_rank() {
        let dir = tempfile::tempdir().unwrap();
        let runs: Vec<PathBuf> = (0..100)
            .map(|i| dir.path().join(format!("run{i}")))
            .collect();
        for (i, run) in runs.iter().enumerate() {
            for rank in 0..2u32 {
                let w = MetricWriter::<()>::open(WriterConfig {
                    rank,
                    background: false,
                    ..WriterConfig::new(run)
                })
                .unwrap();
                let mut front = w.front();
                for name in ["a", "b"] {
                    let id = front.buffer.intern(name).unwrap();
                    front.buffer.push(id, i as f64, None, None);
                }
                drop(front);
                w.close().unwrap();
            }
        }
        let all = read_summaries(&runs, None).unwrap();
        assert_eq!(all.num_rows(), 100 * 2 * 2);
        let only_b = read_summaries(&runs, Some("b")).unwrap();
        let idx = only_b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        let expected: Vec<i64> = (0..100).flat_map(|i| [i, i]).collect();
        assert_eq!(idx, expected, "in run order, one row per rank");
        let texts = read_files(&[runs[0].join("summary.parquet"), runs[0].join("missing")]);
        assert!(texts[0].is_some() && texts[1].is_none());
    }
}
