//! Pushing events from other threads with back-pressure (`threads::push_producer`): blocking
//! and resuming, try/timeout variants, the closed pipeline, many senders, and the broadcast
//! variant. Synchronised on channels and joins; a timeout only ever confirms "not yet".

use crate::common::transient;
use genstage::dispatcher::BroadcastDispatcher;
use genstage::threads::{self, PushError};
use genstage::*;
use std::sync::mpsc::channel;
use std::time::Duration;

#[test]
fn send_blocks_while_the_queue_is_full_without_demand_and_resumes_when_pulled() {
    let (tx, producer) = threads::push_producer::<u64>(2, ProducerOptions::default()).unwrap();
    tx.try_send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(PushError::Full(3)));
    assert_eq!(
        tx.send_timeout(3, Duration::from_millis(10)),
        Err(PushError::Timeout(3))
    );
    let (done_tx, done) = channel();
    let blocked = {
        let tx = tx.clone();
        std::thread::spawn(move || {
            tx.send(3).unwrap();
            done_tx.send(()).unwrap();
        })
    };
    // Not yet: nobody has asked (a false pass at worst, never a false failure).
    assert!(done.recv_timeout(Duration::from_millis(50)).is_err());
    let mut events = threads::stream(&producer, transient().max_demand(10)).unwrap();
    assert_eq!(events.next(), Some(1));
    done.recv().unwrap(); // the demand made room: the blocked send returned
    blocked.join().unwrap();
    drop(tx);
    assert_eq!(events.by_ref().collect::<Vec<_>>(), [2, 3]);
    assert_eq!(events.error(), None);
    assert_eq!(producer.join(), Reason::Normal);
}

#[test]
fn a_stopped_producer_hands_the_event_back() {
    let (tx, producer) = threads::push_producer::<u64>(4, ProducerOptions::default()).unwrap();
    tx.send(7).unwrap();
    producer.stop(Reason::Shutdown);
    producer.join();
    assert_eq!(
        tx.send(8),
        Err(PushError::Closed {
            event: 8,
            reason: Reason::Shutdown
        })
    );
    assert_eq!(tx.send(9).unwrap_err().into_inner(), 9);
    // The event accepted before the stop was never emitted: it is counted, not lost.
    assert_eq!(tx.abandoned(), 1);
}

#[test]
fn many_senders_deliver_every_event_once_in_each_senders_order() {
    const PER: u64 = 25_000;
    let (tx, producer) = threads::push_producer::<u64>(64, ProducerOptions::default()).unwrap();
    let events = threads::stream(&producer, transient().max_demand(100)).unwrap();
    let senders: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    tx.send(t * PER + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let got: Vec<u64> = events.collect();
    senders.into_iter().for_each(|s| s.join().unwrap());
    assert_eq!(got.len() as u64, 4 * PER);
    for t in 0..4 {
        let mine: Vec<u64> = got.iter().copied().filter(|e| e / PER == t).collect();
        assert_eq!(mine, (t * PER..(t + 1) * PER).collect::<Vec<_>>());
    }
    assert_eq!(producer.join(), Reason::Normal);
}

#[test]
fn the_broadcast_variant_gives_every_event_to_every_consumer() {
    let (tx, producer) = threads::push_producer_with::<u64, _>(
        8,
        ProducerOptions::default(),
        BroadcastDispatcher::<u64>::new(),
    )
    .unwrap();
    let a = threads::stream(&producer, transient().max_demand(5)).unwrap();
    let b = threads::stream(&producer, transient().max_demand(3)).unwrap();
    let reader = std::thread::spawn(move || b.collect::<Vec<u64>>());
    // When `stream` returns the producer has taken the subscription, so feeding at once
    // reaches both (a broadcast consumer misses what went out before it subscribed).
    let feeder = std::thread::spawn(move || {
        for e in 0..1_000 {
            tx.send(e).unwrap();
        }
    });
    let got_a: Vec<u64> = a.collect();
    let got_b = reader.join().unwrap();
    feeder.join().unwrap();
    assert_eq!(got_a, (0..1_000).collect::<Vec<_>>());
    assert_eq!(got_b, got_a);
    assert_eq!(producer.join(), Reason::Normal);
}
