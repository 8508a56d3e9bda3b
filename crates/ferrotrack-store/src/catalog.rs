//! Reading what describes many runs at once: their summaries and their JSON files.
//!
//! Listing 10,000 runs means opening 30,000 small files; this module reads them on
//! every core, so that `runs()` costs one pass over the disk, not one Python call per file.
//! Each thread appends the rows it decodes to its own column builders: a summary file
//! costs a directory listing, one read and the decoding of the columns asked for, and
//! no per-file batch, schema or filter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::ProjectionMask;

use crate::error::{StoreError, StoreResult};
use crate::layout::summary_files;
use crate::segment::read_parquet_with;
use crate::summary::summary_schema;

/// Columns of the summary schema to read, by index; `name` (index 0) always comes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryColumns(Vec<usize>);

impl SummaryColumns {
    /// Every column of the summary schema.
    pub fn all() -> Self {
        SummaryColumns((0..summary_schema().fields().len()).collect())
    }

    /// `name` and the columns named (in schema order), or the first unknown name.
    pub fn named<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let schema = summary_schema();
        let mut idx = vec![0];
        for n in names {
            let i = schema.index_of(n.as_ref()).map_err(|_| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!(
                    "unknown summary column '{}': expected some of {}",
                    n.as_ref(),
                    known.join(", ")
                )
            })?;
            idx.push(i);
        }
        idx.sort_unstable();
        idx.dedup();
        Ok(SummaryColumns(idx))
    }

    /// `run_idx` (index into the run folders given), `rank`, then these summary columns.
    pub fn schema(&self) -> SchemaRef {
        let summary = summary_schema();
        let mut fields = vec![
            Field::new("run_idx", DataType::Int64, false),
            Field::new("rank", DataType::Int64, false),
        ];
        fields.extend(self.0.iter().map(|&i| summary.field(i).clone()));
        Arc::new(Schema::new(fields))
    }
}

/// The summary schema preceded by `run_idx` and `rank` (what [`read_summaries`] gives
/// when every column is asked for).
pub fn catalog_schema() -> SchemaRef {
    SummaryColumns::all().schema()
}

/// One thread's rows, appended column by column.
struct Rows {
    run_idx: Int64Builder,
    rank: Int64Builder,
    columns: Vec<Box<dyn ArrayBuilder>>,
}

impl Rows {
    fn new(schema: &Schema) -> Self {
        let columns = schema.fields()[2..]
            .iter()
            .map(|f| -> Box<dyn ArrayBuilder> {
                match f.data_type() {
                    DataType::Utf8 => Box::new(StringBuilder::new()),
                    DataType::Float64 => Box::new(Float64Builder::new()),
                    _ => Box::new(Int64Builder::new()),
                }
            })
            .collect();
        Rows {
            run_idx: Int64Builder::new(),
            rank: Int64Builder::new(),
            columns,
        }
    }

    /// Appends the rows of `batch` (projected summary columns) whose name is `wanted`.
    fn append(&mut self, batch: &RecordBatch, run_idx: usize, rank: u32, wanted: Option<&str>) {
        let names = batch.column(0).as_string::<i32>();
        for row in 0..batch.num_rows() {
            if wanted.is_some_and(|w| names.value(row) != w) {
                continue;
            }
            self.run_idx.append_value(run_idx as i64);
            self.rank.append_value(rank as i64);
            for (builder, array) in self.columns.iter_mut().zip(batch.columns()) {
                append_cell(builder.as_mut(), array, row);
            }
        }
    }

    fn finish(mut self, schema: SchemaRef) -> StoreResult<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.run_idx.finish()),
            Arc::new(self.rank.finish()),
        ];
        for (builder, field) in self.columns.iter_mut().zip(&schema.fields()[2..]) {
            let array = builder.finish();
            // Timestamps are gathered as plain integers and given their type here.
            let array = match field.data_type() {
                DataType::Timestamp(..) => arrow_cast_timestamp(&array, field.data_type()),
                _ => array,
            };
            arrays.push(array);
        }
        RecordBatch::try_new(schema, arrays).map_err(|e| StoreError::parquet("<summaries>", e))
    }
}

