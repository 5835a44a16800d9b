//! Places where a user expects an error, a count or a report, and gets one: refused options,
//! messages to stopped stages, unhandled infos, foreign simulator handles, events lost at a
//! stop or in flight, and a pipeline that is idle without being done.

use genstage::dispatcher::{BroadcastDispatcher, PartitionDispatcher};
use genstage::error::*;
use genstage::runtime::*;
use genstage::sim::{Sim, TraceKind};
use genstage::storage::Heap;
use genstage::*;

/// Emits `0..` as asked; `Msg::Flood(n)` emits `n` at once; `Msg::Stop` stops.
#[derive(Default)]
struct Numbers {
    next: u64,
    /// Emit this many for the next demand, and stop in the same callback.
    flood_and_stop: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Ping,
    Pong,
}

impl Producer<Msg> for Numbers {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let n = self.flood_and_stop.unwrap_or(demand) as u64;
        let taken = out.extend(self.next..self.next + n) as u64;
        self.next += taken;
        if self.flood_and_stop.is_some() {
            Flow::Stop(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
    fn handle_call(&mut self, _: Msg, reply: &mut Reply<Msg>, _: &mut Emit<'_, u64>) -> Flow {
        reply.reply(Msg::Pong);
        Flow::Continue
    }
}

#[derive(Default)]
struct Collect(Vec<u64>);
impl Consumer<Msg> for Collect {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.0.extend(events);
        Flow::Continue
    }
    fn handle_call(&mut self, _: Msg, reply: &mut Reply<Msg>, _: &mut Ctx<'_>) -> Flow {
        reply.reply(Msg::Pong);
        Flow::Continue
    }
}

struct Pass;
impl ProducerConsumer<Msg> for Pass {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events);
        Flow::Continue
    }
}

fn reports(sim: &Sim) -> Vec<(StageId, Report)> {
    sim.trace()
        .iter()
        .filter_map(|t| match t.kind {
            TraceKind::Report(r) => Some((t.stage, r)),
            _ => None,
        })
        .collect()
}

fn cancels(sim: &Sim) -> Vec<(SubId, Reason)> {
    sim.trace()
        .iter()
        .filter_map(|t| match t.kind {
            TraceKind::ToConsumer { sub, reason } => Some((sub, reason)),
            _ => None,
        })
        .collect()
}

// ----- options a dispatcher would ignore are refused -----

#[test]
fn a_selector_on_a_demand_dispatcher_is_refused_with_a_typed_reason() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let c = sim.consumer(Collect::default());
    let sub = sim
        .subscribe(c, p, Subscribe::new().selector(|e: &u64| *e > 3))
        .unwrap();
    sim.run_until_idle();
    let reason = Reason::Refused(Refusal::SelectorNotSupported);
    assert!(reports(&sim).contains(&(p.id(), Report::SubscribeRefused { sub, reason })));
    assert_eq!(cancels(&sim), [(sub, reason)]);
    // The consumer's permanent subscription ended with the refusal, so it stopped; the
    // producer keeps running and nothing was sent.
    assert_eq!(sim.stopped(c), Some(reason));
    assert_eq!(sim.stopped(p), None);
    assert!(sim.stage(c).behaviour().0.is_empty());
    assert_eq!(
        reason.to_string(),
        "subscription refused: the selector option is only supported by the broadcast dispatcher"
    );
}

#[test]
fn a_partition_option_is_refused_by_the_demand_and_broadcast_dispatchers() {
    let reason = Reason::Refused(Refusal::PartitionNotSupported);
    // DemandDispatcher.
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let c = sim.consumer(Collect::default());
    let sub = sim.subscribe(c, p, Subscribe::new().partition(0)).unwrap();
    sim.run_until_idle();
    assert_eq!(cancels(&sim), [(sub, reason)]);
    // BroadcastDispatcher.
    let mut sim = Sim::new(0);
    type Bp = ProducerStage<Numbers, Msg, Heap, BroadcastDispatcher<u64, Heap>>;
    let stage = Bp::with_dispatcher(
        sim.next_id(),
        Numbers::default(),
        ProducerOptions::new(),
        BroadcastDispatcher::new(),
    )
    .unwrap();
    let p = sim.add(stage);
    let c = sim.consumer(Collect::default());
    let sub = sim.subscribe(c, p, Subscribe::new().partition(1)).unwrap();
    sim.run_until_idle();
    assert_eq!(cancels(&sim), [(sub, reason)]);
    assert!(reports(&sim).contains(&(p.id(), Report::SubscribeRefused { sub, reason })));
}

