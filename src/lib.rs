//! # genstage
//!
//! Demand-driven pipelines with back-pressure: Elixir's GenStage as a pure, synchronous,
//! deterministic state machine. Producers make events only when consumers ask for them, so a
//! fast stage never drowns a slow one.
//!
//! The core is `#![no_std]` and runs without an allocator ([`storage::Fixed`]); with the
//! `alloc` feature its containers grow ([`storage::Heap`]). It never spawns, sleeps, locks,
//! reads a clock or does I/O. Runtimes move its messages: the single-threaded simulator
//! (`sim` feature, module `sim`) is the one in this crate today.
//!
//! ## The three kinds of stage
//!
//! A user implements one small trait — [`Producer`], [`ProducerConsumer`] or [`Consumer`] — and
//! the core wraps it in a state machine — [`ProducerStage`], [`ProducerConsumerStage`] or
//! [`ConsumerStage`] — that runs the whole protocol: subscriptions, demand, buffering,
//! dispatch, cancellation.
//!
//! ## Driving a stage: the contract
//!
//! A stage is **sans-IO**, and every kind is driven through one trait, [`Stage`]. Everything it
//! learns comes in through one of its methods:
//!
//! | input | method |
//! |---|---|
//! | a message from a consumer-role stage ([`ToProducer`]: subscribe, ask, cancel) | [`Stage::handle_to_producer`] |
//! | a batch of events from a producer | [`Stage::handle_events`] (or, as a `Vec` whose buffer the stage may keep, `Stage::handle_events_buffer`) |
//! | a control message from a producer ([`ToConsumer`]: a cancel) | [`Stage::handle_to_consumer`] |
//! | a peer stage went down | [`Stage::handle_down`] |
//! | an info, a call | [`Stage::info`], [`Stage::call`] |
//! | a stop from outside (a kill, a shutdown) | [`Stage::stop`] |
//! | subscribe / resubscribe / ask / cancel (a consumer-role stage's own commands) | [`ConsumerRole`] |
//! | demand mode (producers) | `ProducerStage::set_demand_mode` |
//!
//! A message of the wrong kind (a `ToProducer` for a consumer, events for a producer) is
//! reported as [`Report::WrongKind`], never a panic. So a runtime routes any stage generically:
//! one input in, its outputs routed, repeat.
//!
//! Everything it wants done goes out, **in order, before the call returns**, through the
//! [`Outbox`] passed to that call: messages for other stages ([`Output::ToProducer`],
//! [`Output::ToConsumer`], and event batches through [`Outbox::events`]), a reply, its decision to
//! stop ([`Output::Stop`]), and reports worth logging ([`Output::Report`]: discards, excess
//! events, protocol errors). The outbox is typed by the stage
//! (`Outbox<Self::In, Self::Out, Self::Msg>`), so a caller never names a type the stage does
//! not use. A runtime's whole job is to deliver each output to the stage it names, one input
//! at a time per stage; when a stage outputs `Stop`, the runtime calls `handle_down` on its
//! peers.
//!
//! Each call does a bounded amount of protocol work plus the user callbacks it triggers, and
//! the same calls in the same order give the same outputs, byte for byte.
//!
//! (A note on the design: outputs go to a caller-provided [`Outbox`] rather than an internal
//! queue drained by `poll_*`. A fixed-capacity internal queue could not bound what one input
//! produces without dropping outputs; the outbox lets a no-alloc host route each output where it
//! belongs as it is produced, and with `alloc` a [`Recorder`] gives the queue-and-drain style.)
//!
//! ## A run loop
//!
//! Two stages and a hand-written loop that routes their outputs, which is all a runtime does:
//!
//! ```
//! use genstage::runtime::*;
//! use genstage::*;
//!
//! struct Counter(u64);
//! impl Producer for Counter {
//!     type Event = u64;
//!     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
//!         let taken = out.extend(self.0..self.0 + demand as u64);
//!         self.0 += taken as u64;
//!         Flow::Continue
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Sum(u64, usize);
//! impl Consumer for Sum {
//!     type Event = u64;
//!     fn handle_events(&mut self, events: Batch<'_, u64>, _ctx: &mut Ctx<'_>) -> Flow {
//!         self.1 += 1;
//!         self.0 += events.sum::<u64>();
//!         if self.1 == 10 { Flow::Stop(Reason::Normal) } else { Flow::Continue }
//!     }
//! }
//!
//! let mut producer: ProducerStage<Counter> =
//!     ProducerStage::new(StageId(1), Counter(0), ProducerOptions::default()).unwrap();
//! let mut consumer: ConsumerStage<Sum> = ConsumerStage::new(StageId(2), Sum::default());
//!
//! let mut to_p: Recorder<u64, u64> = Recorder::new(); // the consumer's outputs
//! let mut to_c: Recorder<u64, u64> = Recorder::new(); // the producer's outputs
//! consumer
//!     .subscribe(producer.id(), Subscribe::new().max_demand(10).min_demand(5), &mut to_p)
//!     .unwrap();
//!
//! // Route until idle.
//! while !to_p.is_empty() || !to_c.is_empty() {
//!     for r in to_p.take() {
//!         match r {
//!             Record::Output(Output::ToProducer(msg)) => producer.handle_to_producer(msg, &mut to_c),
//!             Record::Output(Output::Stop(reason)) => producer.handle_down(consumer.id(), reason, &mut to_c),
//!             _ => {}
//!         }
//!     }
//!     for r in to_c.take() {
//!         match r {
//!             Record::Events(sub, events) => consumer.handle_events(sub, events, &mut to_p),
//!             Record::Output(Output::ToConsumer(msg)) => consumer.handle_to_consumer(msg, &mut to_p),
//!             _ => {}
//!         }
//!     }
//! }
//! // Ten chunks of 5 events: 0 + 1 + ... + 49.
//! assert_eq!(consumer.behaviour().0, (0..50).sum::<u64>());
//! assert_eq!(consumer.stopped(), Some(Reason::Normal));
//! assert!(producer.consumers().next().is_none()); // the producer saw it go down
//! ```
//!
//! ## Where GenStage has quirks
//!
//! The port takes a documented stance on each quirk listed in the behaviour spec (§21); the
//! docs of the type concerned say which, and the conformance suite tests it. In short:
//! demand refills per chunk (Q1); cancel modes stop with the raw reason (Q2); `buffer_size` 0 is
//! rejected (Q3); info markers never count as buffered events and are released as soon as the
//! events before them are gone (Q4, Q17); an empty message calls no callback, manual or
//! automatic (Q5); a producer's dispatcher forgets a departing consumer before its
//! `handle_cancel` runs (Q6); an unknown-subscription cancel is ignored (Q8); orphaned
//! producer_consumer events keep their subscription id (Q9); infos are not held by accumulate
//! mode (Q10); calls a behaviour does not handle stop it with [`Reason::BadCall`] (Q11); a
//! subscribe runs the consumer's `handle_subscribe` before returning (Q14); the
//! [`BroadcastDispatcher`] sends no empty message when a selector rejects a whole dispatch but
//! still gives the demand back (Q12), refusing a duplicate subscription leaves the live one
//! alone (Q15), and events left over while nobody could take them pay down the demand in
//! flight and are asked back first, so no ask is lost (Q16); a producer_consumer reports its
//! demand mode as forward and refuses accumulate with a typed error (Q7); the
//! [`PartitionDispatcher`] refuses a missing, unknown or taken partition by cancelling only that
//! subscription, with a typed [`Refusal`] (Q13), and treats an empty queue and zero demand as
//! the same state, so an info with nothing ahead of it is delivered (Q18); events its hash
//! drops are counted and their demand goes back to the producer, so a finite pipeline does not
//! stall (Q19). The full table — what GenStage does, what genstage does, the test that pins
//! each — is `docs/behaviour.md` in the repository.
//!
//! ## Finite pipelines end, and nothing is lost without a count
//!
//! A producer ends cleanly with [`Flow::StopWhenDrained`]: it stops once every event it
//! emitted has been taken. Whatever a stage still holds when it stops any other way is counted
//! and reported ([`DiscardReason::Abandoned`] for output, [`DiscardReason::Stopped`] for input).
//! A producer_consumer's downstream counter falls once per event its dispatcher takes, however
//! many consumers get a copy (spec §16.2), and it handles no input while its output buffer
//! holds events. Options a dispatcher would ignore (a `selector` outside Broadcast, a
//! `partition` outside Partition) are refused with a typed [`Refusal`]; `info` and `call` to a
//! stopped stage hand the message back ([`SendError`]); an info the behaviour does not handle
//! is reported ([`Report::UnhandledInfo`]).
//!
//! Beyond the listed quirks, three places where GenStage can reorder or lose events are fixed,
//! each pinned by a property test: a producer serves its buffer to every consumer with
//! demand before newer events go out, even when the `DemandDispatcher`'s `pending` absorbed an
//! ask ([`Dispatcher::ready`]); leaving accumulate mode replays held events, events taken from
//! the buffer and new `handle_demand` output in emission order; and a producer_consumer whose
//! producer ended waits until its consumers have taken its output buffer before it stops.
//!
//! [`ToProducer`]: runtime::ToProducer
//! [`ToConsumer`]: runtime::ToConsumer
//! [`Outbox`]: runtime::Outbox
//! [`Outbox::events`]: runtime::Outbox::events
//! [`Output::ToProducer`]: runtime::Output::ToProducer
//! [`Output::ToConsumer`]: runtime::Output::ToConsumer
//! [`Output::Stop`]: runtime::Output::Stop
//! [`Output::Report`]: runtime::Output::Report
//! [`Report::WrongKind`]: runtime::Report::WrongKind
//! [`Report::UnhandledInfo`]: runtime::Report::UnhandledInfo
//! [`Recorder`]: runtime::Recorder
//! [`SendError`]: error::SendError
//! [`DiscardReason::Abandoned`]: runtime::DiscardReason::Abandoned
//! [`DiscardReason::Stopped`]: runtime::DiscardReason::Stopped
//! [`BroadcastDispatcher`]: dispatcher::BroadcastDispatcher
//! [`PartitionDispatcher`]: dispatcher::PartitionDispatcher
//! [`Dispatcher::ready`]: dispatcher::Dispatcher::ready
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    clippy::use_self,
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core,
    clippy::doc_markdown
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
// The adapters name the crate as an outside user does (`genstage::…`), so that the same
// sources compile unchanged as modules of another crate, where privacy holds (see .ci/run).
extern crate self as genstage;
#[cfg(feature = "std")]
extern crate std;

