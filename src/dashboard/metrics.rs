//! `/metrics`: the probe's counters and the gauges in Prometheus' text
//! format, rendered by `metrics-exporter-prometheus`.
//!
//! The hot path never touches the metrics crate: it bumps the probe's plain
//! atomics. A scrape copies them into a recorder of the dashboard's own
//! (counters as absolute values, gauges set), which then renders them. The
//! recorder is never installed globally, so an application's own metrics
//! recorder is left alone.

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::overview::totals;
use super::probe;
use crate::supervisor::Supervisor;

/// The dashboard's recorder and the handle that renders it.
pub(crate) struct Exporter {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    pub(crate) fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        with_local_recorder(&recorder, describe);
        Exporter { recorder, handle }
    }

    /// Publishes the counters and gauges as they are now, and renders them.
    pub(crate) fn render(&self) -> String {
        let t = totals();
        let tally = probe::crash_tally();
        let supervisors = Supervisor::all();
        with_local_recorder(&self.recorder, || {
            counter!("peeper_calls_total").absolute(t.calls);
            counter!("peeper_casts_total").absolute(t.casts);
            counter!("peeper_infos_total").absolute(t.infos);
            counter!("peeper_restarts_total").absolute(t.restarts);
            counter!("peeper_transfers_total").absolute(t.transfers);
            counter!("peeper_moves_total").absolute(t.moves);
            counter!("peeper_moved_bytes_total").absolute(t.bytes_moved);
            for ((kind, cause), n) in &tally.by_kind {
                counter!("peeper_crashes_total", "kind" => *kind, "cause" => *cause).absolute(*n);
            }
            gauge!("peeper_instances").set(t.instances as f64);
            gauge!("peeper_queued_messages").set(t.queued as f64);
            for s in &supervisors {
                gauge!("peeper_supervisor_children", "supervisor" => s.name().to_owned())
                    .set(s.count() as f64);
            }
        });
        self.handle.render()
    }
}

fn describe() {
    describe_counter!("peeper_calls_total", "Calls queued for instances.");
    describe_counter!("peeper_casts_total", "Casts queued for instances.");
    describe_counter!(
        "peeper_infos_total",
        "Info messages queued for instances, timers included."
    );
    describe_counter!(
        "peeper_crashes_total",
        "Callback crashes, by kind of actor and cause."
    );
    describe_counter!("peeper_restarts_total", "Worker restarts after a crash.");
    describe_counter!(
        "peeper_transfers_total",
        "Transfers between supervisors of this process."
    );
    describe_counter!("peeper_moves_total", "Moves to other nodes that committed.");
    describe_counter!(
        "peeper_moved_bytes_total",
        Unit::Bytes,
        "Bytes sent by committed moves."
    );
    describe_gauge!("peeper_instances", "Instances registered in this process.");
    describe_gauge!(
        "peeper_queued_messages",
        "Messages queued for all instances and not yet being handled."
    );
    describe_gauge!("peeper_supervisor_children", "Children of each supervisor.");
}
