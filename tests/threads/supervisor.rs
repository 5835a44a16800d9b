//! The consumer supervisor (`threads::consumer_supervisor`, spec §19): every scenario of section
//! M of genstage-scenarios.md, the §19.4 ask arithmetic, the stances on stopping, terminating and
//! excess, several producers, and 100,000 events with random durations and panics. Children
//! wait on gates the test opens; the test waits on channels, replies and joins, never a clock.

use crate::common::*;
use genstage::threads::{
    self, ChildCounts, ChildCtx, ChildId, ChildInfo, ChildState, RawPeer, Restart, Runtime, Start,
    StartChildError, Supervisor, SupervisorError,
};
use genstage::*;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How a gated child's run ends.
#[derive(Clone, Copy, Debug)]
enum Then {
    Ok,
    Fail(Reason),
    Panic,
}

/// One run of a child, as the child reported it when it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    event: u64,
    id: ChildId,
    restarts: u32,
}

#[derive(Default)]
struct Gates {
    /// Per event, the ends of its next runs; once `open`, runs without one end `Ok`.
    state: Mutex<(HashMap<u64, VecDeque<Then>>, bool)>,
    changed: Condvar,
}

/// The test's end of gated children: each run reports itself, then waits for the test to
/// say how it ends. Dropping it lets every run end `Ok`, so no test leaves a child waiting.
struct Ctl {
    gates: Arc<Gates>,
    runs: Receiver<Run>,
}

impl Ctl {
    /// Ends `event`'s current (or next) run with `then`.
    fn release(&self, event: u64, then: Then) {
        let mut st = self.gates.state.lock().unwrap();
        st.0.entry(event).or_default().push_back(then);
        self.gates.changed.notify_all();
    }
    /// Every run from now on ends `Ok` without waiting.
    fn open(&self) {
        self.gates.state.lock().unwrap().1 = true;
        self.gates.changed.notify_all();
    }
    /// The next run that began.
    #[track_caller]
    fn next(&self) -> Run {
        self.runs.recv_timeout(PATIENCE).expect("a child run began")
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        self.open();
    }
}

type ChildFn = Box<dyn Fn(&u64, &ChildCtx) -> Result<(), Reason> + Send + Sync>;

/// Gated children and their control.
fn gated() -> (Ctl, ChildFn) {
    let gates = Arc::new(Gates::default());
    let (tx, runs) = channel();
    let tx = Mutex::new(tx);
    let g = gates.clone();
    let child = move |event: &u64, ctx: &ChildCtx| {
        let run = Run {
            event: *event,
            id: ctx.id(),
            restarts: ctx.restarts(),
        };
        let _ = tx.lock().unwrap().send(run);
        let mut st = g.state.lock().unwrap();
        let then = loop {
            if let Some(t) = st.0.get_mut(event).and_then(VecDeque::pop_front) {
                break t;
            }
            if st.1 {
                break Then::Ok;
            }
            st = g.changed.wait(st).unwrap();
        };
        drop(st);
        match then {
            Then::Ok => Ok(()),
            Then::Fail(reason) => Err(reason),
            Then::Panic => panic!("child {event} panics"),
        }
    };
    (Ctl { gates, runs }, Box::new(child))
}

/// A supervisor of gated children on `rt`.
fn supervisor(rt: &Runtime, child: ChildFn) -> threads::SupervisorBuilder<u64> {
    threads::consumer_supervisor(child).runtime(rt)
}

