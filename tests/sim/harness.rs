//! Seeds from the environment, and sweeps that print the command replaying a failure.
//!
//! `GENSTAGE_SEED=n` runs that one seed; `GENSTAGE_SEEDS=k` sweeps seeds `0..k`; neither
//! runs the test's default count.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The seeds a sweep runs.
pub fn seeds(default: u64) -> Vec<u64> {
    if let Some(one) = env_u64("GENSTAGE_SEED") {
        return vec![one];
    }
    let n = env_u64("GENSTAGE_SEEDS").unwrap_or(default);
    (0..n).collect()
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// The one command that reruns `test` (its full path in the `sim` target) on `seed`.
pub fn replay_command(test: &str, seed: u64) -> String {
    format!("GENSTAGE_SEED={seed} cargo test --release --all-features --test sim -- --exact {test}")
}

/// Runs `run` on every seed; on the first failure, prints the command that replays it and
/// fails with its message.
pub fn sweep(test: &str, default: u64, run: impl Fn(u64)) {
    for seed in seeds(default) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| run(seed))) {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!(
                "\nseed {seed} failed; replay it with:\n  {}\n",
                replay_command(test, seed)
            );
            panic!(
                "seed {seed} failed: {msg}\nreplay: {}",
                replay_command(test, seed)
            );
        }
    }
}
