//! Whatever is logged reads back the same, in order per name, with its summary.

mod common;

use common::{by_name, log, manual_writer, rows};
use ferrotrack_store::reader::read_run;
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1e6..1e6f64,
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("loss".to_owned()),
        Just("val/acc".to_owned()),
        Just("ünïcødé/λ".to_owned()),
        "[a-z🦀]{1,12}",
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Log(String, Option<i64>, f64),
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (name(), proptest::option::of(-5i64..1_000), value()).prop_map(|(n, s, v)| Op::Log(n, s, v)),
        1 => Just(Op::Flush),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn logged_points_read_back_in_order(ops in proptest::collection::vec(op(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let w = manual_writer(&run);
        let mut expected = Vec::new();
        let mut next_step = std::collections::HashMap::<String, i64>::new();
        for op in &ops {
            match op {
                Op::Log(n, s, v) => {
                    log(&w, n, *v, *s);
                    let step = s.unwrap_or_else(|| *next_step.get(n).unwrap_or(&0));
                    next_step.insert(n.clone(), step + 1);
                    expected.push((n.clone(), step, *v));
                }
                Op::Flush => w.flush().unwrap(),
            }
        }
        // Before close, the export holds written and waiting points alike.
        prop_assert_eq!(by_name(&rows(&w.read_all().unwrap())), by_name(&expected));
        w.close().unwrap();
        let back = rows(&read_run(&run, None).unwrap());
        prop_assert_eq!(by_name(&back), by_name(&expected));

        let summary = w.summary();
        for (n, points) in by_name(&expected) {
            let s = summary.get(&n).unwrap();
            prop_assert_eq!(s.count as usize, points.len());
            prop_assert_eq!(s.last.to_bits(), points.last().unwrap().1);
            prop_assert_eq!(s.last_step, points.last().unwrap().0);
            let nans = points.iter().filter(|p| f64::from_bits(p.1).is_nan()).count();
            prop_assert_eq!(s.nan_count as usize, nans);
        }
    }
}

#[test]
fn several_threads_lose_nothing_and_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let w = std::sync::Arc::new(
        ferrotrack_store::MetricWriter::<()>::open(ferrotrack_store::WriterConfig {
            max_rows: 10_000,
            memory_cap_bytes: 1 << 20,
            flush_interval: std::time::Duration::from_millis(5),
            ..ferrotrack_store::WriterConfig::new(&run)
        })
        .unwrap(),
    );
    let per_thread = 200_000;
    std::thread::scope(|s| {
        for t in 0..8 {
            let w = w.clone();
            s.spawn(move || {
                let name = format!("thread{t}");
                for i in 0..per_thread {
                    let mut front = w.front();
                    if w.is_full(&front) {
                        drop(front);
                        w.flush().unwrap();
                        front = w.front();
                    }
                    let id = front.buffer.intern(&name).unwrap();
                    front.buffer.push(id, i as f64, None, None);
                    w.after_append(&mut front);
                }
            });
        }
    });
    w.close().unwrap();
    let back = by_name(&rows(&read_run(&run, None).unwrap()));
    assert_eq!(back.len(), 8);
    for points in back.values() {
        assert_eq!(points.len(), per_thread);
        assert!(points
            .iter()
            .enumerate()
            .all(|(i, p)| p.0 == i as i64 && f64::from_bits(p.1) == i as f64));
    }
    assert_eq!(w.summary().get("thread3").unwrap().count, per_thread as u64);
}