/// The demands `label`'s `handle_demand` saw, in order.
fn demands(log: &mut Log, label: &'static str) -> Vec<usize> {
    log.of(label)
        .into_iter()
        .filter_map(|cb| match cb {
            Cb::Demand(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Spins until `done` holds; panics after [`PATIENCE`]. A poll, never a pause.
#[track_caller]
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::yield_now();
    }
}

/// Waits until `sup` has handled the end of `n` runs in all (normal and abnormal), then
/// until `p` has handled what the supervisor sent it meanwhile.
#[track_caller]
fn settled(sup: &Supervisor<u64>, n: u64, p: &P) -> ChildCounts {
    until("the runs ended", || {
        let s = sup.child_stats();
        s.exits + s.failures >= n
    });
    // Answered after the callback that counted the last end, and its asks, are done.
    let counts = sup.count_children().unwrap();
    ping(p);
    counts
}

fn counts(active: usize, workers: usize) -> ChildCounts {
    ChildCounts {
        specs: 1,
        active,
        workers,
        supervisors: 0,
    }
}

#[test]
fn m1_max_1_min_0_starts_one_child_at_a_time_and_failed_or_ignored_starts_free_the_slot() {
    const OK0: u64 = 0;
    const ERROR: u64 = 1;
    const IGNORE: u64 = 2;
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let (ctl, child) = gated();
    let (seen_tx, seen) = channel();
    let sup = supervisor(&rt, child)
        .before_start(move |e: &u64| {
            seen_tx.send(*e).unwrap();
            match *e {
                ERROR => Start::Error(Reason::Custom("cannot start")),
                IGNORE => Start::Ignore,
                _ => Start::Run,
            }
        })
        .start()
        .unwrap();
    let opts = Subscribe::new()
        .max_demand(1)
        .min_demand(0)
        .cancel(CancelMode::Temporary);
    let sub = sup.subscribe(&p, opts).unwrap();
    // The producer makes events 0, 1, 2, ... as they are asked for (ok, error, ignore, ok,
    // ok, ok, ...), so that every ask shows as a demand.

    // Only child 1 starts; the `error` event has not been tried.
    let child1 = ctl.next();
    assert_eq!(child1.event, OK0);
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), [OK0]);

    // Child 1 exits with shutdown: the error start fails, the ignore is ignored, child 2 starts;
    // each freed slot asked for 1.
    ctl.release(OK0, Then::Fail(Reason::Shutdown));
    let child2 = ctl.next();
    assert_eq!(child2.event, 3);
    assert_eq!(settled(&sup, 1, &p), counts(1, 1));
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), [ERROR, IGNORE, 3]);
    let stats = sup.child_stats();
    assert_eq!(
        (
            stats.started,
            stats.exits,
            stats.start_errors,
            stats.ignored
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(demands(&mut log, "p"), [1, 1, 1, 1]);

    // terminate_child(child 2): child 3 starts, and no further child.
    sup.terminate_child(child2.id).unwrap();
    let child3 = ctl.next();
    assert_eq!(child3.event, 4);
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    ping(&p);
    assert_eq!(demands(&mut log, "p"), [1, 1, 1, 1, 1]);
    assert_eq!(sup.child_stats().started, 3);
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), [4]);
    assert_eq!(
        sup.which_children().unwrap(),
        [ChildInfo {
            id: child3.id,
            state: ChildState::Running,
            sub: Some(sub),
        }]
    );
}

#[test]
fn m3_min_0_an_ask_of_0_is_suppressed() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    let sub = sup
        .subscribe(&p, Subscribe::new().max_demand(3).min_demand(0))
        .unwrap();
    // The producer answers Ask(3) with two events.
    assert_eq!(p.call(Msg::Emit(vec![10, 11]), PATIENCE), Ok(Msg::Ok));
    let mut started = [ctl.next().event, ctl.next().event];
    started.sort_unstable();
    assert_eq!(started, [10, 11]);
    assert_eq!(sup.count_children().unwrap(), counts(2, 2));
    ping(&p);
    // No further ask: the batch freed nothing, and an ask of 0 sends nothing.
    assert_eq!(demands(&mut log, "p"), [3]);
    assert_eq!(sup.stats().asked, 3);
    assert_eq!(sup.subscription_stats(sub).unwrap().asked, 3);
}

#[test]
fn m4_a_permanent_child_is_refused_at_construction_with_a_typed_error() {
    let rt = crate::common::runtime();
    let (_ctl, child) = gated();
    let err = supervisor(&rt, child)
        .restart(Restart::Permanent)
        .start()
        .unwrap_err();
    assert_eq!(err, SupervisorError::PermanentRestart);
    assert!(err.to_string().contains("permanent"), "{err}");
    // Nothing started.
    assert_eq!(rt.live(), 0);
    let (_ctl, child) = gated();
    assert_eq!(
        supervisor(&rt, child)
            .max_seconds(Duration::ZERO)
            .start()
            .unwrap_err(),
        SupervisorError::MaxSecondsZero
    );
    assert_eq!(rt.live(), 0);
}

