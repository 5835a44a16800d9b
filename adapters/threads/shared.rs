//! What a stage thread shares with the rest of the process: its mailbox of [`Input`]s, its
//! published state (summary, exit, events lost in flight), and the typed **ports** its peers
//! send through ([`UpPort`] for a consumer sending to this producer, [`DownPort`] for a
//! producer sending to this consumer), all implemented by one [`Shared`] per stage.

use super::mailbox::Mailbox;
use super::reply::Sender;
use super::sync::{Arc, Condvar, Mutex};
use genstage::error::{AskError, OptionsError, SendError, SubscribeError};
use genstage::runtime::{StageSummary, SubscriptionStats, ToConsumer, ToProducer};
use genstage::{DemandMode, Reason, StageId, SubId, Subscribe};
use std::string::String;
use std::vec::Vec;

use super::CallError;

/// How a stage ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Why it stopped.
    pub reason: Reason,
    /// When a callback panicked ([`Reason::Panicked`]), the panic's message.
    pub panic: Option<String>,
}

/// A request from a handle, run on the stage's thread.
pub(super) enum Command<In, M> {
    Subscribe {
        producer: Arc<dyn UpPort<In>>,
        opts: Subscribe<In>,
        previous: Option<(SubId, Reason)>,
        reply: Option<Sender<Result<SubId, SubscribeError>>>,
    },
    Ask {
        sub: SubId,
        demand: usize,
        reply: Sender<Result<(), AskError>>,
    },
    Cancel {
        sub: SubId,
        reason: Reason,
        reply: Sender<Result<(), AskError>>,
    },
    Call {
        msg: M,
        reply: Sender<Result<M, CallError<M>>>,
    },
    Info {
        msg: M,
        reply: Option<Sender<Result<(), SendError<M>>>>,
    },
    Stop(Reason),
    DemandMode {
        mode: DemandMode,
        reply: Sender<Result<(), OptionsError>>,
    },
    SubscriptionStats {
        sub: SubId,
        reply: Sender<Option<SubscriptionStats>>,
    },
}

/// One item of a stage's mailbox.
pub(super) enum Input<In, Out, M> {
    /// From a consumer. A subscribe carries the consumer's port; an ask may bring back an
    /// emptied batch buffer for reuse.
    ToProducer {
        msg: ToProducer<Out>,
        from: Option<Arc<dyn DownPort<Out>>>,
        spare: Option<Vec<Out>>,
    },
    /// A batch of events from a producer.
    Events { sub: SubId, events: Vec<In> },
    /// An emptied batch buffer coming back from a consumer, for reuse (when more came back
    /// than its asks could carry).
    Spare(Vec<Out>),
    /// A control message from a producer.
    ToConsumer(ToConsumer),
    /// A peer stage went down.
    Down(StageId, Reason),
    /// A request from a handle.
    Command(Command<In, M>),
}

impl<In, Out, M> Input<In, Out, M> {
    /// Events it carries.
    pub(super) fn events_len(&self) -> usize {
        match self {
            Self::Events { events, .. } => events.len(),
            _ => 0,
        }
    }
}

/// Something that can be told a stage went down.
pub(super) trait Watch: Send + Sync {
    /// The watcher's address.
    fn id(&self) -> StageId;
    /// Stage `from` went down with `reason` (ignored once the watcher has stopped).
    fn down(&self, from: StageId, reason: Reason);
}

/// A producer-role stage as its consumers reach it: consumer → producer messages.
pub(super) trait UpPort<E>: Watch {
    /// Delivers `msg`; false when the stage has stopped (nothing was delivered).
    fn to_producer(
        &self,
        msg: ToProducer<E>,
        from: Option<Arc<dyn DownPort<E>>>,
        spare: Option<Vec<E>>,
    ) -> bool;
    /// Gives an emptied batch buffer back for reuse, without waking the stage: it finds it
    /// with its next input. Dropped when the stage has stopped.
    fn give_back(&self, spare: Vec<E>);
}

