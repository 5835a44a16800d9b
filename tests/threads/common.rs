//! Helper behaviours for the thread runtime's tests. Every callback they run is sent, with
//! the stage's label, to a [`Log`] the test reads: tests wait on that channel, on replies and
//! on joins, never on a clock.
#![allow(dead_code)] // each test module uses its own subset

use genstage::threads::{self, ConsumerHandle, ProducerConsumerHandle, ProducerHandle, Runtime};
use genstage::*;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// How long a test waits for something that must happen before it calls it a failure. Never
/// a pause: every wait returns as soon as the awaited thing happens.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The runtime a test runs its stages on: [`Runtime::from_env`], a thread per stage unless
/// `GENSTAGE_WORKERS` is set (as it is in passes of `.ci/run`), so that every test of this
/// target also runs with its stages as tasks on workers.
pub fn runtime() -> Runtime {
    Runtime::from_env()
}

/// Subscribe options that end cleanly when a finite source stops `Normal`.
pub fn transient() -> Subscribe<u64> {
    Subscribe::new().cancel(CancelMode::Transient)
}

/// The info and call messages of the helpers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// The callback emits these events (a call replies `Ok` after them).
    Emit(Vec<u64>),
    /// A named info or call.
    Info(&'static str),
    /// The callback stops the stage with this reason (a call replies first).
    Stop(Reason),
    /// A call that waits until the test releases the stage's gate.
    Block,
    /// A call answered without a reply.
    Silent,
    /// A reply.
    Ok,
}

/// A callback that ran, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cb {
    Demand(usize),
    Events(SubId, Vec<u64>),
    Subscribe(SubId),
    ConsumerSubscribe(SubId),
    Cancel(Cancellation, SubId),
    Info(Msg),
    Call(Msg),
    Discarded(usize),
}

