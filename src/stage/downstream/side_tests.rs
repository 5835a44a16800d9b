//! Fixed-storage limits of the producer role, which no stage-level run reaches easily.
use super::*;
use crate::dispatcher::DemandDispatcher;
use crate::stage::downstream::accumulate::Held;
use crate::storage::Fixed;

type Side = ProducerSide<u32, (), DemandDispatcher<Fixed<2, 2>>, Fixed<2, 2>>;

#[derive(Default)]
struct Reports(heapless::Vec<Report, 8>);
impl Outbox<u32, u32, ()> for Reports {
    fn push(&mut self, output: Output<u32, ()>) {
        if let Output::Report(r) = output {
            self.0.push(r).expect("room for this test's reports");
        }
    }
    fn events<I: ExactSizeIterator<Item = u32>>(&mut self, _: SubId, _: I) {
        panic!("nothing is delivered in these tests");
    }
}

fn side(mode: DemandMode) -> Side {
    ProducerSide::new(DemandDispatcher::new(), Some(2), Keep::Last, mode)
}

fn sub(n: u32) -> SubId {
    SubId::new(StageId(0), StageId(n), 0)
}

#[test]
fn a_full_self_queue_folds_asks_of_the_same_subscription_and_reports_the_rest() {
    let mut s = side(DemandMode::Forward);
    let (mut out, mut stats) = (Reports::default(), StageStats::default());
    let Dispatching {
        routing: mut ctx, ..
    } = s.split(&mut out, &mut stats);
    ctx.self_ask(sub(1), 1);
    ctx.self_ask(sub(2), 2);
    // Full: the next ask of sub 2 joins the last queued one, an ask of sub 1 cannot.
    ctx.self_ask(sub(2), 5);
    assert!(ctx.out.0.is_empty(), "a folded ask loses nothing");
    ctx.self_ask(sub(1), 4);
    assert_eq!(s.selfq.len(), 2);
    assert_eq!(s.selfq.get(0), Some(&SelfMsg::Ask(sub(1), 1)));
    assert_eq!(s.selfq.get(1), Some(&SelfMsg::Ask(sub(2), 7)));
    assert_eq!(out.0.as_slice(), [Report::SelfQueueFull]);
}

#[test]
fn events_beyond_a_full_accumulate_log_are_counted_and_reported() {
    let mut s = side(DemandMode::Accumulate);
    let (mut out, mut stats) = (Reports::default(), StageStats::default());
    for e in [1, 2, 3] {
        let _ = s.scratch.push_back(e);
        s.dispatch_emitted(&mut out, &mut stats);
    }
    // Two events are held, in order; the third found the held storage full.
    assert_eq!(
        (s.acc.held_event(0), s.acc.held_event(1), s.acc.len()),
        (Some(&1), Some(&2), 2)
    );
    // One log entry per emit, each replayed as its own dispatch.
    assert_eq!(
        (s.acc.log_entry(0), s.acc.log_entry(1), s.acc.log_len()),
        (Some(&Held::Events(1)), Some(&Held::Events(1)), 2)
    );
    assert_eq!(stats.emitted, 3);
    assert_eq!(stats.discarded.accumulate_full, 1);
    assert_eq!(
        out.0.as_slice(),
        [Report::Discarded {
            count: 1,
            reason: DiscardReason::AccumulateFull,
            log: true
        }]
    );
}

#[test]
fn events_taken_from_the_buffer_beyond_a_full_accumulate_log_are_counted() {
    let mut s = side(DemandMode::Forward);
    let (mut out, mut stats) = (Reports::default(), StageStats::default());
    assert_eq!(s.buffer.push(10) + s.buffer.push(11), 0);
    s.mode = DemandMode::Accumulate;
    for e in [1, 2] {
        let _ = s.scratch.push_back(e);
        s.dispatch_emitted(&mut out, &mut stats);
    }
    // Held storage is full: both buffered events are taken for the ask, and lost.
    assert_eq!(s.serve_from_buffer(2, &mut out, &mut stats).uncovered, 0);
    assert!(s.buffer.is_empty());
    assert_eq!(
        (s.acc.held_event(0), s.acc.held_event(1), s.acc.len()),
        (Some(&1), Some(&2), 2)
    );
    assert_eq!(stats.discarded.accumulate_full, 2);
    assert_eq!(
        out.0.as_slice(),
        [Report::Discarded {
            count: 2,
            reason: DiscardReason::AccumulateFull,
            log: true
        }]
    );
}

#[test]
fn demand_beyond_a_full_accumulate_log_joins_the_last_held_demand_or_is_reported() {
    let mut s = side(DemandMode::Accumulate);
    let (mut out, mut stats) = (Reports::default(), StageStats::default());
    let _ = s.scratch.push_back(1);
    s.dispatch_emitted(&mut out, &mut stats);
    assert_eq!(s.serve_from_buffer(3, &mut out, &mut stats).uncovered, 0);
    assert_eq!(s.serve_from_buffer(4, &mut out, &mut stats).uncovered, 0);
    assert_eq!(s.acc.log_len(), 2);
    assert_eq!(s.acc.log_entry(0), Some(&Held::Events(1)));
    assert_eq!(s.acc.log_entry(1), Some(&Held::Demand(7)));
    assert!(out.0.is_empty());

    let mut s = side(DemandMode::Accumulate);
    let mut out = Reports::default();
    assert_eq!(s.serve_from_buffer(3, &mut out, &mut stats).uncovered, 0);
    let _ = s.scratch.push_back(1);
    s.dispatch_emitted(&mut out, &mut stats);
    // The log ends with events: this demand has nowhere to go.
    assert_eq!(s.serve_from_buffer(4, &mut out, &mut stats).uncovered, 0);
    assert_eq!(s.acc.log_entry(0), Some(&Held::Demand(3)));
    assert_eq!(s.acc.log_entry(1), Some(&Held::Events(1)));
    assert_eq!(out.0.as_slice(), [Report::SelfQueueFull]);
}
