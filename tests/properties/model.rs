//! What a run is made of and how it is generated: the scenario types ([`Config`] and the
//! [`Op`]s applied to it) and their proptest strategies, the reference model of automatic
//! demand written from the spec, and the focused model of the buffer.

use crate::journal::Ev;
use genstage::{CancelMode, Keep, Reason, Subscribe};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) struct SubSpec {
    pub(crate) max: usize,
    pub(crate) min: usize,
    pub(crate) manual: bool,
    pub(crate) cancel: CancelMode,
}

impl SubSpec {
    pub(crate) fn opts(&self) -> Subscribe<Ev> {
        Subscribe::new()
            .max_demand(self.max)
            .min_demand(self.min)
            .cancel(self.cancel)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct MidConfig {
    pub(crate) buffer: Option<usize>,
    pub(crate) keep: Keep,
    pub(crate) fanout: Vec<u8>,
    pub(crate) cancel_emit: usize,
    /// Its subscription to the producer, made at the start.
    pub(crate) sub: SubSpec,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) sinks: usize,
    pub(crate) buffer: Option<usize>,
    pub(crate) keep: Keep,
    pub(crate) accumulate: bool,
    pub(crate) deltas: Vec<i8>,
    pub(crate) budget: usize,
    pub(crate) cancel_emit: usize,
    pub(crate) mid: Option<MidConfig>,
    /// Each consumer's first subscription, made at the start: (target, options).
    pub(crate) initial: Vec<(u8, SubSpec)>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    Info,
    Call,
    CallNow,
}

/// One step of a scenario. `who`, `pick`, `target` are reduced modulo what exists.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A consumer-role stage (the producer_consumer or a consumer) subscribes.
    Subscribe { who: u8, target: u8, sub: SubSpec },
    /// It resubscribes to the producer of one of its subscriptions, cancelling it.
    Resubscribe {
        who: u8,
        pick: u8,
        reason: Reason,
        sub: SubSpec,
    },
    /// A manual ask (refused on an automatic subscription).
    Ask { who: u8, pick: u8, n: usize },
    /// It cancels one of its subscriptions.
    Cancel { who: u8, pick: u8, reason: Reason },
    /// A consumer crashes: its peers see it go down.
    Crash { who: u8, reason: Reason },
    /// The producer (or producer_consumer) is told to stop, through an info.
    StopStage { mid: bool, reason: Reason },
    /// The producer (or producer_consumer) emits `n` events from a call or an info.
    Emit { mid: bool, n: usize, via: Via },
    /// The producer's demand mode.
    Mode { accumulate: bool },
    /// The raw peer sends `n` events on one of the subscriptions made to it, asked or not.
    Raw { pick: u8, n: usize },
    /// Deliver `count` messages, from channels picked starting at `pick`.
    Deliver { pick: u8, count: u8 },
    /// Deliver until idle (bounded).
    Flush,
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        Just(Reason::Normal),
        Just(Reason::Shutdown),
        Just(Reason::Custom("boom")),
    ]
}

fn cancel_mode() -> impl Strategy<Value = CancelMode> {
    prop_oneof![
        3 => Just(CancelMode::Temporary),
        1 => Just(CancelMode::Transient),
        1 => Just(CancelMode::Permanent),
    ]
}

pub(crate) fn keep() -> impl Strategy<Value = Keep> {
    prop_oneof![Just(Keep::First), Just(Keep::Last)]
}

fn buffer_size() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 2 => (1usize..=6).prop_map(Some)]
}

fn sub_spec() -> impl Strategy<Value = SubSpec> {
    (
        1usize..=10,
        0usize..10,
        prop::bool::weighted(0.25),
        cancel_mode(),
    )
        .prop_map(|(max, min, manual, cancel)| SubSpec {
            max,
            min: min % max,
            manual,
            cancel,
        })
}

