//! The Arrow schema of points and the Parquet settings that make them small.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_array::types::{ArrowPrimitiveType, UInt32Type};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int64Array, PrimitiveArray, RecordBatch,
    StringArray, TimestampNanosecondArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::buffer::Columns;
use crate::FORMAT_VERSION;

/// Key of the format version in every file's key-value metadata.
pub const KEY_FORMAT_VERSION: &str = "ferrotrack.format_version";
/// Key of the writer's rank in a segment's metadata.
pub const KEY_RANK: &str = "ferrotrack.rank";
/// Keys of the first and last sequence number a segment covers.
pub const KEY_SEQ_LO: &str = "ferrotrack.seq_lo";
pub const KEY_SEQ_HI: &str = "ferrotrack.seq_hi";

/// Field metadata key by which polars recognises one of its categorical columns.
pub const POLARS_CATEGORICAL_KEY: &str = "_PL_CATEGORICAL2";
/// Its value for polars' global categories with u32 codes (`{name};{namespace};{physical};`
/// with each part prefixed by its length, empty name and namespace).
pub const POLARS_GLOBAL_CATEGORICAL: &str = "0;0;u32;";

/// The schema of a segment: `name` dictionary<uint32, utf8>, `step` int64,
/// `timestamp` timestamp[ns, UTC], `value` float64.
pub fn point_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new_with_metadata(
                vec![
                    Field::new(
                        "name",
                        DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
                        false,
                    )
                    // Tells polars that this column is one of its (global) categoricals, so it
                    // reads the dictionary indices as category codes instead of decoding every
                    // name to a string and encoding it again (a third of a 1,000-file read).
                    // Other readers ignore field metadata.
                    .with_metadata(HashMap::from([(
                        POLARS_CATEGORICAL_KEY.to_owned(),
                        POLARS_GLOBAL_CATEGORICAL.to_owned(),
                    )])),
                    Field::new("step", DataType::Int64, false),
                    Field::new(
                        "timestamp",
                        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                        false,
                    ),
                    Field::new("value", DataType::Float64, false),
                ],
                HashMap::from([(KEY_FORMAT_VERSION.to_owned(), FORMAT_VERSION.to_string())]),
            ))
        })
        .clone()
}

/// Builds a record batch from buffered columns; `names` maps ids to names.
pub fn columns_to_batch(cols: Columns, names: &[Arc<str>]) -> RecordBatch {
    // Name ids are the dictionary keys as they are: unsigned, like polars' categories,
    // so neither this conversion nor a reader's copies them.
    let keys = UInt32Array::from(cols.name);
    let values = StringArray::from_iter_values(names.iter().map(|n| n.as_ref()));
    let name = DictionaryArray::<UInt32Type>::try_new(keys, Arc::new(values))
        .expect("every buffered name id is interned");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name),
        Arc::new(Int64Array::from(cols.step)),
        Arc::new(TimestampNanosecondArray::from(cols.timestamp).with_timezone("UTC")),
        Arc::new(Float64Array::from(cols.value)),
    ];
    RecordBatch::try_new(point_schema(), columns).expect("columns match the point schema")
}

/// The memory of a batch made by [`columns_to_batch`], back as empty columns, when nothing
/// else holds it (a backend's feed may). Written points' pages are then reused, not freed
/// and faulted in again. `None` when any column is shared or not in the expected form.
pub fn reclaim_columns(batch: RecordBatch) -> Option<Columns> {
    let (_, arrays, _) = batch.into_parts();
    let mut arrays = arrays.into_iter();
    let (keys, _) = DictionaryArray::<UInt32Type>::from(owned_data(arrays.next()?)).into_parts();
    let mut columns = Columns {
        name: into_vec(keys)?,
        step: into_vec(Int64Array::from(owned_data(arrays.next()?)))?,
        timestamp: into_vec(TimestampNanosecondArray::from(owned_data(arrays.next()?)))?,
        value: into_vec(Float64Array::from(owned_data(arrays.next()?)))?,
    };
    columns.clear();
    let same = columns.name.capacity() == columns.value.capacity()
        && columns.step.capacity() == columns.value.capacity()
        && columns.timestamp.capacity() == columns.value.capacity();
    same.then_some(columns)
}

/// The data of `array`, with `array` itself dropped so that the data may be its only owner.
fn owned_data(array: ArrayRef) -> arrow_data::ArrayData {
    let data = array.to_data();
    drop(array);
    data
}

/// The values of `array` as the vector they were built from, if no one else holds them.
fn into_vec<T: ArrowPrimitiveType>(array: PrimitiveArray<T>) -> Option<Vec<T::Native>> {
    let (_, values, nulls) = array.into_parts();
    if nulls.is_some() {
        return None;
    }
    values.into_inner().into_vec::<T::Native>().ok()
}

/// Parquet settings of a summary file: a handful of rows, read by the thousand when runs
/// are listed, so nothing that costs time to decode (no compression, no dictionary).
pub fn summary_writer_properties(extra: &[(&str, String)]) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_key_value_metadata(Some(key_values(extra)))
        .build()
}

fn key_values(extra: &[(&str, String)]) -> Vec<parquet::file::metadata::KeyValue> {
    let mut kv = vec![parquet::file::metadata::KeyValue::new(
        KEY_FORMAT_VERSION.to_owned(),
        FORMAT_VERSION.to_string(),
    )];
    kv.extend(
        extra
            .iter()
            .map(|(k, v)| parquet::file::metadata::KeyValue::new((*k).to_owned(), v.clone())),
    );
    kv
}

/// Parquet settings: zstd, delta-encoded step and timestamp, byte-stream-split values.
pub fn writer_properties(extra: &[(&str, String)]) -> WriterProperties {
    let kv = key_values(extra);
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(1 << 20))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // Min/max of names would compare strings row by row for little use.
        .set_column_statistics_enabled(ColumnPath::from("name"), EnabledStatistics::None)
        .set_column_dictionary_enabled(ColumnPath::from("step"), false)
        .set_column_encoding(ColumnPath::from("step"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
        .set_column_encoding(ColumnPath::from("timestamp"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("value"), false)
        .set_column_encoding(ColumnPath::from("value"), Encoding::BYTE_STREAM_SPLIT)
        .set_key_value_metadata(Some(kv))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some_columns() -> Columns {
        let mut c = Columns::with_capacity(1000);
        for i in 0..10 {
            c.push(0, i, i * 7, i as f64);
        }
        c
    }

    #[test]
    fn a_written_batch_gives_its_columns_back() {
        let columns = some_columns();
        let value_at = columns.value.as_ptr();
        let names: Vec<Arc<str>> = vec![Arc::from("loss")];
        let back = reclaim_columns(columns_to_batch(columns, &names)).expect("sole owner");
        assert!(back.is_empty());
        assert_eq!(back.capacity(), 1000);
        assert_eq!(back.value.as_ptr(), value_at, "the same memory, not a copy");
    }

    #[test]
    fn a_batch_someone_else_holds_is_left_alone() {
        let names: Vec<Arc<str>> = vec![Arc::from("loss")];
        let batch = columns_to_batch(some_columns(), &names);
        let held = batch.clone();
        assert!(reclaim_columns(batch).is_none());
        assert_eq!(held.num_rows(), 10, "the other holder's points are intact");
        assert_eq!(held.column(3).len(), 10);
    }
}
