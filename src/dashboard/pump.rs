//! The pump: runs the sampler while at least one page watches, and not at
//! all otherwise.
//!
//! Anything periodic on the application's runtime costs every message
//! there: a timer armed on a tokio runtime makes its scheduler check the
//! timers as it switches tasks, about 5% of a call on a current-thread
//! runtime, and so did a sampling thread of its own. So while no page is
//! open, the dashboard arms nothing: the probe counts, the server waits for
//! connections, and that is all. The first event stream to open starts one
//! task that samples every interval (and early when a move or a drain
//! progressed); the last one to close stops it. A view asked for without
//! an event stream gets a sample taken there and then.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::overview::Sampler;

/// The least time between two samples, however much news comes.
const EARLIEST: Duration = Duration::from_millis(40);

/// Runs the sampler while pages watch; see the [module docs](self).
pub(crate) struct Pump {
    sampler: Mutex<Sampler>,
    out: watch::Sender<Arc<str>>,
    /// Open event streams.
    watchers: AtomicUsize,
    /// Whether the sampling task runs.
    running: AtomicBool,
    news: Arc<Notify>,
    interval: Duration,
    stop: watch::Receiver<bool>,
    /// Learns what only asking tells (pings the peers); run after each
    /// sample the task takes, and before a sample taken on demand.
    refresh: Refresh,
}

/// See [`Pump::new`].
pub(crate) type Refresh = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The longest a sample taken on demand waits for `refresh`.
const REFRESH_BUDGET: Duration = Duration::from_secs(1);

/// One open event stream; dropping it is the stream closing.
pub(crate) struct Watcher(Arc<Pump>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pump {
    pub(crate) fn new(
        mut sampler: Sampler,
        news: Arc<Notify>,
        interval: Duration,
        stop: watch::Receiver<bool>,
        refresh: Refresh,
    ) -> Self {
        let first = serde_json::to_string(&sampler.sample()).unwrap_or_default();
        Pump {
            sampler: Mutex::new(sampler),
            out: watch::channel(first.into()).0,
            watchers: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            news,
            interval,
            stop,
            refresh,
        }
    }

    /// The overviews from now on, the current one first, for an event
    /// stream; the sampling runs while the returned [`Watcher`] lives.
    pub(crate) fn watch(self: &Arc<Self>) -> (watch::Receiver<Arc<str>>, Watcher) {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        let watcher = Watcher(self.clone());
        if !self.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().run());
        }
        (self.out.subscribe(), watcher)
    }

    /// The overview now: the last sample while the task runs, a fresh one
    /// otherwise.
    pub(crate) async fn now(&self) -> Arc<str> {
        if !self.running.load(Ordering::SeqCst) {
            let _ = tokio::time::timeout(REFRESH_BUDGET, (self.refresh)()).await;
            self.sampler.lock().publish(&self.out);
        }
        self.out.borrow().clone()
    }

    async fn run(self: Arc<Self>) {
        loop {
            self.sample_while_watched().await;
            self.running.store(false, Ordering::SeqCst);
            // A page that opened between the last check and the line above
            // found the task running and started none: run on for it.
            let stopped = *self.stop.borrow();
            if stopped
                || self.watchers.load(Ordering::SeqCst) == 0
                || self.running.swap(true, Ordering::SeqCst)
            {
                return;
            }
        }
    }

    async fn sample_while_watched(&self) {
        let mut stop = self.stop.clone();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        while self.watchers.load(Ordering::SeqCst) > 0 {
            let early = tokio::select! {
                _ = tick.tick() => false,
                () = self.news.notified() => true,
                _ = stop.wait_for(|s| *s) => return,
            };
            if early {
                // Paces the early samples: news comes in bursts.
                tokio::time::sleep_until(last + EARLIEST).await;
            }
            last = Instant::now();
            self.sampler.lock().publish(&self.out);
            tokio::spawn((self.refresh)());
        }
    }
}
