//! Section L of genstage-scenarios.md on threads: draining producers into the calling thread
//! with `threads::stream` and producing from an iterator with `FromIter`; plus the ending
//! rules of spec §18.4, early drops and a million-event round trip.

use crate::common::*;
use genstage::error::{OptionsError, SubscribeError};
use genstage::threads::{self, StreamBuilder, StreamError};
use genstage::*;

/// L1 (a): ten events out of a demand of 1000; dropping the stream cancels the subscription
/// with `Normal`, joins the stream's consumer, and leaves the producer running.
#[test]
fn l1_take_10_of_a_counter_cancels_with_normal_and_leaves_no_thread() {
    let mut log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let stream = threads::stream(&p, Subscribe::new()).unwrap();
    let sub = stream.subscriptions()[0];
    let consumer = stream.consumer().clone();
    let got: Vec<u64> = stream.take(10).collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    // `take` dropped the stream: its consumer thread has ended, after cancelling.
    assert_eq!(consumer.exit().map(|e| e.reason), Some(Reason::Normal));
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(Reason::Normal), sub));
    assert!(
        !p.is_stopped(),
        "a producer does not stop when its consumer leaves"
    );
    // The first ask was the default max_demand, 1000.
    assert_eq!(log.of("p").get(1), Some(&Cb::Demand(1000)));
    p.stop(Reason::Normal);
    assert_eq!(p.join(), Reason::Normal);
}

/// L1 (b): 300 events with max_demand 100: the stream asks again as it is pulled.
#[test]
fn l1_take_300_with_max_demand_100() {
    let log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let got: Vec<u64> = threads::stream(&p, Subscribe::new().max_demand(100))
        .unwrap()
        .take(300)
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    // Demand is paced by the pulls: the first ask of 100, then one ask of 50 per chunk of
    // 50 pulled (six), and none for a chunk handed over after the stream was dropped.
    let stats = p.stats();
    assert!(
        stats.demand_received <= 100 + 6 * 50,
        "asked {} for 300 pulled events",
        stats.demand_received
    );
}

/// L2: invalid options are refused when the stream is built, before anything subscribes.
#[test]
fn l2_invalid_options_are_a_typed_error_up_front() {
    let log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let err = StreamBuilder::new()
        .from(&p, Subscribe::new().max_demand(0))
        .unwrap_err();
    assert_eq!(err, OptionsError::MaxDemandZero);
    let err = threads::stream(&p, Subscribe::new().max_demand(10).min_demand(10)).unwrap_err();
    assert_eq!(
        err,
        StreamError::Subscribe(SubscribeError::Options(OptionsError::MinDemandTooLarge {
            min: 10,
            max: 10
        }))
    );
    assert_eq!(p.stats().demand_received, 0, "nothing subscribed");
}

/// L2: a dead producer ends a permanent stream with an error, and a temporary one with
/// nothing.
#[test]
fn l2_a_dead_producer_closes_a_permanent_stream_and_empties_a_temporary_one() {
    let log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    p.stop(Reason::Normal);
    p.join();
    let results: Vec<_> = threads::stream(&p, Subscribe::new())
        .unwrap()
        .try_iter()
        .collect();
    assert!(
        matches!(
            results[..],
            [Err(StreamError::Closed {
                reason: Reason::NoProc,
                ..
            })]
        ),
        "{results:?}"
    );
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    let mut events = threads::stream(&p, temporary).unwrap();
    assert_eq!(events.next(), None);
    assert_eq!(events.error(), None);
}

/// L2: a producer that refuses the subscription (here: a partition option to a demand
/// dispatcher) closes a permanent stream with the refusal, and ends a temporary one.
#[test]
fn l2_a_refusal_closes_the_stream_with_its_reason() {
    let log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let mut events = threads::stream(&p, Subscribe::new().partition(0)).unwrap();
    assert_eq!(events.next(), None);
    assert!(
        matches!(
            events.error(),
            Some(StreamError::Closed {
                reason: Reason::Refused(_),
                ..
            })
        ),
        "{:?}",
        events.error()
    );
    let temporary = Subscribe::new().partition(0).cancel(CancelMode::Temporary);
    let mut events = threads::stream(&p, temporary).unwrap();
    assert_eq!(events.next(), None);
    assert_eq!(events.error(), None);
}

/// L4: `FromIter` over an endless cycle; taking 5 gives [1,2,3,1,2] whatever `on_cancel` is;
/// `Continue` keeps the producer for the next consumer, `Stop` stops it `Normal`.
#[test]
fn l4_on_cancel_continue_keeps_the_producer_and_stop_stops_it() {
    for on_cancel in [None, Some(OnCancel::Continue), Some(OnCancel::Stop)] {
        let mut source = FromIter::new([1u64, 2, 3].into_iter().cycle());
        if let Some(mode) = on_cancel {
            source = source.on_cancel(mode);
        }
        let p = threads::spawn_producer(source, ProducerOptions::default()).unwrap();
        let got: Vec<u64> = threads::stream(&p, Subscribe::new())
            .unwrap()
            .take(5)
            .collect();
        assert_eq!(got, [1, 2, 3, 1, 2], "{on_cancel:?}");
        if on_cancel == Some(OnCancel::Stop) {
            assert_eq!(p.join(), Reason::Normal);
        } else {
            // The cancel reached it before this subscribe (one mailbox, in order): a second
            // stream still gets events, so it kept running.
            let more: Vec<u64> = threads::stream(&p, Subscribe::new())
                .unwrap()
                .take(1)
                .collect();
            assert_eq!(more.len(), 1, "{on_cancel:?}");
            assert!(!p.is_stopped());
            p.stop(Reason::Normal);
            p.join();
        }
    }
}

