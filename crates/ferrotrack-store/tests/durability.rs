//! Segments, compaction, recovery, failures: nothing is lost, nothing is counted twice.

mod common;

use std::path::Path;

use common::{by_name, log, manual_writer, rows, segment_files};
use ferrotrack_store::compaction::CompactionPolicy;
use ferrotrack_store::reader::read_run;
use ferrotrack_store::recovery::recover_run;
use ferrotrack_store::segment::parquet_footer;
use ferrotrack_store::{Durability, MetricWriter, StoreError, Summary, WriterConfig};

fn log_n(w: &MetricWriter, name: &str, n: usize) {
    for i in 0..n {
        log(w, name, i as f64, None);
    }
}

#[test]
fn segments_carry_the_schema_and_the_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "loss", 10);
    w.close().unwrap();
    let seg = run.join("metrics/part-00000-0000000001.parquet");
    let (rows_in_file, kv) = parquet_footer(&seg).unwrap();
    assert_eq!(rows_in_file, 10);
    let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("ferrotrack.format_version").as_deref(), Some("1"));
    assert_eq!(get("ferrotrack.seq_lo").as_deref(), Some("1"));
    let batches = read_run(&run, None).unwrap();
    let schema = batches[0].schema();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "Dictionary(UInt32, Utf8)",
            "Int64",
            "Timestamp(ns, \"UTC\")",
            "Float64"
        ]
    );
    assert!(run.join("summary.parquet").exists());
}

#[test]
fn closed_writer_refuses_and_close_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let w = manual_writer(&dir.path().join("run"));
    log_n(&w, "a", 3);
    w.close().unwrap();
    w.close().unwrap();
    assert!(w.is_closed());
    assert!(w.front().is_closed());
}

#[test]
fn background_thread_flushes_by_interval_and_by_rows() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = MetricWriter::<()>::open(WriterConfig {
        flush_interval: std::time::Duration::from_millis(20),
        max_rows: 1000,
        ..WriterConfig::new(&run)
    })
    .unwrap();
    log_n(&w, "a", 10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w.stats().points_written < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        w.stats().points_written,
        10,
        "the interval flush wrote the points"
    );
    w.close().unwrap();
}

#[test]
fn compaction_merges_small_segments_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = MetricWriter::<()>::open(WriterConfig {
        background: false,
        compaction: CompactionPolicy {
            small_rows: 100,
            fanin: 4,
            max_rows: 1000,
        },
        ..WriterConfig::new(&run)
    })
    .unwrap();
    for _ in 0..20 {
        log_n(&w, "a", 10);
        w.flush().unwrap();
    }
    assert!(w.stats().compactions > 0);
    assert!(
        segment_files(&run) < 20,
        "compaction reduced the file count"
    );
    w.close().unwrap();
    let back = rows(&read_run(&run, None).unwrap());
    assert_eq!(back.len(), 200);
    let steps: Vec<i64> = back.iter().map(|r| r.1).collect();
    assert_eq!(steps, (0..200).collect::<Vec<_>>());
}

/// A crash between writing a merged segment and deleting its sources: readers count
/// each point once, and recovery deletes the leftovers.
#[test]
fn a_crash_inside_compaction_never_doubles_points() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    for _ in 0..3 {
        log_n(&w, "a", 5);
        w.flush().unwrap();
    }
    w.close().unwrap();
    let mdir = run.join("metrics");
    let saved: Vec<_> = (1..=3)
        .map(|s| {
            let p = mdir.join(format!("part-00000-{s:010}.parquet"));
            (p.clone(), std::fs::read(&p).unwrap())
        })
        .collect();
    // Compact by hand (at-close policy merges the three), then put the sources back.
    let w = MetricWriter::<()>::open(WriterConfig {
        background: false,
        compaction: CompactionPolicy {
            small_rows: 100,
            fanin: 2,
            max_rows: 1000,
        },
        ..WriterConfig::new(&run)
    })
    .unwrap();
    log_n(&w, "a", 5);
    w.close().unwrap();
    for (p, bytes) in &saved {
        std::fs::write(p, bytes).unwrap();
    }
    assert!(segment_files(&run) >= 4);
    let back = rows(&read_run(&run, None).unwrap());
    assert_eq!(back.len(), 20, "covered sources are skipped");
    let report = recover_run(&run).unwrap();
    assert_eq!(report.removed_covered.len(), 3);
    assert_eq!(segment_files(&run), 1);
    assert_eq!(rows(&read_run(&run, None).unwrap()), back);
}

