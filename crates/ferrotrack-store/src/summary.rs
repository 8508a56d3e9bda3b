//! Per-metric summaries kept incrementally and written as `summary.parquet`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType, UInt32Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::buffer::Columns;
use crate::error::{StoreError, StoreResult};
use crate::schema::{summary_writer_properties, KEY_FORMAT_VERSION};
use crate::segment::{parquet_footer, read_parquet, write_parquet_atomic};

/// Key of the highest flush sequence a summary file accounts for.
pub const KEY_MAX_SEQ: &str = "ferrotrack.max_seq";

/// What is known of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSummary {
    pub count: u64,
    pub first: f64,
    pub last: f64,
    /// Smallest value that is not NaN; `None` when every value was NaN.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub first_step: i64,
    pub last_step: i64,
    pub last_timestamp: i64,
    pub nan_count: u64,
}

impl MetricSummary {
    fn new(step: i64, timestamp: i64, value: f64) -> Self {
        let finite = (!value.is_nan()).then_some(value);
        MetricSummary {
            count: 1,
            first: value,
            last: value,
            min: finite,
            max: finite,
            first_step: step,
            last_step: step,
            last_timestamp: timestamp,
            nan_count: value.is_nan() as u64,
        }
    }

    #[inline]
    fn add(&mut self, step: i64, timestamp: i64, value: f64) {
        self.count += 1;
        self.last = value;
        self.last_step = step;
        self.last_timestamp = timestamp;
        if value.is_nan() {
            self.nan_count += 1;
        } else {
            self.min = Some(self.min.map_or(value, |m| m.min(value)));
            self.max = Some(self.max.map_or(value, |m| m.max(value)));
        }
    }
}

/// Summaries of every metric of one writer, in first-seen order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    names: Vec<Arc<str>>,
    stats: Vec<Option<MetricSummary>>,
    index: HashMap<Arc<str>, usize>,
    /// Highest flush sequence accounted for (0: none).
    pub max_seq: u64,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, name: &Arc<str>) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.clone());
        self.stats.push(None);
        self.index.insert(name.clone(), i);
        i
    }

    #[inline]
    fn add(&mut self, slot: usize, step: i64, ts: i64, value: f64) {
        match &mut self.stats[slot] {
            Some(s) => s.add(step, ts, value),
            empty => *empty = Some(MetricSummary::new(step, ts, value)),
        }
    }

    /// Accounts for buffered columns whose ids index `names`.
    pub fn update(&mut self, cols: &Columns, names: &[Arc<str>]) {
        let slots: Vec<usize> = names.iter().map(|n| self.slot(n)).collect();
        for i in 0..cols.len() {
            let slot = slots[cols.name[i] as usize];
            self.add(slot, cols.step[i], cols.timestamp[i], cols.value[i]);
        }
    }

    /// Accounts for a record batch of the point schema.
    pub fn update_batch(&mut self, batch: &RecordBatch) -> StoreResult<()> {
        let bad = |reason: &str| StoreError::Format {
            path: "<record batch>".into(),
            reason: reason.into(),
        };
        let names = batch
            .column_by_name("name")
            .and_then(|c| c.as_dictionary_opt::<UInt32Type>())
            .ok_or_else(|| bad("column 'name' is not dictionary<uint32, utf8>"))?;
        let dict = names
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("column 'name' has no utf8 values"))?;
        let slots: Vec<usize> = (0..dict.len())
            .map(|i| self.slot(&Arc::from(dict.value(i))))
            .collect();
        let step = primitive::<Int64Type>(batch, "step").ok_or_else(|| bad("column 'step'"))?;
        let ts = primitive::<TimestampNanosecondType>(batch, "timestamp")
            .ok_or_else(|| bad("column 'timestamp'"))?;
        let value =
            primitive::<Float64Type>(batch, "value").ok_or_else(|| bad("column 'value'"))?;
        for (i, key) in names.keys().values().iter().enumerate() {
            self.add(slots[*key as usize], step[i], ts[i], value[i]);
        }
        Ok(())
    }

    /// Folds another summary of later points into this one.
    pub fn absorb(&mut self, later: &Summary) {
        for (name, stat) in later.iter() {
            let slot = self.slot(&Arc::from(name));
            self.stats[slot] = Some(match self.stats[slot] {
                None => *stat,
                Some(mut s) => {
                    s.count += stat.count;
                    s.last = stat.last;
                    s.last_step = stat.last_step;
                    s.last_timestamp = stat.last_timestamp;
                    s.nan_count += stat.nan_count;
                    s.min = min_opt(s.min, stat.min, f64::min);
                    s.max = min_opt(s.max, stat.max, f64::max);
                    s
                }
            });
        }
        self.max_seq = self.max_seq.max(later.max_seq);
    }

    /// The summary of one metric.
    pub fn get(&self, name: &str) -> Option<&MetricSummary> {
        self.index.get(name).and_then(|&i| self.stats[i].as_ref())
    }

    /// Every metric with its summary, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetricSummary)> {
        self.names
            .iter()
            .zip(&self.stats)
            .filter_map(|(n, s)| s.as_ref().map(|s| (n.as_ref(), s)))
    }

    /// Number of metrics with at least one point.
    pub fn len(&self) -> usize {
        self.stats.iter().filter(|s| s.is_some()).count()
    }

    /// Whether no metric has a point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The summary as a record batch of [`summary_schema`].
    pub fn to_batch(&self) -> RecordBatch {
        let rows: Vec<(&str, &MetricSummary)> = self.iter().collect();
        let f = |g: fn(&MetricSummary) -> f64| {
            Float64Array::from_iter_values(rows.iter().map(|r| g(r.1)))
        };
        let i = |g: fn(&MetricSummary) -> i64| {
            Int64Array::from_iter_values(rows.iter().map(|r| g(r.1)))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(i(|s| s.count as i64)),
            Arc::new(f(|s| s.first)),
            Arc::new(f(|s| s.last)),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.1.min))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.1.max))),
            Arc::new(i(|s| s.first_step)),
            Arc::new(i(|s| s.last_step)),
            Arc::new(
                TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.1.last_timestamp))
                    .with_timezone("UTC"),
            ),
            Arc::new(i(|s| s.nan_count as i64)),
        ];
        RecordBatch::try_new(summary_schema(), columns).expect("summary columns match the schema")
    }

    /// Writes the summary atomically to `path`.
    pub fn write(&self, path: &Path, sync: bool) -> StoreResult<u64> {
        let props = summary_writer_properties(&[(KEY_MAX_SEQ, self.max_seq.to_string())]);
        write_parquet_atomic(path, summary_schema(), &[self.to_batch()], props, sync)
    }

    /// Reads a summary file.
    pub fn read(path: &Path) -> StoreResult<Summary> {
        let (_, kv) = parquet_footer(path)?;
        let bad = |reason: String| StoreError::Format {
            path: path.to_path_buf(),
            reason,
        };
        if !kv.iter().any(|(k, _)| k == KEY_FORMAT_VERSION) {
            return Err(bad("no format version in its metadata".into()));
        }
        let max_seq = kv
            .iter()
            .find(|(k, _)| k == KEY_MAX_SEQ)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| bad(format!("no {KEY_MAX_SEQ} in its metadata")))?;
        let mut summary = Summary {
            max_seq,
            ..Summary::default()
        };
        for batch in read_parquet(path)? {
            let col = |n: &str| {
                batch
                    .column_by_name(n)
                    .ok_or_else(|| bad(format!("no column {n:?}")))
            };
            let names = col("name")?
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("column 'name' is not utf8".into()))?
                .clone();
            let f = |n: &str| -> StoreResult<Float64Array> {
                col(n)?
                    .as_primitive_opt::<Float64Type>()
                    .cloned()
                    .ok_or_else(|| bad(format!("column {n:?} is not float64")))
            };
            let i = |n: &str| -> StoreResult<Int64Array> {
                col(n)?
                    .as_primitive_opt::<Int64Type>()
                    .cloned()
                    .ok_or_else(|| bad(format!("column {n:?} is not int64")))
            };
            let (count, first, last, min, max) =
                (i("count")?, f("first")?, f("last")?, f("min")?, f("max")?);
            let (first_step, last_step, nan) = (i("first_step")?, i("last_step")?, i("nan_count")?);
            let ts = col("last_timestamp")?
                .as_primitive_opt::<TimestampNanosecondType>()
                .cloned()
                .ok_or_else(|| bad("column 'last_timestamp' is not a timestamp".into()))?;
            for r in 0..batch.num_rows() {
                let slot = summary.slot(&Arc::from(names.value(r)));
                summary.stats[slot] = Some(MetricSummary {
                    count: count.value(r) as u64,
                    first: first.value(r),
                    last: last.value(r),
                    min: min.is_valid(r).then(|| min.value(r)),
                    max: max.is_valid(r).then(|| max.value(r)),
                    first_step: first_step.value(r),
                    last_step: last_step.value(r),
                    last_timestamp: ts.value(r),
                    nan_count: nan.value(r) as u64,
                });
            }
        }
        Ok(summary)
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn primitive<'a, T: arrow_array::ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Option<&'a [T::Native]> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
        .map(|a| a.values().as_ref())
}

