//! Property tests of the PartitionDispatcher: random subscribe / ask / dispatch / cancel / info
//! sequences, checked against a model of spec §14 after every step.
//!
//! The dispatcher is driven the way a producer drives it, with its leftovers kept in a FIFO
//! buffer that the next dispatch serves first. Checked after every operation:
//! - every event that was hashed to partition `p` leaves `p` in hash order, either delivered to
//!   the consumer of `p` at that moment or dropped (and counted) by a cancel, never both, and
//!   what has not left is exactly `p`'s queue;
//! - events the hash drops or sends to an unknown partition are counted, once;
//! - only owed events are hashed: the leftovers are the unhashed suffix of what was emitted;
//! - no subscription receives more than it asked for, and its partition's demand is exactly
//!   what it asked minus what it received;
//! - `waiting`, `pending` and every returned upstream demand match the model;
//! - an info is released exactly when every partition has sent or dropped the events queued
//!   ahead of it (so an info with nothing ahead of it is released at once, spec §21 Q18), in
//!   FIFO order.
//!
//! A second property runs a producer stage with the dispatcher and checks the same guarantees
//! end to end, with the producer's own buffer in between. Case counts follow `PROPTEST_CASES`.

use genstage::dispatcher::partition::{HashFn, default_partition};
use genstage::dispatcher::{Dispatcher, PartitionDispatcher, Recorded};
use genstage::runtime::*;
use genstage::storage::{Fixed, Heap, Storage};
use genstage::*;
use proptest::prelude::*;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Debug)]
enum Op {
    /// Subscribe a new subscription; `None` names no partition, values ≥ N are unknown.
    Subscribe(Option<usize>),
    /// Ask on the live subscription picked by the index (or on a stale one).
    Ask(usize, usize),
    /// Cancel the live subscription picked by the index (or a stale one).
    Cancel(usize),
    /// Emit this many new events, then dispatch the buffer.
    Dispatch(usize),
    /// An info, when nothing is buffered ahead of it.
    Info,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => proptest::option::weighted(0.95, 0usize..5).prop_map(Op::Subscribe),
        4 => (any::<usize>(), 0usize..8).prop_map(|(i, n)| Op::Ask(i, n)),
        1 => any::<usize>().prop_map(Op::Cancel),
        4 => (0usize..12).prop_map(Op::Dispatch),
        1 => Just(Op::Info),
    ]
}

/// Three partitions; some events dropped, a few sent to partitions 3 and 4 (unknown), and
/// every routed event rewritten to `10 * x + p`.
fn skewed(x: u64) -> Option<(u64, usize)> {
    if x % 11 == 5 {
        return None;
    }
    if x % 17 == 4 {
        return Some((x, 3 + (x % 2) as usize));
    }
    let p = match x % 7 {
        0..=3 => 0,
        4 | 5 => 1,
        _ => 2,
    };
    Some((10 * x + p as u64, p))
}

struct Model<'a> {
    hash: &'a dyn Fn(u64) -> Option<(u64, usize)>,
    next_seq: u32,
    /// Live subscriptions and their partition.
    live: Vec<(SubId, usize)>,
    /// Subscriptions that were cancelled.
    stale: Vec<SubId>,
    asked: HashMap<SubId, usize>,
    received: HashMap<SubId, usize>,
    emitted: u64,
    /// Leftovers: unhashed, in emission order.
    buffer: VecDeque<u64>,
    /// Events routed to each partition, in order, and how many have left it.
    routed: Vec<Vec<u64>>,
    left: Vec<usize>,
    dropped_by_hash: u64,
    /// Routed to a partition whose consumer left (and none took it since): dropped.
    dropped_orphan: u64,
    orphaned: Vec<bool>,
    cancelled: u64,
    waiting: usize,
    pending: usize,
    /// Infos not yet released: id and, per partition, how many routed events are ahead.
    infos: Vec<(MarkerId, Vec<usize>)>,
    next_marker: u64,
    last_released: Option<MarkerId>,
    /// How far the recorded context has been read.
    seen_sent: usize,
    seen_discarded: usize,
    seen_released: usize,
}

