//! [`Dispatch`]: the three built-in dispatchers behind one type, the stages' default.
//!
//! A stage type names its dispatcher as a type parameter, so that custom dispatchers cost
//! nothing. The default, `Dispatch<E, S>`, holds any of the three built-in ones, chosen when
//! the stage is built: `ProducerStage<B>` is a producer whatever built-in dispatcher it uses.
//!
//! ```
//! use genstage::dispatcher::Dispatch;
//! use genstage::*;
//!
//! struct Numbers(u64);
//! impl Producer for Numbers {
//!     type Event = u64;
//!     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
//!         self.0 += out.extend(self.0..self.0 + demand as u64) as u64;
//!         Flow::Continue
//!     }
//! }
//!
//! // Three producers of one type, with three dispatchers.
//! let opts = ProducerOptions::new();
//! let demand: ProducerStage<Numbers> = ProducerStage::new(StageId(0), Numbers(0), opts).unwrap();
//! let broadcast: ProducerStage<Numbers> =
//!     ProducerStage::with_dispatcher(StageId(1), Numbers(0), opts, Dispatch::broadcast()).unwrap();
//! let by_key = Dispatch::partition_by_key(4).unwrap();
//! let partition: ProducerStage<Numbers> =
//!     ProducerStage::with_dispatcher(StageId(2), Numbers(0), opts, by_key).unwrap();
//! assert!(demand.dispatcher().as_demand().is_some());
//! assert!(broadcast.dispatcher().as_broadcast().is_some());
//! assert_eq!(partition.dispatcher().as_partition().map(|p| p.partitions()), Some(4));
//! ```

#[cfg(not(feature = "alloc"))]
use super::partition::HashFn;
use super::partition::{PartitionHash, PartitionsError};
use super::{
    BroadcastDispatcher, DemandDispatcher, DispatchContext, Dispatcher, PartitionDispatcher,
};
use crate::id::{MarkerId, SubId};
use crate::options::SubscribeOptions;
use crate::reason::Reason;
use crate::storage::{DefaultStorage, Deque, Storage};

/// One of the three built-in dispatchers. See the [module docs](self). The constructors
/// (`demand`, `broadcast`, `partition`, `partition_by_key`) build it on the default storage;
/// on another, build the dispatcher and convert it (`BroadcastDispatcher::new().into()`).
pub enum Dispatch<E, S: Storage = DefaultStorage> {
    /// Each event to the consumer with the most demand (the default).
    Demand(DemandDispatcher<S>),
    /// Every event to every consumer whose selector accepts it.
    Broadcast(BroadcastDispatcher<E, S>),
    /// Each event to the consumer of its partition.
    Partition(PartitionDispatcher<E, S>),
}

impl<E, S: Storage> Default for Dispatch<E, S> {
    fn default() -> Self {
        Self::Demand(DemandDispatcher::default())
    }
}

impl<E> Dispatch<E> {
    /// The demand dispatcher with default options.
    pub fn demand() -> Self {
        Self::default()
    }
    /// The broadcast dispatcher (every consumer gets its own copy of each event).
    pub fn broadcast() -> Self
    where
        E: Clone,
    {
        Self::Broadcast(BroadcastDispatcher::new())
    }
    /// The partition dispatcher with `partitions` partitions and a hash of your own.
    #[cfg(not(feature = "alloc"))]
    pub fn partition(partitions: usize, hash: HashFn<E>) -> Result<Self, PartitionsError> {
        PartitionDispatcher::new(partitions, hash).map(Self::Partition)
    }
    /// The partition dispatcher with `partitions` partitions and a hash of your own (any
    /// closure).
    #[cfg(feature = "alloc")]
    pub fn partition<F>(partitions: usize, hash: F) -> Result<Self, PartitionsError>
    where
        F: Fn(E) -> Option<(E, usize)> + Send + Sync + 'static,
    {
        PartitionDispatcher::new(partitions, hash).map(Self::Partition)
    }
    /// The partition dispatcher with `partitions` partitions and the default hash.
    pub fn partition_by_key(partitions: usize) -> Result<Self, PartitionsError>
    where
        E: PartitionHash,
    {
        PartitionDispatcher::with_default_hash(partitions).map(Self::Partition)
    }
}

impl<E, S: Storage> Dispatch<E, S> {
    /// The demand dispatcher, if that is the one.
    pub fn as_demand(&self) -> Option<&DemandDispatcher<S>> {
        match self {
            Self::Demand(d) => Some(d),
            _ => None,
        }
    }
    /// The broadcast dispatcher, if that is the one.
    pub fn as_broadcast(&self) -> Option<&BroadcastDispatcher<E, S>> {
        match self {
            Self::Broadcast(d) => Some(d),
            _ => None,
        }
    }
    /// The partition dispatcher, if that is the one.
    pub fn as_partition(&self) -> Option<&PartitionDispatcher<E, S>> {
        match self {
            Self::Partition(d) => Some(d),
            _ => None,
        }
    }
}

impl<E, S: Storage> From<DemandDispatcher<S>> for Dispatch<E, S> {
    fn from(d: DemandDispatcher<S>) -> Self {
        Self::Demand(d)
    }
}
impl<E, S: Storage> From<BroadcastDispatcher<E, S>> for Dispatch<E, S> {
    fn from(d: BroadcastDispatcher<E, S>) -> Self {
        Self::Broadcast(d)
    }
}
impl<E, S: Storage> From<PartitionDispatcher<E, S>> for Dispatch<E, S> {
    fn from(d: PartitionDispatcher<E, S>) -> Self {
        Self::Partition(d)
    }
}

macro_rules! each {
    ($self:expr, |$d:ident| $body:expr) => {
        match $self {
            Dispatch::Demand($d) => $body,
            Dispatch::Broadcast($d) => $body,
            Dispatch::Partition($d) => $body,
        }
    };
}

impl<E, S: Storage> Dispatcher<E> for Dispatch<E, S> {
    fn subscribe<C: DispatchContext<E>>(
        &mut self,
        sub: SubId,
        opts: &SubscribeOptions<E>,
        ctx: &mut C,
    ) -> Result<usize, Reason> {
        each!(self, |d| d.subscribe(sub, opts, ctx))
    }
    fn ask<C: DispatchContext<E>>(&mut self, sub: SubId, demand: usize, ctx: &mut C) -> usize {
        each!(self, |d| d.ask(sub, demand, ctx))
    }
    fn cancel<C: DispatchContext<E>>(&mut self, sub: SubId, ctx: &mut C) -> usize {
        each!(self, |d| d.cancel(sub, ctx))
    }
    fn dispatch<Q: Deque<E>, C: DispatchContext<E>>(&mut self, events: &mut Q, ctx: &mut C) {
        each!(self, |d| d.dispatch(events, ctx))
    }
    fn ready(&self) -> usize {
        each!(self, |d| Dispatcher::<E>::ready(d))
    }
    fn info<C: DispatchContext<E>>(&mut self, marker: MarkerId, ctx: &mut C) {
        each!(self, |d| d.info(marker, ctx))
    }
    fn refused<C: DispatchContext<E>>(&mut self, sub: SubId, reason: Reason, ctx: &mut C) {
        each!(self, |d| d.refused(sub, reason, ctx))
    }
    fn held(&self) -> usize {
        each!(self, |d| Dispatcher::<E>::held(d))
    }
    fn discard_held<C: DispatchContext<E>>(&mut self, ctx: &mut C) {
        each!(self, |d| d.discard_held(ctx))
    }
}
