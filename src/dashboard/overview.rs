//! The overview: nodes, supervisors, moves, drains, totals and the rates
//! chart, sampled once per interval and sent to every open page over
//! server-sent events.
//!
//! One sampler serves every open page: each sample is serialised once and
//! shared (see `pump.rs` for when it runs). Samples are taken only while a
//! page watches; the chart spreads what happened while none did evenly
//! over the gap, from the probe's counters, so it still covers the last
//! minutes. Per-second rates come from the differences of the
//! probe's counters between samples; the chart keeps the last
//! [`HISTORY`] samples.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, watch};

use super::probe::{self, Counter};
use crate::registry;
use crate::supervisor::Supervisor;

/// Samples the chart keeps.
pub(crate) const HISTORY: usize = 300;
/// How long a finished move or drain stays on the page.
const LINGER: Duration = Duration::from_secs(20);

/// Everything the page shows besides the instances.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overview {
    /// This node's name (`local` without a cluster node).
    pub(crate) node: String,
    pub(crate) peers: Vec<Peer>,
    pub(crate) supervisors: Vec<SupervisorRow>,
    pub(crate) moves: Vec<MoveRow>,
    pub(crate) drain: Option<DrainRow>,
    pub(crate) totals: Totals,
    pub(crate) series: Series,
    /// Whether actions are on (a token is set).
    pub(crate) actions: bool,
    /// Whether moves and drains are possible (a cluster node is given).
    pub(crate) cluster: bool,
    /// When this was sampled, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// A connected peer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Peer {
    pub(crate) name: String,
    /// The last heartbeat round trip; `None` if it did not answer.
    pub(crate) rtt_ms: Option<f64>,
}

/// One supervisor.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SupervisorRow {
    pub(crate) name: String,
    pub(crate) children: usize,
    /// Crashes of its children while the dashboard ran.
    pub(crate) restarts: u64,
    /// Of those, per minute over the last minute.
    pub(crate) restarts_per_min: f64,
}

/// A move in progress, or recently ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MoveRow {
    pub(crate) name: String,
    pub(crate) to_node: String,
    pub(crate) phase: String,
    pub(crate) rows_done: u64,
    pub(crate) rows_total: u64,
    pub(crate) bytes_done: u64,
    /// From 0 to 1, for the progress bar.
    pub(crate) fraction: f64,
    pub(crate) done: bool,
    /// Rises with every progress heard: a page that got this row both in
    /// a sample and as an event keeps the later.
    pub(crate) seq: u64,
}

/// The last drain's progress.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DrainRow {
    pub(crate) moved: usize,
    pub(crate) failed: usize,
    pub(crate) total: usize,
    pub(crate) done: bool,
}

/// Counts since the dashboard started, and gauges now.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Totals {
    pub(crate) instances: usize,
    pub(crate) queued: usize,
    pub(crate) calls: u64,
    pub(crate) casts: u64,
    pub(crate) infos: u64,
    pub(crate) crashes: u64,
    pub(crate) restarts: u64,
    pub(crate) transfers: u64,
    pub(crate) moves: u64,
    pub(crate) bytes_moved: u64,
}

/// Per-second rates, oldest first, one point per sample.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Series {
    pub(crate) interval_ms: u64,
    pub(crate) messages: VecDeque<f64>,
    pub(crate) crashes: VecDeque<f64>,
    pub(crate) moves: VecDeque<f64>,
}

/// What the node's listeners and the pinger learn between samples.
#[derive(Debug)]
pub(crate) struct Heard {
    /// Woken when a move or a drain progressed: the sampler then samples
    /// early.
    pub(crate) news: Arc<Notify>,
    /// Each move's progress as it comes, as JSON, for the open pages: a
    /// short move would otherwise end between two samples.
    pub(crate) progress: broadcast::Sender<Arc<str>>,
    pub(crate) peers: Vec<Peer>,
    /// By instance name, with when it was last heard of.
    pub(crate) moves: HashMap<String, (MoveRow, Instant)>,
    /// The last [`MoveRow::seq`] given.
    pub(crate) move_seq: u64,
    pub(crate) drain: Option<(DrainRow, Instant)>,
}

impl Default for Heard {
    fn default() -> Self {
        Heard {
            news: Arc::default(),
            progress: broadcast::channel(256).0,
            peers: Vec::new(),
            moves: HashMap::new(),
            move_seq: 0,
            drain: None,
        }
    }
}

/// The sampler's memory between samples.
pub(crate) struct Sampler {
    node: String,
    actions: bool,
    cluster: bool,
    interval: Duration,
    heard: Arc<Mutex<Heard>>,
    last: Option<(Instant, Totals)>,
    series: Series,
    /// Crashes by supervisor at each sample of the last minute.
    by_supervisor: VecDeque<(Instant, HashMap<String, u64>)>,
    /// Crashes by supervisor when the dashboard started: the page counts
    /// from there.
    base: HashMap<String, u64>,
}