#[test]
fn m4_defaults_are_temporary_children_3_restarts_in_5_seconds_and_5_seconds_to_shut_down() {
    let (_ctl, child) = gated();
    let text = format!("{:?}", threads::consumer_supervisor(child));
    for part in [
        "restart: Temporary",
        "max_restarts: 3",
        "max_seconds: 5s",
        "shutdown: 5s",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
}

#[test]
fn m4_temporary_children_are_never_restarted() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    sup.subscribe(&p, Subscribe::new().max_demand(3).min_demand(0))
        .unwrap();
    assert_eq!(p.call(Msg::Emit(vec![0, 1, 2]), PATIENCE), Ok(Msg::Ok));
    let mut runs: Vec<Run> = (0..3).map(|_| ctl.next()).collect();
    ctl.release(0, Then::Panic);
    ctl.release(1, Then::Fail(Reason::Custom("boom")));
    ctl.release(2, Then::Ok);
    assert_eq!(settled(&sup, 3, &p), counts(0, 0));
    ctl.open();
    // Each ran once, and each end freed its slot (min 0: one ask per end).
    runs.sort_unstable_by_key(|r| r.event);
    assert!(runs.iter().all(|r| r.restarts == 0), "{runs:?}");
    assert!(ctl.runs.try_recv().is_err());
    let stats = sup.child_stats();
    assert_eq!((stats.restarts, stats.failures, stats.exits), (0, 2, 1));
    assert_eq!(demands(&mut log, "p"), [3, 1, 1, 1]);
}

#[test]
fn m4_transient_children_are_restarted_only_on_an_abnormal_end_with_the_same_event_in_their_slot() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child)
        .restart(Restart::Transient)
        .start()
        .unwrap();
    sup.subscribe(&p, Subscribe::new().max_demand(6).min_demand(5))
        .unwrap();
    assert_eq!(p.call(Msg::Emit((0..6).collect()), PATIENCE), Ok(Msg::Ok));
    let mut first: Vec<Run> = (0..6).map(|_| ctl.next()).collect();
    first.sort_unstable_by_key(|r| r.event);
    let ends = [
        Then::Ok,
        Then::Fail(Reason::Normal),
        Then::Fail(Reason::Shutdown),
        Then::Fail(Reason::ShutdownWith("done")),
        Then::Fail(Reason::Custom("boom")),
        Then::Panic,
    ];
    for (event, then) in ends.into_iter().enumerate() {
        ctl.release(event as u64, then);
    }
    // The two abnormal ends run again, with the same event and id.
    let mut again = [ctl.next(), ctl.next()];
    again.sort_unstable_by_key(|r| r.event);
    assert_eq!(
        again,
        [
            Run {
                restarts: 1,
                ..first[4]
            },
            Run {
                restarts: 1,
                ..first[5]
            }
        ]
    );
    assert_eq!(settled(&sup, 6, &p), counts(2, 2));
    let stats = sup.child_stats();
    assert_eq!((stats.exits, stats.failures, stats.restarts), (4, 2, 2));
    // Four slots freed, below min 5: nothing asked. The restarted kept theirs.
    assert_eq!(demands(&mut log, "p"), [6]);
    // Their second runs end normally: six freed, one ask of 5 went out on the way.
    ctl.release(4, Then::Ok);
    ctl.release(5, Then::Ok);
    assert_eq!(settled(&sup, 8, &p), counts(0, 0));
    assert_eq!(demands(&mut log, "p"), [6, 5]);
}

#[test]
fn m4_a_restarting_child_keeps_its_slot_is_not_active_and_terminate_child_frees_it() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let (ctl, child) = gated();
    // Event 0's restarts fail to start while `refuse` is set.
    let refuse = Arc::new(AtomicBool::new(true));
    let r = refuse.clone();
    let mut tried = 0u32;
    let sup = supervisor(&rt, child)
        .restart(Restart::Transient)
        .max_restarts(u32::MAX)
        .max_seconds(Duration::from_secs(3_600))
        .before_start(move |e: &u64| {
            let first = *e != 0 || tried == 0;
            tried += u32::from(*e == 0);
            if first || !r.load(Ordering::Relaxed) {
                Start::Run
            } else {
                Start::Error(Reason::Custom("no restart yet"))
            }
        })
        .start()
        .unwrap();
    let sub = sup
        .subscribe(&p, Subscribe::new().max_demand(1).min_demand(0))
        .unwrap();
    // The producer makes events 0, 1, ... as they are asked for.
    let child0 = ctl.next();
    ctl.release(0, Then::Panic);
    // Restarting: counted as a worker, not active, listed as restarting; no event is taken.
    until("the child is restarting", || {
        sup.count_children().unwrap() == counts(0, 1)
    });
    assert_eq!(
        sup.which_children().unwrap(),
        [ChildInfo {
            id: child0.id,
            state: ChildState::Restarting,
            sub: Some(sub),
        }]
    );
    ping(&p);
    assert_eq!(demands(&mut log, "p"), [1]);
    assert_eq!(sup.child_stats().started, 1);
    // terminate_child on it frees the slot: the next event starts.
    sup.terminate_child(child0.id).unwrap();
    let child1 = ctl.next();
    assert_eq!((child1.event, child1.restarts), (1, 0));
    assert_ne!(child1.id, child0.id);
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    ping(&p);
    assert_eq!(demands(&mut log, "p"), [1, 1]);
    refuse.store(false, Ordering::Relaxed);
}