#[test]
fn a_selector_on_a_partition_dispatcher_is_refused() {
    let mut sim = Sim::new(0);
    type Pp = ProducerStage<Numbers, Msg, Heap, PartitionDispatcher<u64, Heap>>;
    let d = PartitionDispatcher::with_default_hash(1).unwrap();
    let stage =
        Pp::with_dispatcher(sim.next_id(), Numbers::default(), ProducerOptions::new(), d).unwrap();
    let p = sim.add(stage);
    let c = sim.consumer(Collect::default());
    let opts = Subscribe::new().partition(0).selector(|e: &u64| *e > 3);
    let sub = sim.subscribe(c, p, opts).unwrap();
    sim.run_until_idle();
    assert_eq!(
        cancels(&sim),
        [(sub, Reason::Refused(Refusal::SelectorNotSupported))]
    );
}

// ----- messages to stopped stages -----

#[test]
fn info_and_call_to_a_stopped_producer_come_back_with_the_reason() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    sim.kill(p, Reason::Shutdown);
    let stopped = |msg| SendError::Stopped {
        msg,
        reason: Reason::Shutdown,
    };
    assert_eq!(
        sim.with(p, |s, o| s.call(Msg::Ping, o)),
        Err(stopped(Msg::Ping))
    );
    assert_eq!(
        sim.with(p, |s, o| s.info(Msg::Ping, o)),
        Err(stopped(Msg::Ping))
    );
    assert!(sim.take_replies::<Msg>().is_empty(), "no callback ran");
    let e = sim.with(p, |s, o| s.info(Msg::Ping, o)).unwrap_err();
    assert_eq!(e.to_string(), "the stage has stopped (shutdown)");
    assert_eq!(e.into_inner(), Msg::Ping);
}

#[test]
fn info_and_call_to_a_stopped_producer_consumer_come_back_with_the_reason() {
    let mut sim = Sim::new(0);
    let pc = sim.producer_consumer::<_, Msg>(Pass);
    sim.kill(pc, Reason::Custom("gone"));
    let stopped = |msg| SendError::Stopped {
        msg,
        reason: Reason::Custom("gone"),
    };
    assert_eq!(
        sim.with(pc, |s, o| s.call(Msg::Ping, o)),
        Err(stopped(Msg::Ping))
    );
    assert_eq!(
        sim.with(pc, |s, o| s.info(Msg::Ping, o)),
        Err(stopped(Msg::Ping))
    );
}

#[test]
fn a_killed_stage_knows_it_stopped_and_runs_no_callback() {
    let mut sim = Sim::new(0);
    let c = sim.consumer(Collect::default());
    // Live: a call runs and replies.
    assert_eq!(sim.with(c, |s, o| s.call(Msg::Ping, o)), Ok(()));
    assert_eq!(sim.take_replies::<Msg>(), [Msg::Pong]);
    sim.kill(c, Reason::Killed);
    assert_eq!(sim.stage(c).stopped(), Some(Reason::Killed));
    assert_eq!(sim.stopped(c), Some(Reason::Killed));
    assert_eq!(
        sim.with(c, |s, o| s.call(Msg::Ping, o)),
        Err(SendError::Stopped {
            msg: Msg::Ping,
            reason: Reason::Killed
        })
    );
    assert!(sim.take_replies::<Msg>().is_empty());
    // Killing twice changes nothing.
    sim.kill(c, Reason::Normal);
    assert_eq!(sim.stopped(c), Some(Reason::Killed));
}

// ----- infos nobody handles -----

#[test]
fn an_info_to_a_behaviour_without_handle_info_is_reported() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let pc = sim.producer_consumer::<_, Msg>(Pass);
    let c = sim.consumer(Collect::default());
    assert_eq!(sim.with(p, |s, o| s.info(Msg::Ping, o)), Ok(()));
    assert_eq!(sim.with(pc, |s, o| s.info(Msg::Ping, o)), Ok(()));
    assert_eq!(sim.with(c, |s, o| s.info(Msg::Ping, o)), Ok(()));
    let unhandled: Vec<StageId> = reports(&sim)
        .into_iter()
        .filter(|(_, r)| *r == Report::UnhandledInfo)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(unhandled, [p.id(), pc.id(), c.id()]);
}