impl<'a> Model<'a> {
    fn new(n: usize, hash: &'a dyn Fn(u64) -> Option<(u64, usize)>) -> Self {
        Model {
            hash,
            next_seq: 0,
            live: Vec::new(),
            stale: Vec::new(),
            asked: HashMap::new(),
            received: HashMap::new(),
            emitted: 0,
            buffer: VecDeque::new(),
            routed: vec![Vec::new(); n],
            left: vec![0; n],
            dropped_by_hash: 0,
            dropped_orphan: 0,
            orphaned: vec![false; n],
            cancelled: 0,
            waiting: 0,
            pending: 0,
            infos: Vec::new(),
            next_marker: 0,
            last_released: None,
            seen_sent: 0,
            seen_discarded: 0,
            seen_released: 0,
        }
    }

    fn pick(&self, i: usize) -> Option<(SubId, Option<usize>)> {
        let all = self.live.len() + self.stale.len();
        if all == 0 {
            return None;
        }
        let i = i % all;
        Some(match self.live.get(i) {
            Some(&(s, p)) => (s, Some(p)),
            None => (self.stale[i - self.live.len()], None),
        })
    }
}

/// Runs `ops` against a dispatcher built by the caller, whose hash the model mirrors.
fn run<S: Storage>(
    mut d: PartitionDispatcher<u64, S>,
    hash: &dyn Fn(u64) -> Option<(u64, usize)>,
    ops: &[Op],
) {
    let n = d.partitions();
    let cap = S::EVENTS;
    let mut m = Model::new(n, hash);
    let mut ctx: Recorded<u64> = Recorded::default();

    for op in ops {
        // Cancels drop a partition's queue: remember what the model expects.
        let mut expect_cancel: Option<(usize, usize)> = None;
        let mut expect_orphan: Option<usize> = None;
        match *op {
            Op::Subscribe(partition) => {
                let sub = SubId::new(StageId(0), StageId(1), m.next_seq);
                m.next_seq += 1;
                let mut opts = Subscribe::new();
                if let Some(p) = partition {
                    opts = opts.partition(p);
                }
                let r = d.subscribe(sub, &opts.validate().unwrap(), &mut ctx);
                let expected = match partition {
                    None => Err(Reason::Refused(Refusal::MissingPartition)),
                    Some(p) if p >= n => Err(Reason::Refused(Refusal::UnknownPartition(p))),
                    Some(p) if m.live.iter().any(|l| l.1 == p) => {
                        Err(Reason::Refused(Refusal::PartitionTaken(p)))
                    }
                    Some(_) => Ok(0),
                };
                assert_eq!(r, expected);
                if let (Ok(_), Some(p)) = (r, partition) {
                    m.orphaned[p] = false;
                    m.live.push((sub, p));
                    m.asked.insert(sub, 0);
                    m.received.insert(sub, 0);
                }
            }
            Op::Ask(i, k) => {
                let Some((sub, p)) = m.pick(i) else { continue };
                let u = d.ask(sub, k, &mut ctx);
                if p.is_none() {
                    assert_eq!(u, 0, "a stale subscription changes nothing");
                } else {
                    *m.asked.get_mut(&sub).unwrap() += k;
                    let paid = m.pending.min(k);
                    m.pending -= paid;
                    assert_eq!(u, k - paid, "upstream demand, spec §14.4");
                    m.waiting += u;
                }
            }
            Op::Cancel(i) => {
                let Some((sub, p)) = m.pick(i) else { continue };
                let u = d.cancel(sub, &mut ctx);
                match p {
                    None => assert_eq!(u, 0),
                    Some(p) => {
                        let queued = m.routed[p].len() - m.left[p];
                        let outstanding = m.asked[&sub] - m.received[&sub];
                        if queued == 0 {
                            assert_eq!(u, 0);
                            m.pending += outstanding;
                        } else {
                            assert_eq!(outstanding, 0, "a queue means no demand");
                            assert_eq!(u, queued, "the dropped queue is asked again");
                            m.waiting += queued;
                            expect_cancel = Some((p, queued));
                        }
                        m.live.retain(|l| l.0 != sub);
                        m.stale.push(sub);
                        m.orphaned[p] = true;
                    }
                }
            }
            Op::Dispatch(k) => {
                m.buffer.extend(m.emitted..m.emitted + k as u64);
                m.emitted += k as u64;
                let mut q = m.buffer.clone();
                let before = q.len();
                d.dispatch(&mut q, &mut ctx);
                let hashed = before - q.len();
                let mut orphans = 0;
                for _ in 0..hashed {
                    let x = m.buffer.pop_front().unwrap();
                    match (m.hash)(x) {
                        Some((_, p)) if p < n && m.orphaned[p] => orphans += 1,
                        Some((e, p)) if p < n => {
                            m.routed[p].push(e);
                            m.waiting -= 1;
                        }
                        _ => m.dropped_by_hash += 1,
                    }
                }
                m.dropped_orphan += orphans;
                if orphans > 0 {
                    expect_orphan = Some(orphans as usize);
                }
                assert_eq!(q, m.buffer, "leftovers are the unhashed suffix");
                let stopped_early = !q.is_empty() && m.waiting > 0;
                if stopped_early {
                    // Only fixed storage stops early: a full queue whose consumer has no demand.
                    let blocked = (0..n).any(|p| Some(d.queued(p)) == cap && d.demand(p) == 0);
                    assert!(blocked, "owed events were left unhashed");
                }
            }
            Op::Info => {
                let bound = cap.unwrap_or(usize::MAX);
                if !m.buffer.is_empty() || m.infos.len() >= bound {
                    continue;
                }
                let id = MarkerId(m.next_marker);
                m.next_marker += 1;
                let ahead: Vec<usize> = m.routed.iter().map(Vec::len).collect();
                m.infos.push((id, ahead));
                d.info(id, &mut ctx);
            }
        }

        // Deliveries: each batch is the next run of its partition's routed events.
        for (sub, events) in &ctx.sent[m.seen_sent..] {
            let p = m
                .live
                .iter()
                .find(|l| l.0 == *sub)
                .map(|l| l.1)
                .expect("only live subscriptions receive events");
            assert!(!events.is_empty());
            let from = m.left[p];
            assert_eq!(
                events[..],
                m.routed[p][from..from + events.len()],
                "partition {p} delivers in hash order"
            );
            m.left[p] += events.len();
            let got = m.received.get_mut(sub).unwrap();
            *got += events.len();
            assert!(*got <= m.asked[sub], "never more than asked");
        }
        m.seen_sent = ctx.sent.len();

        // Discards: hash drops once per dispatch; a cancel drops exactly the queue.
        for &(count, reason) in &ctx.discarded[m.seen_discarded..] {
            match reason {
                DiscardReason::Dispatcher => {}
                DiscardReason::PartitionCancelled if expect_orphan.is_some() => {
                    // Events routed to a partition whose consumer left: dropped, counted.
                    assert_eq!(Some(count), expect_orphan.take());
                }
                DiscardReason::PartitionCancelled => {
                    let (p, queued) = expect_cancel.take().expect("only a cancel drops a queue");
                    assert_eq!(count, queued);
                    m.left[p] += count;
                    m.cancelled += count as u64;
                }
                other => panic!("unexpected discard {other:?}"),
            }
        }
        m.seen_discarded = ctx.discarded.len();
        assert_eq!(expect_cancel, None, "the cancelled queue was counted");
        let d_discards = d.discards();
        assert_eq!(
            d_discards.by_hash + d_discards.unknown_partition,
            m.dropped_by_hash
        );
        assert_eq!(d_discards.cancelled, m.cancelled);
        assert_eq!(d_discards.orphaned, m.dropped_orphan);
        assert_eq!(expect_orphan, None, "the orphaned events were counted");
        let reported: u64 = ctx
            .discarded
            .iter()
            .filter(|d| d.1 == DiscardReason::Dispatcher)
            .map(|d| d.0 as u64)
            .sum();
        assert_eq!(reported, m.dropped_by_hash);

        // Infos: released exactly when nothing routed ahead of them is still queued.
        for &id in &ctx.released[m.seen_released..] {
            let i = m
                .infos
                .iter()
                .position(|x| x.0 == id)
                .expect("released once, and only infos given");
            let (_, ahead) = m.infos.remove(i);
            assert!(
                (0..n).all(|p| m.left[p] >= ahead[p]),
                "info {id:?} released with events still ahead of it"
            );
            assert!(m.last_released < Some(id), "infos keep FIFO order");
            m.last_released = Some(id);
        }
        m.seen_released = ctx.released.len();
        for (id, ahead) in &m.infos {
            assert!(
                (0..n).any(|p| m.left[p] < ahead[p]),
                "info {id:?} has nothing ahead of it but was not released"
            );
        }
        assert!(ctx.reports.is_empty(), "{:?}", ctx.reports);

        // State.
        assert_eq!((d.waiting(), d.pending()), (m.waiting, m.pending));
        for p in 0..n {
            assert_eq!(d.queued(p), m.routed[p].len() - m.left[p]);
            if let Some(c) = cap {
                assert!(d.queued(p) <= c);
            }
            let live = m.live.iter().find(|l| l.1 == p).map(|l| l.0);
            assert_eq!(d.subscriber(p), live);
            let demand = live.map_or(0, |s| m.asked[&s] - m.received[&s]);
            assert_eq!(d.demand(p), demand, "demand of partition {p}");
            assert!(
                d.queued(p) == 0 || d.demand(p) == 0,
                "a queue means no demand"
            );
        }
        // Conservation: emitted = buffered + dropped + delivered + cancelled + queued.
        let delivered: usize = m.received.values().sum();
        assert_eq!(
            m.emitted,
            m.buffer.len() as u64
                + m.dropped_by_hash
                + m.dropped_orphan
                + delivered as u64
                + m.cancelled
                + d.queued_total() as u64
        );
    }
}

