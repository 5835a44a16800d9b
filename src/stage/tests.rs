//! The stages on fixed-capacity storage, as a no-alloc host runs them.
use crate::dispatcher::*;
use crate::error::*;
use crate::runtime::*;
use crate::storage::Fixed;
use crate::*;

type Store = Fixed<16, 16>;

struct Count(u32);
impl Producer for Count {
    type Event = u32;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u32>) -> Flow {
        let n = out.extend(self.0..self.0 + demand as u32);
        self.0 += n as u32;
        Flow::Continue
    }
}

struct Sum(u32, u32);
impl Consumer for Sum {
    type Event = u32;
    fn handle_events(&mut self, events: Batch<'_, u32>, _: &mut Ctx<'_>) -> Flow {
        self.1 += 1;
        self.0 += events.sum::<u32>();
        Flow::Continue
    }
}

#[derive(Default)]
struct Mail {
    up: heapless::Vec<ToProducer<u32>, 8>,
    down: heapless::Vec<(SubId, heapless::Vec<u32, 16>), 8>,
}

impl Outbox<u32, u32, ()> for Mail {
    fn push(&mut self, output: Output<u32, ()>) {
        if let Output::ToProducer(m) = output {
            self.up.push(m).expect("room for this test's messages");
        }
    }
    fn events<I: ExactSizeIterator<Item = u32>>(&mut self, sub: SubId, events: I) {
        self.down
            .push((sub, events.collect()))
            .expect("room for this test's batches");
    }
}

#[test]
fn producer_and_consumer_run_on_fixed_storage() {
    let mut p = ProducerStage::<Count, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(16),
        DemandDispatcher::new(),
    )
    .unwrap();
    let mut c = ConsumerStage::<Sum, (), Store>::with_storage(StageId(1), Sum(0, 0));
    let (mut to_p, mut to_c) = (Mail::default(), Mail::default());
    c.subscribe(
        p.id(),
        Subscribe::new().max_demand(8).min_demand(4),
        &mut to_p,
    )
    .unwrap();
    while c.behaviour().1 < 10 {
        for m in core::mem::take(&mut to_p.up) {
            p.handle_to_producer(m, &mut to_c);
        }
        for (sub, events) in core::mem::take(&mut to_c.down) {
            c.handle_events(sub, events, &mut to_p);
        }
    }
    // First message: 8 events in two chunks of 4; then asks of 4 answered 4 at a time.
    assert_eq!(c.behaviour().0, (0..40).sum::<u32>());
    assert_eq!(p.stats().events_out, 40);
}

#[test]
fn buffer_larger_than_fixed_storage_is_rejected() {
    let r = ProducerStage::<Count, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(17),
        DemandDispatcher::new(),
    );
    assert_eq!(
        r.err(),
        Some(OptionsError::BufferExceedsStorage {
            size: 17,
            capacity: 16
        })
    );
    let r = ProducerStage::<Count, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().unbounded_buffer(),
        DemandDispatcher::new(),
    );
    assert_eq!(
        r.err(),
        Some(OptionsError::UnboundedNeedsAlloc { capacity: 16 })
    );
}

#[test]
fn emit_refuses_beyond_fixed_capacity_and_hands_the_event_back() {
    struct Greedy;
    impl Producer for Greedy {
        type Event = u32;
        fn handle_demand(&mut self, _: usize, out: &mut Emit<'_, u32>) -> Flow {
            assert_eq!(out.extend(0..100), 16);
            assert_eq!(out.push(99), Err(99));
            Flow::Continue
        }
    }
    let mut p = ProducerStage::<Greedy, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Greedy,
        ProducerOptions::new(),
        DemandDispatcher::new(),
    )
    .unwrap();
    let sub = SubId::new(StageId(0), StageId(1), 0);
    let mut out = Mail::default();
    p.handle_to_producer(
        ToProducer::Subscribe {
            sub,
            previous: None,
            opts: Subscribe::new().validate().unwrap(),
        },
        &mut out,
    );
    p.handle_to_producer(ToProducer::Ask { sub, demand: 100 }, &mut out);
    assert_eq!(p.stats().events_out, 16);
}

fn dispatch_round<D: Dispatcher<u32>>(
    d: D,
    partitioned: bool,
) -> ProducerStage<Count, (), Store, D> {
    let mut p = ProducerStage::<Count, (), Store, D>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(16),
        d,
    )
    .unwrap();
    let mut mail = Mail::default();
    for (seq, part) in [(0u32, 0usize), (1, 1)] {
        let sub = SubId::new(StageId(0), StageId(1 + seq), seq);
        let opts = Subscribe::new().max_demand(4);
        let opts = if partitioned {
            opts.partition(part)
        } else {
            opts
        };
        let opts = opts.validate().unwrap();
        p.handle_to_producer(
            ToProducer::Subscribe {
                sub,
                previous: None,
                opts,
            },
            &mut mail,
        );
        p.handle_to_producer(ToProducer::Ask { sub, demand: 4 }, &mut mail);
    }
    p
}

#[test]
fn broadcast_and_partition_dispatchers_run_on_fixed_storage() {
    let b = dispatch_round(
        crate::dispatcher::BroadcastDispatcher::<u32, Store>::new(),
        false,
    );
    // The first consumer's 4 went out before the second subscribed; the second's ask does
    // not raise the minimum demand (the first has none left), so nothing more is made.
    assert_eq!(b.stats().events_out, 4);
    assert_eq!(b.stats().emitted, 4);
    assert_eq!(b.dispatcher().waiting(), 0);
    let p = dispatch_round(
        crate::dispatcher::PartitionDispatcher::<u32, Store>::with_default_hash(2).unwrap(),
        true,
    );
    // 8 events were owed and made; each is sent or waits in its partition's queue.
    assert_eq!(p.stats().emitted, 8);
    assert_eq!(
        p.stats().events_out as usize + p.dispatcher().queued_total(),
        8
    );
}

