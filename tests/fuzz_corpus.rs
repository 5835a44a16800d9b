//! Replays the fuzz corpus kept in the repository (`fuzz/seeds/<target>/`: the 150 largest
//! inputs of each target's minimised corpus, plus every input that once crashed, named
//! `regression-*`), so that `cargo test` covers what fuzzing found: the fuzz targets' bodies
//! are compiled here as they are in `fuzz/`. Fuzzing's working corpus (`fuzz/corpus/`) is
//! not kept.

#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/ops.rs"]
mod ops;
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/pipeline.rs"]
mod pipeline;
#[allow(dead_code, unreachable_pub)]
#[path = "sim/pipeline.rs"]
mod setup;

use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut inputs: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // A few fixed inputs, so the test means something even without a corpus.
    inputs.extend([vec![], vec![0; 64], vec![0xFF; 64], (0..=255).collect()]);
    inputs
}

#[test]
fn the_stage_ops_corpus_replays_without_a_panic() {
    let inputs = corpus("stage_ops");
    for input in &inputs {
        ops::run(input);
    }
}

#[test]
fn the_sim_pipeline_corpus_replays_with_every_oracle_holding() {
    for input in corpus("sim_pipeline") {
        pipeline::run(&input);
    }
}
