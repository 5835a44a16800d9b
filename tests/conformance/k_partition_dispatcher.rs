//! K. PartitionDispatcher (spec §14): the dispatcher driven by hand with a `Recorded` context,
//! and a producer using it, driven with a `Recorder` or inside the `Sim`.

use genstage::dispatcher::partition::{PartitionDiscards, PartitionsError};
use genstage::dispatcher::{Dispatcher, PartitionDispatcher, Recorded};
use genstage::error::*;
use genstage::runtime::*;
use genstage::sim::Sim;
use genstage::*;
use std::collections::VecDeque;

const P: StageId = StageId(0);

/// Subscription `n` (consumer stage `n`) to the producer.
fn sub(n: u32) -> SubId {
    SubId::new(P, StageId(n), 0)
}

fn on<E>(partition: usize) -> SubscribeOptions<E> {
    Subscribe::new().partition(partition).validate().unwrap()
}

fn queue<E>(events: impl IntoIterator<Item = E>) -> VecDeque<E> {
    events.into_iter().collect()
}

/// `(waiting, pending)`, the state the scenarios show.
fn state<E>(d: &PartitionDispatcher<E>) -> (usize, usize) {
    (d.waiting(), d.pending())
}

fn all_to_p0(x: u64) -> Option<(u64, usize)> {
    Some((x, 0))
}

fn mod2(x: u64) -> Option<(u64, usize)> {
    Some((x, (x % 2) as usize))
}

#[test]
fn k1_subscribe_ask_cancel_moves_demand_into_pending() {
    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::with_default_hash(2).unwrap();
    let mut ctx = Recorded::default();

    assert_eq!(d.subscribe(sub(1), &on(0), &mut ctx), Ok(0));
    assert_eq!(d.ask(sub(1), 10, &mut ctx), 10);
    assert_eq!(state(&d), (10, 0));
    assert_eq!(d.demand(0), 10);

    assert_eq!(d.cancel(sub(1), &mut ctx), 0);
    assert_eq!(state(&d), (10, 10));
    assert_eq!((d.subscriber(0), d.demand(0)), (None, 0));

    assert_eq!(d.subscribe(sub(2), &on(1), &mut ctx), Ok(0));
    assert_eq!(d.ask(sub(2), 5, &mut ctx), 0, "paid by the pending demand");
    assert_eq!(state(&d), (10, 5));

    assert_eq!(d.cancel(sub(2), &mut ctx), 0);
    assert_eq!(state(&d), (10, 10));

    // Both consumers left. Port stance (docs/behaviour.md, "orphaned partitions"): GenStage
    // hashes the owed events into the partition queues and holds them there for a consumer
    // that may never come, using up demand the other partitions' consumers are owed (a
    // finite pipeline stalls, and an endless one grows the queue for good). Here an event
    // routed to a partition whose consumer left is dropped, counted, and its demand goes back
    // to the producer; a consumer that takes the partition again gets what comes after.
    let mut events = queue([0u64, 1, 2, 3]);
    d.dispatch(&mut events, &mut ctx);
    assert!(events.is_empty());
    assert_eq!(state(&d), (10, 10), "nothing used up the demand owed");
    assert_eq!((d.queued(0), d.queued(1)), (0, 0));
    assert_eq!(d.discards().orphaned, 4);
    assert_eq!(ctx.discarded, vec![(4, DiscardReason::PartitionCancelled)]);
    assert_eq!(ctx.replaced, vec![4]);

    assert!(ctx.sent.is_empty());
    assert!(ctx.released.is_empty());
}