#[test]
fn m4_going_over_max_restarts_within_max_seconds_stops_the_supervisor_with_shutdown() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    // A period no loaded machine can outlast: the limit, not the clock, decides.
    let sup = supervisor(&rt, child)
        .restart(Restart::Transient)
        .max_restarts(3)
        .max_seconds(Duration::from_secs(3_600))
        .start()
        .unwrap();
    sup.subscribe(
        &p,
        Subscribe::new().max_demand(1).cancel(CancelMode::Temporary),
    )
    .unwrap();
    assert_eq!(p.call(Msg::Emit(vec![7]), PATIENCE), Ok(Msg::Ok));
    for restarts in 0..4 {
        let run = ctl.next();
        assert_eq!((run.event, run.restarts), (7, restarts));
        ctl.release(7, Then::Fail(Reason::Custom("boom")));
    }
    // Three restarts were allowed; the fourth abnormal end went over.
    assert_eq!(joined(&*sup), Reason::Shutdown);
    let stats = sup.child_stats();
    assert_eq!((stats.failures, stats.restarts), (4, 3));
    assert!(ctl.runs.try_recv().is_err());
    assert_eq!(
        sup.count_children(),
        Err(SupervisorError::Stopped(Reason::Shutdown))
    );
}

#[test]
fn m4_children_outlive_their_producer_their_ends_ask_nothing_and_terminate_child_still_works() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    let opts = Subscribe::new()
        .max_demand(2)
        .min_demand(0)
        .cancel(CancelMode::Temporary);
    let sub = sup.subscribe(&p, opts).unwrap();
    assert_eq!(p.call(Msg::Emit(vec![0, 1]), PATIENCE), Ok(Msg::Ok));
    let runs = [ctl.next(), ctl.next()];
    p.stop(Reason::Shutdown);
    assert_eq!(joined(&p), Reason::Shutdown);
    until("the supervisor saw its producer go", || {
        sup.subscription_stats(sub).is_none()
    });
    assert_eq!(sup.count_children().unwrap(), counts(2, 2));
    let asked = sup.stats().asked;
    assert_eq!(asked, 2);
    let (first, second) = if runs[0].event == 0 {
        (runs[0], runs[1])
    } else {
        (runs[1], runs[0])
    };
    ctl.release(first.event, Then::Ok);
    until("the first child ended", || sup.child_stats().exits == 1);
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    sup.terminate_child(second.id).unwrap();
    assert_eq!(sup.count_children().unwrap(), counts(0, 0));
    assert_eq!(sup.stats().asked, asked);
    assert!(!sup.is_stopped());
}

#[test]
fn asks_follow_spec_19_4_max_10_min_5_asks_5_at_a_time() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    sup.subscribe(&p, Subscribe::new().max_demand(10).min_demand(5))
        .unwrap();
    assert_eq!(p.call(Msg::Emit((0..10).collect()), PATIENCE), Ok(Msg::Ok));
    (0..10).for_each(|_| {
        ctl.next();
    });
    for e in 0..4 {
        ctl.release(e, Then::Ok);
    }
    assert_eq!(settled(&sup, 4, &p), counts(6, 6));
    assert_eq!(demands(&mut log, "p"), [10]);
    ctl.release(4, Then::Ok);
    assert_eq!(settled(&sup, 5, &p), counts(5, 5));
    assert_eq!(demands(&mut log, "p"), [10, 5]);
    assert_eq!(p.call(Msg::Emit((10..15).collect()), PATIENCE), Ok(Msg::Ok));
    (0..5).for_each(|_| {
        ctl.next();
    });
    for e in 5..10 {
        ctl.release(e, Then::Ok);
    }
    assert_eq!(settled(&sup, 10, &p), counts(5, 5));
    assert_eq!(demands(&mut log, "p"), [10, 5, 5]);
}