fn default_hash_model(n: usize) -> impl Fn(u64) -> Option<(u64, usize)> {
    move |x| Some((x, default_partition(&x, n)))
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn custom_hash_on_heap_storage(ops in proptest::collection::vec(op(), 0..120)) {
        let d = PartitionDispatcher::<u64, Heap>::new(3, skewed as HashFn<u64>).unwrap();
        run(d, &skewed, &ops);
    }

    #[test]
    fn custom_hash_on_fixed_storage(ops in proptest::collection::vec(op(), 0..120)) {
        let d = PartitionDispatcher::<u64, Fixed<4, 4>>::new(3, skewed).unwrap();
        run(d, &skewed, &ops);
    }

    #[test]
    fn default_hash_any_partition_count(
        n in 1usize..6,
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let d = PartitionDispatcher::<u64, Heap>::with_default_hash(n).unwrap();
        run(d, &default_hash_model(n), &ops);
    }
}

// --- stage level ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum StageOp {
    Subscribe(usize),
    Ask(usize, usize),
    Cancel(usize),
    /// The producer emits this many events outside of demand (they are buffered).
    Emit(usize),
    Info,
}

fn stage_op() -> impl Strategy<Value = StageOp> {
    prop_oneof![
        2 => (0usize..4).prop_map(StageOp::Subscribe),
        4 => (any::<usize>(), 0usize..10).prop_map(|(i, n)| StageOp::Ask(i, n)),
        1 => any::<usize>().prop_map(StageOp::Cancel),
        2 => (0usize..6).prop_map(StageOp::Emit),
        1 => Just(StageOp::Info),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum Msg {
    Emit(usize),
    Info(u64),
}

/// Emits consecutive numbers: on demand, and on an `Emit` call.
#[derive(Default)]
struct Numbers {
    next: u64,
    infos: Vec<u64>,
}

impl Producer<Msg> for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let _ = out.extend(self.next..self.next + demand as u64);
        self.next += demand as u64;
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Emit<'_, u64>) -> Flow {
        if let Msg::Info(k) = msg {
            self.infos.push(k);
        }
        Flow::Continue
    }
    fn handle_call(&mut self, request: Msg, _: &mut Reply<Msg>, out: &mut Emit<'_, u64>) -> Flow {
        if let Msg::Emit(k) = request {
            let _ = out.extend(self.next..self.next + k as u64);
            self.next += k as u64;
        }
        Flow::Continue
    }
}