pub mod behaviour;
pub mod callbacks;
pub mod dispatcher;
pub mod error;
pub mod from_iter;
pub mod id;
pub mod message;
pub mod options;
pub mod reason;
#[cfg(feature = "alloc")]
mod recorder;
pub mod rng;
pub mod stage;
pub mod stats;
pub mod storage;

pub use stage::downstream::buffer;
pub use stage::upstream::demand;

#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
#[path = "../adapters/sim/mod.rs"]
pub mod sim;

#[cfg(feature = "std-threads")]
#[cfg_attr(docsrs, doc(cfg(feature = "std-threads")))]
#[path = "../adapters/threads/mod.rs"]
pub mod threads;

/// What a behaviour author needs: the three traits and what their callbacks take.
///
/// ```
/// use genstage::prelude::*;
///
/// struct Evens(u64);
/// impl Producer for Evens {
///     type Event = u64;
///     fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u64>) -> Flow {
///         let taken = out.extend((self.0..).step_by(2).take(demand));
///         self.0 += 2 * taken as u64;
///         Flow::Continue
///     }
/// }
/// ```
pub mod prelude {
    pub use crate::behaviour::{Consumer, Flow, Producer, ProducerConsumer, Subscribed};
    pub use crate::callbacks::{Batch, Ctx, Emit, Relay, Reply};
    pub use crate::id::SubId;
    pub use crate::options::{Subscribe, SubscribeOptions};
    pub use crate::reason::{Cancellation, Reason, Refusal};
}

/// What a runtime author needs: the stages and their one driving surface, the outbox and the
/// messages it carries, reports, counters and (with `alloc`) the recording outbox.
pub mod runtime {
    pub use crate::id::{MarkerId, StageId};
    pub use crate::message::{
        DiscardReason, Outbox, Output, Report, SendError, ToConsumer, ToProducer,
    };
    #[cfg(feature = "alloc")]
    pub use crate::recorder::{Record, Recorder};
    pub use crate::stage::consumer::ConsumerStage;
    pub use crate::stage::producer::ProducerStage;
    pub use crate::stage::producer_consumer::ProducerConsumerStage;
    pub use crate::stage::{ConsumerRole, ProducerRole, Stage, StageKind, StageSummary};
    pub use crate::stats::{Discards, StageStats, SubscriptionStats};
}

pub use from_iter::{FromIter, OnCancel};
pub use id::StageId;
pub use options::{DemandMode, Keep, ProducerOptions};
pub use prelude::*;
pub use reason::CancelMode;
pub use stage::{ConsumerRole, Stage};
pub use stage::{
    consumer::ConsumerStage, producer::ProducerStage, producer_consumer::ProducerConsumerStage,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