#[test]
fn k3_none_discards_without_using_up_demand() {
    // Named partitions are a user-side mapping to indices.
    #[derive(Clone, Copy)]
    enum Parity {
        Odd = 0,
        Even = 1,
    }
    fn hash(x: u64) -> Option<(u64, usize)> {
        if x.is_multiple_of(3) {
            None
        } else if x.is_multiple_of(2) {
            Some((x, Parity::Even as usize))
        } else {
            Some((x, Parity::Odd as usize))
        }
    }
    let (even, odd) = (sub(1), sub(2));
    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::new(2, hash).unwrap();
    let mut ctx = Recorded::default();
    assert_eq!(
        d.subscribe(even, &on(Parity::Even as usize), &mut ctx),
        Ok(0)
    );
    assert_eq!(d.subscribe(odd, &on(Parity::Odd as usize), &mut ctx), Ok(0));
    assert_eq!(d.ask(even, 4, &mut ctx), 4);
    assert_eq!(d.ask(odd, 4, &mut ctx), 4);

    let mut events = queue(1u64..=12);
    d.dispatch(&mut events, &mut ctx);

    // One message per partition, in partition order.
    assert_eq!(
        ctx.sent,
        vec![(odd, vec![1, 5, 7, 11]), (even, vec![2, 4, 8, 10])]
    );
    assert_eq!(events, [12], "12 was not owed, so not hashed");
    assert_eq!(state(&d), (0, 0));
    // 3, 6 and 9 were dropped and counted once, in one report.
    assert_eq!(ctx.discarded, vec![(3, DiscardReason::Dispatcher)]);
    assert_eq!(
        d.discards(),
        PartitionDiscards {
            by_hash: 3,
            unknown_partition: 0,
            cancelled: 0,
            abandoned: 0,
            orphaned: 0
        }
    );
    assert_eq!((d.demand(0), d.demand(1)), (0, 0));
    assert_eq!(d.queued_total(), 0);
}

#[test]
fn k4_events_for_an_unsubscribed_partition_wait_in_its_queue() {
    let (a, b) = (sub(1), sub(2));
    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::new(2, all_to_p0).unwrap();
    let mut ctx = Recorded::default();

    assert_eq!(d.subscribe(a, &on(1), &mut ctx), Ok(0));
    assert_eq!(d.ask(a, 5, &mut ctx), 5);

    let mut events = queue([1u64, 2, 5, 6, 7]);
    d.dispatch(&mut events, &mut ctx);
    assert!(ctx.sent.is_empty(), "p0 has no consumer");
    assert!(events.is_empty());
    assert_eq!(state(&d), (0, 0));
    assert_eq!((d.queued(0), d.queued(1)), (5, 0));

    let mut events = queue([8u64, 9]);
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(events, [8, 9], "nothing owed: left over, not hashed");
    assert_eq!(d.queued(0), 5);

    assert_eq!(d.subscribe(b, &on(0), &mut ctx), Ok(0));
    assert!(ctx.sent.is_empty(), "subscribing sends nothing");
    assert_eq!(
        d.ask(b, 5, &mut ctx),
        5,
        "returned although the queue served it"
    );
    assert_eq!(ctx.sent, vec![(b, vec![1, 2, 5, 6, 7])]);
    assert_eq!(state(&d), (5, 0));
    assert_eq!((d.queued(0), d.demand(0)), (0, 0));

    let mut events = queue([1u64, 2]);
    d.dispatch(&mut events, &mut ctx);
    assert!(events.is_empty());
    assert_eq!(state(&d), (3, 0));
    assert_eq!(
        ctx.sent.len(),
        1,
        "B has no demand: [1, 2] wait for its next ask"
    );
    assert_eq!(d.queued(0), 2);

    assert_eq!(d.ask(b, 1, &mut ctx), 1);
    assert_eq!(ctx.sent[1], (b, vec![1]));
    assert_eq!((d.queued(0), d.demand(0)), (1, 0));
    assert!(ctx.discarded.is_empty());
}

