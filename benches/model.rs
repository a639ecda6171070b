//! Per-row cost of the emulator's model path: evaluation and Python-style formatting.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iris_cli::emulator::model::Model;
use iris_cli::pyfloat::push_repr_f32;

fn iris_rows() -> Vec<[f32; 4]> {
    let text = include_str!("../payloads/iris.csv");
    text.lines()
        .skip(1)
        .map(|line| {
            let mut row = [0f32; 4];
            for (r, c) in row.iter_mut().zip(line.split(',')) {
                *r = c.parse().unwrap();
            }
            row
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let model = Model::iris();
    let rows = iris_rows();
    let mut g = c.benchmark_group("iris");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("predict_into x150", |b| {
        let mut out = [0f32; 3];
        b.iter(|| {
            for row in &rows {
                model.predict_into(black_box(row), &mut out);
                black_box(&out);
            }
        });
    });
    g.bench_function("predict + repr x150", |b| {
        let mut out = [0f32; 3];
        let mut s = String::with_capacity(64 * 150);
        b.iter(|| {
            s.clear();
            for row in &rows {
                model.predict_into(black_box(row), &mut out);
                for p in out {
                    push_repr_f32(&mut s, p);
                    s.push(',');
                }
                s.push('\n');
            }
            black_box(&s);
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