#[test]
fn an_info_the_behaviour_handles_is_not_reported() {
    struct Handles(u32);
    impl Consumer<Msg> for Handles {
        type Event = u64;
        fn handle_events(&mut self, _: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
            Flow::Continue
        }
        fn handle_info(&mut self, msg: Msg, ctx: &mut Ctx<'_>) -> Flow {
            match msg {
                Msg::Ping => self.0 += 1,
                // A behaviour may refuse some infos itself.
                Msg::Pong => ctx.not_handled(),
            }
            Flow::Continue
        }
    }
    let mut sim = Sim::new(0);
    let c = sim.consumer(Handles(0));
    sim.with(c, |s, o| s.info(Msg::Ping, o)).unwrap();
    assert!(reports(&sim).is_empty());
    assert_eq!(sim.stage(c).behaviour().0, 1);
    sim.with(c, |s, o| s.info(Msg::Pong, o)).unwrap();
    assert_eq!(reports(&sim), [(c.id(), Report::UnhandledInfo)]);
}

// ----- handles of another simulator -----

#[test]
fn a_handle_of_another_simulator_is_refused() {
    let mut a = Sim::new(0);
    let mut b = Sim::new(0);
    let pa = a.producer::<_, Msg>(Numbers::default());
    let ca = a.consumer(Collect::default());
    let pb = b.producer::<_, Msg>(Numbers::default());
    let cb = b.consumer(Collect::default());
    // Same ids, same types: only the simulator tells them apart.
    assert_eq!((pa.id(), ca.id()), (pb.id(), cb.id()));
    assert!(a.owns(pa) && !a.owns(pb));
    assert_eq!(
        a.subscribe(cb, pa, Subscribe::new()),
        Err(SubscribeError::ForeignHandle)
    );
    assert_eq!(
        a.subscribe(ca, pb, Subscribe::new()),
        Err(SubscribeError::ForeignHandle)
    );
    assert_eq!(a.pending(), 0, "nothing was sent");
}

#[test]
#[should_panic(expected = "belongs to another simulator")]
fn reaching_a_stage_through_another_simulators_handle_panics_with_a_clear_message() {
    let a = Sim::new(0);
    let mut b = Sim::new(0);
    let cb = b.consumer(Collect::default());
    let _ = a.stage(cb);
}

// ----- events lost at a stop, and in flight -----

#[test]
fn events_a_producer_holds_when_it_stops_are_counted_as_abandoned() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers {
        next: 0,
        flood_and_stop: Some(100),
    });
    let c = sim.consumer(Collect::default());
    sim.subscribe(c, p, Subscribe::new().max_demand(10))
        .unwrap();
    sim.run_until_idle();
    // 10 were asked and delivered; the other 90 were in the buffer when it stopped.
    assert_eq!(sim.stage(c).behaviour().0, (0..10).collect::<Vec<u64>>());
    let st = sim.stage(p);
    assert_eq!(st.buffered_count(), 0);
    assert_eq!(st.stats().emitted, 100);
    assert_eq!(st.stats().events_out, 10);
    assert_eq!(st.stats().discarded.abandoned, 90);
    assert!(reports(&sim).contains(&(
        p.id(),
        Report::Discarded {
            count: 90,
            reason: DiscardReason::Abandoned,
            log: true
        }
    )));
    assert!(sim.all_stopped());
}

#[test]
fn draining_instead_delivers_everything_before_the_stop() {
    struct Finite(u64);
    impl Producer for Finite {
        type Event = u64;
        fn handle_demand(&mut self, _: usize, out: &mut Emit<'_, u64>) -> Flow {
            // Everything at once, far beyond the ask; then done.
            let n = out.extend(self.0..100);
            self.0 += n as u64;
            Flow::StopWhenDrained(Reason::Normal)
        }
    }
    let mut sim = Sim::new(0);
    let p = sim.producer(Finite(0));
    let c = sim.consumer(Collect::default());
    sim.subscribe(c, p, Subscribe::new().max_demand(10))
        .unwrap();
    sim.run_until_idle();
    assert_eq!(sim.stage(c).behaviour().0, (0..100).collect::<Vec<u64>>());
    assert_eq!(sim.stage(p).stats().discarded.total(), 0);
    assert_eq!(sim.stopped(p), Some(Reason::Normal));
    assert_eq!(sim.stopped(c), Some(Reason::Normal));
    assert!(sim.all_stopped());
}