#[test]
fn k7_errors_are_typed_refusals_and_counted_discards() {
    // init without partitions.
    assert_eq!(
        PartitionDispatcher::<u64>::new(0, mod2).err(),
        Some(PartitionsError::NoPartitions)
    );
    assert_eq!(
        PartitionDispatcher::<u64>::with_default_hash(0).err(),
        Some(PartitionsError::NoPartitions)
    );
    assert_eq!(
        PartitionsError::NoPartitions.to_string(),
        "expected partitions to be equal to or greater than 1, got: 0"
    );
    assert_eq!(
        OptionsError::from(PartitionsError::NoPartitions).to_string(),
        "expected partitions to be equal to or greater than 1, got: 0"
    );
    // Named partitions without a hash cannot be written: names are the user's mapping to
    // indices, and `with_default_hash` needs `E: PartitionHash` (a compile_fail doc test on
    // `PartitionDispatcher::with_default_hash` pins that). A hash returning something other
    // than `Option<(E, usize)>` does not type-check either.

    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::new(2, mod2).unwrap();
    let mut ctx = Recorded::default();
    // subscribe without a partition.
    let no_partition = Subscribe::new().validate().unwrap();
    assert_eq!(
        d.subscribe(sub(1), &no_partition, &mut ctx),
        Err(Reason::Refused(Refusal::MissingPartition))
    );
    // partition out of range (GenStage's -1 and 2 with partitions 2).
    for p in [2, usize::MAX] {
        assert_eq!(
            d.subscribe(sub(1), &on(p), &mut ctx),
            Err(Reason::Refused(Refusal::UnknownPartition(p)))
        );
    }
    // a taken partition.
    assert_eq!(d.subscribe(sub(1), &on(0), &mut ctx), Ok(0));
    assert_eq!(
        d.subscribe(sub(2), &on(0), &mut ctx),
        Err(Reason::Refused(Refusal::PartitionTaken(0)))
    );
    assert_eq!(
        Reason::Refused(Refusal::PartitionTaken(0)).to_string(),
        "subscription refused: partition 0 is already taken"
    );
    // Refusals change nothing.
    assert_eq!((d.subscriber(0), d.subscriber(1)), (Some(sub(1)), None));
    assert_eq!(d.partition_of(sub(2)), None);

    // A hash naming an unknown partition: dropped and counted, no panic, no demand used.
    fn bad(x: u64) -> Option<(u64, usize)> {
        Some((x, if x == 13 { 7 } else { 0 }))
    }
    let mut d: PartitionDispatcher<u64> = PartitionDispatcher::new(2, bad).unwrap();
    let mut ctx = Recorded::default();
    d.subscribe(sub(1), &on(0), &mut ctx).unwrap();
    assert_eq!(d.ask(sub(1), 2, &mut ctx), 2);
    let mut events = queue([12u64, 13, 14, 15]);
    d.dispatch(&mut events, &mut ctx);
    assert_eq!(ctx.sent, vec![(sub(1), vec![12, 14])]);
    assert_eq!(events, [15]);
    assert_eq!(ctx.discarded, vec![(1, DiscardReason::Dispatcher)]);
    assert_eq!(d.discards().unknown_partition, 1);
    assert_eq!(d.discards().by_hash, 0);
}

// --- stage level -------------------------------------------------------------------------

/// What the Silent producer's callbacks saw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Subscribe(SubId),
    Demand(usize),
    Cancel(Cancellation, SubId),
    Info(u32),
}

/// Calls and infos of the Silent producer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Emit(Vec<u64>),
    Info(u32),
    Done,
}

/// Spec helper **Silent**: records demand and emits nothing; emits on a call.
#[derive(Default)]
struct Silent {
    seen: Vec<Seen>,
}

impl Producer<Msg> for Silent {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, _: &mut Emit<'_, u64>) -> Flow {
        self.seen.push(Seen::Demand(demand));
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<u64>) -> Flow {
        self.seen.push(Seen::Subscribe(sub));
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Emit<'_, u64>) -> Flow {
        self.seen.push(Seen::Cancel(how, sub));
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Emit<'_, u64>) -> Flow {
        if let Msg::Info(n) = msg {
            self.seen.push(Seen::Info(n));
        }
        Flow::Continue
    }
    fn handle_call(
        &mut self,
        request: Msg,
        reply: &mut Reply<Msg>,
        out: &mut Emit<'_, u64>,
    ) -> Flow {
        if let Msg::Emit(events) = request {
            let _ = out.extend(events);
        }
        reply.reply(Msg::Done);
        Flow::Continue
    }
}

type Partitioned = ProducerStage<Silent, Msg, storage::Heap, PartitionDispatcher<u64>>;
type Log = Recorder<u64, u64, Msg>;

fn silent(hash: dispatcher::partition::HashFn<u64>) -> Partitioned {
    let d = PartitionDispatcher::new(2, hash).unwrap();
    ProducerStage::with_dispatcher(P, Silent::default(), ProducerOptions::new(), d).unwrap()
}

fn subscribe_msg(sub: SubId, opts: Subscribe<u64>) -> ToProducer<u64> {
    ToProducer::Subscribe {
        sub,
        previous: None,
        opts: opts.validate().unwrap(),
    }
}

fn out(o: Output<u64, Msg>) -> Record<u64, u64, Msg> {
    Record::Output(o)
}

