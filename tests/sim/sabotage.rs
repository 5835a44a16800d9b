//! A test-only stage wrapper that breaks one rule on purpose, to prove the oracles catch it.

use genstage::error::{AskError, SubscribeError};
use genstage::runtime::*;
use genstage::{Reason, SubId, Subscribe};

/// The rule to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Break nothing: the honest stage behind the same wrapper.
    None,
    /// Pass every ask on with one more: the producer sends one event too many.
    AskOneMore,
    /// Drop the last event of the first batch of two or more.
    DropOne,
    /// Swap the first two events of the first batch of two or more.
    Swap,
    /// Never tell the stage a producer cancelled: later events reach user code.
    IgnoreCancelFromProducer,
    /// Never tell the producer its consumer cancelled: it keeps serving.
    IgnoreCancelFromConsumer,
    /// Count one event out more than it sent.
    MiscountOut,
    /// Forget the events its dispatcher discarded (those every broadcast selector rejects).
    ForgetDispatcherDiscards,
    /// Take an info as a call: its callback runs at once, ahead of what the stage holds.
    InfoAsCall,
}

/// `inner`, breaking `rule`.
pub struct Sabotage<S: Stage> {
    pub inner: S,
    pub rule: Rule,
    armed: bool,
    stats: StageStats,
}

impl<S: Stage> Sabotage<S> {
    pub fn new(inner: S, rule: Rule) -> Self {
        let stats = *inner.stats();
        Self {
            inner,
            rule,
            armed: true,
            stats,
        }
    }
}

struct Tamper<'a, O> {
    out: &'a mut O,
    rule: Rule,
    armed: &'a mut bool,
}

impl<In, Out, M, O: Outbox<In, Out, M>> Outbox<In, Out, M> for Tamper<'_, O> {
    fn push(&mut self, output: Output<In, M>) {
        self.out.push(output);
    }
    fn events<I: ExactSizeIterator<Item = Out>>(&mut self, sub: SubId, events: I) {
        let n = events.len();
        if *self.armed && n >= 2 {
            match self.rule {
                Rule::DropOne => {
                    *self.armed = false;
                    let mut v: Vec<Out> = events.collect();
                    v.pop();
                    return self.out.events(sub, v.into_iter());
                }
                Rule::Swap => {
                    *self.armed = false;
                    let mut v: Vec<Out> = events.collect();
                    v.swap(0, 1);
                    return self.out.events(sub, v.into_iter());
                }
                _ => {}
            }
        }
        self.out.events(sub, events)
    }
}

macro_rules! tampered {
    ($self:ident, $out:ident, |$o:ident| $body:expr) => {{
        let $o = &mut Tamper {
            out: $out,
            rule: $self.rule,
            armed: &mut $self.armed,
        };
        $body
    }};
}

impl<S: Stage> Stage for Sabotage<S> {
    type In = S::In;
    type Out = S::Out;
    type Msg = S::Msg;
    fn id(&self) -> StageId {
        self.inner.id()
    }
    fn kind(&self) -> StageKind {
        self.inner.kind()
    }
    fn stopped(&self) -> Option<Reason> {
        self.inner.stopped()
    }
    fn stats(&self) -> &StageStats {
        &self.stats
    }
    fn summary(&self) -> StageSummary {
        let mut s = self.inner.summary();
        s.stats = self.stats;
        s
    }
    fn handle_to_producer<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        msg: ToProducer<S::Out>,
        out: &mut O,
    ) {
        let msg = match (self.rule, msg) {
            (Rule::AskOneMore, ToProducer::Ask { sub, demand }) => ToProducer::Ask {
                sub,
                demand: demand + 1,
            },
            (Rule::IgnoreCancelFromConsumer, ToProducer::Cancel { .. }) => return,
            (_, msg) => msg,
        };
        tampered!(self, out, |o| self.inner.handle_to_producer(msg, o));
        self.sync();
    }
    fn handle_to_consumer<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        msg: ToConsumer,
        out: &mut O,
    ) {
        if self.rule == Rule::IgnoreCancelFromProducer {
            return;
        }
        tampered!(self, out, |o| self.inner.handle_to_consumer(msg, o));
        self.sync();
    }
    fn handle_events<I, O>(&mut self, sub: SubId, events: I, out: &mut O)
    where
        I: IntoIterator<Item = S::In>,
        I::IntoIter: ExactSizeIterator,
        O: Outbox<S::In, S::Out, S::Msg>,
    {
        tampered!(self, out, |o| self.inner.handle_events(sub, events, o));
        self.sync();
    }
    fn handle_down<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        tampered!(self, out, |o| self.inner.handle_down(stage, reason, o));
        self.sync();
    }
    fn info<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        msg: S::Msg,
        out: &mut O,
    ) -> Result<(), SendError<S::Msg>> {
        let r = if self.rule == Rule::InfoAsCall {
            tampered!(self, out, |o| self.inner.call(msg, o))
        } else {
            tampered!(self, out, |o| self.inner.info(msg, o))
        };
        self.sync();
        r
    }
    fn call<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        request: S::Msg,
        out: &mut O,
    ) -> Result<(), SendError<S::Msg>> {
        let r = tampered!(self, out, |o| self.inner.call(request, o));
        self.sync();
        r
    }
    fn stop<O: Outbox<S::In, S::Out, S::Msg>>(&mut self, reason: Reason, out: &mut O) {
        tampered!(self, out, |o| self.inner.stop(reason, o));
        self.sync();
    }
    fn set_now(&mut self, now: u64) {
        self.inner.set_now(now);
    }
    fn now(&self) -> u64 {
        self.inner.now()
    }
}

impl<S: Stage> Sabotage<S> {
    /// Copies the inner counters, lying about `events_out` once it is non-zero when asked.
    pub fn sync(&mut self) {
        self.stats = *self.inner.stats();
        if self.rule == Rule::MiscountOut && self.stats.events_out > 0 {
            self.stats.events_out += 1;
        }
        if self.rule == Rule::ForgetDispatcherDiscards {
            self.stats.discarded.dispatcher = 0;
        }
    }
}

impl<S: ProducerRole> ProducerRole for Sabotage<S> {}

impl<S: ConsumerRole> ConsumerRole for Sabotage<S> {
    fn subscribe<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<S::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        let r = self.inner.subscribe(producer, opts, out);
        self.sync();
        r
    }
    fn resubscribe<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<S::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        let r = self.inner.resubscribe(old, reason, producer, opts, out);
        self.sync();
        r
    }
    fn ask<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        let r = self.inner.ask(sub, demand, out);
        self.sync();
        r
    }
    fn cancel<O: Outbox<S::In, S::Out, S::Msg>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        let r = self.inner.cancel(sub, reason, out);
        self.sync();
        r
    }
}