#[test]
fn a_producer_consumer_counts_unhandled_input_and_buffered_output_when_killed() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let pc = sim.producer_consumer::<_, Msg>(Pass);
    let c = sim.consumer(Collect::default());
    sim.subscribe(pc, p, Subscribe::new().max_demand(20))
        .unwrap();
    sim.subscribe(c, pc, Subscribe::new().max_demand(4))
        .unwrap();
    // Deliver until the producer_consumer holds input it has not handled.
    while sim.stage(pc).queued_count() == 0 {
        assert!(sim.step(), "the producer_consumer never queued input");
    }
    let (queued, buffered) = (sim.stage(pc).queued_count(), sim.stage(pc).buffered_count());
    assert!(queued > 0);
    sim.kill(pc, Reason::Shutdown);
    let st = sim.stage(pc).stats();
    assert_eq!(st.discarded.stopped, queued as u64);
    assert_eq!(st.discarded.abandoned, buffered as u64);
    assert_eq!(sim.stage(pc).queued_count(), 0);
}

#[test]
fn events_in_flight_to_a_stage_that_stopped_are_counted_and_traced() {
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let c = sim.consumer(Collect::default());
    sim.subscribe(c, p, Subscribe::new().max_demand(5).min_demand(0))
        .unwrap();
    // Deliver the subscribe and the ask: the producer answers with a batch of 5 in flight.
    sim.step();
    sim.step();
    assert_eq!(sim.events_in_flight(), 5);
    sim.kill(c, Reason::Killed);
    sim.run_until_idle();
    assert_eq!(sim.lost_in_flight(c), 5);
    assert!(
        sim.trace()
            .iter()
            .any(|t| t.stage == c.id() && t.kind == TraceKind::Dropped { events: 5 })
    );
    let report = sim.report();
    assert_eq!(report.stages[c.id().0 as usize].lost_in_flight, 5);
}

// ----- idle is not done -----

#[test]
fn the_report_tells_a_stuck_pipeline_from_a_finished_one() {
    // A producer_consumer nobody subscribes to never gets downstream demand: its input waits.
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let pc = sim.producer_consumer::<_, Msg>(Pass);
    sim.subscribe(pc, p, Subscribe::new().max_demand(8))
        .unwrap();
    sim.run_until_idle();
    let report = sim.report();
    assert!(!report.all_stopped());
    assert!(!sim.all_stopped());
    assert_eq!(report.live().count(), 2);
    let s = report.stages[pc.id().0 as usize].summary;
    assert_eq!((s.queued, s.buffered, s.stopped), (8, 0, None));
    assert_eq!(report.events_inside(), 8);
    let text = report.to_string();
    assert!(text.starts_with("2 of 2 stages live"), "{text}");
    assert!(text.contains("queued 8"), "{text}");
    // Its producer stopping does not end it: the notice waits behind the queued input, which
    // waits for downstream demand (spec §16.7) — and the report says so.
    sim.kill(p, Reason::Shutdown);
    sim.run_until_idle();
    let report = sim.report();
    assert!(!report.all_stopped());
    assert_eq!(
        report.live().map(|s| s.summary.id).collect::<Vec<_>>(),
        [pc.id()]
    );
    // Stopping it ends the pipeline, and counts the queued input.
    sim.kill(pc, Reason::Shutdown);
    let report = sim.report();
    assert!(report.all_stopped(), "{report}");
    assert_eq!(
        report.stages[pc.id().0 as usize]
            .summary
            .stats
            .discarded
            .stopped,
        8
    );
}

// ----- what a behaviour can do for itself -----

