//! Writing and reading one Parquet file atomically.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::durability::{sync_dir, sync_file};
use crate::error::{StoreError, StoreResult};
use crate::layout::temp_path;
use crate::schema::point_schema;

/// Writes `batches` to `path` through a temporary file and a rename, so that no
/// reader ever sees a partial file. With `sync`, the file is fsynced before the
/// rename and the folder after it. Returns the file's size in bytes.
pub fn write_parquet_atomic(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
    sync: bool,
) -> StoreResult<u64> {
    let tmp = temp_path(path);
    let result = write_parquet(&tmp, schema, batches, props, sync).and_then(|bytes| {
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io("rename", path, e))?;
        if sync {
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(bytes)
    });
    if result.is_err() {
        // A failed write leaves no temporary behind; the caller keeps the points.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: WriterProperties,
    sync: bool,
) -> StoreResult<u64> {
    let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    let mut writer =
        ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema, Some(props))
            .map_err(|e| StoreError::parquet(path, e))?;
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| parquet_write_error(path, e))?;
    }
    let buffered = writer
        .into_inner()
        .map_err(|e| parquet_write_error(path, e))?;
    let file = buffered
        .into_inner()
        .map_err(|e| StoreError::io("write", path, e.into_error()))?;
    if sync {
        file.sync_all()
            .map_err(|e| StoreError::io("fsync", path, e))?;
    }
    let bytes = file
        .metadata()
        .map_err(|e| StoreError::io("stat", path, e))?
        .len();
    Ok(bytes)
}

/// Parquet wraps I/O errors; unwrap them so that a full disk reads as one.
fn parquet_write_error(path: &Path, err: parquet::errors::ParquetError) -> StoreError {
    match err {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => StoreError::io("write", path, *io),
                Err(other) => StoreError::parquet(path, other),
            }
        }
        other => StoreError::parquet(path, other),
    }
}

/// A Parquet reader builder over a file held in memory.
pub type BytesReaderBuilder = ParquetRecordBatchReaderBuilder<bytes::Bytes>;

/// Reads every record batch of a Parquet file, with reader `options` and whatever
/// `shape` sets on the builder (a projection, say).
///
/// The file is read whole with one system call and decoded from memory: reading column
/// chunks through a `File` costs a seek, a read and a descriptor clone each, which
/// dominates for the many small files (summaries) that listing runs reads.
pub fn read_parquet_with(
    path: &Path,
    options: ArrowReaderOptions,
    shape: impl FnOnce(BytesReaderBuilder) -> BytesReaderBuilder,
) -> StoreResult<Vec<RecordBatch>> {
    let data = std::fs::read(path).map_err(|e| StoreError::io("open", path, e))?;
    let reader = BytesReaderBuilder::try_new_with_options(bytes::Bytes::from(data), options)
        .and_then(|b| shape(b.with_batch_size(1 << 16)).build())
        .map_err(|e| StoreError::parquet(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::parquet(path, e))
}

/// Reads every record batch of a Parquet file, with the Arrow schema it embeds.
pub fn read_parquet(path: &Path) -> StoreResult<Vec<RecordBatch>> {
    read_parquet_with(path, ArrowReaderOptions::new(), |b| b)
}

/// Reads a segment as record batches of [`point_schema`], whatever Arrow schema its
/// writer embedded (segments written before names had unsigned keys read the same).
pub fn read_points(path: &Path) -> StoreResult<Vec<RecordBatch>> {
    read_parquet_with(
        path,
        ArrowReaderOptions::new().with_schema(point_schema()),
        |b| b,
    )
}

/// Rows and key-value metadata of a Parquet file, read from its footer only.
pub fn parquet_footer(path: &Path) -> StoreResult<(u64, Vec<(String, String)>)> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| StoreError::parquet(path, e))?;
    let meta = reader.metadata().file_metadata();
    let kv = meta
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Ok((meta.num_rows() as u64, kv))
}

/// fsyncs every path given, then their folders.
pub fn sync_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> StoreResult<()> {
    let mut dirs = std::collections::BTreeSet::new();
    for p in paths {
        if p.exists() {
            sync_file(p)?;
        }
        if let Some(d) = p.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in dirs {
        sync_dir(&d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, UInt32Type};
    use arrow_array::{
        ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray,
        TimestampNanosecondArray,
    };
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn segments_with_signed_name_keys_read_as_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        // The current schema with the signed keys that earlier segments declared.
        let mut fields: Vec<Field> = point_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[0] = Field::new(
            "name",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        );
        let old = Arc::new(Schema::new(fields));
        let name = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![1, 0]),
            Arc::new(StringArray::from(vec!["a", "b"])),
        )
        .unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(name),
            Arc::new(Int64Array::from(vec![0, 1])),
            Arc::new(TimestampNanosecondArray::from(vec![5, 6]).with_timezone("UTC")),
            Arc::new(Float64Array::from(vec![0.5, 1.5])),
        ];
        let batch = RecordBatch::try_new(old.clone(), columns).unwrap();
        let path = dir.path().join("old.parquet");
        let props = WriterProperties::builder().build();
        write_parquet_atomic(&path, old, &[batch], props, false).unwrap();
        let read = read_points(&path).unwrap();
        assert_eq!(read[0].schema().fields(), point_schema().fields());
        let names = read[0].column(0).as_dictionary::<UInt32Type>();
        let texts: Vec<&str> = names
            .downcast_dict::<StringArray>()
            .unwrap()
            .into_iter()
            .map(|n| n.unwrap())
            .collect();
        assert_eq!(texts, ["b", "a"]);
    }
}