impl Sampler {
    pub(crate) fn new(
        node: String,
        actions: bool,
        cluster: bool,
        interval: Duration,
        heard: Arc<Mutex<Heard>>,
    ) -> Self {
        Sampler {
            node,
            actions,
            cluster,
            interval,
            heard,
            last: None,
            series: Series {
                interval_ms: interval.as_millis() as u64,
                ..Series::default()
            },
            by_supervisor: VecDeque::new(),
            base: probe::crash_tally().by_supervisor,
        }
    }

    /// Takes one sample.
    pub(crate) fn sample(&mut self) -> Overview {
        let now = Instant::now();
        let totals = totals();
        if let Some((then, before)) = &self.last {
            let secs = now.duration_since(*then).as_secs_f64().max(1e-3);
            let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
            let messages = rate(
                totals.calls + totals.casts + totals.infos,
                before.calls + before.casts + before.infos,
            );
            let crashes = rate(totals.crashes, before.crashes);
            let moves = rate(totals.moves, before.moves);
            // Samples missed while no page watched get the average rate.
            let points = (secs / self.interval.as_secs_f64())
                .round()
                .clamp(1.0, HISTORY as f64);
            for _ in 0..points as usize {
                push(&mut self.series.messages, messages);
                push(&mut self.series.crashes, crashes);
                push(&mut self.series.moves, moves);
            }
        }
        self.last = Some((now, totals.clone()));
        let supervisors = self.supervisors(now);
        let (peers, moves, drain) = self.heard_now(now);
        Overview {
            node: self.node.clone(),
            peers,
            supervisors,
            moves,
            drain,
            totals,
            series: self.series.clone(),
            actions: self.actions,
            cluster: self.cluster,
            at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    fn supervisors(&mut self, now: Instant) -> Vec<SupervisorRow> {
        let crashes = probe::crash_tally().by_supervisor;
        while self
            .by_supervisor
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(60))
        {
            self.by_supervisor.pop_front();
        }
        let oldest = self.by_supervisor.front().cloned();
        self.by_supervisor.push_back((now, crashes.clone()));
        let mut rows: Vec<SupervisorRow> = Supervisor::all()
            .into_iter()
            .map(|s| {
                let name = s.name().to_owned();
                let total = crashes.get(&name).copied().unwrap_or(0);
                let restarts = total.saturating_sub(self.base.get(&name).copied().unwrap_or(0));
                let restarts_per_min = match &oldest {
                    Some((at, then)) => {
                        let secs = now.duration_since(*at).as_secs_f64().max(1e-3);
                        let before = then.get(&name).copied().unwrap_or(0);
                        total.saturating_sub(before) as f64 * 60.0 / secs
                    }
                    None => 0.0,
                };
                SupervisorRow {
                    children: s.count(),
                    name,
                    restarts,
                    restarts_per_min,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    /// What the listeners heard, with moves and drains that ended a while
    /// ago forgotten.
    fn heard_now(&self, now: Instant) -> (Vec<Peer>, Vec<MoveRow>, Option<DrainRow>) {
        let mut heard = self.heard.lock();
        heard
            .moves
            .retain(|_, (row, at)| !row.done || now.duration_since(*at) < LINGER);
        if heard
            .drain
            .as_ref()
            .is_some_and(|(d, at)| d.done && now.duration_since(*at) >= LINGER)
        {
            heard.drain = None;
        }
        let mut moves: Vec<MoveRow> = heard.moves.values().map(|(m, _)| m.clone()).collect();
        moves.sort_by(|a, b| a.name.cmp(&b.name));
        let drain = heard.drain.as_ref().map(|(d, _)| d.clone());
        (heard.peers.clone(), moves, drain)
    }

    /// Takes a sample and sends it to the pages, serialised once.
    pub(crate) fn publish(&mut self, out: &watch::Sender<Arc<str>>) {
        match serde_json::to_string(&self.sample()) {
            Ok(json) => {
                out.send_replace(json.into());
            }
            Err(e) => tracing::warn!(error = %e, "peeper: dashboard overview not serialised"),
        }
    }
}

fn push(points: &mut VecDeque<f64>, point: f64) {
    if points.len() == HISTORY {
        points.pop_front();
    }
    points.push_back(point);
}

/// The probe's counters now, and the gauges.
pub(crate) fn totals() -> Totals {
    let live = registry::live();
    Totals {
        instances: live.len(),
        queued: live.iter().map(|i| i.queue_len()).sum(),
        calls: probe::total(Counter::Calls),
        casts: probe::total(Counter::Casts),
        infos: probe::total(Counter::Infos),
        crashes: probe::total(Counter::Crashes),
        restarts: probe::total(Counter::Restarts),
        transfers: probe::total(Counter::Transfers),
        moves: probe::total(Counter::Moves),
        bytes_moved: probe::total(Counter::BytesMoved),
    }
}
