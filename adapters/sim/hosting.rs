//! Hosting stages: adding them to a simulator, with the built-in kinds' shorthands.

use super::*;

impl Sim {
    /// The id the next added stage will get.
    pub fn next_id(&self) -> StageId {
        StageId(self.slots.len() as u32)
    }

    /// Adds a stage built by the caller (with [`next_id`](Self::next_id) as its id), for
    /// stages with non-default options, storage or dispatcher, or a [`Stage`] of your own.
    ///
    /// # Panics
    /// If the stage's id is not `next_id()`: that is a bug in the caller.
    pub fn add<T>(&mut self, stage: T) -> Handle<T>
    where
        T: Stage + 'static,
        T::In: 'static,
        T::Out: 'static,
        T::Msg: 'static,
    {
        let id = self.next_id();
        assert_eq!(stage.id(), id, "build the stage with Sim::next_id()");
        self.push_slot(Box::new(stage));
        Handle::new(id, self.me)
    }

    /// Hosts a stage built for [`next_id`](Self::next_id).
    pub(super) fn push_slot(&mut self, mut node: Box<dyn Node>) {
        node.set_now(self.net.now);
        self.slots.push(Slot {
            node,
            cancel: None,
            stopped: None,
            lost: 0,
            panic: None,
            cost: None,
            busy_until: self.net.now,
            factory: None,
            made: Vec::new(),
            retired: Vec::new(),
            generation: 0,
        });
        self.net.gauges.push(net::Gauge::default());
        self.net.generations.push(0);
    }

    /// Adds a producer with default options and the default dispatcher.
    pub fn producer<B, M>(&mut self, behaviour: B) -> Handle<ProducerStage<B, M>>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::new(self.next_id(), behaviour, ProducerOptions::default())
            .expect("default options are valid");
        self.add(stage)
    }

    /// Adds a producer with options.
    pub fn producer_with<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
    ) -> Result<Handle<ProducerStage<B, M>>, OptionsError>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::new(self.next_id(), behaviour, opts)?;
        Ok(self.add(stage))
    }

    /// Adds a producer_consumer with default options.
    pub fn producer_consumer<B, M>(&mut self, behaviour: B) -> Handle<ProducerConsumerStage<B, M>>
    where
        B: ProducerConsumer<M> + 'static,
        B::In: 'static,
        B::Out: 'static,
        M: 'static,
    {
        let stage =
            ProducerConsumerStage::new(self.next_id(), behaviour, ProducerOptions::default())
                .expect("default options are valid");
        self.add(stage)
    }

    /// Adds a producer with options and one of the built-in dispatchers ([`Dispatch`]).
    pub fn producer_with_dispatcher<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
        dispatch: Dispatch<B::Event>,
    ) -> Result<Handle<ProducerStage<B, M>>, OptionsError>
    where
        B: Producer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ProducerStage::with_dispatcher(self.next_id(), behaviour, opts, dispatch)?;
        Ok(self.add(stage))
    }

    /// Adds a producer_consumer with options and one of the built-in dispatchers
    /// ([`Dispatch`]), for instance `Dispatch::broadcast()`.
    pub fn producer_consumer_with<B, M>(
        &mut self,
        behaviour: B,
        opts: ProducerOptions,
        dispatch: Dispatch<B::Out>,
    ) -> Result<Handle<ProducerConsumerStage<B, M>>, OptionsError>
    where
        B: ProducerConsumer<M> + 'static,
        B::In: 'static,
        B::Out: 'static,
        M: 'static,
    {
        let stage =
            ProducerConsumerStage::with_dispatcher(self.next_id(), behaviour, opts, dispatch)?;
        Ok(self.add(stage))
    }

    /// Adds a consumer.
    pub fn consumer<B, M>(&mut self, behaviour: B) -> Handle<ConsumerStage<B, M>>
    where
        B: Consumer<M> + 'static,
        B::Event: 'static,
        M: 'static,
    {
        let stage = ConsumerStage::new(self.next_id(), behaviour);
        self.add(stage)
    }
}