fn arrow_cast_timestamp(array: &ArrayRef, to: &DataType) -> ArrayRef {
    let values = array.as_primitive::<Int64Type>();
    let tz = match to {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    Arc::new(
        arrow_array::PrimitiveArray::<TimestampNanosecondType>::new(
            values.values().clone(),
            values.nulls().cloned(),
        )
        .with_timezone_opt(tz),
    )
}

/// Copies one cell of a decoded column into the builder of its output column.
fn append_cell(builder: &mut dyn ArrayBuilder, array: &ArrayRef, row: usize) {
    let any = builder.as_any_mut();
    if let Some(b) = any.downcast_mut::<StringBuilder>() {
        b.append_value(array.as_string::<i32>().value(row));
    } else if let Some(b) = any.downcast_mut::<Float64Builder>() {
        let a = array.as_primitive::<Float64Type>();
        b.append_option(a.is_valid(row).then(|| a.value(row)));
    } else if let Some(b) = any.downcast_mut::<Int64Builder>() {
        // Int64 and Timestamp(ns) columns share the same 64-bit values.
        let value = match array.data_type() {
            DataType::Timestamp(..) => array.as_primitive::<TimestampNanosecondType>().value(row),
            _ => array.as_primitive::<Int64Type>().value(row),
        };
        b.append_value(value);
    }
}

/// Decodes the asked-for columns of one summary file. The schema is known, so the
/// Arrow schema embedded in the file is not decoded.
fn read_summary_file(path: &Path, columns: &SummaryColumns) -> StoreResult<Vec<RecordBatch>> {
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    read_parquet_with(path, options, |builder| {
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.0.iter().copied());
        builder.with_projection(mask)
    })
}

/// Whether a decoded summary batch has the types the summary schema promises.
fn well_typed(batch: &RecordBatch) -> bool {
    batch
        .columns()
        .iter()
        .enumerate()
        .all(|(i, a)| match a.data_type() {
            DataType::Utf8 => i == 0,
            DataType::Int64 | DataType::Float64 | DataType::Timestamp(..) => i > 0,
            _ => false,
        })
}

/// A summary file that could not be read, and what was done instead (one line).
pub type SummaryProblem = (PathBuf, String);

/// Appends the summaries of every rank of one run folder to `rows`.
///
/// A summary file that cannot be read (truncated, not of the summary schema) is
/// rebuilt in memory from its rank's segments, and reported in `problems`; `doctor
/// --fix` (recovery) rewrites it on disk.
fn append_run(
    rows: &mut Rows,
    run_idx: usize,
    run_dir: &Path,
    name: Option<&str>,
    columns: &SummaryColumns,
    problems: &mut Vec<SummaryProblem>,
) {
    for (rank, path) in summary_files(run_dir) {
        let problem = match read_summary_file(&path, columns) {
            Ok(batches)
                if batches
                    .iter()
                    .all(|b| b.num_columns() == columns.0.len() && well_typed(b)) =>
            {
                for batch in &batches {
                    rows.append(batch, run_idx, rank, name);
                }
                continue;
            }
            // Gone since the listing (set aside by recovery): nothing to show or to say.
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => crate::recovery::reason(&e),
            Ok(_) => "its columns are not those of a summary".to_owned(),
        };
        let outcome = match rebuilt_summary(run_dir, rank, columns) {
            Ok(batch) => {
                rows.append(&batch, run_idx, rank, name);
                format!("its values were rebuilt from the segments of rank {rank}")
            }
            Err(e) => format!(
                "the segments of rank {rank} could not rebuild it either ({})",
                crate::recovery::reason(&e)
            ),
        };
        problems.push((path, format!("{problem}; {outcome}")));
    }
}