#[test]
fn with_max_1000_and_min_500_every_ask_after_the_first_is_500() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0).limit(5_000));
    let sup = threads::consumer_supervisor(|_: &u64, _: &ChildCtx| Ok(()))
        .runtime(&rt)
        .start()
        .unwrap();
    sup.subscribe(&p, Subscribe::new().cancel(CancelMode::Transient))
        .unwrap();
    assert_eq!(joined(&p), Reason::Normal);
    until("every child ended", || sup.child_stats().exits == 5_000);
    assert_eq!(
        demands(&mut log, "p"),
        [1000, 500, 500, 500, 500, 500, 500, 500, 500]
    );
}

#[test]
fn start_child_runs_outside_any_demand_and_its_end_asks_nothing() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child)
        .before_start(|e: &u64| match *e {
            100 => Start::Ignore,
            101 => Start::Error(Reason::Custom("refused")),
            _ => Start::Run,
        })
        .start()
        .unwrap();
    sup.subscribe(&p, Subscribe::new().max_demand(1).min_demand(0))
        .unwrap();
    assert_eq!(p.call(Msg::Emit(vec![0, 1]), PATIENCE), Ok(Msg::Ok));
    let from_producer = ctl.next();
    // A slot the producer's demand does not cover.
    let id = sup.start_child(50).unwrap().expect("started");
    let extra = ctl.next();
    assert_eq!((extra.event, extra.id), (50, id));
    assert_eq!(sup.count_children().unwrap(), counts(2, 2));
    ctl.release(50, Then::Ok);
    assert_eq!(settled(&sup, 1, &p), counts(1, 1));
    assert_eq!(demands(&mut log, "p"), [1]);
    // The start hook applies; a refusal hands the event back.
    assert_eq!(sup.start_child(100), Ok(None));
    assert_eq!(
        sup.start_child(101),
        Err(StartChildError::Refused {
            event: 101,
            reason: Reason::Custom("refused")
        })
    );
    // The producer's child still holds the only slot.
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    ctl.release(from_producer.event, Then::Ok);
    assert_eq!(ctl.next().event, 1);
    sup.stop(Reason::Normal);
    ctl.open();
    assert_eq!(joined(&*sup), Reason::Normal);
    // A stopped supervisor hands the event back.
    let err = sup.start_child(9).unwrap_err();
    assert_eq!(
        err,
        StartChildError::Stopped {
            event: Some(9),
            reason: Reason::Normal
        }
    );
    assert_eq!(err.to_string(), "the supervisor has stopped (normal)");
}

#[test]
fn terminate_child_frees_the_slot_at_once_raises_its_cancel_flag_and_ignores_its_end() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, counter(&log, "p", 0));
    let (saw_tx, saw) = channel();
    let (started_tx, started) = channel();
    let saw_tx = Mutex::new(saw_tx);
    let started_tx = Mutex::new(started_tx);
    // Transient, and it fails once cancelled: were its end not ignored, it would restart.
    let sup = threads::consumer_supervisor(move |e: &u64, ctx: &ChildCtx| {
        started_tx.lock().unwrap().send((*e, ctx.id())).unwrap();
        while !ctx.is_cancelled() {
            std::thread::yield_now();
        }
        saw_tx.lock().unwrap().send(*e).unwrap();
        Err(Reason::Custom("cancelled"))
    })
    .restart(Restart::Transient)
    .runtime(&rt)
    .start()
    .unwrap();
    let sub = sup
        .subscribe(&p, Subscribe::new().max_demand(1).min_demand(0))
        .unwrap();
    // The producer makes events 0, 1, ... as they are asked for.
    let (e0, id0) = started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(e0, 0);
    sup.terminate_child(id0).unwrap();
    // The slot is free at once: the next event's child starts while child 0 may still run.
    let (e1, id1) = started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(e1, 1);
    assert_eq!(saw.recv_timeout(PATIENCE).unwrap(), 0);
    // Its failing end is counted, and changes nothing: no restart, no ask, child 1 alone.
    until("child 0's end reached the supervisor", || {
        sup.child_stats().failures == 1
    });
    assert_eq!(sup.count_children().unwrap(), counts(1, 1));
    ping(&p);
    assert_eq!(demands(&mut log, "p"), [1, 1]);
    assert_eq!(
        sup.terminate_child(id0),
        Err(SupervisorError::NoSuchChild(id0))
    );
    let stats = sup.child_stats();
    assert_eq!((stats.terminated, stats.restarts), (1, 0));
    sup.terminate_child(id1).unwrap();
    assert_eq!(saw.recv_timeout(PATIENCE).unwrap(), 1);
    // The next event's child takes the freed slot; neither terminated child ran again.
    let (e2, id2) = started.recv_timeout(PATIENCE).unwrap();
    assert_eq!(e2, 2);
    until("child 1's end reached the supervisor", || {
        sup.child_stats().failures == 2
    });
    assert_eq!(
        sup.which_children().unwrap(),
        [ChildInfo {
            id: id2,
            state: ChildState::Running,
            sub: Some(sub),
        }]
    );
    assert_eq!(sup.child_stats().restarts, 0);
    assert!(started.try_recv().is_err());
}