/// The schema of `summary.parquet`.
pub fn summary_schema() -> SchemaRef {
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    let f = |n: &str, null: bool| Field::new(n, DataType::Float64, null);
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        i("count"),
        f("first", false),
        f("last", false),
        f("min", true),
        f("max", true),
        i("first_step"),
        i("last_step"),
        Field::new(
            "last_timestamp",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        i("nan_count"),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_counted_apart_and_infinities_are_extremes() {
        let names: Vec<Arc<str>> = vec![Arc::from("x")];
        let mut cols = Columns::default();
        for (i, v) in [f64::NAN, 1.0, f64::INFINITY, -2.0, f64::NEG_INFINITY]
            .iter()
            .enumerate()
        {
            cols.push(0, i as i64, i as i64, *v);
        }
        let mut s = Summary::new();
        s.update(&cols, &names);
        let m = s.get("x").unwrap();
        assert_eq!(m.count, 5);
        assert_eq!(m.nan_count, 1);
        assert!(m.first.is_nan());
        assert_eq!(m.last, f64::NEG_INFINITY);
        assert_eq!(m.min, Some(f64::NEG_INFINITY));
        assert_eq!(m.max, Some(f64::INFINITY));
        assert_eq!((m.first_step, m.last_step), (0, 4));
    }

    #[test]
    fn absorbing_later_points_equals_summarising_all() {
        let names: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("b")];
        let mut all = Columns::default();
        for i in 0..100 {
            all.push((i % 2) as u32, i, i, ((i * 37) % 11) as f64 - 5.0);
        }
        let mut whole = Summary::new();
        whole.update(&all, &names);
        let half = |range: std::ops::Range<usize>| {
            let mut c = Columns::default();
            for i in range {
                c.push(all.name[i], all.step[i], all.timestamp[i], all.value[i]);
            }
            let mut s = Summary::new();
            s.update(&c, &names);
            s
        };
        let mut first = half(0..40);
        first.absorb(&half(40..100));
        assert_eq!(first, whole);
    }
}