/// The summary of one rank computed from its segments, with the asked-for columns.
fn rebuilt_summary(
    run_dir: &Path,
    rank: u32,
    columns: &SummaryColumns,
) -> StoreResult<RecordBatch> {
    let mut summary = crate::Summary::new();
    for batch in crate::reader::read_run(run_dir, Some(rank))? {
        summary.update_batch(&batch)?;
    }
    summary
        .to_batch()
        .project(&columns.0)
        .map_err(|e| StoreError::parquet(run_dir, e))
}

/// Splits `items` into one contiguous chunk per core and runs `f(first_index, chunk)` on
/// each in its own thread; results come back in the order of the chunks.
fn parallel_chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &[T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    if threads <= 1 || items.len() < 64 {
        return vec![f(0, items)];
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let f = &f;
                s.spawn(move || f(c * chunk, part))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("catalog reader panicked"))
            .collect()
    })
}

/// Runs `f` over `items` on every core, keeping the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    parallel_chunks(items, |first, part| {
        part.iter()
            .enumerate()
            .map(|(i, t)| f(first + i, t))
            .collect::<Vec<R>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Summaries of every rank of every run folder (optionally of one metric only, and of
/// some columns only), as one batch of `columns.schema()`, in the order of `run_dirs`,
/// with the summary files that could not be read (their ranks rebuilt from segments).
pub fn read_summaries(
    run_dirs: &[PathBuf],
    name: Option<&str>,
    columns: &SummaryColumns,
) -> StoreResult<(RecordBatch, Vec<SummaryProblem>)> {
    let schema = columns.schema();
    let parts = parallel_chunks(run_dirs, |first, dirs| {
        let mut rows = Rows::new(&schema);
        let mut problems = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            append_run(&mut rows, first + i, dir, name, columns, &mut problems);
        }
        rows.finish(schema.clone()).map(|batch| (batch, problems))
    });
    let mut batches = Vec::with_capacity(parts.len());
    let mut problems = Vec::new();
    for part in parts {
        let (batch, found) = part?;
        batches.push(batch);
        problems.extend(found);
    }
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| StoreError::parquet("<summaries>", e))?;
    Ok((batch, problems))
}

/// The bytes of each file (`None` where it cannot be read), read on every core.
pub fn read_files(paths: &[PathBuf]) -> Vec<Option<Vec<u8>>> {
    parallel_map(paths, |_, p| std::fs::read(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricWriter, WriterConfig};
    use arrow_array::Int64Array;

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
        let (all, problems) = read_summaries(&runs, None, &SummaryColumns::all()).unwrap();
        assert!(problems.is_empty());
        assert_eq!(all.num_rows(), 100 * 2 * 2);
        let (only_b, _) = read_summaries(&runs, Some("b"), &SummaryColumns::all()).unwrap();
        let idx = only_b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        let expected: Vec<i64> = (0..100).flat_map(|i| [i, i]).collect();
        assert_eq!(idx, expected, "in run order, one row per rank");
        assert_eq!(
            all.schema(),
            catalog_schema(),
            "the full schema, time zone included"
        );
        let last = SummaryColumns::named(&["last_timestamp", "last"]).unwrap();
        let (projected, _) = read_summaries(&runs, Some("b"), &last).unwrap();
        let schema = projected.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["run_idx", "rank", "name", "last", "last_timestamp"]);
        for column in ["run_idx", "rank", "name", "last", "last_timestamp"] {
            assert_eq!(
                projected.column_by_name(column),
                only_b.column_by_name(column),
                "{column}"
            );
        }
        let err = SummaryColumns::named(&["lats"]).unwrap_err();
        assert!(err.contains("'lats'") && err.contains("last_step"), "{err}");
        let texts = read_files(&[runs[0].join("summary.parquet"), runs[0].join("missing")]);
        assert!(texts[0].is_some() && texts[1].is_none());
    }
}
