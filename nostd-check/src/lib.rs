//! Links the genstage core into a `#![no_std]` staticlib with no allocator, and runs a real
//! producer → consumer exchange on fixed-capacity storage.
#![no_std]

use genstage::storage::Fixed;
use genstage::dispatcher::*;
use genstage::runtime::*;
use genstage::*;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

// 16 events per events container, 4 items per control container (subscriptions, infos, ...).
type Store = Fixed<16, 4>;

struct Count(u32);
impl Producer for Count {
    type Event = u32;
    fn handle_demand(&mut self, demand: usize, out: &mut Emit<'_, u32>) -> Flow {
        let n = out.extend(self.0..self.0 + demand as u32);
        self.0 += n as u32;
        Flow::Continue
    }
}

struct Sum(u32);
impl Consumer for Sum {
    type Event = u32;
    fn handle_events(&mut self, events: Batch<'_, u32>, _: &mut Ctx<'_>) -> Flow {
        self.0 += events.sum::<u32>();
        Flow::Continue
    }
}

/// An outbox on fixed storage: at most 8 control messages and 8 batches of 16 events.
#[derive(Default)]
struct Mail {
    up: heapless::Vec<ToProducer<u32>, 8>,
    down: heapless::Vec<(SubId, heapless::Vec<u32, 16>), 8>,
}

impl Outbox<u32, u32, ()> for Mail {
    fn push(&mut self, output: Output<u32, ()>) {
        if let Output::ToProducer(m) = output {
            let _ = self.up.push(m);
        }
    }
    fn events<I: ExactSizeIterator<Item = u32>>(&mut self, sub: SubId, events: I) {
        let _ = self.down.push((sub, events.collect()));
    }
}

/// One round through each dispatcher on fixed storage: a producer with `D` and two consumers
/// on partitions 0 and 1 that ask 4 each; returns the events sent.
fn dispatch_round<D: Dispatcher<u32>>(d: D, partitioned: bool) -> u64 {
    let Ok(mut p) = ProducerStage::<Count, (), Store, D>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(16),
        d,
    ) else {
        return 0;
    };
    let mut mail = Mail::default();
    for (seq, part) in [(0u32, 0usize), (1, 1)] {
        let sub = SubId::new(StageId(0), StageId(1 + seq), seq);
        let opts = Subscribe::new().max_demand(4);
        let opts = if partitioned { opts.partition(part) } else { opts };
        let Ok(opts) = opts.validate() else {
            return 0;
        };
        p.handle_to_producer(
            ToProducer::Subscribe {
                sub,
                previous: None,
                opts,
            },
            &mut mail,
        );
        p.handle_to_producer(ToProducer::Ask { sub, demand: 4 }, &mut mail);
    }
    p.stats().events_out
}

/// Broadcast and Partition dispatchers, linked with no allocator.
#[unsafe(no_mangle)]
pub extern "C" fn genstage_nostd_dispatchers() -> u64 {
    let broadcast = dispatch_round(BroadcastDispatcher::<u32, Store>::new(), false);
    let partition = match PartitionDispatcher::<u32, Store>::with_default_hash(2) {
        Ok(d) => dispatch_round(d, true),
        Err(_) => 0,
    };
    broadcast + partition
}

/// Runs five rounds of demand between a producer and a consumer; returns the sum received
/// (0 + 1 + ... + 39 = 780 with max_demand 8, min_demand 4).
#[unsafe(no_mangle)]
pub extern "C" fn genstage_nostd_roundtrip() -> u32 {
    let Ok(mut p) = ProducerStage::<Count, (), Store, DemandDispatcher<Store>>::with_dispatcher(
        StageId(0),
        Count(0),
        ProducerOptions::new().buffer_size(16),
        DemandDispatcher::new(),
    ) else {
        return 0;
    };
    let mut c = ConsumerStage::<Sum, (), Store>::with_storage(StageId(1), Sum(0));
    let mut to_p = Mail::default();
    let mut to_c = Mail::default();
    if c.subscribe(
        p.id(),
        Subscribe::new().max_demand(8).min_demand(4),
        &mut to_p,
    )
    .is_err()
    {
        return 0;
    }
    let mut rounds = 0;
    while rounds < 40 && !(to_p.up.is_empty() && to_c.down.is_empty()) {
        rounds += 1;
        for m in core::mem::take(&mut to_p.up) {
            p.handle_to_producer(m, &mut to_c);
        }
        for (sub, events) in core::mem::take(&mut to_c.down) {
            if c.behaviour().0 < 780 {
                c.handle_events(sub, events, &mut to_p);
            }
        }
    }
    c.behaviour().0
}
