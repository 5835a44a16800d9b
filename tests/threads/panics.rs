//! A panic in any callback of any stage kind ends that stage with `Reason::Panicked` and its
//! message; its peers get a down notice and apply their cancel mode (spec §15's table, row
//! "anything else"); nothing else is affected and nobody is left waiting.

use crate::common::*;
use genstage::error::*;
use genstage::threads::{CallError, Runtime};
use genstage::*;

/// Three consumers of `upstream`, one per cancel mode.
struct Watchers {
    permanent: C,
    transient: C,
    temporary: C,
}

fn watchers<K: threads_kind::Upstream, I: Send + 'static>(
    rt: &Runtime,
    log: &Log,
    upstream: &genstage::threads::Handle<K, I, u64, Msg>,
) -> Watchers {
    let w = |label, mode| {
        let c = consumer(rt, recorder(log, label));
        c.subscribe(upstream, Subscribe::new().cancel(mode))
            .unwrap();
        c
    };
    Watchers {
        permanent: w("permanent", CancelMode::Permanent),
        transient: w("transient", CancelMode::Transient),
        temporary: w("temporary", CancelMode::Temporary),
    }
}

use genstage::threads::kind as threads_kind;

impl Watchers {
    /// Each applied its cancel mode to a `Panicked` down.
    fn saw_the_panic(&self) {
        assert_eq!(joined(&self.permanent), Reason::Panicked);
        assert_eq!(joined(&self.transient), Reason::Panicked);
        ping(&self.temporary);
    }
}

fn panicked<K: threads_kind::Kind, I: Send + 'static, O: Send + 'static>(
    h: &genstage::threads::Handle<K, I, O, Msg>,
    callback: &str,
) {
    let exit = h.join_exit();
    assert_eq!(exit.reason, Reason::Panicked);
    assert_eq!(
        exit.panic.as_deref(),
        Some(format!("boom in {callback}").as_str())
    );
    assert_eq!(h.panic_message(), exit.panic);
    // A request to it is answered, not left waiting.
    assert!(matches!(
        h.call(Msg::Info("late"), PATIENCE),
        Err(CallError::Stopped {
            reason: Reason::Panicked,
            ..
        })
    ));
}

/// Arms `h`'s panic.
fn arm<K: threads_kind::Kind, I: Send + 'static, O: Send + 'static>(
    h: &genstage::threads::Handle<K, I, O, Msg>,
) {
    assert_eq!(h.call(ARM, PATIENCE), Ok(Msg::Ok));
}

/// A producer with three watchers panics in `callback`.
fn producer_panics_in(callback: &'static str) {
    let rt = crate::common::runtime();
    let log = Log::new();
    let opts = ProducerOptions::new().buffer_size(1);
    let p = producer_with(&rt, silent(&log, "p").panic_in(callback), opts);
    let w = watchers(&rt, &log, &p);
    arm(&p);
    let trigger = consumer(&rt, recorder(&log, "trigger"));
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    match callback {
        "handle_subscribe" | "handle_demand" => {
            trigger.subscribe(&p, temporary).unwrap();
        }
        "handle_cancel" => {
            let s = trigger.subscribe(&p, temporary).unwrap();
            trigger.cancel(s, Reason::Normal).unwrap();
        }
        "handle_info" => p.info(Msg::Info("boom")).unwrap(),
        "handle_call" => {
            let r = p.call(Msg::Info("boom"), PATIENCE);
            assert!(matches!(
                r,
                Err(CallError::Stopped {
                    reason: Reason::Panicked,
                    msg: None
                })
            ));
        }
        "format_discarded" => {
            // Every watcher's demand (1000 each) is met, then the buffer of one overflows.
            let _ = p.call(Msg::Emit((0..3003).collect()), PATIENCE);
        }
        other => unreachable!("{other}"),
    }
    panicked(&p, callback);
    w.saw_the_panic();
}

#[test]
fn producer_panics_in_handle_subscribe() {
    producer_panics_in("handle_subscribe");
}
#[test]
fn producer_panics_in_handle_demand() {
    producer_panics_in("handle_demand");
}
#[test]
fn producer_panics_in_handle_cancel() {
    producer_panics_in("handle_cancel");
}
#[test]
fn producer_panics_in_handle_info() {
    producer_panics_in("handle_info");
}
#[test]
fn producer_panics_in_handle_call() {
    producer_panics_in("handle_call");
}
#[test]
fn producer_panics_in_format_discarded() {
    producer_panics_in("format_discarded");
}