/// Three partitions, `x % 5`: 0 and 1 to partitions 0 and 1, the rest to partition 2.
fn by_five(x: u64) -> Option<(u64, usize)> {
    Some((x, ((x % 5) as usize).min(2)))
}

/// As [`by_five`], but 4 (mod 5) is dropped.
fn by_five_dropping(x: u64) -> Option<(u64, usize)> {
    if x % 5 == 4 { None } else { by_five(x) }
}

/// Drives a producer stage with the dispatcher through `ops`, as raw consumers would.
///
/// With `fifo`, also checks per-partition FIFO across the producer's buffer, and that a
/// non-empty buffer always means nothing is owed. Both hold with a hash that drops events too:
/// a drop leaves the dispatcher owed one more event, and the producer serves its buffer while
/// the dispatcher is owed (`Dispatcher::ready`), so a newer event never overtakes a buffered one.
fn run_stage(hash: HashFn<u64>, fifo: bool, ops: &[StageOp]) -> Result<(), TestCaseError> {
    type Stage = ProducerStage<Numbers, Msg, Heap, PartitionDispatcher<u64>>;
    let d = PartitionDispatcher::new(3, hash).unwrap();
    let mut p: Stage =
        ProducerStage::with_dispatcher(StageId(0), Numbers::default(), ProducerOptions::new(), d)
            .unwrap();
    let mut log: Recorder<u64, u64, Msg> = Recorder::new();
    let mut subs: Vec<(SubId, usize)> = Vec::new();
    let mut asked: HashMap<SubId, usize> = HashMap::new();
    let mut received: HashMap<SubId, usize> = HashMap::new();
    let mut last: Vec<Option<u64>> = vec![None; 3];
    let mut seen = std::collections::HashSet::new();
    let mut delivered = 0u64;
    let mut infos_given = 0u64;
    let mut seq = 0;
    for op in ops {
        match *op {
            StageOp::Subscribe(partition) => {
                let sub = SubId::new(StageId(0), StageId(1), seq);
                seq += 1;
                let opts = Subscribe::new().partition(partition).validate().unwrap();
                p.handle_to_producer(
                    ToProducer::Subscribe {
                        sub,
                        previous: None,
                        opts,
                    },
                    &mut log,
                );
                let refused = partition >= 3 || subs.iter().any(|s| s.1 == partition);
                prop_assert_eq!(p.consumers().any(|s| s == sub), !refused);
                if !refused {
                    subs.push((sub, partition));
                    asked.insert(sub, 0);
                    received.insert(sub, 0);
                }
            }
            StageOp::Ask(i, k) => {
                if subs.is_empty() {
                    continue;
                }
                let sub = subs[i % subs.len()].0;
                *asked.get_mut(&sub).unwrap() += k;
                p.handle_to_producer(ToProducer::Ask { sub, demand: k }, &mut log);
            }
            StageOp::Cancel(i) => {
                if subs.is_empty() {
                    continue;
                }
                let sub = subs.remove(i % subs.len()).0;
                p.handle_to_producer(
                    ToProducer::Cancel {
                        sub,
                        reason: Reason::Normal,
                    },
                    &mut log,
                );
            }
            StageOp::Emit(k) => p.call(Msg::Emit(k), &mut log).unwrap(),
            StageOp::Info => {
                p.info(Msg::Info(infos_given), &mut log).unwrap();
                infos_given += 1;
            }
        }
        for r in log.take() {
            if let Record::Events(sub, events) = r {
                let part = subs.iter().find(|s| s.0 == sub).map(|s| s.1);
                let part = part.expect("only live subscriptions receive events");
                for &x in &events {
                    prop_assert_eq!(hash(x).map(|r| r.1), Some(part), "its hash's partition");
                    prop_assert!(seen.insert(x), "no duplicates");
                    if fifo {
                        prop_assert!(last[part] < Some(x), "per-partition FIFO");
                    }
                    last[part] = Some(x);
                }
                delivered += events.len() as u64;
                let got = received.get_mut(&sub).unwrap();
                *got += events.len();
                prop_assert!(*got <= asked[&sub], "never more than asked");
            }
        }
        let infos = &p.behaviour().infos;
        prop_assert!(
            infos.iter().copied().eq(0..infos.len() as u64),
            "infos in FIFO order"
        );
        let held = p.buffered_count() + p.dispatcher().queued_total();
        if held == 0 {
            prop_assert_eq!(
                infos.len() as u64,
                infos_given,
                "nothing ahead: infos handled"
            );
        }
        if fifo && p.buffered_count() > 0 {
            prop_assert_eq!(
                p.dispatcher().waiting(),
                0,
                "buffered events are never owed"
            );
        }
        let stats = p.stats();
        prop_assert_eq!(
            p.behaviour().next,
            delivered + held as u64 + stats.discarded.total(),
            "every emitted event is delivered, held or counted as discarded"
        );
        prop_assert_eq!(stats.events_out, delivered);
        prop_assert_eq!(
            stats.discarded.dispatcher,
            p.dispatcher().discards().by_hash
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn a_producer_with_the_partition_dispatcher_keeps_per_partition_fifo(
        ops in proptest::collection::vec(stage_op(), 0..100),
    ) {
        run_stage(by_five, true, &ops)?;
    }

    #[test]
    fn a_producer_whose_hash_drops_events_loses_and_duplicates_nothing_and_keeps_fifo(
        ops in proptest::collection::vec(stage_op(), 0..100),
    ) {
        run_stage(by_five_dropping, true, &ops)?;
    }
}
