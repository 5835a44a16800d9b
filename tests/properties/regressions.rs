//! Shrunk cases, kept as plain tests (proptest's saved seeds go stale when strategies change).

use crate::invariants::check_fifo;
use crate::model::{Config, MidConfig, Op, SubSpec, Via};
use crate::router::run;
use genstage::{CancelMode, Keep, Reason};
use proptest::prelude::TestCaseError;

fn spec(max: usize, min: usize, manual: bool, cancel: CancelMode) -> SubSpec {
    SubSpec {
        max,
        min,
        manual,
        cancel,
    }
}

/// One producer with no buffer limit (keep first, forward), `deltas` [0], no producer_consumer,
/// and consumers with no initial subscription.
fn plain(sinks: usize) -> Config {
    Config {
        sinks,
        buffer: None,
        keep: Keep::First,
        accumulate: false,
        deltas: vec![0],
        budget: 150,
        cancel_emit: 0,
        mid: None,
        initial: Vec::new(),
    }
}

fn emit_op(n: usize, via: Via) -> Op {
    Op::Emit { mid: false, n, via }
}

fn subscribe_to_p(who: u8, max: usize) -> Op {
    Op::Subscribe {
        who,
        target: 1,
        sub: spec(max, 0, false, CancelMode::Temporary),
    }
}

fn deliver(count: u8) -> Op {
    Op::Deliver { pick: 0, count }
}

fn accumulate(on: bool) -> Op {
    Op::Mode { accumulate: on }
}

fn fifo(cfg: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    check_fifo(&run(cfg, ops), false)
}

/// Back to forward, a held demand's `handle_demand` ran before held events emitted earlier
/// were dispatched, and its events overtook them (consumer got 0, 2, 1).
#[test]
fn replayed_demand_does_not_overtake_older_held_events() -> Result<(), TestCaseError> {
    let ops = [
        accumulate(true),
        emit_op(1, Via::Info),
        subscribe_to_p(0, 1),
        deliver(2),
        emit_op(1, Via::Info),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// While accumulating, events taken from the buffer were held behind events emitted after
/// them (consumer got 1, 0).
#[test]
fn events_taken_from_the_buffer_replay_before_newer_held_events() -> Result<(), TestCaseError> {
    let ops = [
        subscribe_to_p(0, 1),
        emit_op(1, Via::Info),
        accumulate(true),
        emit_op(1, Via::Call),
        deliver(2),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// Two takes from the buffer while accumulating keep their order (a first version of the fix
/// above sent 4 before 0).
#[test]
fn events_taken_from_the_buffer_twice_replay_in_order() -> Result<(), TestCaseError> {
    let ops = [
        emit_op(4, Via::Info),
        subscribe_to_p(0, 4),
        emit_op(1, Via::Call),
        subscribe_to_p(0, 1),
        accumulate(true),
        deliver(4),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// Held events taken from the buffer are older than what the buffer kept (with a dispatch
/// that serves the buffer before newly emitted events, the consumer got 0 after 8).
#[test]
fn held_events_replay_before_what_the_buffer_kept() -> Result<(), TestCaseError> {
    let ops = [
        emit_op(3, Via::Info),
        emit_op(6, Via::Call),
        subscribe_to_p(0, 1),
        accumulate(true),
        deliver(2),
        accumulate(false),
    ];
    fifo(&plain(1), &ops)
}

/// A consumer leaves with unmet demand (the producer ran out), which the DemandDispatcher keeps
/// as `pending`; `handle_cancel` emits event 150, which is buffered. The next asks are absorbed
/// by `pending`, so the buffer is not served although two subscriptions now have demand, and
/// events emitted later go straight to them: consumer #2 gets 152, then 150.
#[test]
fn pending_demand_does_not_reorder_a_producers_events() -> Result<(), TestCaseError> {
    let cfg = Config {
        sinks: 3,
        cancel_emit: 1,
        ..plain(3)
    };
    let one = spec(1, 0, false, CancelMode::Temporary);
    let ops = [
        Op::Subscribe {
            who: 2,
            target: 1,
            sub: spec(6, 2, false, CancelMode::Temporary),
        },
        Op::Flush,
        Op::Resubscribe {
            who: 2,
            pick: 0,
            reason: Reason::Normal,
            sub: one,
        },
        Op::Subscribe {
            who: 0,
            target: 1,
            sub: one,
        },
        Op::Flush,
        emit_op(4, Via::Call),
    ];
    fifo(&cfg, &ops)
}

/// The same at a producer_consumer: its consumer #2 resubscribes and then goes down with
/// demand outstanding, which becomes `pending`; event 7 is buffered; consumer #5's next ask is
/// absorbed by `pending` and the output buffer is not served, so events made from later input
/// (10, 11, 14) reach #5 before 7.
#[test]
fn pending_demand_does_not_reorder_a_producer_consumers_events() -> Result<(), TestCaseError> {
    let cfg = Config {
        sinks: 4,
        deltas: vec![1],
        mid: Some(MidConfig {
            buffer: Some(3),
            keep: Keep::First,
            fanout: vec![1],
            cancel_emit: 0,
            sub: spec(1, 0, false, CancelMode::Temporary),
        }),
        initial: vec![
            (58, spec(1, 0, false, CancelMode::Permanent)),
            (0, spec(1, 0, false, CancelMode::Temporary)),
            (0, spec(1, 0, true, CancelMode::Temporary)),
            (62, spec(3, 0, false, CancelMode::Temporary)),
        ],
        ..plain(4)
    };
    let ops = [Op::Resubscribe {
        who: 1,
        pick: 0,
        reason: Reason::Normal,
        sub: spec(4, 0, false, CancelMode::Temporary),
    }];
    fifo(&cfg, &ops)
}
