//! `check::check_root` (read, then check) on the shipped project and on generated trees of
//! 1,000 and 10,000 manifests (scripts/gen-tree.py): growth must stay
//! linear. For wall time from process start, see scripts/bench-validate.sh.

// Tests drive the tool from outside: they run it, git and the engine
// directly, and may print (clippy.toml's rules are for src/).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn generated(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("python3")
        .arg(repo.join("scripts/gen-tree.py"))
        .arg(n.to_string())
        .arg(&root)
        .status()
        .expect("python3 runs scripts/gen-tree.py");
    assert!(status.success());
    (dir, root)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    group.throughput(Throughput::Elements(25));
    group.bench_function(BenchmarkId::new("manifests", 25), |b| {
        b.iter(|| {
            assert!(build_unit_test_docker::testing::check_root(&shipped)
                .project
                .is_some())
        })
    });
    for n in [1_000usize, 10_000] {
        let (_keep, root) = generated(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("manifests", n), |b| {
            b.iter(|| {
                assert!(build_unit_test_docker::testing::check_root(&root)
                    .project
                    .is_some())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