#[test]
fn k7_refused_subscription_is_cancelled_alone_and_the_producer_keeps_running() {
    let mut p = silent(mod2);
    let mut log = Log::new();
    let (first, taken, missing, unknown) = (sub(1), sub(2), sub(3), sub(4));

    p.handle_to_producer(
        subscribe_msg(first, Subscribe::new().partition(0)),
        &mut log,
    );
    assert!(log.take().is_empty());

    let cases = [
        (
            taken,
            Subscribe::new().partition(0),
            Refusal::PartitionTaken(0),
        ),
        (missing, Subscribe::new(), Refusal::MissingPartition),
        (
            unknown,
            Subscribe::new().partition(5),
            Refusal::UnknownPartition(5),
        ),
    ];
    for (s, opts, refusal) in cases {
        p.handle_to_producer(subscribe_msg(s, opts), &mut log);
        let reason = Reason::Refused(refusal);
        assert_eq!(
            log.take(),
            vec![
                out(Output::Report(Report::SubscribeRefused { sub: s, reason })),
                out(Output::ToConsumer(ToConsumer::Cancel { sub: s, reason })),
            ]
        );
        assert_eq!(
            p.behaviour().seen.last(),
            Some(&Seen::Cancel(Cancellation::Cancel(reason), s))
        );
    }
    assert_eq!(p.stopped(), None, "the producer keeps running");
    assert_eq!(p.consumers().collect::<Vec<_>>(), vec![first]);
    assert_eq!(p.dispatcher().subscriber(0), Some(first));
    assert_eq!(p.dispatcher().subscriber(1), None);

    // The first subscription still works.
    p.handle_to_producer(
        ToProducer::Ask {
            sub: first,
            demand: 2,
        },
        &mut log,
    );
    assert_eq!(p.behaviour().seen.last(), Some(&Seen::Demand(2)));
    p.call(Msg::Emit(vec![0, 2, 4]), &mut log)
        .expect("the producer is live");
    assert_eq!(
        log.take(),
        vec![
            Record::Events(first, vec![0, 2]),
            out(Output::Reply(Msg::Done)),
        ]
    );
    assert_eq!(p.buffered_count(), 1, "4 was not owed: buffered, unhashed");
    assert_eq!(p.dispatcher().queued_total(), 0);
}

