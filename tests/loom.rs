//! Loom models of the thread runtime's synchronization (run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --features std-threads --test loom
//! --target-dir target/loom`). Under `--cfg loom` the runtime's `sync` module is loom's, so
//! these models explore the real mailbox and stage threads, not copies.
//!
//! (a) the mailbox handoff: a send racing the receiver's park is never lost, a wake-up is
//!     sent only to a parked receiver, and close hands back what was pending;
//! (a') the same handoff to a receiver run as a task (`try_recv` and a waker): a send racing
//!     its idle turn is taken or wakes it, once;
//! (b) a producer and a consumer on their own threads exchanging asks and events until the
//!     producer stops when drained, and a stop racing a send: every event is delivered or
//!     counted as lost, and every thread ends.
#![cfg(loom)]

use genstage::threads::Runtime;
use genstage::threads::mailbox::{Mailbox, Recv};
use genstage::*;
use loom::sync::Arc;
use std::collections::VecDeque;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(f);
}

#[test]
fn a_send_racing_the_receivers_park_is_never_lost() {
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let m = mailbox.clone();
                loom::thread::spawn(move || {
                    m.send(i).unwrap();
                })
            })
            .collect();
        let mut got = VecDeque::new();
        while got.len() < 2 {
            assert_eq!(mailbox.recv(&mut got, false), Recv::Items);
        }
        for s in senders {
            s.join().unwrap();
        }
        let mut got: Vec<_> = got.into_iter().collect();
        got.sort();
        assert_eq!(got, [0, 1]);
        // Each of the two sends woke a parked receiver at most once.
        assert!(mailbox.wakeups() <= 2);
    });
}

#[test]
fn the_last_owner_leaving_wakes_a_parked_receiver_that_may_stop() {
    model(|| {
        let mailbox = Arc::new(Mailbox::<u32>::new());
        let m = mailbox.clone();
        let owner = loom::thread::spawn(move || m.drop_owner());
        let mut got = VecDeque::new();
        assert_eq!(mailbox.recv(&mut got, true), Recv::Unowned);
        owner.join().unwrap();
    });
}

#[test]
fn close_racing_a_send_hands_every_item_back_once() {
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let m = mailbox.clone();
        let sender = loom::thread::spawn(move || m.send(7u32).is_ok());
        let left = mailbox.close();
        let accepted = sender.join().unwrap();
        // Accepted items are handed back by close; refused ones went back to the sender.
        assert_eq!(accepted, left.len() == 1);
        assert_eq!(mailbox.send(8), Err(8));
    });
}

/// A receiver run as a task (a runtime with workers): it never parks, it marks itself idle
/// with `try_recv`, and a send that finds it idle calls its waker. Two sends racing its
/// turns: every item is taken, a turn that found nothing is always followed by a wake-up,
/// and no idle period is woken twice.
#[test]
fn a_send_racing_a_tasks_idle_turn_is_taken_or_wakes_it_exactly_once() {
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    model(|| {
        let mailbox = Arc::new(Mailbox::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        mailbox.set_waker(std::sync::Arc::new(move || {
            w.fetch_add(1, SeqCst);
        }));
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let m = mailbox.clone();
                loom::thread::spawn(move || m.send(i).unwrap())
            })
            .collect();
        let mut got = VecDeque::new();
        let mut idle_turns = 0;
        let mut seen = 0;
        while got.len() < 2 {
            match mailbox.try_recv(&mut got, false) {
                Recv::Items => {}
                Recv::Idle => {
                    // Idle: only a wake-up brings it back, so one must come.
                    idle_turns += 1;
                    while woken.load(SeqCst) == seen {
                        loom::thread::yield_now();
                    }
                    seen = woken.load(SeqCst);
                }
                other => panic!("a task's turn found {other:?}"),
            }
        }
        let woke: Vec<bool> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        let mut got: Vec<_> = got.into_iter().collect();
        got.sort();
        assert_eq!(got, [0, 1]);
        // Each wake-up ended one idle period (the first began when the waker was set).
        let wakes = woken.load(SeqCst);
        assert_eq!(wakes, woke.iter().filter(|w| **w).count());
        assert!(wakes <= idle_turns + 1 && wakes >= 1);
        assert_eq!(mailbox.try_recv(&mut VecDeque::new(), false), Recv::Idle);
    });
}

/// Emits `0..n`, then stops when drained.
struct Two(u64);
impl Producer for Two {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let end = (self.0 + demand as u64).min(2);
        self.0 += out.extend(self.0..end) as u64;
        if self.0 == 2 {
            Flow::StopWhenDrained(Reason::Normal)
        } else {
            Flow::Continue
        }
    }
}

struct Count(Arc<loom::sync::atomic::AtomicU64>);
impl Consumer for Count {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        self.0
            .fetch_add(events.len() as u64, loom::sync::atomic::Ordering::Relaxed);
        Flow::Continue
    }
}

#[test]
fn a_producer_and_a_consumer_exchange_asks_and_events_and_both_end() {
    model(|| {
        let rt = Runtime::new();
        let seen = Arc::new(loom::sync::atomic::AtomicU64::new(0));
        let p = rt.spawn_producer(Two(0), ProducerOptions::new()).unwrap();
        let c = rt.spawn_consumer(Count(seen.clone()));
        c.subscribe(&p, Subscribe::new().max_demand(1).min_demand(0))
            .unwrap();
        assert_eq!(p.join(), Reason::Normal);
        assert_eq!(c.join(), Reason::Normal);
        rt.wait();
        assert_eq!(seen.load(loom::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(c.lost_in_flight(), 0);
    });
}

#[test]
fn a_stop_racing_a_send_loses_nothing_silently() {
    model(|| {
        let rt = Runtime::new();
        let seen = Arc::new(loom::sync::atomic::AtomicU64::new(0));
        let c = rt.spawn_consumer(Count(seen.clone()));
        let x = genstage::threads::RawPeer::<u64>::new();
        let sub = SubId::new(x.id(), c.id(), 0);
        let stopper = {
            let c = c.clone();
            loom::thread::spawn(move || c.stop(Reason::Killed))
        };
        let _ = x.send_events(&c, sub, vec![1, 2]);
        stopper.join().unwrap();
        assert_eq!(c.join(), Reason::Killed);
        // Handled before the stop (an unknown subscription's events, counted as discarded),
        // or queued when it stopped or refused after: counted as lost in flight.
        let handled = c.stats().discarded.unknown_subscription;
        assert_eq!(handled + c.lost_in_flight(), 2);
        assert_eq!(seen.load(loom::sync::atomic::Ordering::Relaxed), 0);
        drop(c);
        rt.wait();
    });
}