/// The callbacks of every stage of a test, in the order each stage ran them.
pub struct Log {
    rx: Receiver<(&'static str, Cb)>,
    tx: Sender<(&'static str, Cb)>,
    /// Everything received so far.
    pub seen: Vec<(&'static str, Cb)>,
}

impl Default for Log {
    fn default() -> Self {
        Self::new()
    }
}

impl Log {
    pub fn new() -> Self {
        let (tx, rx) = channel();
        Log {
            rx,
            tx,
            seen: Vec::new(),
        }
    }
    /// A probe for a behaviour labelled `label`.
    pub fn probe(&self, label: &'static str) -> Probe {
        Probe {
            label,
            tx: self.tx.clone(),
        }
    }
    /// Waits until `label` has run `cb` (or already had); panics after [`PATIENCE`].
    #[track_caller]
    pub fn wait_for(&mut self, label: &'static str, cb: Cb) {
        let want = (label, cb);
        if self.seen.contains(&want) {
            return;
        }
        loop {
            match self.rx.recv_timeout(PATIENCE) {
                Ok(got) => {
                    let hit = got == want;
                    self.seen.push(got);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("{want:?} never came; seen: {:#?}", self.seen),
            }
        }
    }
    /// Takes everything already sent, without waiting.
    pub fn drain(&mut self) {
        while let Ok(got) = self.rx.try_recv() {
            self.seen.push(got);
        }
    }
    /// The callbacks `label` ran, as seen so far.
    pub fn of(&mut self, label: &'static str) -> Vec<Cb> {
        self.drain();
        self.seen
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

/// A behaviour's end of the log.
#[derive(Clone)]
pub struct Probe {
    label: &'static str,
    tx: Sender<(&'static str, Cb)>,
}

impl Probe {
    fn record(&self, cb: Cb) {
        let _ = self.tx.send((self.label, cb));
    }
}

/// A callback name a helper panics in.
pub type PanicIn = Option<&'static str>;

/// The message that arms a helper's panic: it panics in its chosen callback only after a
/// call of `Msg::Info("arm")`, so that a test can set up its peers first.
pub const ARM: Msg = Msg::Info("arm");

fn maybe_panic(panic_in: PanicIn, armed: bool, here: &'static str) {
    if armed && panic_in == Some(here) {
        panic!("boom in {here}");
    }
}

// ----- producer: Counter(k) or Silent -----

pub struct TestProducer {
    pub probe: Probe,
    /// `Some(k)`: Counter(k); `None`: Silent.
    pub counter: Option<u64>,
    /// Emits nothing more once it reached this (then stops when drained).
    pub limit: Option<u64>,
    pub cancel_emits: Vec<u64>,
    pub panic_in: PanicIn,
    pub armed: bool,
    pub gate: Option<Receiver<()>>,
}

pub fn counter(log: &Log, label: &'static str, k: u64) -> TestProducer {
    TestProducer {
        probe: log.probe(label),
        counter: Some(k),
        limit: None,
        cancel_emits: Vec::new(),
        panic_in: None,
        armed: false,
        gate: None,
    }
}

pub fn silent(log: &Log, label: &'static str) -> TestProducer {
    TestProducer {
        counter: None,
        ..counter(log, label, 0)
    }
}

impl TestProducer {
    pub fn panic_in(mut self, callback: &'static str) -> Self {
        self.panic_in = Some(callback);
        self
    }
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn gate(mut self, gate: Receiver<()>) -> Self {
        self.gate = Some(gate);
        self
    }
}

impl Producer<Msg> for TestProducer {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        self.probe.record(Cb::Demand(demand));
        maybe_panic(self.panic_in, self.armed, "handle_demand");
        if let Some(k) = self.counter.as_mut() {
            let end = match self.limit {
                Some(l) => (*k + demand as u64).min(l),
                None => *k + demand as u64,
            };
            let _ = out.extend(*k..end);
            *k = end;
            if Some(end) == self.limit {
                return Flow::StopWhenDrained(Reason::Normal);
            }
        }
        Flow::Continue
    }
    fn handle_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<u64>) -> Flow {
        self.probe.record(Cb::Subscribe(sub));
        maybe_panic(self.panic_in, self.armed, "handle_subscribe");
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, out: &mut Emit<'_, u64>) -> Flow {
        self.probe.record(Cb::Cancel(how, sub));
        maybe_panic(self.panic_in, self.armed, "handle_cancel");
        let _ = out.extend(self.cancel_emits.iter().copied());
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Emit<'_, u64>) -> Flow {
        self.probe.record(Cb::Info(msg.clone()));
        maybe_panic(self.panic_in, self.armed, "handle_info");
        match msg {
            Msg::Emit(events) => {
                let _ = out.extend(events);
                Flow::Continue
            }
            Msg::Stop(r) => Flow::Stop(r),
            _ => Flow::Continue,
        }
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Emit<'_, u64>) -> Flow {
        self.probe.record(Cb::Call(msg.clone()));
        if msg == ARM {
            self.armed = true;
            reply.reply(Msg::Ok);
            return Flow::Continue;
        }
        maybe_panic(self.panic_in, self.armed, "handle_call");
        call(msg, reply, out, self.gate.as_ref())
    }
    fn format_discarded(&mut self, count: usize) -> bool {
        self.probe.record(Cb::Discarded(count));
        maybe_panic(self.panic_in, self.armed, "format_discarded");
        true
    }
}

fn call<E: From<u64>>(
    msg: Msg,
    reply: &mut Reply<Msg>,
    out: &mut Emit<'_, E>,
    gate: Option<&Receiver<()>>,
) -> Flow {
    match msg {
        Msg::Emit(events) => {
            let _ = out.extend(events.into_iter().map(E::from));
            reply.reply(Msg::Ok);
            Flow::Continue
        }
        Msg::Stop(r) => {
            reply.reply(Msg::Ok);
            Flow::Stop(r)
        }
        Msg::Block => {
            if let Some(g) = gate {
                let _ = g.recv();
            }
            reply.reply(Msg::Ok);
            Flow::Continue
        }
        Msg::Silent => Flow::Continue,
        _ => {
            reply.reply(Msg::Ok);
            Flow::Continue
        }
    }
}

// ----- consumer: Recorder -----

pub struct TestConsumer {
    pub probe: Probe,
    pub manual: bool,
    pub subscribe_stop: Option<Reason>,
    pub panic_in: PanicIn,
    pub armed: bool,
}

pub fn recorder(log: &Log, label: &'static str) -> TestConsumer {
    TestConsumer {
        probe: log.probe(label),
        manual: false,
        subscribe_stop: None,
        panic_in: None,
        armed: false,
    }
}

impl TestConsumer {
    pub fn manual(mut self) -> Self {
        self.manual = true;
        self
    }
    pub fn panic_in(mut self, callback: &'static str) -> Self {
        self.panic_in = Some(callback);
        self
    }
    pub fn stop_on_subscribe(mut self, reason: Reason) -> Self {
        self.subscribe_stop = Some(reason);
        self
    }
}

impl Consumer<Msg> for TestConsumer {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        let from = events.sub();
        self.probe.record(Cb::Events(from, events.collect()));
        maybe_panic(self.panic_in, self.armed, "handle_events");
        Flow::Continue
    }
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _: &SubscribeOptions<u64>,
        _: &mut Ctx<'_>,
    ) -> Subscribed {
        self.probe.record(Cb::Subscribe(sub));
        maybe_panic(self.panic_in, self.armed, "handle_subscribe");
        match (self.subscribe_stop, self.manual) {
            (Some(r), _) => Subscribed::Stop(r),
            (None, true) => Subscribed::Manual,
            (None, false) => Subscribed::Automatic,
        }
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Ctx<'_>) -> Flow {
        self.probe.record(Cb::Cancel(how, sub));
        maybe_panic(self.panic_in, self.armed, "handle_cancel");
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, _: &mut Ctx<'_>) -> Flow {
        self.probe.record(Cb::Info(msg.clone()));
        maybe_panic(self.panic_in, self.armed, "handle_info");
        match msg {
            Msg::Stop(r) => Flow::Stop(r),
            _ => Flow::Continue,
        }
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, _: &mut Ctx<'_>) -> Flow {
        self.probe.record(Cb::Call(msg.clone()));
        if msg == ARM {
            self.armed = true;
            reply.reply(Msg::Ok);
            return Flow::Continue;
        }
        maybe_panic(self.panic_in, self.armed, "handle_call");
        match msg {
            Msg::Stop(r) => {
                reply.reply(Msg::Ok);
                Flow::Stop(r)
            }
            Msg::Silent => Flow::Continue,
            _ => {
                reply.reply(Msg::Ok);
                Flow::Continue
            }
        }
    }
}

// ----- producer_consumer: Doubler -----

pub struct TestPc {
    pub probe: Probe,
    pub panic_in: PanicIn,
    pub armed: bool,
}

pub fn doubler(log: &Log, label: &'static str) -> TestPc {
    TestPc {
        probe: log.probe(label),
        panic_in: None,
        armed: false,
    }
}

impl TestPc {
    pub fn panic_in(mut self, callback: &'static str) -> Self {
        self.panic_in = Some(callback);
        self
    }
}

impl ProducerConsumer<Msg> for TestPc {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let from = events.sub();
        let events: Vec<u64> = events.collect();
        self.probe.record(Cb::Events(from, events.clone()));
        maybe_panic(self.panic_in, self.armed, "handle_events");
        let _ = out.extend(events.iter().flat_map(|&e| [e, e]));
        Flow::Continue
    }
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _: &SubscribeOptions<u64>,
        _: &mut Ctx<'_>,
    ) -> Subscribed {
        self.probe.record(Cb::Subscribe(sub));
        maybe_panic(self.panic_in, self.armed, "handle_subscribe");
        Subscribed::Automatic
    }
    fn handle_consumer_subscribe(&mut self, sub: SubId, _: &SubscribeOptions<u64>) -> Flow {
        self.probe.record(Cb::ConsumerSubscribe(sub));
        maybe_panic(self.panic_in, self.armed, "handle_consumer_subscribe");
        Flow::Continue
    }
    fn handle_cancel(&mut self, how: Cancellation, sub: SubId, _: &mut Relay<'_, u64>) -> Flow {
        self.probe.record(Cb::Cancel(how, sub));
        maybe_panic(self.panic_in, self.armed, "handle_cancel");
        Flow::Continue
    }
    fn handle_info(&mut self, msg: Msg, out: &mut Relay<'_, u64>) -> Flow {
        self.probe.record(Cb::Info(msg.clone()));
        maybe_panic(self.panic_in, self.armed, "handle_info");
        if let Msg::Emit(events) = msg {
            let _ = out.extend(events);
        }
        Flow::Continue
    }
    fn handle_call(&mut self, msg: Msg, reply: &mut Reply<Msg>, out: &mut Relay<'_, u64>) -> Flow {
        self.probe.record(Cb::Call(msg.clone()));
        if msg == ARM {
            self.armed = true;
            reply.reply(Msg::Ok);
            return Flow::Continue;
        }
        maybe_panic(self.panic_in, self.armed, "handle_call");
        call(msg, reply, out, None)
    }
    fn format_discarded(&mut self, count: usize) -> bool {
        self.probe.record(Cb::Discarded(count));
        maybe_panic(self.panic_in, self.armed, "format_discarded");
        true
    }
}

// ----- spawning on a test's own runtime -----

pub type P = ProducerHandle<u64, Msg>;
pub type Pc = ProducerConsumerHandle<u64, u64, Msg>;
pub type C = ConsumerHandle<u64, Msg>;

pub fn producer(rt: &Runtime, b: TestProducer) -> P {
    rt.spawn_producer(b, ProducerOptions::new())
        .expect("valid options")
}

pub fn producer_with(rt: &Runtime, b: TestProducer, opts: ProducerOptions) -> P {
    rt.spawn_producer(b, opts).expect("valid options")
}

pub fn producer_consumer(rt: &Runtime, b: TestPc) -> Pc {
    rt.spawn_producer_consumer(b, ProducerOptions::new())
        .expect("valid options")
}

pub fn consumer(rt: &Runtime, b: TestConsumer) -> C {
    rt.spawn_consumer(b)
}

/// A call that must be answered `Ok`: also proves the stage is alive and has handled every
/// input queued before it.
#[track_caller]
pub fn ping<K: threads::kind::Kind, I: Send + 'static, O: Send + 'static>(
    h: &threads::Handle<K, I, O, Msg>,
) {
    assert_eq!(h.call(Msg::Info("ping"), PATIENCE), Ok(Msg::Ok));
}

/// Waits for `h` to stop; panics after [`PATIENCE`].
#[track_caller]
pub fn joined<K: threads::kind::Kind, I: Send + 'static, O: Send + 'static, M: Send + 'static>(
    h: &threads::Handle<K, I, O, M>,
) -> Reason {
    h.join_timeout(PATIENCE)
        .unwrap_or_else(|| panic!("{h:?} did not stop"))
}

/// Waits for every thread of `rt` to end; panics after [`PATIENCE`].
#[track_caller]
pub fn all_joined(rt: &Runtime) {
    assert!(
        rt.wait_timeout(PATIENCE),
        "{} threads still live",
        rt.live()
    );
    assert_eq!(rt.live(), 0);
}
