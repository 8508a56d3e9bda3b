//! Append and flush throughput of the store (criterion).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotrack_store::schema::columns_to_batch;
use ferrotrack_store::{Buffer, MetricWriter, WriterConfig};

const N: usize = 1_000_000;

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("push 1M points, one name", |b| {
        b.iter(|| {
            let mut buf = Buffer::new();
            let id = buf.intern("loss").unwrap();
            for i in 0..N {
                buf.push(id, i as f64, None, None);
            }
            buf.len()
        })
    });
    g.finish();
}

fn flush(c: &mut Criterion) {
    let mut g = c.benchmark_group("flush");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let mut buf = Buffer::new();
    let ids: Vec<u32> = (0..10)
        .map(|i| buf.intern(&format!("m{i}")).unwrap())
        .collect();
    let mut x = 0.0f64;
    for i in 0..N {
        x += ((i * 2654435761) % 1000) as f64 / 1000.0 - 0.5;
        buf.push(ids[i % 10], x, None, None);
    }
    let columns = buf.columns().clone();
    let names = buf.names().to_vec();
    g.bench_function("encode and write 1M points", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let w = MetricWriter::<()>::open(WriterConfig {
                background: false,
                ..WriterConfig::new(dir.path())
            })
            .unwrap();
            {
                let mut front = w.front();
                for n in &names {
                    front.buffer.intern(n).unwrap();
                }
                let c = &columns;
                for i in 0..c.len() {
                    front
                        .buffer
                        .push(c.name[i], c.value[i], Some(c.step[i]), Some(c.timestamp[i]));
                }
            }
            w.close().unwrap();
        })
    });
    g.bench_function("build record batch of 1M points", |b| {
        b.iter(|| columns_to_batch(columns.clone(), &names).num_rows())
    });
    g.finish();
}

criterion_group!(benches, append, flush);
criterion_main!(benches);