/// A child that runs until cancelled, then says it finished.
fn until_cancelled(done: Sender<u64>) -> impl Fn(&u64, &ChildCtx) -> Result<(), Reason> {
    let done = Mutex::new(done);
    move |e: &u64, ctx: &ChildCtx| {
        while !ctx.is_cancelled() {
            std::thread::yield_now();
        }
        done.lock().unwrap().send(*e).unwrap();
        Ok(())
    }
}

#[test]
fn a_permanent_producer_going_down_stops_the_supervisor_which_cancels_and_waits_for_its_children() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (done_tx, done) = channel();
    let sup = threads::consumer_supervisor(until_cancelled(done_tx))
        .shutdown(Duration::MAX)
        .runtime(&rt)
        .start()
        .unwrap();
    sup.subscribe(&p, Subscribe::new().max_demand(3)).unwrap();
    assert_eq!(p.call(Msg::Emit(vec![0, 1, 2]), PATIENCE), Ok(Msg::Ok));
    until("three children run", || {
        sup.count_children().unwrap() == counts(3, 3)
    });
    p.stop(Reason::Custom("gone"));
    // The cancel mode decides: permanent, so the supervisor stops with the reason...
    assert_eq!(joined(&*sup), Reason::Custom("gone"));
    // ...after its children saw their cancel flags and returned.
    let mut finished: Vec<u64> = done.try_iter().collect();
    finished.sort_unstable();
    assert_eq!(finished, [0, 1, 2]);
    assert_eq!(sup.child_stats().left_running, 0);
    all_joined(&rt);
}

#[test]
fn a_supervisor_without_shutdown_time_leaves_running_children_and_counts_them() {
    let rt = crate::common::runtime();
    let (release_tx, release) = channel::<()>();
    let release = Mutex::new(release);
    let (done_tx, done) = channel();
    let done_tx = Mutex::new(done_tx);
    let (started_tx, started) = channel();
    let started_tx = Mutex::new(started_tx);
    let sup = threads::consumer_supervisor(move |e: &u64, _: &ChildCtx| {
        started_tx.lock().unwrap().send(*e).unwrap();
        // Deaf to its cancel flag.
        release.lock().unwrap().recv().unwrap();
        done_tx.lock().unwrap().send(*e).unwrap();
        Ok(())
    })
    .shutdown(Duration::ZERO)
    .runtime(&rt)
    .start()
    .unwrap();
    sup.start_child(1).unwrap();
    assert_eq!(started.recv_timeout(PATIENCE).unwrap(), 1);
    sup.stop(Reason::Shutdown);
    // It did not wait: the child is still blocked.
    assert_eq!(joined(&*sup), Reason::Shutdown);
    assert_eq!(sup.child_stats().left_running, 1);
    assert!(done.try_recv().is_err());
    // The child finishes on its own thread; its end goes nowhere.
    release_tx.send(()).unwrap();
    assert_eq!(done.recv_timeout(PATIENCE).unwrap(), 1);
    assert_eq!(sup.child_stats().exits, 0);
}

