//! The node shell: one peeper node driven by line commands on standard input,
//! one answer line each on standard output. The `peeper-node` binary runs it,
//! and [`NodeProc`](crate::nodes::NodeProc) starts and drives such processes
//! for the multi-node tests and benches; the benchmark report runs it in
//! copies of itself. It ends when its input closes or after `--lifetime-secs`
//! (default 120), whichever comes first.
//!
//! ```text
//! peeper-node --name a --cookie secret [--port 0] [--lifetime-secs 120]
//!             [--heartbeat-ms 1000] [--heartbeat-timeout-ms 10000]
//!             [--step-timeout-ms 30000] [--call-timeout-ms 5000]
//!             [--store PATH]
//! ```
//!
//! With `--store`, the node keeps durable instances in that redb file:
//! `supervisor` brings back what the store holds under it, and `spawn`
//! starts durable instances.
//!
//! It prints `listening <addr>` first. Commands (answers start with `ok` or
//! `error`):
//!
//! ```text
//! connect <addr>                      ok <peer name>
//! supervisor <name>                   ok
//! spawn <sup> <name> <rows> <bytes>   ok          (a tally with a table of <rows> rows, filled in batches)
//! load <name> <sender> <calls>        ok          (calls in the background; 0: until wait)
//! wait <sender>                       ok <answered> <failed> <longest wait µs> [first error]
//! callbench <name> <calls>            ok <mean ns per call, one at a time>
//! pingbench <node> <pings>            ok <mean ns per plain ractor_cluster call>
//! move <name> <sup> <node> <sup>      progress … lines, then ok <rows> <bytes> <frozen_us> <resent>
//! castload <name> <sender> <casts>   ok          (numbered casts through one held handle, then a
//!                                                 call behind them; wait <sender>)
//! dcastload <name> <sender> <casts>  ok          (numbered durable casts through one held handle, until
//!                                                 one is refused; wait <sender>)
//! casts <name> <sender> <casts>       ok          (numbered casts through a held handle, at once)
//! hold <name>                         ok          (keeps a handle to the instance, for heldbench)
//! heldbench <calls>                   ok <mean ns per call through the held handle>
//! heldwhere                           ok caller|worker  (one call through the held handle: on this task, or the worker's)
//! where <name>                        ok caller|worker  (the same, by name)
//! heldcall <ms>                       ok | error <text>  (one call through the held handle, <ms> to answer)
//! heldcasts <sender> <casts>          ok <casts handled per second>  (numbered casts through the held handle, then a call behind them)
//! helddcasts <sender> <casts>         ok          (numbered durable casts through the held handle)
//! churn <name> <rounds> <rows>        ok          (table-writing casts in the background; wait churn)
//! digest <name>                       ok <rows> <digest of the table>
//! check <name>                        ok <value> <handled> <violations> <rows> <label> <children> <once> <every> <dups>
//! timers <name> <once ms> <every ms>  ok          (a one-shot and an interval timer)
//! pause <ms>                          ok          (for polling a condition)
//! spawnmany <sup> <prefix> <n>        ok          (n small tallies, named <prefix>0…)
//! drain                               ok <moved> <failed> <ms> [first failure]
//! count <sup>                         ok <children>
//! stop <sup>                          ok          (stops a supervisor and its children)
//! callall <prefix> <n>                ok <answered> <failed>
//! dormant <prefix> <n>                ok <without a worker> <not found>   (of <prefix>0…)
//! rss                                 ok <resident MiB> <peak resident MiB>
//! slow <name> <ms>                    ok          (a cast that keeps the instance busy <ms>)
//! bigentry <name> <mib>               ok          (a cast that puts <mib> MiB of bytes under the
//!                                                 dictionary key `blob`, then a call behind it)
//! calltimeout <name> <sender> <seq> <ms>  ok | error <kind> <text>  (one numbered call, <ms> to answer)
//! names                               ok <instances registered here>
//! block <ms>                          ok          (two tasks hold both runtime workers, blocking, for <ms>)
//! heap                                ok <heap MiB in use, as glibc's allocator counts it>
//! peers                               ok <connected peers>
//! lost <peer>                         ok <heard ms> <lost ms> <lag ms>  (when the peer last answered a ping
//!                                                 and was declared lost, Unix ms; own lag taken off)
//! dashboard <token>                   ok <addr>   (the live view on 127.0.0.1, a free port, sampling every 100 ms)
//! indoubt                             ok <durable instances noted as moving, not yet settled>
//! castname <name> <sender> <casts>    ok          (numbered casts by name, Node::cast; wait <sender>)
//! loadround <prefix> <from> <to> <sender>  ok     (numbered calls by name to <prefix><from>…<prefix><to-1>,
//!                                                 round and round, at least once, until wait <sender>)
//! faultreached <point>                ok          (once a task is parked at the fault point, action HOLD)
//! faultrelease <point>                ok          (lets it go on)
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use peeper::Supervisor;
use peeper::cluster::{Node, NodeConfig};
use peeper::durable::Durable;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::rss;

