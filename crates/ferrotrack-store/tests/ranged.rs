//! Ranged reads: any range of a rank's points, read from the segments that hold it,
//! equal to the same slice of the whole rank, also while a writer compacts.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::RecordBatch;
use common::{log, manual_writer};
use ferrotrack_store::compaction::CompactionPolicy;
use ferrotrack_store::layout::{metrics_dir, SegmentId};
use ferrotrack_store::reader::{read_range, read_run};
use ferrotrack_store::schema::{columns_to_batch, point_schema};
use ferrotrack_store::segment::write_parquet_atomic;
use ferrotrack_store::{Columns, MetricWriter, WriterConfig};
use parquet::file::properties::WriterProperties;
use proptest::prelude::*;

fn values(batches: &[RecordBatch]) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| b.column(3).as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

/// Writes segments of `rank` holding consecutive values (`value == row index`), each
/// segment in row groups of `group` rows; returns the number of points written.
fn write_segments(run: &Path, rank: u32, sizes: &[usize], group: usize) -> usize {
    std::fs::create_dir_all(metrics_dir(run)).unwrap();
    let names: Vec<Arc<str>> = vec![Arc::from("v")];
    let mut row = 0;
    for (i, &n) in sizes.iter().enumerate() {
        let mut cols = Columns::default();
        for _ in 0..n {
            cols.push(0, row as i64, row as i64, row as f64);
            row += 1;
        }
        let id = SegmentId::single(rank, i as u64 + 1);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let batch = columns_to_batch(cols, &names);
        let path = metrics_dir(run).join(id.file_name());
        write_parquet_atomic(&path, point_schema(), &[batch], props, false).unwrap();
    }
    row
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_range_is_the_same_slice_of_the_whole_rank(
        sizes in prop::collection::vec(0usize..40, 0..8),
        group in 1usize..16,
        ranges in prop::collection::vec((0u64..300, prop::option::of(0u64..120)), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let total = write_segments(run, 1, &sizes, group);
        write_segments(run, 0, &[5, 5], 3); // another rank, never mixed in
        let whole = values(&read_run(run, Some(1)).unwrap());
        prop_assert_eq!(whole.len(), total);
        for (start, limit) in ranges {
            let got = values(&read_range(run, 1, start, limit).unwrap());
            let from = (start as usize).min(total);
            let to = limit.map_or(total, |l| (from + l as usize).min(total));
            prop_assert_eq!(&got[..], &whole[from..to], "start {} limit {:?}", start, limit);
        }
    }
}

#[test]
fn ranges_across_segment_and_row_group_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let total = write_segments(run, 0, &[10, 0, 7, 13, 1], 4);
    assert_eq!(total, 31);
    for start in 0..=33u64 {
        for limit in [None, Some(0), Some(1), Some(3), Some(9), Some(10), Some(40)] {
            let got = values(&read_range(run, 0, start, limit).unwrap());
            let from = (start as usize).min(total);
            let to = limit.map_or(total, |l| (from + l as usize).min(total));
            let expected: Vec<f64> = (from..to).map(|v| v as f64).collect();
            assert_eq!(got, expected, "start {start} limit {limit:?}");
        }
    }
    assert!(
        read_range(run, 7, 0, None).unwrap().is_empty(),
        "no such rank"
    );
    assert!(read_range(dir.path().join("none").as_path(), 0, 0, None)
        .unwrap()
        .is_empty());
}

#[test]
fn a_ranged_read_skips_the_segments_outside_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    write_segments(run, 0, &[10, 10, 10], 10);
    // A segment outside the range that cannot be decoded (only its footer is read: keep
    // it intact and corrupt its data pages) is never decoded.
    let first = metrics_dir(run).join(SegmentId::single(0, 1).file_name());
    let mut bytes = std::fs::read(&first).unwrap();
    for b in bytes.iter_mut().skip(4).take(40) {
        *b = 0xff;
    }
    std::fs::write(&first, bytes).unwrap();
    let got = values(&read_range(run, 0, 12, Some(5)).unwrap());
    assert_eq!(got, (12..17).map(|v| v as f64).collect::<Vec<_>>());
    assert!(
        read_range(run, 0, 0, Some(5)).is_err(),
        "the corrupt segment is an error when in range"
    );
}

#[test]
fn ranged_and_whole_reads_never_fail_while_a_writer_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let writer = MetricWriter::open(WriterConfig {
        background: false,
        compaction: CompactionPolicy {
            small_rows: 1 << 20,
            fanin: 2,
            max_rows: 1 << 30,
        },
        ..WriterConfig::new(&run)
    })
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (run, done) = (run.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 10 {
                let whole = values(&read_run(&run, Some(0)).unwrap());
                let expected: Vec<f64> = (0..whole.len()).map(|v| v as f64).collect();
                assert_eq!(whole, expected, "every flushed point, once, in order");
                let start = whole.len() as u64 / 3;
                let part = values(&read_range(&run, 0, start, Some(50)).unwrap());
                assert!(part.len() <= 50);
                assert!(part.iter().zip(start..).all(|(v, i)| *v == i as f64));
                reads += 1;
            }
            reads
        })
    };
    let mut row = 0;
    for _ in 0..300 {
        for _ in 0..7 {
            log(&writer, "v", row as f64, Some(row));
            row += 1;
        }
        writer.flush().unwrap();
    }
    assert!(writer.stats().compactions > 100);
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 10);
    writer.close().unwrap();
}

#[test]
fn a_resumed_writer_reads_back_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    for _ in 0..3 {
        let w = manual_writer(&run);
        for i in 0..5 {
            log(&w, "v", w.rows() as f64, Some(i));
            w.flush().unwrap();
        }
        w.close().unwrap();
    }
    let got = values(&read_range(&run, 0, 4, Some(8)).unwrap());
    assert_eq!(got, (4..12).map(|v| v as f64).collect::<Vec<_>>());
}