#[test]
fn recovery_sets_aside_leftovers_and_rebuilds_stale_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "a", 5);
    w.flush().unwrap();
    let stale = std::fs::read(run.join("summary.parquet")).unwrap();
    log_n(&w, "a", 5);
    w.close().unwrap();
    // As if the process died after writing segment 2 but before its summary, while a
    // third segment was being written.
    std::fs::write(run.join("summary.parquet"), stale).unwrap();
    std::fs::write(
        run.join("metrics/.part-00000-0000000003.parquet.tmp"),
        b"half a file",
    )
    .unwrap();
    let report = recover_run(&run).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.rebuilt_summaries, vec![0]);
    assert!(run
        .join(".quarantine/part-00000-0000000003.parquet.tmp")
        .exists());
    let summary = Summary::read(&run.join("summary.parquet")).unwrap();
    assert_eq!(summary.get("a").unwrap().count, 10);
    assert_eq!(summary.max_seq, 2);
    assert!(
        recover_run(&run).unwrap().is_clean(),
        "recovery is idempotent"
    );
}

#[test]
fn an_unreadable_segment_is_set_aside_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "a", 5);
    w.flush().unwrap();
    log_n(&w, "a", 5);
    w.close().unwrap();
    std::fs::write(
        run.join("metrics/part-00000-0000000002.parquet"),
        b"garbage",
    )
    .unwrap();
    let report = recover_run(&run).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(rows(&read_run(&run, None).unwrap()).len(), 5);
    assert_eq!(
        Summary::read(&run.join("summary.parquet"))
            .unwrap()
            .get("a")
            .unwrap()
            .count,
        5
    );
}

#[test]
fn resuming_continues_sequences_and_automatic_steps() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "a", 5);
    w.close().unwrap();
    drop(w);
    let w = manual_writer(&run);
    log_n(&w, "a", 5);
    w.close().unwrap();
    let steps: Vec<i64> = rows(&read_run(&run, None).unwrap())
        .iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(steps, (0..10).collect::<Vec<_>>());
    assert!(run.join("metrics/part-00000-0000000002.parquet").exists());
    assert_eq!(w.summary().get("a").unwrap().count, 10);
}

#[test]
fn ranks_write_apart_and_read_together() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let writers: Vec<MetricWriter> = (0..3)
        .map(|rank| {
            MetricWriter::open(WriterConfig {
                rank,
                background: false,
                ..WriterConfig::new(&run)
            })
            .unwrap()
        })
        .collect();
    for (rank, w) in writers.iter().enumerate() {
        log_n(w, &format!("r{rank}"), 7);
        w.close().unwrap();
    }
    assert!(run.join("summary-2.parquet").exists());
    let back = by_name(&rows(&read_run(&run, None).unwrap()));
    assert_eq!(back.len(), 3);
    assert_eq!(rows(&read_run(&run, Some(1)).unwrap()).len(), 7);
}

fn break_metrics_dir(run: &Path) -> std::path::PathBuf {
    let mdir = run.join("metrics");
    let aside = run.join("metrics.aside");
    std::fs::rename(&mdir, &aside).unwrap();
    std::fs::write(&mdir, b"not a folder").unwrap();
    aside
}

#[test]
fn a_failed_flush_keeps_every_point_for_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "a", 5);
    w.flush().unwrap();
    log_n(&w, "a", 5);
    let aside = break_metrics_dir(&run);
    let err = w.flush().unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("metrics"),
        "the error names the path: {err}"
    );
    assert_eq!(w.pending(), 5, "the points are back in the buffer");
    assert_eq!(w.rows(), 10, "a failed flush leaves the row count alone");
    log_n(&w, "a", 5);
    assert!(w.close().is_err(), "close reports the failure");
    assert!(!w.is_closed(), "and leaves the writer open");
    std::fs::remove_file(run.join("metrics")).unwrap();
    std::fs::rename(aside, run.join("metrics")).unwrap();
    w.close().unwrap();
    let steps: Vec<i64> = rows(&read_run(&run, None).unwrap())
        .iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(steps, (0..15).collect::<Vec<_>>());
}

#[test]
fn every_flush_durability_writes_synced_segments() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = MetricWriter::<()>::open(WriterConfig {
        background: false,
        durability: Durability::EveryFlush,
        ..WriterConfig::new(&run)
    })
    .unwrap();
    log_n(&w, "a", 3);
    w.flush().unwrap();
    w.set_run_meta(r#"{"status": "running"}"#).unwrap();
    let meta: String = std::fs::read_to_string(run.join("run.json")).unwrap();
    assert!(meta.contains("heartbeat"));
    w.close().unwrap();
    assert_eq!(rows(&read_run(&run, None).unwrap()).len(), 3);
    assert!("sometimes"
        .parse::<Durability>()
        .unwrap_err()
        .contains("every_flush"));
}

#[test]
fn invalid_names_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let w = manual_writer(&dir.path().join("run"));
    let mut front = w.front();
    let empty = front.buffer.intern("").unwrap_err().to_string();
    assert!(empty.contains("must not be empty"), "{empty}");
    let long = front
        .buffer
        .intern(&"x".repeat(2000))
        .unwrap_err()
        .to_string();
    assert!(long.contains("at most 1024 bytes"), "{long}");
    let nul = front.buffer.intern("a\0b").unwrap_err().to_string();
    assert!(
        nul.contains("'a\\0b'") && nul.contains("NUL"),
        "the name is shown escaped: {nul}"
    );
}

