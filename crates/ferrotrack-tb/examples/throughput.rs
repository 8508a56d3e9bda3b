//! Informal throughput of the encoder and the reader, in memory (no file I/O):
//! `cargo run --release -p ferrotrack-tb --example throughput`.

use std::time::Instant;

use ferrotrack_tb::{read_files, Encoder, ScalarKind};

fn main() {
    let n = 5_000_000usize;
    let names: Vec<String> = (0..10).map(|i| format!("train/metric_{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let codes: Vec<u32> = (0..n).map(|i| (i % 10) as u32).collect();
    let steps: Vec<i64> = (0..n as i64).map(|i| i / 10).collect();
    let t0 = 1_750_000_000_000_000_000i64;
    let wall: Vec<i64> = (0..n as i64).map(|i| t0 + i * 1000).collect();
    let values: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
    for kind in [ScalarKind::Float32, ScalarKind::Float64] {
        let mut enc = Encoder::new(kind);
        let mut out = Vec::new();
        let start = Instant::now();
        enc.scalars(&mut out, &names, &codes, &steps, &wall, &values)
            .unwrap();
        let write = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let d = read_files([out.as_slice()]);
        let read = start.elapsed().as_secs_f64();
        assert_eq!(d.scalars.len(), n);
        println!(
            "{kind:?}: encode {:.1} M points/s ({:.1} bytes/point), decode {:.1} M points/s",
            n as f64 / write / 1e6,
            out.len() as f64 / n as f64,
            n as f64 / read / 1e6
        );
    }
}
