//! `Sim::stream`: a producer's events as an iterator that steps the simulation, ending by
//! the rules of spec §18.4.

use genstage::sim::{Sim, StreamError};
use genstage::*;

/// An identity producer_consumer.
struct Pass;

impl ProducerConsumer for Pass {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let n = events.len();
        let taken = out.extend(events);
        assert_eq!(taken, n, "growable storage takes everything");
        Flow::Continue
    }
}

/// Answers no demand.
struct Silent;

impl Producer for Silent {
    type Event = u64;
    fn handle_demand(&mut self, _: usize, _: &mut Emit<'_, u64>) -> Flow {
        Flow::Continue
    }
}

const N: u64 = 100_000;

/// `FromIter(0..N)` → an identity producer_consumer, in a seeded simulation with its oracles
/// on; the producer_consumer's handle.
fn pipeline(
    seed: u64,
) -> (
    Sim,
    genstage::sim::Handle<genstage::runtime::ProducerConsumerStage<Pass>>,
) {
    let mut sim = Sim::seeded(seed);
    sim.set_tracing(false);
    sim.check_invariants(true);
    sim.event_keys(|e: &u64| genstage::sim::EventKey { origin: 0, seq: *e });
    let source = sim.producer(FromIter::new(0..N));
    let pass = sim.producer_consumer(Pass);
    sim.subscribe(pass, source, Subscribe::new().max_demand(500))
        .unwrap();
    (sim, pass)
}

#[test]
fn a_100_000_event_pipeline_streams_every_event_once_in_order() {
    // A few fixed seeds: 100,000 events each, whatever a sweep asks.
    for seed in 0..3 {
        let (mut sim, pass) = pipeline(seed);
        let opts = Subscribe::new()
            .max_demand(300)
            .cancel(CancelMode::Transient);
        let mut stream = sim.stream(pass, opts).unwrap();
        let mut next = 0;
        for e in stream.by_ref() {
            assert_eq!(e, next, "seed {seed}: every event once, in order");
            next += 1;
        }
        assert_eq!(next, N);
        assert_eq!(
            stream.error(),
            None,
            "a transient subscription ends cleanly"
        );
        let consumer = stream.consumer();
        drop(stream);
        // The stream's consumer stopped by itself once its subscription ended.
        assert_eq!(sim.stopped(consumer), Some(Reason::Normal));
        assert_eq!(sim.stage(consumer).stats().events_in, N);
        assert!(sim.all_stopped());
        assert!(sim.violation().is_none());
    }
}

#[test]
fn a_permanent_subscription_ends_the_stream_with_the_reason_even_normal() {
    let (mut sim, pass) = pipeline(1);
    let stream = sim.stream(pass, Subscribe::new()).unwrap();
    let all: Vec<Result<u64, StreamError>> = stream.try_iter().collect();
    assert_eq!(all.len() as u64, N + 1);
    assert!(all[..N as usize].iter().all(Result::is_ok));
    assert!(matches!(
        all[N as usize],
        Err(StreamError::Closed {
            reason: Reason::Normal,
            ..
        })
    ));
}

/// Emits `0..n`, then stops with `reason`.
struct Fails {
    n: u64,
    next: u64,
    reason: Reason,
}

impl Producer for Fails {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.next + demand as u64).min(self.n);
        self.next += out.extend(self.next..end) as u64;
        if self.next == self.n {
            Flow::Stop(self.reason)
        } else {
            Flow::Continue
        }
    }
}

fn fails(mode: CancelMode, reason: Reason) -> (Vec<u64>, Option<StreamError>) {
    let mut sim = Sim::seeded(5);
    let p = sim.producer(Fails {
        n: 50,
        next: 0,
        reason,
    });
    let opts = Subscribe::new().max_demand(8).cancel(mode);
    let mut stream = sim.stream(p, opts).unwrap();
    let got: Vec<u64> = stream.by_ref().collect();
    (got, stream.error())
}

#[test]
fn the_stream_ends_by_its_subscriptions_cancel_mode() {
    let all: Vec<u64> = (0..50).collect();
    let boom = Reason::Custom("boom");
    // Transient: an abnormal end is an error, a clean one is the end.
    let (got, err) = fails(CancelMode::Transient, boom);
    assert_eq!(got, all, "what arrived before the end is yielded");
    assert!(matches!(err, Some(StreamError::Closed { reason, .. }) if reason == boom));
    assert_eq!(
        fails(CancelMode::Transient, Reason::Shutdown),
        (all.clone(), None)
    );
    // Temporary: any end is the end.
    assert_eq!(fails(CancelMode::Temporary, boom), (all.clone(), None));
    // Permanent: any end is an error.
    let (got, err) = fails(CancelMode::Permanent, Reason::Normal);
    assert_eq!(got, all);
    assert!(matches!(
        err,
        Some(StreamError::Closed {
            reason: Reason::Normal,
            ..
        })
    ));
}

#[test]
fn a_stream_whose_producer_sends_nothing_stalls_instead_of_hanging() {
    let mut sim = Sim::new(0);
    let p = sim.producer(Silent);
    let mut stream = sim.stream(p, Subscribe::new()).unwrap();
    assert_eq!(stream.next(), None);
    assert_eq!(stream.error(), Some(StreamError::Stalled));
    assert_eq!(stream.next(), None, "and stays ended");
    assert!(StreamError::Stalled.to_string().contains("idle"));
}

#[test]
fn a_stream_whose_consumer_is_crashed_says_so() {
    let mut sim = Sim::seeded(2);
    let p = sim.producer(FromIter::new(0u64..));
    // Crash anything but the producer, after every step: the stream's consumer.
    sim.set_chaos(genstage::sim::Chaos::new().crash_one_in(1).spare(p.id()));
    let mut stream = sim.stream(p, Subscribe::new()).unwrap();
    assert_eq!(stream.by_ref().count(), 0);
    assert!(matches!(stream.error(), Some(StreamError::Stopped(_))));
}

#[test]
fn dropping_a_stream_early_cancels_its_subscription_and_stops_its_consumer() {
    let mut sim = Sim::seeded(4);
    let p = sim.producer(FromIter::new(0u64..));
    let stream = sim.stream(p, Subscribe::new().max_demand(10)).unwrap();
    let consumer = stream.consumer();
    let first: Vec<u64> = stream.take(5).collect();
    assert_eq!(first, [0, 1, 2, 3, 4]);
    assert_eq!(sim.stopped(consumer), Some(Reason::Normal));
    sim.run_until_idle();
    assert_eq!(sim.stage(p).consumers().count(), 0, "the producer heard");
    assert!(
        sim.stopped(p).is_none(),
        "a producer outlives its consumers"
    );
}

#[test]
fn a_stream_with_bad_options_is_refused_with_a_typed_error() {
    let mut sim = Sim::new(0);
    let p = sim.producer(Silent);
    let err = sim
        .stream(p, Subscribe::new().max_demand(4).min_demand(9))
        .unwrap_err();
    assert!(matches!(err, StreamError::Subscribe(_)), "{err:?}");
}