/// A producer_consumer between a Counter and three watchers panics in `callback`; its
/// upstream producer sees it go down and keeps running.
fn producer_consumer_panics_in(callback: &'static str) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let up = producer(&rt, silent(&log, "up"));
    let pc = rt
        .spawn_producer_consumer(
            doubler(&log, "pc").panic_in(callback),
            ProducerOptions::new().buffer_size(1),
        )
        .unwrap();
    let w = watchers(&rt, &log, &pc);
    let s = pc.subscribe(&up, Subscribe::new()).unwrap();
    log.wait_for("up", Cb::Demand(1000));
    arm(&pc);
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    match callback {
        "handle_consumer_subscribe" => {
            consumer(&rt, recorder(&log, "trigger"))
                .subscribe(&pc, temporary)
                .unwrap();
        }
        "handle_subscribe" => {
            // The subscribe itself panics: an error, not a hang.
            assert_eq!(pc.subscribe(&up, temporary), Err(SubscribeError::Stopped));
        }
        "handle_events" => {
            up.call(Msg::Emit(vec![1, 2]), PATIENCE).unwrap();
        }
        "handle_cancel" => {
            let s2 = pc.subscribe(&up, temporary).unwrap();
            pc.cancel(s2, Reason::Normal).unwrap();
        }
        "handle_info" => pc.info(Msg::Info("boom")).unwrap(),
        "handle_call" => {
            let _ = pc.call(Msg::Info("boom"), PATIENCE);
        }
        "format_discarded" => {
            let _ = pc.call(Msg::Emit((0..3003).collect()), PATIENCE);
        }
        other => unreachable!("{other}"),
    }
    panicked(&pc, callback);
    w.saw_the_panic();
    log.wait_for("up", Cb::Cancel(Cancellation::Down(Reason::Panicked), s));
    ping(&up);
}

#[test]
fn producer_consumer_panics_in_handle_events() {
    producer_consumer_panics_in("handle_events");
}
#[test]
fn producer_consumer_panics_in_handle_subscribe() {
    producer_consumer_panics_in("handle_subscribe");
}
#[test]
fn producer_consumer_panics_in_handle_consumer_subscribe() {
    producer_consumer_panics_in("handle_consumer_subscribe");
}
#[test]
fn producer_consumer_panics_in_handle_cancel() {
    producer_consumer_panics_in("handle_cancel");
}
#[test]
fn producer_consumer_panics_in_handle_info() {
    producer_consumer_panics_in("handle_info");
}
#[test]
fn producer_consumer_panics_in_handle_call() {
    producer_consumer_panics_in("handle_call");
}
#[test]
fn producer_consumer_panics_in_format_discarded() {
    producer_consumer_panics_in("format_discarded");
}

/// A consumer panics in `callback`; its producer sees it go down and keeps running, and the
/// events it had in flight are accounted for.
fn consumer_panics_in(callback: &'static str) {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let p = producer(&rt, silent(&log, "p"));
    let c = consumer(&rt, recorder(&log, "c").panic_in(callback));
    let temporary = Subscribe::new().cancel(CancelMode::Temporary);
    arm(&c);
    let s = match callback {
        "handle_subscribe" => {
            // The subscribe itself panics: the caller gets an error, not a hang.
            assert_eq!(c.subscribe(&p, temporary), Err(SubscribeError::Stopped));
            SubId::new(p.id(), c.id(), 0)
        }
        _ => c.subscribe(&p, temporary).unwrap(),
    };
    match callback {
        "handle_subscribe" => {}
        "handle_events" => {
            p.call(Msg::Emit(vec![1, 2, 3]), PATIENCE).unwrap();
        }
        "handle_cancel" => c.cancel(s, Reason::Normal).unwrap(),
        "handle_info" => c.info(Msg::Info("boom")).unwrap(),
        "handle_call" => {
            let _ = c.call(Msg::Info("boom"), PATIENCE);
        }
        other => unreachable!("{other}"),
    }
    panicked(&c, callback);
    // P hears of it: by its down, or (when the panic came from P's own cancel, which ended
    // the subscription first) by that cancel.
    let how = match callback {
        "handle_cancel" => Cancellation::Cancel(Reason::Normal),
        _ => Cancellation::Down(Reason::Panicked),
    };
    log.wait_for("p", Cb::Cancel(how, s));
    ping(&p);
    // Conservation: whatever P sent is in C's callbacks or counted as lost in flight.
    let delivered: usize = log
        .of("c")
        .iter()
        .map(|cb| match cb {
            Cb::Events(_, e) => e.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        p.stats().events_out,
        delivered as u64 + c.lost_in_flight(),
        "{callback}"
    );
}

#[test]
fn consumer_panics_in_handle_events() {
    consumer_panics_in("handle_events");
}
#[test]
fn consumer_panics_in_handle_subscribe() {
    consumer_panics_in("handle_subscribe");
}
#[test]
fn consumer_panics_in_handle_cancel() {
    consumer_panics_in("handle_cancel");
}
#[test]
fn consumer_panics_in_handle_info() {
    consumer_panics_in("handle_info");
}
#[test]
fn consumer_panics_in_handle_call() {
    consumer_panics_in("handle_call");
}

#[test]
fn a_panic_leaves_the_rest_of_the_process_alone() {
    let rt = crate::common::runtime();
    let mut log = Log::new();
    let healthy_p = producer(&rt, counter(&log, "hp", 0).limit(100));
    let healthy_c = consumer(&rt, recorder(&log, "hc"));
    healthy_c
        .subscribe(&healthy_p, Subscribe::new().max_demand(10))
        .unwrap();
    let doomed = consumer(&rt, recorder(&log, "doomed").panic_in("handle_info"));
    arm(&doomed);
    doomed.info(Msg::Info("boom")).unwrap();
    assert_eq!(doomed.join(), Reason::Panicked);
    assert_eq!(joined(&healthy_p), Reason::Normal);
    assert_eq!(joined(&healthy_c), Reason::Normal);
    let got: usize = log
        .of("hc")
        .iter()
        .map(|cb| match cb {
            Cb::Events(_, e) => e.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(got, 100);
    all_joined(&rt);
}
