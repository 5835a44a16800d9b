//! Tweets → image search → collages, on threads (the seed's second example).
//!
//! Tweets come from an ordinary iterator ([`FromIter`]); a producer_consumer "searches" an
//! image for each (stand-in work: a hash loop, the slow stage); several collage makers on the
//! search stage's `DemandDispatcher` each build collages of `N` images; and the main thread
//! drains the collages of every maker as one iterator ([`threads::StreamBuilder`]). The makers
//! share the work by asking for it; the search sets the pace; every tweet ends in a collage.
//!
//! `cargo run --release --example collage [tweets] [makers]`

use genstage::threads::{self, StreamBuilder};
use genstage::*;
use std::hint::black_box;
use std::time::Instant;

/// Images per collage.
const N: usize = 16;

/// A stand-in tweet.
struct Tweet {
    id: u64,
    text: String,
}

/// The image found for a tweet.
struct Image {
    tweet: u64,
    pixels: u64,
}

/// A finished collage: who made it, and of which tweets.
struct Collage {
    maker: usize,
    tweets: Vec<u64>,
}

/// "Searches" an image per tweet: the slow stage.
struct ImageSearch;

impl ProducerConsumer for ImageSearch {
    type In = Tweet;
    type Out = Image;
    fn handle_events(&mut self, tweets: Batch<'_, Tweet>, out: &mut Relay<'_, Image>) -> Flow {
        let _found = out.extend(tweets.map(|t| {
            let mut h = t
                .text
                .bytes()
                .fold(t.id, |h, b| h.rotate_left(5) ^ u64::from(b));
            for _ in 0..20_000 {
                h = black_box(h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
            }
            Image {
                tweet: t.id,
                pixels: h,
            }
        }));
        Flow::Continue
    }
}

/// Builds collages of `N` images and emits each; the last, partial one when the search ends.
struct CollageMaker {
    name: usize,
    current: Vec<Image>,
    upstream: Option<SubId>,
}

impl CollageMaker {
    fn finish_collage(&mut self, out: &mut Relay<'_, Collage>) {
        if !self.current.is_empty() {
            let _layout = self.current.iter().fold(0u64, |a, i| a ^ i.pixels);
            let collage = Collage {
                maker: self.name,
                tweets: self.current.drain(..).map(|i| i.tweet).collect(),
            };
            let _ = out.push(collage);
        }
    }
}

impl ProducerConsumer for CollageMaker {
    type In = Image;
    type Out = Collage;
    fn handle_subscribe(
        &mut self,
        sub: SubId,
        _: &SubscribeOptions<Image>,
        _: &mut Ctx<'_>,
    ) -> Subscribed {
        self.upstream = Some(sub);
        Subscribed::Automatic
    }
    fn handle_events(&mut self, images: Batch<'_, Image>, out: &mut Relay<'_, Collage>) -> Flow {
        for image in images {
            self.current.push(image);
            if self.current.len() == N {
                self.finish_collage(out);
            }
        }
        Flow::Continue
    }
    fn handle_cancel(&mut self, _: Cancellation, sub: SubId, out: &mut Relay<'_, Collage>) -> Flow {
        if Some(sub) == self.upstream {
            // The search finished: the last, partial collage goes out before the stop.
            self.finish_collage(out);
        }
        Flow::Continue
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let total = args.next().unwrap_or(20_000);
    let makers = args.next().unwrap_or(4) as usize;
    println!("{total} tweets, one image search, {makers} collage makers, {N} images a collage");

    let started = Instant::now();
    let feed = (0..total).map(|id| Tweet {
        id,
        text: format!("tweet #{id}: look at this #sunset"),
    });
    let tweets = threads::builder()
        .name("tweets")
        .spawn_producer(FromIter::new(feed), ProducerOptions::default())
        .expect("valid options");
    let search = threads::builder()
        .name("image-search")
        .spawn_producer_consumer(ImageSearch, ProducerOptions::default())
        .expect("valid options");
    let mut stream = StreamBuilder::new();
    let makers: Vec<_> = (0..makers)
        .map(|name| {
            let maker = threads::builder()
                .name(format!("collage-{name}"))
                .spawn_producer_consumer(
                    CollageMaker {
                        name,
                        current: Vec::new(),
                        upstream: None,
                    },
                    ProducerOptions::default(),
                )
                .expect("valid options");
            maker
                .subscribe(&search, Subscribe::new().max_demand(N).min_demand(0))
                .expect("valid options");
            // Transient: a maker that finishes `Normal` leaves the stream running for the rest.
            stream = std::mem::take(&mut stream)
                .from(&maker, Subscribe::new().cancel(CancelMode::Transient))
                .expect("valid options");
            maker
        })
        .collect();

    // The main thread drains every maker's collages as they are made.
    let mut seen = vec![false; total as usize];
    let mut per_maker = vec![(0u64, 0usize); makers.len()];
    let mut collages = stream.start().expect("subscribed");
    // Subscribed from the end of the line, the tweets flow only now: a producer_consumer asks
    // its producer as soon as it subscribes, and a finite source that ran dry into the search
    // before the makers subscribed would take it down with what it held.
    search
        .subscribe(&tweets, Subscribe::new().max_demand(64))
        .expect("valid options");
    for collage in collages.by_ref() {
        per_maker[collage.maker].0 += 1;
        per_maker[collage.maker].1 += collage.tweets.len();
        for t in collage.tweets {
            assert!(!seen[t as usize], "tweet {t} in two collages");
            seen[t as usize] = true;
        }
    }
    assert_eq!(collages.error(), None, "the stream ended cleanly");

    let mut all = vec![tweets.any(), search.any()];
    all.extend(makers.iter().map(|m| m.any()));
    let exits = threads::join_all(all);
    let elapsed = started.elapsed();

    for (name, (made, tweets)) in per_maker.iter().enumerate() {
        println!(
            "collage maker {name}: {made:>5} collages from {tweets:>6} tweets ({:.0}%)",
            100.0 * *tweets as f64 / total as f64
        );
    }
    let in_collages = seen.iter().filter(|s| **s).count();
    println!(
        "{in_collages} of {total} tweets ended in a collage, each exactly once, in {elapsed:.2?} \
         ({:.0} tweets/s: the image search sets the pace)",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "every stage stopped: {}",
        exits
            .iter()
            .map(|e| e.reason.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(in_collages as u64, total);
    assert!(exits.iter().all(|e| e.reason == Reason::Normal));
}