#[test]
fn k7_in_the_sim_only_the_offending_subscription_is_cancelled() {
    #[derive(Default)]
    struct Sink {
        got: Vec<u64>,
        cancels: Vec<Cancellation>,
    }
    impl Consumer for Sink {
        type Event = u64;
        fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
            self.got.extend(events);
            Flow::Continue
        }
        fn handle_cancel(&mut self, how: Cancellation, _: SubId, _: &mut Ctx<'_>) -> Flow {
            self.cancels.push(how);
            Flow::Continue
        }
    }
    /// Emits 0, 2, 4, ... (all partition 0 under `mod2`), 20 events in all.
    struct Count(u64);
    impl Producer for Count {
        type Event = u64;
        fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
            let end = (self.0 + demand as u64).min(20);
            let _ = out.extend((self.0..end).map(|x| 2 * x));
            self.0 = end;
            Flow::Continue
        }
    }

    let mut sim = Sim::new(1);
    let d = PartitionDispatcher::<u64>::new(2, mod2).unwrap();
    let p = sim.add(
        ProducerStage::<Count, (), storage::Heap, _>::with_dispatcher(
            sim.next_id(),
            Count(0),
            ProducerOptions::new(),
            d,
        )
        .unwrap(),
    );
    let owner = sim.consumer(Sink::default());
    let temporary = sim.consumer(Sink::default());
    let permanent = sim.consumer(Sink::default());
    let s_owner = sim
        .subscribe(owner, p, Subscribe::new().partition(0).max_demand(4))
        .unwrap();
    sim.run_until_idle();
    let s_temp = sim
        .subscribe(
            temporary,
            p,
            Subscribe::new().partition(0).cancel(CancelMode::Temporary),
        )
        .unwrap();
    let s_perm = sim
        .subscribe(permanent, p, Subscribe::new().partition(0))
        .unwrap();
    sim.run_until_idle();

    let refused = Reason::Refused(Refusal::PartitionTaken(0));
    assert_eq!(sim.stopped(p), None, "the producer keeps running");
    assert_eq!(sim.stopped(owner), None);
    assert_eq!(
        sim.stopped(temporary),
        None,
        "a temporary subscriber lives on"
    );
    assert_eq!(
        sim.stopped(permanent),
        Some(refused),
        "its cancel mode decides"
    );
    assert_eq!(
        sim.stage(temporary).behaviour().cancels,
        vec![Cancellation::Cancel(refused)]
    );
    assert!(sim.stage(temporary).behaviour().got.is_empty());
    let refusals: Vec<_> = sim
        .trace()
        .iter()
        .filter_map(|t| match t.kind {
            sim::TraceKind::Report(Report::SubscribeRefused { sub, reason }) => Some((sub, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(refusals, vec![(s_temp, refused), (s_perm, refused)]);
    assert_eq!(sim.stage(p).consumers().collect::<Vec<_>>(), vec![s_owner]);

    // The owner got every event, in order, and is still subscribed.
    let got = &sim.stage(owner).behaviour().got;
    assert_eq!(*got, (0..20).map(|x| 2 * x).collect::<Vec<u64>>());
    assert!(sim.stage(owner).behaviour().cancels.is_empty());
    assert_eq!(sim.stage(p).stats().discarded.total(), 0);
}

#[test]
fn k8_skew_and_loss_on_cancel_at_stage_level() {
    let mut p = silent(mod2);
    let mut log = Log::new();
    let (p0, p1) = (sub(1), sub(2));
    p.handle_to_producer(subscribe_msg(p0, Subscribe::new().partition(0)), &mut log);
    p.handle_to_producer(subscribe_msg(p1, Subscribe::new().partition(1)), &mut log);
    p.handle_to_producer(ToProducer::Ask { sub: p0, demand: 2 }, &mut log);
    p.handle_to_producer(ToProducer::Ask { sub: p1, demand: 2 }, &mut log);
    assert!(log.take().is_empty());
    assert_eq!(
        p.behaviour().seen,
        vec![
            Seen::Subscribe(p0),
            Seen::Subscribe(p1),
            Seen::Demand(2),
            Seen::Demand(2)
        ]
    );

    p.call(Msg::Emit(vec![0, 2, 4, 6]), &mut log)
        .expect("the producer is live");
    assert_eq!(
        log.take(),
        vec![
            Record::Events(p0, vec![0, 2]),
            out(Output::Reply(Msg::Done)),
        ]
    );
    assert_eq!((p.dispatcher().queued(0), p.dispatcher().queued(1)), (2, 0));
    assert_eq!(p.dispatcher().demand(1), 2, "p1 receives nothing");
    assert_eq!(p.buffered_count(), 0);

    let bye = Reason::Custom("bye");
    p.handle_to_producer(
        ToProducer::Cancel {
            sub: p0,
            reason: bye,
        },
        &mut log,
    );
    assert_eq!(
        log.take(),
        vec![
            out(Output::ToConsumer(ToConsumer::Cancel {
                sub: p0,
                reason: bye
            })),
            out(Output::Report(Report::Discarded {
                count: 2,
                reason: DiscardReason::PartitionCancelled,
                log: true
            })),
        ]
    );
    assert_eq!(
        p.behaviour().seen[4..],
        [Seen::Cancel(Cancellation::Cancel(bye), p0), Seen::Demand(2)]
    );
    // [4, 6] are gone, counted; the buffered estimate is 0 and nothing is queued.
    assert_eq!(p.buffered_count(), 0);
    assert_eq!(p.dispatcher().queued_total(), 0);
    assert_eq!(p.stats().discarded.partition_cancelled, 2);
    assert_eq!(p.dispatcher().discards().cancelled, 2);
    assert_eq!(p.dispatcher().waiting(), 2, "the replacements are owed");
    assert_eq!(p.stopped(), None);
}

#[test]
fn k8_an_info_waits_behind_the_queue_and_is_released_by_the_cancel() {
    let mut p = silent(mod2);
    let mut log = Log::new();
    let (p0, p1) = (sub(1), sub(2));
    p.handle_to_producer(subscribe_msg(p0, Subscribe::new().partition(0)), &mut log);
    p.handle_to_producer(subscribe_msg(p1, Subscribe::new().partition(1)), &mut log);
    p.handle_to_producer(ToProducer::Ask { sub: p0, demand: 2 }, &mut log);
    p.handle_to_producer(ToProducer::Ask { sub: p1, demand: 2 }, &mut log);
    p.call(Msg::Emit(vec![0, 2, 4, 6]), &mut log)
        .expect("the producer is live");
    log.take();

    // [4, 6] are queued in p0: the info waits behind them.
    p.info(Msg::Info(1), &mut log).unwrap();
    assert!(!p.behaviour().seen.contains(&Seen::Info(1)));
    assert_eq!(p.dispatcher().markers(0), 1);

    p.handle_to_producer(
        ToProducer::Cancel {
            sub: p0,
            reason: Reason::Custom("bye"),
        },
        &mut log,
    );
    assert_eq!(
        p.behaviour().seen[4..],
        [
            Seen::Cancel(Cancellation::Cancel(Reason::Custom("bye")), p0),
            Seen::Demand(2),
            Seen::Info(1)
        ]
    );
    assert_eq!(p.dispatcher().markers(0), 0);
}