/// §18.4: a permanent subscription that ends, even `Normal`, closes the stream with an
/// error after every event was yielded; a transient one ending `Normal` ends it cleanly.
#[test]
fn a_finite_source_ends_a_transient_stream_cleanly_and_a_permanent_one_with_an_error() {
    let p = threads::spawn_producer(FromIter::new(0..50u64), ProducerOptions::default()).unwrap();
    let results: Vec<_> = threads::stream(&p, Subscribe::new().max_demand(7))
        .unwrap()
        .try_iter()
        .collect();
    assert_eq!(results.len(), 51);
    assert!(
        results[..50]
            .iter()
            .enumerate()
            .all(|(i, r)| *r == Ok(i as u64))
    );
    assert!(matches!(
        results[50],
        Err(StreamError::Closed {
            reason: Reason::Normal,
            ..
        })
    ));

    let p = threads::spawn_producer(FromIter::new(0..50u64), ProducerOptions::default()).unwrap();
    let mut events = threads::stream(&p, transient().max_demand(7)).unwrap();
    assert_eq!(events.by_ref().count(), 50);
    assert_eq!(events.error(), None);
    assert_eq!(p.join(), Reason::Normal);
}

/// A producer that fails ends a transient stream with its reason; the caller gets an
/// error, not a panic.
#[test]
fn an_abnormal_stop_closes_a_transient_stream_with_its_reason() {
    let log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let mut events = threads::stream(&p, transient().max_demand(10)).unwrap();
    assert_eq!(events.next(), Some(0));
    p.stop(Reason::Custom("broken"));
    let rest: Vec<_> = events.try_iter().collect();
    assert!(matches!(
        rest.last(),
        Some(Err(StreamError::Closed {
            reason: Reason::Custom("broken"),
            ..
        }))
    ));
    // Everything before the error was in order.
    let oks: Vec<u64> = rest.iter().filter_map(|r| (*r).ok()).collect();
    assert_eq!(oks, (1..1 + oks.len() as u64).collect::<Vec<_>>());
}

/// Several producers: the stream ends once every (transient) subscription ended cleanly,
/// with every event of each, in each one's order.
#[test]
fn a_stream_of_several_producers_yields_all_of_each_in_order() {
    let a =
        threads::spawn_producer(FromIter::new(0..1_000u64), ProducerOptions::default()).unwrap();
    let b = threads::spawn_producer(FromIter::new(10_000..10_500u64), ProducerOptions::default())
        .unwrap();
    let events: Vec<u64> = StreamBuilder::new()
        .from(&a, transient().max_demand(10))
        .unwrap()
        .from(&b, transient().max_demand(3))
        .unwrap()
        .start()
        .unwrap()
        .collect();
    let from_a: Vec<u64> = events.iter().copied().filter(|e| *e < 10_000).collect();
    let from_b: Vec<u64> = events.iter().copied().filter(|e| *e >= 10_000).collect();
    assert_eq!(from_a, (0..1_000).collect::<Vec<_>>());
    assert_eq!(from_b, (10_000..10_500).collect::<Vec<_>>());
}

/// The stream sets forward mode on its producers (spec §18.3): a producer started in
/// accumulate mode is released by it.
#[test]
fn a_stream_releases_an_accumulating_producer() {
    let p = threads::spawn_producer(
        FromIter::new(0..20u64),
        ProducerOptions::default().demand(DemandMode::Accumulate),
    )
    .unwrap();
    let events: Vec<u64> = threads::stream(&p, transient()).unwrap().collect();
    assert_eq!(events, (0..20).collect::<Vec<_>>());
}

/// One million events from an iterator, through a producer_consumer, back into an
/// iterator: every event once and in order, and every stage stopped at the end.
#[test]
fn a_million_events_round_trip_in_order() {
    const N: u64 = 1_000_000;
    let source = threads::spawn_producer(FromIter::new(0..N), ProducerOptions::default()).unwrap();
    let inc = threads::spawn_producer_consumer(PlusOne, ProducerOptions::default()).unwrap();
    inc.subscribe(&source, Subscribe::new().max_demand(500))
        .unwrap();
    let mut stream = threads::stream(&inc, transient()).unwrap();
    let mut expected = 1;
    for e in stream.by_ref() {
        assert_eq!(e, expected);
        expected += 1;
    }
    assert_eq!(expected, N + 1);
    assert_eq!(stream.error(), None);
    assert_eq!(source.join(), Reason::Normal);
    assert_eq!(inc.join(), Reason::Normal);
}

/// Dropping a stream with events on their way: the producer hears the cancel, the stream's
/// consumer thread is gone, and nothing is left to deliver to the caller.
#[test]
fn dropping_a_stream_with_events_pending_cancels_and_joins() {
    let mut log = Log::new();
    let p = threads::spawn_producer(counter(&log, "p", 0), ProducerOptions::default()).unwrap();
    let mut stream = threads::stream(&p, Subscribe::new().max_demand(1_000)).unwrap();
    assert_eq!(stream.next(), Some(0)); // the rest of the chunk and more are pending
    let sub = stream.subscriptions()[0];
    let consumer = stream.consumer().clone();
    drop(stream);
    assert!(consumer.is_stopped());
    log.wait_for("p", Cb::Cancel(Cancellation::Cancel(Reason::Normal), sub));
    p.stop(Reason::Normal);
    p.join();
}

struct PlusOne;
impl ProducerConsumer for PlusOne {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events.map(|e| e + 1));
        Flow::Continue
    }
}