mod args;
mod byname;
mod held;
mod tally;

use args::args;
use tally::{Call, Cast, Counts, Reply, Row, Tally};

/// Answered and failed calls, the longest wait, and the first error.
type LoadResult = (u64, u64, Duration, Option<String>);

struct Shell {
    node: Node,
    /// A handle kept across moves (`hold`).
    held: Option<peeper::Handle<Tally>>,
    loads: HashMap<String, JoinHandle<LoadResult>>,
    stops: HashMap<String, Arc<AtomicBool>>,
    durable: Option<Durable>,
    /// The live view, once `dashboard` started it.
    dashboard: Option<peeper::dashboard::DashboardHandle>,
}

impl Shell {
    async fn run(&mut self, words: &[&str]) -> Result<String, String> {
        match words {
            ["connect", addr] => {
                let addr = addr.parse().map_err(|_| format!("bad address {addr}"))?;
                self.node.connect(addr).await.map_err(|e| e.to_string())
            }
            ["indoubt"] => {
                let doubts = self.durable.as_ref().map_or(0, |d| d.in_doubt().len());
                Ok(doubts.to_string())
            }
            ["supervisor", name] => {
                match &self.durable {
                    Some(d) => drop(d.supervisor(*name).await.map_err(|e| e.to_string())?),
                    None => drop(Supervisor::start(*name).await.map_err(|e| e.to_string())?),
                }
                Ok(String::new())
            }
            ["spawn", sup, name, rows, bytes] => {
                let sup = Supervisor::lookup(sup).ok_or("no such supervisor")?;
                let started = match &self.durable {
                    Some(d) => d.start_child(&sup, *name, Tally, Counts::default()).await,
                    None => sup.start_child(*name, Tally, Counts::default()).await,
                };
                let h = started.map_err(|e| e.to_string())?;
                let rows: u64 = rows.parse().map_err(|_| "bad rows")?;
                let bytes = bytes.parse().map_err(|_| "bad bytes")?;
                // In batches, each a callback of its own, each waited for:
                // no callback and no call runs long, even in a debug build on
                // a busy machine.
                const BATCH: u64 = 20_000;
                let mut from = 0;
                while from < rows || from == 0 {
                    let to = (from + BATCH).min(rows);
                    h.cast(Cast::Fill {
                        from,
                        to,
                        rows,
                        bytes,
                    })
                    .map_err(|e| e.to_string())?;
                    h.call(Call::Get).await.map_err(|e| e.to_string())?;
                    if to == rows {
                        break;
                    }
                    from = to;
                }
                Ok(String::new())
            }
            ["load", name, sender, calls] => {
                // 0 calls: until `wait`.
                let calls: u64 = calls.parse().map_err(|_| "bad calls")?;
                let (node, name, sender_name) =
                    (self.node.clone(), (*name).to_owned(), (*sender).to_owned());
                let stop = Arc::new(AtomicBool::new(false));
                self.stops.insert((*sender).to_owned(), stop.clone());
                let task = tokio::spawn(async move {
                    let (mut ok, mut failed, mut first) = (0, 0, None);
                    let mut longest = Duration::ZERO;
                    for seq in 1.. {
                        if (calls > 0 && seq > calls)
                            || (calls == 0 && stop.load(Ordering::Relaxed))
                        {
                            break;
                        }
                        let msg = Call::Seq {
                            sender: sender_name.clone(),
                            seq,
                        };
                        let sent = Instant::now();
                        match node.call::<Tally>(&name, msg).await {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                failed += 1;
                                first.get_or_insert(e.to_string());
                            }
                        }
                        longest = longest.max(sent.elapsed());
                    }
                    (ok, failed, longest, first)
                });
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["wait", sender] => {
                if let Some(stop) = self.stops.remove(*sender) {
                    stop.store(true, Ordering::Relaxed);
                }
                let task = self.loads.remove(*sender).ok_or("no such load")?;
                let (ok, failed, longest, first) = task.await.map_err(|e| e.to_string())?;
                Ok(format!(
                    "{ok} {failed} {} {}",
                    longest.as_micros(),
                    first.unwrap_or_default()
                ))
            }
            ["move", name, from, to_node, to_sup] => {
                let from = Supervisor::lookup(from).ok_or("no such supervisor")?;
                let mut progress = self.node.subscribe_moves();
                let printer = tokio::spawn(async move {
                    while let Ok(p) = progress.recv().await {
                        println!(
                            "progress {:?} {} {} {}",
                            p.phase, p.rows_done, p.rows_total, p.bytes_done
                        );
                    }
                });
                let moved = self
                    .node
                    .move_to::<Tally>(name, &from, to_node, to_sup)
                    .await;
                printer.abort();
                let r = moved.map_err(|e| e.to_string())?;
                Ok(format!(
                    "{} {} {} {}",
                    r.rows,
                    r.bytes,
                    r.frozen_for.as_micros(),
                    r.rows_resent
                ))
            }
            ["slow", name, ms] => {
                let ms = ms.parse().map_err(|_| "bad ms")?;
                self.node
                    .cast::<Tally>(name, Cast::Sleep { ms })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["bigentry", name, mib] => {
                let mib = mib.parse().map_err(|_| "bad mib")?;
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                h.cast(Cast::Blob { mib }).map_err(|e| e.to_string())?;
                // The call queues behind the cast: once answered, the entry is in.
                h.call(Call::Get).await.map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["calltimeout", name, sender, seq, ms] => {
                let msg = Call::Seq {
                    sender: (*sender).to_owned(),
                    seq: seq.parse().map_err(|_| "bad seq")?,
                };
                let timeout = Duration::from_millis(ms.parse().map_err(|_| "bad ms")?);
                match self.node.call_timeout::<Tally>(name, msg, timeout).await {
                    Ok(_) => Ok(String::new()),
                    Err(e) => Err(format!("{} {e}", error_kind(&e))),
                }
            }
            ["names"] => Ok(peeper::registered().len().to_string()),
            ["castname", name, sender, casts] => {
                let casts = casts.parse().map_err(|_| "bad casts")?;
                let (name, sender_name) = ((*name).to_owned(), (*sender).to_owned());
                let task = byname::casts(self.node.clone(), name, sender_name, casts);
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["loadround", prefix, from, to, sender] => {
                let from: u64 = from.parse().map_err(|_| "bad from")?;
                let to: u64 = to.parse().map_err(|_| "bad to")?;
                let names = (from..to).map(|i| format!("{prefix}{i}")).collect();
                let stop = Arc::new(AtomicBool::new(false));
                self.stops.insert((*sender).to_owned(), stop.clone());
                let task =
                    byname::calls_round(self.node.clone(), names, (*sender).to_owned(), stop);
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["faultreached", point] => byname::fault_reached(point).await,
            ["faultrelease", point] => {
                peeper::cluster::fault_release(point);
                Ok(String::new())
            }
            ["block", ms] => {
                // What a callback that blocks does to the runtime: both
                // workers held, nothing else of the node runs meanwhile.
                let ms: u64 = ms.parse().map_err(|_| "bad ms")?;
                for _ in 0..2 {
                    tokio::spawn(async move {
                        std::thread::sleep(Duration::from_millis(ms));
                    });
                }
                Ok(String::new())
            }
            ["heap"] => Ok(format!(
                "{:.2}",
                crate::heap::in_use() as f64 / (1024.0 * 1024.0)
            )),
            ["peers"] => Ok(self.node.peers().join(" ")),
            ["lost", peer] => {
                let loss = self.node.last_loss(peer).ok_or("not lost")?;
                let unix = |t: std::time::SystemTime| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis())
                };
                Ok(format!(
                    "{} {} {}",
                    unix(loss.heard_at),
                    unix(loss.lost_at),
                    loss.lag.as_millis()
                ))
            }
            ["dashboard", token] => {
                let dashboard = peeper::dashboard::Dashboard::builder()
                    .addr(([127, 0, 0, 1], 0))
                    .token(*token)
                    .interval(Duration::from_millis(100))
                    .node(&self.node)
                    .serve()
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = dashboard.addr().to_string();
                self.dashboard = Some(dashboard);
                Ok(addr)
            }
            ["check", name] => {
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                let reply = self.node.call::<Tally>(name, Call::Get).await;
                let Reply::Counts(counts) = reply.map_err(|e| e.to_string())? else {
                    return Err("unexpected reply".into());
                };
                let rows = h.table::<u64, Row>("rows").map_or(0, |t| t.len());
                let label = h
                    .dictionary()
                    .get::<String>("label")
                    .cloned()
                    .unwrap_or_else(|| "-".into());
                let children = h.supervisor_name().unwrap_or_else(|| "-".into());
                Ok(format!(
                    "{} {} {} {rows} {} {children} {} {} {}",
                    counts.value,
                    counts.handled,
                    counts.violations,
                    label.replace(' ', "_"),
                    counts.once,
                    counts.every,
                    counts.dups
                ))
            }
            ["castload", name, sender, casts] => {
                // One handle for the whole run: after a move it reaches the
                // instance through the relays it left, as held handles do.
                let casts: u64 = casts.parse().map_err(|_| "bad casts")?;
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                let sender_name = (*sender).to_owned();
                let task = tokio::spawn(async move {
                    let mut failed = 0;
                    let mut first = None;
                    for seq in 1..=casts {
                        let sender = sender_name.clone();
                        if let Err(e) = h.cast(Cast::Seq { sender, seq }) {
                            failed += 1;
                            first.get_or_insert(e.to_string());
                        }
                        if seq % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    // A call on the same path queues behind every cast: once
                    // it is answered, all were handled. It may wait nearly
                    // as long as a test waits for an answer (two minutes):
                    // however slow the relayed casts on a busy machine, the
                    // call's own timeout is not what ends the run.
                    if let Err(e) = h.call_timeout(Call::Get, Duration::from_secs(110)).await {
                        first.get_or_insert(e.to_string());
                    }
                    (casts - failed, failed, Duration::ZERO, first)
                });
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["dcastload", name, sender, casts] => {
                // Durable casts through one handle until `casts` were sent or
                // one is refused (the instance moved): `wait` then says how
                // many were acknowledged and the first refusal.
                let casts: u64 = casts.parse().map_err(|_| "bad casts")?;
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                let sender_name = (*sender).to_owned();
                let task = tokio::spawn(async move {
                    let (mut ok, mut first) = (0, None);
                    for seq in 1..=casts {
                        let sender = sender_name.clone();
                        match h.cast_durable(Cast::Seq { sender, seq }).await {
                            Ok(()) => ok += 1,
                            Err(e) => {
                                first = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    (ok, casts - ok, Duration::ZERO, first)
                });
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["casts", name, sender, casts] => {
                let casts: u64 = casts.parse().map_err(|_| "bad casts")?;
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                for seq in 1..=casts {
                    let sender = (*sender).to_owned();
                    h.cast(Cast::Seq { sender, seq })
                        .map_err(|e| e.to_string())?;
                }
                Ok(String::new())
            }
            ["hold", name] => {
                self.held = Some(peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?);
                Ok(String::new())
            }
            ["heldbench", calls] => {
                let calls: u32 = calls.parse().map_err(|_| "bad calls")?;
                let h = self.held.clone().ok_or("nothing held")?;
                let started = Instant::now();
                for _ in 0..calls {
                    h.call(Call::Get).await.map_err(|e| e.to_string())?;
                }
                Ok((started.elapsed().as_nanos() / u128::from(calls.max(1))).to_string())
            }
            ["heldwhere"] => {
                held::where_runs(Some(self.held.as_ref().ok_or("nothing held")?), "").await
            }
            ["where", name] => held::where_runs(None, name).await,
            ["heldcall", ms] => held::call(self.held.as_ref().ok_or("nothing held")?, ms).await,
            ["heldcasts", sender, casts] => {
                held::cast_rate(self.held.as_ref().ok_or("nothing held")?, sender, casts).await
            }
            ["helddcasts", sender, casts] => {
                let casts: u64 = casts.parse().map_err(|_| "bad casts")?;
                let h = self.held.clone().ok_or("nothing held")?;
                for seq in 1..=casts {
                    let sender = (*sender).to_owned();
                    h.cast_durable(Cast::Seq { sender, seq })
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(String::new())
            }
            ["churn", name, rounds, rows] => {
                let rounds: u64 = rounds.parse().map_err(|_| "bad rounds")?;
                let rows: u64 = rows.parse().map_err(|_| "bad rows")?;
                let (node, name) = (self.node.clone(), (*name).to_owned());
                let task = tokio::spawn(async move {
                    let mut failed = 0;
                    let mut first = None;
                    for round in 0..rounds {
                        if let Err(e) = node.cast::<Tally>(&name, Cast::Churn { round, rows }).await
                        {
                            failed += 1;
                            first.get_or_insert(e.to_string());
                        }
                        if round % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    (rounds - failed, failed, Duration::ZERO, first)
                });
                self.loads.insert("churn".to_owned(), task);
                Ok(String::new())
            }
            ["digest", name] => {
                // Queued behind whatever casts are still on their way to the
                // instance (a churn relayed through a move): it may wait
                // nearly as long as a test waits for an answer, not only the
                // node's call timeout, however slow a busy machine handles
                // them.
                let within = Duration::from_secs(110);
                let reply = self
                    .node
                    .call_timeout::<Tally>(name, Call::Digest, within)
                    .await;
                let Reply::Digest { rows, digest } = reply.map_err(|e| e.to_string())? else {
                    return Err("unexpected reply".into());
                };
                Ok(format!("{rows} {digest}"))
            }
            ["spawnmany", sup, prefix, n] => {
                let sup = Supervisor::lookup(sup).ok_or("no such supervisor")?;
                let n: u64 = n.parse().map_err(|_| "bad count")?;
                for i in 0..n {
                    sup.start_child(format!("{prefix}{i}"), Tally, Counts::default())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(String::new())
            }
            ["drain"] => {
                let report = self.node.drain(64).await;
                let failed = report.failed.first().map(|(n, e)| format!("{n}: {e}"));
                Ok(format!(
                    "{} {} {} {}",
                    report.moved_total(),
                    report.failed.len(),
                    report.took.as_millis(),
                    failed.unwrap_or_default()
                ))
            }
            ["timers", name, once_ms, every_ms] => {
                let once_ms = once_ms.parse().map_err(|_| "bad once_ms")?;
                let every_ms = every_ms.parse().map_err(|_| "bad every_ms")?;
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                h.cast(Cast::Timers { once_ms, every_ms })
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["pause", ms] => {
                let ms = ms.parse().map_err(|_| "bad ms")?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(String::new())
            }
            ["stop", sup] => {
                let sup = Supervisor::lookup(sup).ok_or("no such supervisor")?;
                sup.stop().await;
                Ok(String::new())
            }
            ["count", sup] => {
                let sup = Supervisor::lookup(sup).ok_or("no such supervisor")?;
                Ok(sup.count().to_string())
            }
            ["callall", prefix, n] => {
                let n: u64 = n.parse().map_err(|_| "bad count")?;
                let mut failed = 0;
                for i in 0..n {
                    let name = format!("{prefix}{i}");
                    if self.node.call::<Tally>(&name, Call::Get).await.is_err() {
                        failed += 1;
                    }
                }
                Ok(format!("{} {failed}", n - failed))
            }
            ["dormant", prefix, n] => {
                let n: u64 = n.parse().map_err(|_| "bad count")?;
                // On a thread of its own, whose name cache ends with it: the
                // report counts before and after moves, and entries cached
                // here would keep the memory of the instances that moved.
                let count = move || {
                    let (mut dormant, mut missing) = (0, 0);
                    for i in 0..n {
                        match peeper::lookup::<Tally>(&format!("{prefix}{i}")) {
                            Ok(h) if h.is_dormant() => dormant += 1,
                            Ok(_) => {}
                            Err(_) => missing += 1,
                        }
                    }
                    format!("{dormant} {missing}")
                };
                std::thread::scope(|s| s.spawn(count).join())
                    .map_err(|_| "the count panicked".to_owned())
            }
            ["callbench", name, calls] => {
                let calls: u32 = calls.parse().map_err(|_| "bad calls")?;
                let started = Instant::now();
                for _ in 0..calls {
                    self.node
                        .call::<Tally>(name, Call::Get)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok((started.elapsed().as_nanos() / u128::from(calls.max(1))).to_string())
            }
            ["pingbench", peer, pings] => {
                let pings: u32 = pings.parse().map_err(|_| "bad pings")?;
                let mut total = Duration::ZERO;
                for _ in 0..pings {
                    total += self.node.ping_peer(peer).await.ok_or("no answer")?;
                }
                Ok((total.as_nanos() / u128::from(pings.max(1))).to_string())
            }
            ["rss"] => Ok(format!(
                "{:.1} {:.1}",
                rss::resident_mib(),
                rss::peak_resident_mib()
            )),
            _ => Err(format!("unknown command {words:?}")),
        }
    }
}

/// A one-word name for a remote call's error, for tests to match.
fn error_kind(e: &peeper::cluster::RemoteCallError) -> &'static str {
    use peeper::cluster::RemoteCallError as E;
    match e {
        E::Lookup(_) => "notfound",
        E::Unreachable { .. } => "unreachable",
        E::Call(peeper::CallError::Timeout { .. }) => "timeout",
        E::Call(_) => "call",
        _ => "other",
    }
}

/// Runs a node shell with these arguments (without the program name) until
/// its input closes; returns the process's exit status.
pub async fn serve(raw: Vec<String>) -> i32 {
    let args = match args(raw) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let mut config = NodeConfig::new(&args.name, &args.cookie);
    config.port = args.port;
    let [heartbeat, heartbeat_timeout, step, call] = args.timings;
    config.heartbeat_interval = heartbeat.unwrap_or(config.heartbeat_interval);
    config.heartbeat_timeout = heartbeat_timeout.unwrap_or(config.heartbeat_timeout);
    config.step_timeout = step.unwrap_or(config.step_timeout);
    config.call_timeout = call.unwrap_or(config.call_timeout);
    let durable = match args.store.as_deref().map(Durable::open).transpose() {
        Ok(d) => d,
        Err(e) => {
            println!("error {e}");
            return 1;
        }
    };
    if let Some(d) = &durable {
        d.register(|| Tally);
        config.durable = Some(d.clone());
    }
    let node = match Node::start(config).await {
        Ok(n) => n,
        Err(e) => {
            println!("error {e}");
            return 1;
        }
    };
    node.register(|| Tally);
    println!("listening {}", node.addr());
    let mut shell = Shell {
        node,
        held: None,
        loads: HashMap::new(),
        stops: HashMap::new(),
        durable,
        dashboard: None,
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let lifetime = tokio::time::sleep(args.lifetime);
    tokio::pin!(lifetime);
    loop {
        let line = tokio::select! {
            () = &mut lifetime => break,
            line = lines.next_line() => match line {
                Ok(Some(line)) => line,
                _ => break,
            },
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words == ["quit"] {
            break;
        }
        match shell.run(&words).await {
            Ok(text) if text.is_empty() => println!("ok"),
            Ok(text) => println!("ok {text}"),
            Err(e) => println!("error {}", e.replace('\n', " ")),
        }
    }
    0
}