#[test]
fn events_beyond_the_demand_asked_are_counted_as_excess_and_still_started() {
    let rt = crate::common::runtime();
    let log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    let sub = sup
        .subscribe(&p, Subscribe::new().max_demand(2).min_demand(0))
        .unwrap();
    // A misbehaving producer: five events on a subscription that asked for two.
    let x = RawPeer::<u64>::new();
    assert!(x.send_events(&*sup, sub, (0..5).collect()));
    let mut got: Vec<u64> = (0..5).map(|_| ctl.next().event).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert_eq!(sup.count_children().unwrap(), counts(5, 5));
    assert_eq!(sup.child_stats().excess, 3);
}

#[test]
fn several_producers_are_asked_each_for_their_own_freed_slots() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p1 = producer(&rt, silent(&log, "p1"));
    let p2 = producer(&rt, silent(&log, "p2"));
    let (ctl, child) = gated();
    let sup = supervisor(&rt, child).start().unwrap();
    sup.subscribe(&p1, Subscribe::new().max_demand(2).min_demand(0))
        .unwrap();
    sup.subscribe(&p2, Subscribe::new().max_demand(4).min_demand(2))
        .unwrap();
    assert_eq!(p1.call(Msg::Emit(vec![10, 11]), PATIENCE), Ok(Msg::Ok));
    assert_eq!(
        p2.call(Msg::Emit(vec![20, 21, 22, 23]), PATIENCE),
        Ok(Msg::Ok)
    );
    (0..6).for_each(|_| {
        ctl.next();
    });
    assert_eq!(sup.count_children().unwrap(), counts(6, 6));
    // Two of p2's children end: p2 is asked for 2, p1 for nothing.
    ctl.release(20, Then::Ok);
    ctl.release(21, Then::Ok);
    settled(&sup, 2, &p2);
    ping(&p1);
    assert_eq!(demands(&mut log, "p1"), [2]);
    assert_eq!(demands(&mut log, "p2"), [4, 2]);
    // One of p1's: p1 is asked for 1 (min 0), p2 for nothing.
    ctl.release(10, Then::Ok);
    settled(&sup, 3, &p1);
    ping(&p2);
    assert_eq!(demands(&mut log, "p1"), [2, 1]);
    assert_eq!(demands(&mut log, "p2"), [4, 2]);
}

