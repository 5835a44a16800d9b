//! Arbitrary operation sequences fed to one stage of each kind, driven directly through the
//! one driving surface with a recording outbox: no input may panic the core.

use arbitrary::{Arbitrary, Unstructured};
use genstage::dispatcher::{BroadcastDispatcher, DemandDispatcher, PartitionDispatcher};
use genstage::runtime::*;
use genstage::storage::Heap;
use genstage::*;

/// A producer emitting a bounded number of events per demand.
pub struct Gen(u64);
impl Producer<u8> for Gen {
    type Event = u64;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
        let n = demand.min(64) as u64;
        self.0 += out.extend(self.0..self.0 + n) as u64;
        Flow::Continue
    }
}

/// An identity producer_consumer.
pub struct Id;
impl ProducerConsumer<u8> for Id {
    type In = u64;
    type Out = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, out: &mut Relay<'_, u64>) -> Flow {
        let _ = out.extend(events);
        Flow::Continue
    }
}

/// A consumer that stops when it sees 13.
pub struct Sink;
impl Consumer<u8> for Sink {
    type Event = u64;
    fn handle_events(&mut self, events: Batch<'_, u64>, _: &mut Ctx<'_>) -> Flow {
        if events.into_iter().any(|e| e == 13) {
            Flow::Stop(Reason::Custom("thirteen"))
        } else {
            Flow::Continue
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum R {
    Normal,
    Shutdown,
    Killed,
    NoProc,
    Custom,
    Panicked,
}

impl R {
    fn reason(self) -> Reason {
        match self {
            Self::Normal => Reason::Normal,
            Self::Shutdown => Reason::Shutdown,
            Self::Killed => Reason::Killed,
            Self::NoProc => Reason::NoProc,
            Self::Custom => Reason::Custom("fuzz"),
            Self::Panicked => Reason::Panicked,
        }
    }
}

/// A subscription id in a small space, so that known, unknown and stale ids all occur.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct S {
    producer: u8,
    consumer: u8,
    seq: u8,
}

impl S {
    fn id(self) -> SubId {
        SubId::new(
            StageId(u32::from(self.producer % 4)),
            StageId(u32::from(self.consumer % 4)),
            u32::from(self.seq % 4),
        )
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Demand {
    Zero,
    One,
    Small(u8),
    Max,
    Any(usize),
}

impl Demand {
    fn n(self) -> usize {
        match self {
            Self::Zero => 0,
            Self::One => 1,
            Self::Small(n) => n as usize,
            Self::Max => usize::MAX,
            Self::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Opts {
    max: Demand,
    min: Option<Demand>,
    cancel: u8,
    partition: Option<u8>,
    selector: bool,
}

fn even(e: &u64) -> bool {
    e.is_multiple_of(2)
}

impl Opts {
    fn build(&self) -> Subscribe<u64> {
        let mut s = Subscribe::new()
            .max_demand(self.max.n())
            .cancel(match self.cancel % 3 {
                0 => CancelMode::Permanent,
                1 => CancelMode::Transient,
                _ => CancelMode::Temporary,
            });
        if let Some(m) = self.min {
            s = s.min_demand(m.n());
        }
        if let Some(p) = self.partition {
            s = s.partition(p as usize % 4);
        }
        if self.selector {
            s = s.selector(even);
        }
        s
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    // Messages from outside, as a runtime would deliver them.
    Subscribe {
        sub: S,
        previous: Option<(S, R)>,
        opts: Opts,
    },
    Ask {
        sub: S,
        demand: Demand,
    },
    CancelFromConsumer {
        sub: S,
        reason: R,
    },
    Events {
        sub: S,
        n: u8,
        start: u64,
    },
    CancelFromProducer {
        sub: S,
        reason: R,
    },
    Down {
        stage: u8,
        reason: R,
    },
    Info(u8),
    Call(u8),
    Stop(R),
    // A consumer-role stage's own commands.
    OwnSubscribe {
        producer: u8,
        opts: Opts,
    },
    OwnResubscribe {
        old: S,
        reason: R,
        producer: u8,
        opts: Opts,
    },
    OwnAsk {
        sub: S,
        demand: Demand,
    },
    OwnCancel {
        sub: S,
        reason: R,
    },
    // A producer's demand mode.
    DemandMode(bool),
}

#[derive(Arbitrary, Debug)]
pub struct Input {
    kind: u8,
    ops: Vec<Op>,
}

/// The outbox every fuzzed stage writes to.
pub type Rec = Recorder<u64, u64, u8>;

/// A stage's own commands (consumer-role commands, demand modes).
pub type Own<'a, T> = &'a mut dyn FnMut(&mut T, &Op, &mut Rec);

fn drive<T: Stage<In = u64, Out = u64, Msg = u8>>(
    stage: &mut T,
    op: &Op,
    out: &mut Rec,
    own: Own<'_, T>,
) {
    match op {
        Op::Subscribe {
            sub,
            previous,
            opts,
        } => {
            if let Ok(opts) = opts.build().validate() {
                let msg = ToProducer::Subscribe {
                    sub: sub.id(),
                    previous: previous.map(|(s, r)| (s.id(), r.reason())),
                    opts,
                };
                stage.handle_to_producer(msg, out);
            }
        }
        Op::Ask { sub, demand } => stage.handle_to_producer(
            ToProducer::Ask {
                sub: sub.id(),
                demand: demand.n(),
            },
            out,
        ),
        Op::CancelFromConsumer { sub, reason } => stage.handle_to_producer(
            ToProducer::Cancel {
                sub: sub.id(),
                reason: reason.reason(),
            },
            out,
        ),
        Op::Events { sub, n, start } => {
            let start = *start % (1 << 40);
            let events: Vec<u64> = (start..start + u64::from(*n)).collect();
            stage.handle_events(sub.id(), events, out);
        }
        Op::CancelFromProducer { sub, reason } => stage.handle_to_consumer(
            ToConsumer::Cancel {
                sub: sub.id(),
                reason: reason.reason(),
            },
            out,
        ),
        Op::Down { stage: s, reason } => {
            stage.handle_down(StageId(u32::from(*s % 6)), reason.reason(), out)
        }
        Op::Info(m) => {
            let _ = stage.info(*m, out);
        }
        Op::Call(m) => {
            let _ = stage.call(*m, out);
        }
        Op::Stop(r) => stage.stop(r.reason(), out),
        _ => own(stage, op, out),
    }
}

fn consumer_role<T: ConsumerRole<In = u64, Out = u64, Msg = u8>>(
    stage: &mut T,
    op: &Op,
    out: &mut Recorder<u64, u64, u8>,
) {
    let pid = |p: &u8| StageId(u32::from(*p % 4));
    match op {
        Op::OwnSubscribe { producer, opts } => {
            let _ = stage.subscribe(pid(producer), opts.build(), out);
        }
        Op::OwnResubscribe {
            old,
            reason,
            producer,
            opts,
        } => {
            let _ = stage.resubscribe(old.id(), reason.reason(), pid(producer), opts.build(), out);
        }
        Op::OwnAsk { sub, demand } => {
            let _ = stage.ask(sub.id(), demand.n(), out);
        }
        Op::OwnCancel { sub, reason } => {
            let _ = stage.cancel(sub.id(), reason.reason(), out);
        }
        _ => {}
    }
}

fn hash(e: u64) -> Option<(u64, usize)> {
    match e % 7 {
        6 => None,
        5 => Some((e, 9)),
        k => Some((e, k as usize % 4)),
    }
}

fn check<T: Stage>(stage: &T) {
    // Counters never go backwards into nonsense: what went out was emitted.
    let s = stage.summary();
    let _ = (s.buffered, s.held, s.queued, s.outstanding);
}

/// Runs one input; panics only if the core does.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let me = StageId(1);
    let mut out: Recorder<u64, u64, u8> = Recorder::new();
    let opts = ProducerOptions::new().buffer_size(1 + (input.kind as usize >> 3) % 40);
    macro_rules! go {
        ($stage:expr, $own:expr) => {{
            let mut st = $stage;
            for op in &input.ops {
                drive(&mut st, op, &mut out, $own);
                let _ = out.take();
                check(&st);
            }
        }};
    }
    let producer_ops = |st: &mut ProducerStage<Gen, u8, Heap, DemandDispatcher<Heap>>,
                        op: &Op,
                        out: &mut Recorder<u64, u64, u8>| {
        if let Op::DemandMode(acc) = op {
            let m = if *acc {
                DemandMode::Accumulate
            } else {
                DemandMode::Forward
            };
            st.set_demand_mode(m, out);
        }
    };
    match input.kind % 6 {
        0 => go!(
            ProducerStage::with_dispatcher(me, Gen(0), opts, DemandDispatcher::new()).unwrap(),
            &mut { producer_ops }
        ),
        1 => go!(
            ProducerStage::<Gen, u8, Heap, _>::with_dispatcher(
                me,
                Gen(0),
                opts,
                BroadcastDispatcher::new()
            )
            .unwrap(),
            &mut |st: &mut ProducerStage<Gen, u8, Heap, BroadcastDispatcher<u64, Heap>>,
                  op,
                  out| {
                if let Op::DemandMode(acc) = op {
                    let m = if *acc {
                        DemandMode::Accumulate
                    } else {
                        DemandMode::Forward
                    };
                    st.set_demand_mode(m, out);
                }
            }
        ),
        2 => go!(
            ProducerStage::<Gen, u8, Heap, _>::with_dispatcher(
                me,
                Gen(0),
                opts,
                PartitionDispatcher::new(1 + (input.kind as usize >> 4) % 4, hash).unwrap()
            )
            .unwrap(),
            &mut |_: &mut ProducerStage<Gen, u8, Heap, PartitionDispatcher<u64, Heap>>, _, _| {}
        ),
        3 => go!(
            ProducerConsumerStage::<Id, u8, Heap, _>::with_dispatcher(
                me,
                Id,
                opts,
                DemandDispatcher::<Heap>::new()
            )
            .unwrap(),
            &mut consumer_role
        ),
        4 => go!(
            ProducerConsumerStage::<Id, u8, Heap, _>::with_dispatcher(
                me,
                Id,
                opts,
                BroadcastDispatcher::<u64, Heap>::new()
            )
            .unwrap(),
            &mut consumer_role
        ),
        _ => go!(
            ConsumerStage::<Sink, u8, Heap>::new(me, Sink),
            &mut consumer_role
        ),
    }
}
