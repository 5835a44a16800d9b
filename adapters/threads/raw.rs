//! [`RawPeer`]: a hand-played endpoint for tests, as GenStage's own tests use `self()`. It
//! has a stage id and a mailbox but no thread and no state machine: a test sends protocol
//! messages from it by hand and reads what the stages send it.

use super::handle::Handle;
use super::kind::{Downstream, Upstream};
use super::mailbox::Recv;
use super::shared::{DownPort, Input, Shared};
use super::sync::{self, Arc};
use core::marker::PhantomData;
use core::time::Duration;
use genstage::runtime::{ToConsumer, ToProducer};
use genstage::{Batch, Consumer, ConsumerStage, Ctx, Flow, Reason, StageId, SubId};
use std::collections::VecDeque;
use std::vec::Vec;

/// What a [`RawPeer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received<E> {
    /// A message for a producer (the peer played a producer).
    ToProducer(ToProducer<E>),
    /// A batch of events (the peer played a consumer).
    Events(SubId, Vec<E>),
    /// A producer's cancel.
    ToConsumer(ToConsumer),
    /// A stage it talked to went down.
    Down(StageId, Reason),
}

/// A test endpoint that plays a consumer or a producer of `E` by hand: it has a stage id and
/// a mailbox but no thread and no state machine.
pub struct RawPeer<E> {
    shared: Arc<Shared<E, E, ()>>,
    pending: VecDeque<Input<E, E, ()>>,
}

impl<E: Send + 'static> Default for RawPeer<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> RawPeer<E> {
    /// A peer with a fresh id.
    pub fn new() -> Self {
        let id = super::next_id();
        // A summary of nothing, from a consumer that holds nothing (the type is not
        // constructible outside the core).
        let summary =
            genstage::Stage::summary(&ConsumerStage::<Nobody<E>>::new(id, Nobody(PhantomData)));
        Self {
            shared: Arc::new(Shared::new(id, std::format!("raw-{}", id.0), summary)),
            pending: VecDeque::new(),
        }
    }

    /// Its id.
    pub fn id(&self) -> StageId {
        self.shared.id
    }

    /// Sends `msg` to `producer` as this peer's consumer side (a subscribe carries this peer's
    /// address, so the producer can answer). False when the producer has stopped.
    pub fn send_to_producer<K: Upstream, I: Send + 'static, M: Send + 'static>(
        &self,
        producer: &Handle<K, I, E, M>,
        msg: ToProducer<E>,
    ) -> bool {
        let from: Option<Arc<dyn DownPort<E>>> = match msg {
            ToProducer::Subscribe { .. } => Some(self.shared.clone()),
            _ => None,
        };
        producer.up_port().to_producer(msg, from, None)
    }

    /// Sends a batch on `sub` to `consumer` as if this peer were its producer. Events a
    /// stopped consumer never took are counted in its lost-in-flight counter.
    pub fn send_events<K: Downstream, O: Send + 'static, M: Send + 'static>(
        &self,
        consumer: &Handle<K, E, O, M>,
        sub: SubId,
        events: Vec<E>,
    ) -> bool {
        consumer.down_port().events(sub, events).is_ok()
    }

    /// Sends a producer's cancel to `consumer`.
    pub fn send_to_consumer<K: Downstream, O: Send + 'static, M: Send + 'static>(
        &self,
        consumer: &Handle<K, E, O, M>,
        msg: ToConsumer,
    ) -> bool {
        consumer.down_port().to_consumer(msg)
    }

    /// The next thing received, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Received<E>> {
        if self.pending.is_empty() {
            let deadline = sync::deadline(timeout);
            if self.shared.mailbox.recv_until(&mut self.pending, deadline) != Recv::Items {
                return None;
            }
        }
        Some(match self.pending.pop_front()? {
            Input::ToProducer { msg, .. } => Received::ToProducer(msg),
            Input::Events { sub, events } => Received::Events(sub, events),
            Input::ToConsumer(msg) => Received::ToConsumer(msg),
            Input::Down(id, reason) => Received::Down(id, reason),
            Input::Command(_) | Input::Spare(_) => return self.recv(timeout),
        })
    }
}

impl<E> core::fmt::Debug for RawPeer<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RawPeer({})", self.shared.id)
    }
}

/// A consumer that does nothing, for a summary of nothing.
struct Nobody<E>(PhantomData<fn(E)>);

impl<E> Consumer for Nobody<E> {
    type Event = E;
    fn handle_events(&mut self, _: Batch<'_, E>, _: &mut Ctx<'_>) -> Flow {
        Flow::Continue
    }
}