#[test]
fn a_manual_consumer_sends_its_first_ask_from_handle_subscribe() {
    #[derive(Default)]
    struct OneAtATime(Vec<u64>);
    impl Consumer<Msg> for OneAtATime {
        type Event = u64;
        fn handle_subscribe(
            &mut self,
            sub: SubId,
            _: &SubscribeOptions<u64>,
            ctx: &mut Ctx<'_>,
        ) -> Subscribed {
            ctx.ask(sub, 1).expect("our own subscription");
            Subscribed::Manual
        }
        fn handle_events(&mut self, events: Batch<'_, u64>, ctx: &mut Ctx<'_>) -> Flow {
            let from = events.sub();
            self.0.extend(events);
            if self.0.len() < 5 {
                ctx.ask(from, 1).expect("a manual subscription");
            }
            Flow::Continue
        }
    }
    let mut sim = Sim::new(0);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let c = sim.consumer(OneAtATime::default());
    let sub = sim.subscribe(c, p, Subscribe::new()).unwrap();
    sim.run_until_idle();
    assert_eq!(sim.stage(c).behaviour().0, [0, 1, 2, 3, 4]);
    // One event per ask, five asks in all: the subscription was manual from the first.
    let asks: Vec<usize> = sim
        .trace()
        .iter()
        .filter_map(|t| match t.kind {
            TraceKind::ToProducer {
                kind: genstage::sim::ToProducerKind::Ask(n),
                ..
            } => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(asks, [1, 1, 1, 1, 1]);
    assert_eq!(sim.stage(c).subscription_stats(sub).unwrap().asked, 5);
}

#[test]
fn terminate_runs_once_with_the_reason_whatever_stopped_the_stage() {
    use std::cell::RefCell;
    use std::rc::Rc;
    type Seen = Rc<RefCell<Vec<(&'static str, Reason)>>>;
    struct P(Seen, u64);
    impl Producer for P {
        type Event = u64;
        fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
            let end = (self.1 + demand as u64).min(10);
            self.1 += out.extend(self.1..end) as u64;
            if self.1 == 10 {
                Flow::StopWhenDrained(Reason::Normal)
            } else {
                Flow::Continue
            }
        }
        fn terminate(&mut self, reason: Reason) {
            self.0.borrow_mut().push(("producer", reason));
        }
    }
    struct C(Seen);
    impl Consumer for C {
        type Event = u64;
        fn handle_events(&mut self, _: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
            Flow::Continue
        }
        fn terminate(&mut self, reason: Reason) {
            self.0.borrow_mut().push(("consumer", reason));
        }
    }
    let seen: Seen = Rc::default();
    let mut sim = Sim::new(0);
    let p = sim.producer(P(seen.clone(), 0));
    let c = sim.consumer(C(seen.clone()));
    let c2 = sim.consumer(C(seen.clone()));
    sim.subscribe(c, p, Subscribe::new().max_demand(4)).unwrap();
    sim.run_until_idle();
    // The producer drained and stopped; the permanent subscription stopped the consumer.
    assert_eq!(
        *seen.borrow(),
        [("producer", Reason::Normal), ("consumer", Reason::Normal)]
    );
    // A stop from outside runs it too, once.
    sim.kill(c2, Reason::Shutdown);
    sim.kill(c2, Reason::Killed);
    assert_eq!(seen.borrow().last(), Some(&("consumer", Reason::Shutdown)));
    assert_eq!(seen.borrow().len(), 3);
}

#[test]
fn a_dispatcher_hears_of_every_subscription_its_producer_refused() {
    use genstage::dispatcher::{DemandDispatcher, DispatchContext, Dispatcher};
    use genstage::runtime::{Recorder, ToProducer};
    use genstage::storage::Deque;
    /// Refuses consumers with an odd stage id, and keeps a list of every refusal it hears of.
    #[derive(Default)]
    struct Picky {
        inner: DemandDispatcher,
        refused: Vec<(SubId, Reason)>,
    }
    impl Dispatcher<u64> for Picky {
        fn subscribe<C: DispatchContext<u64>>(
            &mut self,
            sub: SubId,
            opts: &SubscribeOptions<u64>,
            ctx: &mut C,
        ) -> Result<usize, Reason> {
            if sub.consumer.0 % 2 == 1 {
                return Err(Reason::Refused(Refusal::Other("odd")));
            }
            self.inner.subscribe(sub, opts, ctx)
        }
        fn ask<C: DispatchContext<u64>>(&mut self, sub: SubId, n: usize, ctx: &mut C) -> usize {
            self.inner.ask(sub, n, ctx)
        }
        fn cancel<C: DispatchContext<u64>>(&mut self, sub: SubId, ctx: &mut C) -> usize {
            self.inner.cancel(sub, ctx)
        }
        fn dispatch<Q: Deque<u64>, C: DispatchContext<u64>>(&mut self, ev: &mut Q, ctx: &mut C) {
            self.inner.dispatch(ev, ctx)
        }
        fn refused<C: DispatchContext<u64>>(&mut self, sub: SubId, reason: Reason, _: &mut C) {
            self.refused.push((sub, reason));
        }
    }
    let mut p: ProducerStage<Numbers, Msg, genstage::storage::Heap, Picky> =
        ProducerStage::with_dispatcher(
            StageId(0),
            Numbers::default(),
            ProducerOptions::new(),
            Picky::default(),
        )
        .unwrap();
    let mut out: Recorder<u64, u64, Msg> = Recorder::new();
    let subscribe = |consumer: u32| ToProducer::Subscribe {
        sub: SubId::new(StageId(0), StageId(consumer), 0),
        previous: None,
        opts: Subscribe::new().validate().unwrap(),
    };
    p.handle_to_producer(subscribe(2), &mut out); // taken
    p.handle_to_producer(subscribe(2), &mut out); // the same id again: a duplicate
    p.handle_to_producer(subscribe(3), &mut out); // refused by the dispatcher itself
    let sub = |c: u32| SubId::new(StageId(0), StageId(c), 0);
    assert_eq!(
        p.dispatcher().refused,
        [
            (sub(2), Reason::DuplicatedSubscription),
            (sub(3), Reason::Refused(Refusal::Other("odd")))
        ]
    );
    assert_eq!(p.consumers().collect::<Vec<_>>(), [sub(2)]);
}

#[test]
fn with_panics_caught_a_panicking_callback_stops_only_its_stage() {
    struct Fragile;
    impl Consumer<Msg> for Fragile {
        type Event = u64;
        fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
            for e in events {
                assert!(e < 3, "event {e} is too big");
            }
            Flow::Continue
        }
    }
    let mut sim = Sim::new(0);
    sim.catch_panics(true);
    let p = sim.producer::<_, Msg>(Numbers::default());
    let fragile = sim.consumer(Fragile);
    let steady = sim.consumer(Collect::default());
    sim.subscribe(fragile, p, Subscribe::new().max_demand(4).min_demand(0))
        .unwrap();
    sim.subscribe(steady, p, Subscribe::new().max_demand(4).min_demand(0))
        .unwrap();
    assert!(
        sim.run_bounded(200).is_err(),
        "the steady consumer keeps going"
    );
    assert_eq!(sim.stopped(fragile), Some(Reason::Panicked));
    assert_eq!(
        sim.panic_message(fragile),
        Some("event 3 is too big"),
        "the message is kept"
    );
    // The producer heard it go down and carried on with the other consumer.
    assert_eq!(sim.stopped(p), None);
    assert_eq!(sim.stage(p).consumers().count(), 1);
    assert!(sim.stage(steady).behaviour().0.len() > 4);
}

/// `FromIter` looks one item ahead: a manual consumer that asks for exactly the ten items
/// there are, and never more, still sees the source stop `Normal` (GenStage's
/// `from_enumerable` would wait for a next demand that never comes).
#[test]
fn from_iter_stops_as_soon_as_its_last_item_is_emitted() {
    struct AskTen(Vec<u64>);
    impl Consumer for AskTen {
        type Event = u64;
        fn handle_subscribe(
            &mut self,
            sub: SubId,
            _: &SubscribeOptions<u64>,
            ctx: &mut Ctx<'_>,
        ) -> Subscribed {
            ctx.ask(sub, 10).expect("our own subscription");
            Subscribed::Manual
        }
        fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
            self.0.extend(events);
            Flow::Continue
        }
    }
    let mut sim = Sim::new(0);
    let source = sim.producer(FromIter::new(0..10u64));
    let sink = sim.consumer(AskTen(Vec::new()));
    sim.subscribe(sink, source, Subscribe::new().cancel(CancelMode::Transient))
        .unwrap();
    sim.run_until_idle();
    assert_eq!(sim.stage(sink).behaviour().0, (0..10).collect::<Vec<_>>());
    assert_eq!(sim.stopped(source), Some(Reason::Normal));
    // A source with an eleventh item does not stop: it waits for the next demand.
    let mut sim = Sim::new(0);
    let source = sim.producer(FromIter::new(0..11u64));
    let sink = sim.consumer(AskTen(Vec::new()));
    sim.subscribe(sink, source, Subscribe::new()).unwrap();
    sim.run_until_idle();
    assert_eq!(sim.stage(sink).behaviour().0.len(), 10);
    assert_eq!(sim.stopped(source), None);
}