fn mid_config() -> impl Strategy<Value = MidConfig> {
    (
        buffer_size(),
        keep(),
        prop::collection::vec(0u8..=2, 1..4),
        0usize..=1,
        sub_spec(),
    )
        .prop_map(|(buffer, keep, fanout, cancel_emit, sub)| MidConfig {
            buffer,
            keep,
            fanout,
            cancel_emit,
            sub,
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        1usize..=4,
        buffer_size(),
        keep(),
        prop::bool::weighted(0.2),
        prop::collection::vec(-3i8..=3, 1..4),
        0usize..=2,
        prop::option::of(mid_config()),
        prop::collection::vec((any::<u8>(), sub_spec()), 4),
    )
        .prop_map(
            |(sinks, buffer, keep, accumulate, deltas, cancel_emit, mid, initial)| Config {
                sinks,
                buffer,
                keep,
                accumulate,
                deltas,
                budget: 150,
                cancel_emit,
                mid,
                initial,
            },
        )
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![Just(Via::Info), Just(Via::Call), Just(Via::CallNow)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (any::<u8>(), any::<u8>(), sub_spec())
            .prop_map(|(who, target, sub)| Op::Subscribe { who, target, sub }),
        3 => (any::<u8>(), any::<u8>(), reason(), sub_spec())
            .prop_map(|(who, pick, reason, sub)| Op::Resubscribe { who, pick, reason, sub }),
        9 => (any::<u8>(), any::<u8>(), 0usize..=8)
            .prop_map(|(who, pick, n)| Op::Ask { who, pick, n }),
        4 => (any::<u8>(), any::<u8>(), reason())
            .prop_map(|(who, pick, reason)| Op::Cancel { who, pick, reason }),
        3 => (any::<u8>(), reason()).prop_map(|(who, reason)| Op::Crash { who, reason }),
        1 => (prop::bool::weighted(0.7), reason())
            .prop_map(|(mid, reason)| Op::StopStage { mid, reason }),
        12 => (any::<bool>(), 0usize..=6, via()).prop_map(|(mid, n, via)| Op::Emit { mid, n, via }),
        4 => any::<bool>().prop_map(|accumulate| Op::Mode { accumulate }),
        8 => (any::<u8>(), 1usize..=15).prop_map(|(pick, n)| Op::Raw { pick, n }),
        25 => (any::<u8>(), 1u8..=6).prop_map(|(pick, count)| Op::Deliver { pick, count }),
        5 => Just(Op::Flush),
    ]
}

pub(crate) fn scenario() -> impl Strategy<Value = (Config, Vec<Op>)> {
    (config(), prop::collection::vec(op(), 1..40))
}

// ---------------------------------------------------------------------------------------------
// The reference model of automatic demand (spec §5), written from the spec
// ---------------------------------------------------------------------------------------------

/// What a consumer-role stage does, in order, for one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `Report::Excess` for this many events.
    Excess(usize),
    /// `handle_events` with this many events.
    Chunk(usize),
    /// `Ask` for this much.
    Ask(usize),
}

/// Spec §5.2–5.3: cut a message of `n` events into chunks of at most `max − min`; the arrival
/// budget is the outstanding demand `d` when the message is taken up and is not refilled; a
/// chunk counts at most what is left of the budget (the rest is excess); once the counted
/// events bring `d` to `min` or below, ask for `max − d` after the chunk and refill to `max`.
pub(crate) fn reference_chunks(max: usize, min: usize, d: &mut usize, n: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut budget = *d;
    let mut rest = n;
    while rest > 0 {
        let k = rest.min(max - min);
        rest -= k;
        let counted = k.min(budget);
        budget -= counted;
        if counted < k {
            steps.push(Step::Excess(k - counted));
        }
        steps.push(Step::Chunk(k));
        let left = *d - counted;
        if left <= min {
            steps.push(Step::Ask(max - left));
            *d = max;
        } else {
            *d = left;
        }
        assert!(*d <= max, "the model never holds more than max outstanding");
    }
    steps
}

// ---------------------------------------------------------------------------------------------
// Focused models
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) enum BufOp {
    Push(u32),
    Marker,
    Pop,
    Released,
}

pub(crate) fn buf_op() -> impl Strategy<Value = BufOp> {
    prop_oneof![
        5 => any::<u32>().prop_map(BufOp::Push),
        2 => Just(BufOp::Marker),
        3 => Just(BufOp::Pop),
        2 => Just(BufOp::Released),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    Event(u32),
    Marker(u64),
}