/// A consumer-role stage as its producers reach it: events and producer → consumer messages.
pub(super) trait DownPort<E>: Watch {
    /// Delivers a batch; when the stage has stopped, the events are counted as lost in flight
    /// and the (cleared) buffer comes back.
    fn events(&self, sub: SubId, events: Vec<E>) -> Result<(), Vec<E>>;
    /// Delivers a control message; false when the stage has stopped.
    fn to_consumer(&self, msg: ToConsumer) -> bool;
}

/// Published state: the exit once stopped, and the events lost in flight.
pub(super) struct Status {
    pub(super) exit: Option<Exit>,
    pub(super) lost: u64,
}

/// Everything of one stage that other threads touch.
pub(super) struct Shared<In, Out, M> {
    pub(super) id: StageId,
    pub(super) name: String,
    pub(super) mailbox: Mailbox<Input<In, Out, M>>,
    pub(super) summary: Mutex<StageSummary>,
    pub(super) status: Mutex<Status>,
    pub(super) exited: Condvar,
}

impl<In, Out, M> Shared<In, Out, M> {
    pub(super) fn new(id: StageId, name: String, summary: StageSummary) -> Self {
        Self {
            id,
            name,
            mailbox: Mailbox::new(),
            summary: Mutex::new(summary),
            status: Mutex::new(Status {
                exit: None,
                lost: 0,
            }),
            exited: Condvar::new(),
        }
    }

    /// Counts events that reached the stage after it stopped.
    pub(super) fn lose(&self, n: usize) {
        if n > 0 {
            self.status.lock().lost += n as u64;
        }
    }

    /// Waits for the stage's exit.
    pub(super) fn join(&self) -> Exit {
        let mut st = self.status.lock();
        loop {
            if let Some(exit) = &st.exit {
                return exit.clone();
            }
            self.exited.wait(&mut st);
        }
    }

    /// The exit, if it has stopped.
    pub(super) fn exit(&self) -> Option<Exit> {
        self.status.lock().exit.clone()
    }

    /// Publishes the exit and wakes every joiner.
    pub(super) fn publish_exit(&self, exit: Exit) {
        self.status.lock().exit = Some(exit);
        self.exited.notify_all();
    }

    /// Sends an input; a stopped stage hands it back (by value: the caller takes its parts
    /// back out at once, so boxing it would only cost an allocation).
    #[allow(clippy::result_large_err)]
    pub(super) fn send(&self, input: Input<In, Out, M>) -> Result<(), Input<In, Out, M>> {
        self.mailbox.send(input).map(|_| ())
    }
}

impl<In: Send, Out: Send, M: Send> Watch for Shared<In, Out, M> {
    fn id(&self) -> StageId {
        self.id
    }
    fn down(&self, from: StageId, reason: Reason) {
        let _ = self.send(Input::Down(from, reason));
    }
}

impl<In: Send, Out: Send, M: Send> UpPort<Out> for Shared<In, Out, M> {
    fn to_producer(
        &self,
        msg: ToProducer<Out>,
        from: Option<Arc<dyn DownPort<Out>>>,
        spare: Option<Vec<Out>>,
    ) -> bool {
        self.send(Input::ToProducer { msg, from, spare }).is_ok()
    }
    fn give_back(&self, spare: Vec<Out>) {
        let _ = self.mailbox.send_quietly(Input::Spare(spare));
    }
}

impl<In: Send, Out: Send, M: Send> DownPort<In> for Shared<In, Out, M> {
    fn events(&self, sub: SubId, events: Vec<In>) -> Result<(), Vec<In>> {
        match self.send(Input::Events { sub, events }) {
            Ok(()) => Ok(()),
            Err(Input::Events { mut events, .. }) => {
                self.lose(events.len());
                events.clear();
                Err(events)
            }
            Err(_) => Err(Vec::new()),
        }
    }
    fn to_consumer(&self, msg: ToConsumer) -> bool {
        self.send(Input::ToConsumer(msg)).is_ok()
    }
}