#[test]
fn subscribers_get_each_flushed_batch_with_its_row_index() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = manual_writer(&run);
    log_n(&w, "a", 4);
    w.flush().unwrap(); // before subscribing: not fed, but counted in the row index
    w.subscribe(2);
    for n in [3, 5, 7] {
        log_n(&w, "a", n);
        w.flush().unwrap();
    }
    let timeout = std::time::Duration::from_millis(10);
    // The oldest of three batches was dropped (bound 2); the subscriber sees the gap.
    let (row, batch) = w.next_flushed(timeout).unwrap();
    assert_eq!((row, batch.num_rows()), (7, 5));
    let (row, batch) = w.next_flushed(timeout).unwrap();
    assert_eq!((row, batch.num_rows()), (12, 7));
    assert!(w.next_flushed(timeout).is_none());
    assert_eq!(w.feed_dropped(), 1);
    w.close().unwrap();
    drop(w);
    // A writer that resumes the run continues the row index.
    let w = manual_writer(&run);
    assert_eq!(w.rows(), 19, "the rows already stored");
    w.subscribe(8);
    log_n(&w, "a", 1);
    assert_eq!(w.rows(), 20, "waiting points count");
    w.close().unwrap();
    assert_eq!(w.next_flushed(timeout).unwrap().0, 19);
    assert_eq!(w.rows(), 20);
}

#[test]
fn rows_is_the_first_row_of_the_next_flushed_point() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = MetricWriter::open(WriterConfig {
        max_rows: 64,
        flush_interval: std::time::Duration::from_millis(1),
        ..WriterConfig::new(&run)
    })
    .unwrap();
    w.subscribe(1 << 20);
    let mut expected_next = 0;
    for round in 0..200 {
        let before = w.rows();
        log_n(&w, "a", round % 7 + 1);
        assert_eq!(w.rows(), before + (round % 7 + 1) as u64);
        // Whatever the background thread has flushed meanwhile, rows never moves back.
        while let Some((row, batch)) = w.next_flushed(std::time::Duration::ZERO) {
            assert_eq!(row, expected_next);
            expected_next += batch.num_rows() as u64;
        }
        assert!(expected_next <= w.rows());
    }
    let total = w.rows();
    w.close().unwrap();
    while let Some((row, batch)) = w.next_flushed(std::time::Duration::ZERO) {
        assert_eq!(row, expected_next);
        expected_next += batch.num_rows() as u64;
    }
    assert_eq!(expected_next, total);
    assert_eq!(total, (0..200).map(|r| r % 7 + 1).sum::<usize>() as u64);
}

/// Cuts a file to its first half, as a crash of a copy or a full disk might.
fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn verify_names_unreadable_files_and_recovery_repairs_them() {
    use ferrotrack_store::catalog::{read_summaries, SummaryColumns};
    use ferrotrack_store::recovery::verify_run;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    for rank in 0..2 {
        let w = MetricWriter::open(WriterConfig {
            rank,
            background: false,
            compaction: CompactionPolicy {
                small_rows: 0,
                ..CompactionPolicy::default()
            },
            ..WriterConfig::new(&run)
        })
        .unwrap();
        for _ in 0..3 {
            log_n(&w, "a", 4);
            w.flush().unwrap();
        }
        w.close().unwrap();
    }
    assert!(verify_run(&run).unwrap().is_empty(), "a sound run");
    // A segment in the middle of rank 0, and the summary of rank 1.
    let segment = run.join("metrics/part-00000-0000000002.parquet");
    truncate(&segment);
    truncate(&run.join("summary-1.parquet"));
    let problems = verify_run(&run).unwrap();
    let named: Vec<_> = problems.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(named, [segment.clone(), run.join("summary-1.parquet")]);
    assert!(problems
        .iter()
        .all(|(_, why)| !why.contains('\n') && !why.is_empty()));
    assert!(problems[0].1.contains("Parquet"), "{}", problems[0].1);

    // Readers of summaries rebuild the unreadable one in memory and say so.
    let (batch, found) = read_summaries(
        std::slice::from_ref(&run),
        None,
        &SummaryColumns::named(&["count"]).unwrap(),
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, run.join("summary-1.parquet"));
    assert!(
        found[0].1.contains("rebuilt from the segments of rank 1"),
        "{}",
        found[0].1
    );
    let counts = batch
        .column_by_name("count")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(counts, [12, 12], "both ranks, the rebuilt one included");

    let report = recover_run(&run).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.rebuilt_summaries, [0, 1]);
    assert!(verify_run(&run).unwrap().is_empty(), "repaired");
    let count = |rank: u32| {
        let path = ferrotrack_store::layout::summary_path(&run, rank);
        Summary::read(&path).unwrap().get("a").unwrap().count
    };
    assert_eq!(
        count(0),
        8,
        "the summary no longer counts the points set aside"
    );
    assert_eq!(count(1), 12);
    assert_eq!(rows(&read_run(&run, Some(0)).unwrap()).len(), 8);
}
