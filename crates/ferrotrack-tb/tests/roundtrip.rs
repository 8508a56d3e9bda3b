//! Encoder to reader: every point, tag, step and wall time comes back.

use ferrotrack_tb::hparams::{Experiment, HValue, PluginData, SessionEnd, SessionStart, Status};
use ferrotrack_tb::record::put_record;
use ferrotrack_tb::{read_files, Encoder, Reader, ScalarKind};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000_000_000;

fn write(kind: ScalarKind, names: &[&str], pts: &[(u32, i64, i64, f64)]) -> Vec<u8> {
    let mut enc = Encoder::new(kind);
    let mut out = Vec::new();
    enc.file_version(&mut out, T0);
    let codes: Vec<u32> = pts.iter().map(|p| p.0).collect();
    let steps: Vec<i64> = pts.iter().map(|p| p.1).collect();
    let wall: Vec<i64> = pts.iter().map(|p| p.2).collect();
    let values: Vec<f64> = pts.iter().map(|p| p.3).collect();
    enc.scalars(&mut out, names, &codes, &steps, &wall, &values)
        .unwrap();
    out
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn float64_scalars_come_back_exactly() {
    let names = ["loss", "ünï/cödé ✓", ""];
    let pts = [
        (0, 0, T0, 0.1),
        (1, -5, T0 + 1, f64::NAN),
        (0, 1 << 40, T0 + 999, f64::INFINITY),
        (2, 3, T0 - 7, f64::NEG_INFINITY),
        (1, i64::MAX, 0, -0.0),
        (0, i64::MIN, -1, f64::MIN_POSITIVE),
    ];
    let d = read_files([write(ScalarKind::Float64, &names, &pts).as_slice()]);
    assert!(d.damage.is_empty());
    assert_eq!(d.scalars.len(), pts.len());
    for (i, p) in pts.iter().enumerate() {
        assert_eq!(
            d.scalars.names[d.scalars.codes[i] as usize],
            names[p.0 as usize]
        );
        assert_eq!(d.scalars.steps[i], p.1);
        assert!((d.scalars.wall_ns[i] - p.2).abs() <= 119);
        assert!(same(d.scalars.values[i], p.3), "{i}");
    }
}

#[test]
fn float32_scalars_come_back_as_float32() {
    let pts = [(0, 1, T0, 0.1), (0, 2, T0, 1e300), (0, 3, T0, f64::NAN)];
    let d = read_files([write(ScalarKind::Float32, &["x"], &pts).as_slice()]);
    assert_eq!(d.scalars.values[0], f64::from(0.1f32));
    assert_eq!(d.scalars.values[1], f64::INFINITY);
    assert!(d.scalars.values[2].is_nan());
}

#[test]
fn metadata_is_written_once_per_tag_and_again_after_undo() {
    let mut enc = Encoder::new(ScalarKind::Float64);
    let mut a = Vec::new();
    enc.mark();
    enc.scalars(&mut a, &["m"], &[0], &[0], &[T0], &[1.0])
        .unwrap();
    let mut b = Vec::new();
    enc.scalars(&mut b, &["m"], &[0], &[1], &[T0], &[1.0])
        .unwrap();
    assert!(a.len() > b.len(), "the first event carries the metadata");
    enc.mark();
    let mut c = Vec::new();
    enc.scalars(&mut c, &["n"], &[0], &[0], &[T0], &[1.0])
        .unwrap();
    enc.undo();
    let mut d = Vec::new();
    enc.scalars(&mut d, &["n"], &[0], &[0], &[T0], &[1.0])
        .unwrap();
    assert_eq!(c, d);
}

#[test]
fn text_and_hparams_round_trip() {
    let mut enc = Encoder::new(ScalarKind::Float32);
    let mut out = Vec::new();
    enc.file_version(&mut out, T0);
    let start = SessionStart {
        hparams: vec![
            ("lr".into(), HValue::Number(3e-4)),
            ("model.name".into(), HValue::Text("resnet".into())),
            ("amp".into(), HValue::Bool(true)),
        ],
        group_name: String::new(),
        start_time_secs: 1.7e9,
    };
    enc.hparams(&mut out, &PluginData::SessionStart(start.clone()), T0);
    enc.text(&mut out, "ferrotrack/event", 4, T0 + 5, "epoch 1 ✓\nline 2");
    let end1 = SessionEnd {
        status: Status::Failure,
        end_time_secs: 1.7e9 + 1.0,
    };
    let end2 = SessionEnd {
        status: Status::Success,
        end_time_secs: 1.7e9 + 2.0,
    };
    let exp = Experiment {
        hparams: vec![("lr".into(), 3)],
        metrics: vec![(String::new(), "loss".into())],
        time_created_secs: 1.7e9,
    };
    enc.hparams(&mut out, &PluginData::SessionEnd(end1), T0 + 10);
    enc.hparams(&mut out, &PluginData::Experiment(exp.clone()), T0 + 10);
    enc.hparams(&mut out, &PluginData::SessionEnd(end2), T0 + 20);
    let d = read_files([out.as_slice()]);
    assert_eq!(d.session_start, Some(start));
    assert_eq!(d.session_end, Some(end2));
    assert_eq!(d.experiment, Some(exp));
    assert_eq!(d.texts.len(), 1);
    assert_eq!(d.texts[0].text, "epoch 1 ✓\nline 2");
    assert_eq!(d.texts[0].step, 4);
    assert!(d.scalars.is_empty());
    assert_eq!(d.first_wall_ns.map(|w| (w - T0).abs() <= 119), Some(true));
    assert_eq!(
        d.last_wall_ns.map(|w| (w - T0 - 20).abs() <= 119),
        Some(true)
    );
}

#[test]
fn a_damaged_file_keeps_its_good_records_and_says_where() {
    let pts: Vec<_> = (0..10).map(|i| (0u32, i, T0 + i, i as f64)).collect();
    let mut data = write(ScalarKind::Float32, &["x"], &pts);
    let whole = data.len();
    data.truncate(whole - 10);
    let d = read_files([data.as_slice()]);
    assert_eq!(d.scalars.values, (0..9).map(f64::from).collect::<Vec<_>>());
    assert_eq!(d.damage.len(), 1);
    assert_eq!(d.damage[0].file, 0);
    let per = (whole - 24 - 16) / 10; // records after the file_version one, all one size
    assert_eq!(d.damage[0].damage.offset as usize, whole - per);
}

#[test]
fn an_event_whose_protobuf_is_bad_is_reported_and_skipped() {
    let mut out = write(ScalarKind::Float32, &["x"], &[(0, 1, T0, 1.0)]);
    put_record(&mut out, &[0x2A, 0x10, 0x01]); // summary of length 16 holding one byte
    out.extend(write(ScalarKind::Float32, &["x"], &[(0, 2, T0, 2.0)]));
    let d = read_files([out.as_slice()]);
    assert_eq!(d.scalars.steps, [1, 2]);
    assert_eq!(d.damage.len(), 1);
    assert!(d.damage[0].damage.what.contains("does not decode"));
}

#[test]
fn files_are_read_as_one_run() {
    let a = write(ScalarKind::Float64, &["x"], &[(0, 1, T0, 1.0)]);
    let b = write(
        ScalarKind::Float64,
        &["y", "x"],
        &[(1, 2, T0, 2.0), (0, 3, T0, 3.0)],
    );
    let d = read_files([a.as_slice(), b.as_slice()]);
    assert_eq!(d.scalars.names, ["x", "y"]);
    assert_eq!(d.scalars.codes, [0, 0, 1]);
    assert_eq!(d.scalars.values, [1.0, 2.0, 3.0]);
}

proptest! {
    #[test]
    fn any_points_round_trip(
        names in prop::collection::vec("\\PC{0,12}", 1..5),
        raw in prop::collection::vec((any::<u32>(), any::<i64>(), -(1i64 << 61)..(1i64 << 61), any::<f64>()), 0..200),
        float64 in any::<bool>(),
    ) {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let pts: Vec<_> = raw.iter().map(|&(c, s, t, v)| (c % names.len() as u32, s, t, v)).collect();
        let kind = if float64 { ScalarKind::Float64 } else { ScalarKind::Float32 };
        let d = read_files([write(kind, &names, &pts).as_slice()]);
        prop_assert!(d.damage.is_empty());
        prop_assert_eq!(d.scalars.len(), pts.len());
        for (i, p) in pts.iter().enumerate() {
            prop_assert_eq!(&d.scalars.names[d.scalars.codes[i] as usize], names[p.0 as usize]);
            prop_assert_eq!(d.scalars.steps[i], p.1);
            // Half a double's step at this magnitude, plus one for the split.
            let ulp = (p.2.unsigned_abs() as f64 / 1e9 * f64::EPSILON * 1e9) as i64 + 1;
            prop_assert!((d.scalars.wall_ns[i] - p.2).abs() <= ulp, "{} vs {}", d.scalars.wall_ns[i], p.2);
            let want = if float64 { p.3 } else { f64::from(p.3 as f32) };
            prop_assert!(same(d.scalars.values[i], want));
        }
    }
}

#[test]
fn reading_a_path_in_chunks_is_reading_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400_000; // about 15 MiB: records cross the 8 MiB chunk boundary
    let pts: Vec<_> = (0..n)
        .map(|i| ((i % 3) as u32, i, T0 + i, i as f64))
        .collect();
    let mut data = write(ScalarKind::Float64, &["a", "bb", "ccc"], &pts);
    let whole = read_files([data.as_slice()]);
    let path = dir.path().join("events.out.tfevents.1.x");
    std::fs::write(&path, &data).unwrap();
    let mut r = Reader::new();
    r.read_path(&path).unwrap();
    assert_eq!(r.finish(), whole);
    // Damage past the first chunk, and a torn end: the same as the whole-bytes reader,
    // offsets counted from the start of the file.
    let at = 9 << 20;
    data[at] ^= 0xFF;
    data.truncate(data.len() - 3);
    std::fs::write(&path, &data).unwrap();
    let whole = read_files([data.as_slice()]);
    assert_eq!(whole.damage.len(), 2);
    assert!(whole.damage[0].damage.offset > (8 << 20));
    let mut r = Reader::new();
    r.read_path(&path).unwrap();
    assert_eq!(r.finish(), whole);
}
