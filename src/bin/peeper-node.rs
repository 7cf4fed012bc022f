//! `peeper-node`: one peeper node in its own process, driven by line commands
//! on standard input, one answer line each on standard output. The
//! multi-node tests and the cluster example start it; it ends when its input
//! closes or after `--lifetime-secs` (default 120), whichever comes first.
//!
//! ```text
//! peeper-node --name a --cookie secret [--port 0] [--lifetime-secs 120]
//! ```
//!
//! It prints `listening <addr>` first. Commands (answers start with `ok` or
//! `error`):
//!
//! ```text
//! connect <addr>                      ok <peer name>
//! supervisor <name>                   ok
//! spawn <sup> <name> <rows> <bytes>   ok          (a tally with a table of <rows> rows)
//! load <name> <sender> <calls>        ok          (calls in the background)
//! wait <sender>                       ok <answered> <failed> [first error]
//! move <name> <sup> <node> <sup>      progress … lines, then ok <rows> <bytes> <frozen_us>
//! check <name>                        ok <value> <handled> <violations> <rows> <label> <children>
//! rss                                 ok <MiB>
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use peeper::cluster::{Node, NodeConfig, Parts, Portable};
use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

/// Counts numbered calls per sender and keeps a table of rows.
struct Tally;

#[derive(Clone, Default, Serialize, Deserialize)]
struct Counts {
    value: i64,
    last: BTreeMap<String, u64>,
    handled: u64,
    violations: u64,
}

#[derive(Serialize, Deserialize)]
enum Call {
    Get,
    Seq { sender: String, seq: u64 },
}

#[derive(Serialize, Deserialize)]
enum Cast {
    Fill { rows: u64, bytes: usize },
}

impl Actor for Tally {
    type State = Counts;
    type Call = Call;
    type Reply = Counts;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<Counts, BoxError> {
        if let Call::Seq { sender, seq } = msg {
            let counts: &mut Counts = state;
            let last = counts.last.entry(sender).or_insert(0);
            if seq != *last + 1 {
                counts.violations += 1;
            }
            *last = seq;
            counts.handled += 1;
            counts.value += 1;
        }
        Ok((**state).clone())
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        _: &mut StateMut<Counts>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let Cast::Fill { rows, bytes } = msg;
        let table = ctx.table::<u64, Vec<u8>>("rows")?;
        for i in 0..rows {
            table.insert(i, vec![(i % 251) as u8; bytes]);
        }
        ctx.dictionary_mut().put("label", format!("{rows} rows"));
        Ok(())
    }
}

impl Portable for Tally {
    const KIND: &'static str = "tally";
    const VERSION: u32 = 1;

    fn parts(parts: &mut Parts) {
        parts
            .table::<u64, Vec<u8>>("rows")
            .dictionary::<String>("label");
    }
}

struct Args {
    name: String,
    cookie: String,
    port: u16,
    lifetime: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        name: String::new(),
        cookie: String::new(),
        port: 0,
        lifetime: Duration::from_secs(120),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--name" => a.name = value,
            "--cookie" => a.cookie = value,
            "--port" => a.port = value.parse().map_err(|_| "bad --port")?,
            "--lifetime-secs" => {
                a.lifetime = Duration::from_secs(value.parse().map_err(|_| "bad --lifetime-secs")?);
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.name.is_empty() || a.cookie.is_empty() {
        return Err("usage: peeper-node --name N --cookie C [--port P] [--lifetime-secs S]".into());
    }
    Ok(a)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Answered and failed calls, and the first error.
type LoadResult = (u64, u64, Option<String>);

struct Shell {
    node: Node,
    loads: HashMap<String, JoinHandle<LoadResult>>,
}

impl Shell {
    async fn run(&mut self, words: &[&str]) -> Result<String, String> {
        match words {
            ["connect", addr] => {
                let addr = addr.parse().map_err(|_| format!("bad address {addr}"))?;
                self.node.connect(addr).await.map_err(|e| e.to_string())
            }
            ["supervisor", name] => {
                Supervisor::start(*name).await.map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["spawn", sup, name, rows, bytes] => {
                let sup = Supervisor::lookup(sup).ok_or("no such supervisor")?;
                let h = sup
                    .start_child(*name, Tally, Counts::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let rows = rows.parse().map_err(|_| "bad rows")?;
                let bytes = bytes.parse().map_err(|_| "bad bytes")?;
                h.cast(Cast::Fill { rows, bytes })
                    .map_err(|e| e.to_string())?;
                // The call queues behind the fill: once answered, it is done.
                h.call(Call::Get).await.map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            ["load", name, sender, calls] => {
                let calls: u64 = calls.parse().map_err(|_| "bad calls")?;
                let (node, name, sender_name) =
                    (self.node.clone(), (*name).to_owned(), (*sender).to_owned());
                let task = tokio::spawn(async move {
                    let (mut ok, mut failed, mut first) = (0, 0, None);
                    for seq in 1..=calls {
                        let msg = Call::Seq {
                            sender: sender_name.clone(),
                            seq,
                        };
                        match node.call::<Tally>(&name, msg).await {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                failed += 1;
                                first.get_or_insert(e.to_string());
                            }
                        }
                    }
                    (ok, failed, first)
                });
                self.loads.insert((*sender).to_owned(), task);
                Ok(String::new())
            }
            ["wait", sender] => {
                let task = self.loads.remove(*sender).ok_or("no such load")?;
                let (ok, failed, first) = task.await.map_err(|e| e.to_string())?;
                Ok(format!("{ok} {failed} {}", first.unwrap_or_default()))
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
                    "{} {} {}",
                    r.rows,
                    r.bytes,
                    r.frozen_for.as_micros()
                ))
            }
            ["check", name] => {
                let h = peeper::lookup::<Tally>(name).map_err(|e| e.to_string())?;
                let counts = self
                    .node
                    .call::<Tally>(name, Call::Get)
                    .await
                    .map_err(|e| e.to_string())?;
                let rows = h.table::<u64, Vec<u8>>("rows").map_or(0, |t| t.len());
                let label = h
                    .dictionary()
                    .get::<String>("label")
                    .cloned()
                    .unwrap_or_else(|| "-".into());
                let children = h.supervisor_name().unwrap_or_else(|| "-".into());
                Ok(format!(
                    "{} {} {} {rows} {} {children}",
                    counts.value,
                    counts.handled,
                    counts.violations,
                    label.replace(' ', "_")
                ))
            }
            ["rss"] => Ok(format!("{:.1}", rss_mib())),
            _ => Err(format!("unknown command {words:?}")),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut config = NodeConfig::new(&args.name, &args.cookie);
    config.port = args.port;
    let node = match Node::start(config).await {
        Ok(n) => n,
        Err(e) => {
            println!("error {e}");
            std::process::exit(1);
        }
    };
    node.register(|| Tally);
    println!("listening {}", node.addr());
    let mut shell = Shell {
        node,
        loads: HashMap::new(),
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
    std::process::exit(0);
}