#[test]
fn a_producer_consumer_counts_input_beyond_its_fixed_queue() {
    struct Pass;
    impl ProducerConsumer for Pass {
        type In = u32;
        type Out = u32;
        fn handle_events(&mut self, events: Batch<'_, u32>, out: &mut Relay<'_, u32>) -> Flow {
            let offered = events.len();
            let taken = out.extend(events);
            // The queue holds 4 and this test never emits more per call.
            assert_eq!(taken, offered, "fixed storage had room");
            Flow::Continue
        }
    }
    type Small = Fixed<4, 4>;
    let mut pc =
        ProducerConsumerStage::<Pass, (), Small, DemandDispatcher<Small>>::with_dispatcher(
            StageId(1),
            Pass,
            ProducerOptions::new().buffer_size(4),
            DemandDispatcher::new(),
        )
        .unwrap();
    let mut mail = Mail::default();
    let sub = pc
        .subscribe(StageId(0), Subscribe::new().max_demand(4), &mut mail)
        .unwrap();
    // A peer sends six events; no consumer asked, so they queue, and two find no room.
    pc.handle_events(sub, 0..6u32, &mut mail);
    assert_eq!(pc.queued_count(), 4);
    assert_eq!(pc.stats().events_in, 6);
    assert_eq!(pc.stats().discarded.input_queue_full, 2);
}

#[test]
fn fixed_storage_sizes_events_and_control_apart() {
    // A producer with 4 consumers and a 256-event buffer: the subscription table, infos and
    // queues of control items hold 4, only the containers of events hold 256.
    type Lean = Fixed<256, 4>;
    type Fat = Fixed<256, 256>;
    let lean = ProducerStage::<Count, (), Lean, DemandDispatcher<Lean>>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(256),
        DemandDispatcher::new(),
    );
    let mut p = lean.unwrap();
    let fat = core::mem::size_of::<ProducerStage<Count, (), Fat, DemandDispatcher<Fat>>>();
    assert!(
        core::mem::size_of_val(&p) * 2 < fat,
        "lean {} bytes, fat {fat}",
        core::mem::size_of_val(&p)
    );
    let mut mail = Mail::default();
    for n in 1..=5u32 {
        let sub = SubId::new(StageId(0), StageId(n), 0);
        let opts = Subscribe::new().validate().unwrap();
        p.handle_to_producer(
            ToProducer::Subscribe {
                sub,
                previous: None,
                opts,
            },
            &mut mail,
        );
    }
    // The fifth is refused: the table holds four.
    assert_eq!(p.consumers().count(), 4);
}

/// Emits one event per demand call, stamped with the time it was called at.
struct Clocked;
impl Producer for Clocked {
    type Event = u32;
    fn handle_demand(&mut self, _: usize, out: &mut Emit<'_, u32>) -> Flow {
        let _ = out.push(out.now() as u32);
        Flow::Continue
    }
}

/// Passes on the time it handled each batch at.
struct Stamp;
impl ProducerConsumer for Stamp {
    type In = u32;
    type Out = u32;
    fn handle_events(&mut self, events: Batch<'_, u32>, out: &mut Relay<'_, u32>) -> Flow {
        let now = out.now() as u32;
        let _ = out.extend(events.map(|e| e * 1000 + now));
        Flow::Continue
    }
}

#[test]
fn every_kind_of_stage_hands_its_callbacks_the_time_it_was_given() {
    let mut p = ProducerStage::<Clocked, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Clocked,
        ProducerOptions::new().buffer_size(16),
        DemandDispatcher::new(),
    )
    .unwrap();
    let mut pc =
        ProducerConsumerStage::<Stamp, (), Store, DemandDispatcher<Store>>::with_dispatcher(
            StageId(1),
            Stamp,
            ProducerOptions::new().buffer_size(16),
            DemandDispatcher::new(),
        )
        .unwrap();
    assert_eq!((p.now(), pc.now()), (0, 0));
    let (mut up, mut down) = (Mail::default(), Mail::default());
    let sub = pc
        .subscribe(StageId(0), Subscribe::new().max_demand(1), &mut up)
        .unwrap();
    let to_pc = SubId::new(StageId(1), StageId(2), 0);
    let opts = Subscribe::<u32>::new().max_demand(4).validate().unwrap();
    pc.handle_to_producer(
        ToProducer::Subscribe {
            sub: to_pc,
            previous: None,
            opts,
        },
        &mut down,
    );
    pc.handle_to_producer(
        ToProducer::Ask {
            sub: to_pc,
            demand: 4,
        },
        &mut down,
    );
    p.set_now(7);
    for m in core::mem::take(&mut up.up) {
        p.handle_to_producer(m, &mut down);
    }
    let (s, batch) = down.down.pop().expect("the producer answered the ask");
    assert_eq!((s, batch.as_slice()), (sub, &[7][..]));
    pc.set_now(40);
    pc.handle_events(sub, batch, &mut up);
    assert_eq!(pc.now(), 40);
    let (s, batch) = up.down.pop().expect("the producer_consumer passed it on");
    assert_eq!((s, batch.as_slice()), (to_pc, &[7040][..]));
}
