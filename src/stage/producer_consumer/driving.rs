//! The producer_consumer's driving surface ([`Stage`], [`ConsumerRole`], [`ProducerRole`])
//! and the role flows it plugs into.

use super::*;
use crate::callbacks::Ctx;

impl<B, M, S, D> DownstreamFlows<B::In, M> for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
    type Out = B::Out;
    type D = D;
    type S = S;

    fn parts(&mut self) -> Parts<'_, B::Out, M, D, S> {
        Parts {
            side: &mut self.down,
            stats: &mut self.stats,
        }
    }
    fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }
    fn apply_flow<O: Outbox<B::In, B::Out, M>>(&mut self, flow: Flow, out: &mut O) {
        self.apply(flow, out);
    }
    fn subscribed(&mut self, sub: SubId, opts: &SubscribeOptions<B::Out>) -> Flow {
        self.behaviour.handle_consumer_subscribe(sub, opts)
    }
    fn cancelled<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        how: Cancellation,
        sub: SubId,
        out: &mut O,
    ) -> Flow {
        self.emitting(out, |b, e| b.handle_cancel(how, sub, e)).0
    }
    fn demand<O: Outbox<B::In, B::Out, M>>(&mut self, u: usize, out: &mut O) {
        Self::demand(self, u, out);
    }
}

impl<B, M, S, D> UpstreamFlows<B::In, B::Out, M> for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
    type S = S;
    fn upstream(&mut self) -> UpParts<'_, S> {
        UpParts {
            side: &mut self.up,
            stats: &mut self.stats,
        }
    }
    fn has_stopped(&self) -> bool {
        self.stopped.is_some()
    }
    fn halt_upstream<O: Outbox<B::In, B::Out, M>>(&mut self, reason: Reason, out: &mut O) {
        self.halt(reason, out);
    }
    fn subscribed_to<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<B::In>,
        out: &mut O,
    ) -> Subscribed {
        let mut upc = UpCtx::new(&mut self.up, out, &mut self.stats);
        self.behaviour
            .handle_subscribe(sub, opts, &mut Ctx::new(&mut upc).at(self.now))
    }
}

impl<B, M, S, D> Stage for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
    type In = B::In;
    type Out = B::Out;
    type Msg = M;

    fn id(&self) -> StageId {
        self.up.me
    }
    fn kind(&self) -> StageKind {
        StageKind::ProducerConsumer
    }
    fn stopped(&self) -> Option<Reason> {
        self.stopped
    }
    fn stats(&self) -> &StageStats {
        &self.stats
    }
    fn holding(&self) -> usize {
        self.down.buffer.len() + self.down.dispatcher.held() + self.inbox.len()
    }
    fn summary(&self) -> StageSummary {
        StageSummary {
            id: self.up.me,
            kind: StageKind::ProducerConsumer,
            stopped: self.stopped,
            draining: self.draining(),
            buffered: self.down.buffer.len(),
            held: self.down.dispatcher.held(),
            queued: self.inbox.len(),
            outstanding: self
                .up
                .subs
                .as_slice()
                .iter()
                .map(|s| s.stats.outstanding as usize)
                .fold(0, usize::saturating_add),
            stats: self.stats,
        }
    }
    fn handle_to_producer<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        msg: ToProducer<B::Out>,
        out: &mut O,
    ) {
        self.on_to_producer(msg, out);
    }
    fn handle_to_consumer<O: Outbox<B::In, B::Out, M>>(&mut self, msg: ToConsumer, out: &mut O) {
        self.on_to_consumer(msg, out);
    }
    fn handle_events<I, O>(&mut self, sub: SubId, events: I, out: &mut O)
    where
        I: IntoIterator<Item = B::In>,
        I::IntoIter: ExactSizeIterator,
        O: Outbox<B::In, B::Out, M>,
    {
        self.on_events(sub, FromIter(events.into_iter()), out);
    }
    #[cfg(feature = "alloc")]
    fn handle_events_buffer<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        events: &mut alloc::vec::Vec<B::In>,
        out: &mut O,
    ) {
        self.on_events(sub, &mut *events, out);
        // What was not taken (a stopped stage, an unknown subscription) is counted: the
        // buffer goes back empty.
        events.clear();
    }
    fn handle_down<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        stage: StageId,
        reason: Reason,
        out: &mut O,
    ) {
        self.on_down(stage, reason, out);
    }
    fn info<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        msg: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        self.on_info(msg, out)
    }
    fn call<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        request: M,
        out: &mut O,
    ) -> Result<(), SendError<M>> {
        self.on_call(request, out)
    }
    fn stop<O: Outbox<B::In, B::Out, M>>(&mut self, reason: Reason, out: &mut O) {
        self.halt(reason, out);
    }
    fn set_now(&mut self, now: u64) {
        self.now = now;
    }
    fn now(&self) -> u64 {
        self.now
    }
}

impl<B, M, S, D> ProducerRole for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
}

impl<B, M, S, D> ConsumerRole for ProducerConsumerStage<B, M, S, D>
where
    B: ProducerConsumer<M>,
    S: Storage,
    D: Dispatcher<B::Out>,
{
    fn subscribe<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        producer: StageId,
        opts: Subscribe<B::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.on_subscribe(producer, opts, out)
    }
    fn resubscribe<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        old: SubId,
        reason: Reason,
        producer: StageId,
        opts: Subscribe<B::In>,
        out: &mut O,
    ) -> Result<SubId, SubscribeError> {
        self.on_resubscribe(old, reason, producer, opts, out)
    }
    fn ask<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        demand: usize,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.on_ask(sub, demand, out)
    }
    fn cancel<O: Outbox<B::In, B::Out, M>>(
        &mut self,
        sub: SubId,
        reason: Reason,
        out: &mut O,
    ) -> Result<(), AskError> {
        self.on_cancel(sub, reason, out)
    }
}