#[test]
fn errors_say_what_went_wrong_and_are_std_errors() {
    let id = {
        let rt = crate::common::runtime();
        let (ctl, child) = gated();
        let sup = supervisor(&rt, child).start().unwrap();
        let id = sup.start_child(1).unwrap().unwrap();
        assert_eq!(ctl.next().id, id);
        id
    };
    let cases: [(Box<dyn std::error::Error>, &str); 5] = [
        (
            Box::new(SupervisorError::PermanentRestart),
            "a consumer supervisor does not take permanent children; use Restart::Transient or Restart::Temporary",
        ),
        (
            Box::new(SupervisorError::MaxSecondsZero),
            "expected max_seconds to be greater than zero",
        ),
        (
            Box::new(SupervisorError::NoSuchChild(id)),
            "the supervisor has no child 0",
        ),
        (
            Box::new(SupervisorError::Stopped(Reason::Shutdown)),
            "the supervisor has stopped (shutdown)",
        ),
        (
            Box::new(StartChildError::Refused {
                event: 1u64,
                reason: Reason::Custom("no"),
            }),
            "the child did not start (no)",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
}

/// A cheap, well-mixed hash of a number (SplitMix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Live children counted while they run, whatever way their run ends.
struct Live<'a>(&'a AtomicUsize);

impl<'a> Live<'a> {
    fn enter(live: &'a AtomicUsize, high: &AtomicUsize) -> Self {
        let now = live.fetch_add(1, Ordering::SeqCst) + 1;
        high.fetch_max(now, Ordering::SeqCst);
        Live(live)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn never_more_than_max_demand_children_live_over_100_000_events_with_random_durations_and_panics() {
    const PER: u64 = 50_000;
    const TOTAL: u64 = 2 * PER;
    const MAX: [usize; 2] = [8, 3];
    struct Shared {
        live: [AtomicUsize; 2],
        high: [AtomicUsize; 2],
        done: Vec<AtomicU8>,
        completed: AtomicU64,
        panics: AtomicU64,
    }
    let shared = Arc::new(Shared {
        live: Default::default(),
        high: Default::default(),
        done: (0..TOTAL).map(|_| AtomicU8::new(0)).collect(),
        completed: AtomicU64::new(0),
        panics: AtomicU64::new(0),
    });
    let (all_done_tx, all_done) = channel();
    let all_done_tx = Mutex::new(all_done_tx);
    let s = shared.clone();
    let rt = crate::common::runtime();
    let sup = threads::consumer_supervisor(move |e: &u64, ctx: &ChildCtx| {
        let from = (*e / PER) as usize;
        let _live = Live::enter(&s.live[from], &s.high[from]);
        let h = mix(*e ^ (u64::from(ctx.restarts()) << 40));
        for _ in 0..h % 256 {
            std::hint::spin_loop();
        }
        if h.is_multiple_of(5) {
            std::thread::yield_now();
        }
        // About one run in a hundred panics (a restart draws again).
        if h.is_multiple_of(97) {
            s.panics.fetch_add(1, Ordering::Relaxed);
            std::panic::panic_any("a random child panic");
        }
        s.done[*e as usize].fetch_add(1, Ordering::SeqCst);
        if s.completed.fetch_add(1, Ordering::SeqCst) + 1 == TOTAL {
            all_done_tx.lock().unwrap().send(()).unwrap();
        }
        Ok(())
    })
    .restart(Restart::Transient)
    .max_restarts(u32::MAX)
    .runtime(&rt)
    .start()
    .unwrap();
    let p1 = rt
        .spawn_producer(FromIter::new(0..PER), ProducerOptions::default())
        .unwrap();
    let p2 = rt
        .spawn_producer(FromIter::new(PER..TOTAL), ProducerOptions::default())
        .unwrap();
    // Transient: the sources finishing `Normal` leave the supervisor to finish its children.
    for (p, max) in [(&p1, MAX[0]), (&p2, MAX[1])] {
        sup.subscribe(
            p,
            Subscribe::new()
                .max_demand(max)
                .cancel(CancelMode::Transient),
        )
        .unwrap();
    }
    all_done.recv_timeout(Duration::from_secs(300)).unwrap();
    // The last run reported before it returned: wait for its end to reach the supervisor.
    until("every end reached the supervisor", || {
        sup.child_stats().exits == TOTAL
    });
    sup.stop(Reason::Normal);
    assert_eq!(joined(&p1), Reason::Normal);
    assert_eq!(joined(&p2), Reason::Normal);
    assert_eq!(joined(&*sup), Reason::Normal);
    all_joined(&rt);
    for (i, max) in MAX.into_iter().enumerate() {
        let high = shared.high[i].load(Ordering::SeqCst);
        assert!(
            (1..=max).contains(&high),
            "producer {i}: {high} live > {max}"
        );
        assert_eq!(shared.live[i].load(Ordering::SeqCst), 0);
    }
    let once = shared
        .done
        .iter()
        .filter(|d| d.load(Ordering::SeqCst) == 1)
        .count();
    assert_eq!(
        once as u64, TOTAL,
        "every event's child completed exactly once"
    );
    let stats = sup.child_stats();
    let panics = shared.panics.load(Ordering::Relaxed);
    assert!(panics > 0);
    assert_eq!(
        (stats.started, stats.exits, stats.failures, stats.restarts),
        (TOTAL, TOTAL, panics, panics)
    );
    assert_eq!((stats.left_running, stats.excess), (0, 0));
}

#[test]
fn a_panicking_start_hook_stops_the_supervisor_and_its_children_get_their_cancel_flags() {
    let rt = crate::common::runtime();
    let (done_tx, done) = channel();
    let sup = threads::consumer_supervisor(until_cancelled(done_tx))
        .before_start(|e: &u64| {
            assert!(*e != 1, "the hook fails on 1");
            Start::Run
        })
        .runtime(&rt)
        .start()
        .unwrap();
    sup.start_child(0).unwrap().expect("started");
    // The hook panics while handling the request: the event went down with it.
    assert_eq!(
        sup.start_child(1),
        Err(StartChildError::Stopped {
            event: None,
            reason: Reason::Panicked
        })
    );
    assert_eq!(joined(&*sup), Reason::Panicked);
    // No shutdown wait after a panic, but child 0 heard its flag and finished.
    assert_eq!(done.recv_timeout(PATIENCE).unwrap(), 0);
}
