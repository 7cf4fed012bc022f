//! Moves a live actor holding a big table from one node process to another.
//!
//! The driver (node "a") starts a second copy of this program as node "b",
//! fills the table of an actor named "room" with about `--mib` MiB of rows
//! (default 256), moves the running actor to b under a progress bar, then
//! calls "room" from a, which b answers, to show that its state, dictionary
//! and table survived.
//!
//! ```text
//! cargo run --release --example cluster --features cluster -- --mib 256
//! ```
//!
//! `--serve <name>` is the peer's role; the driver passes it, you need not.

use std::error::Error;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use peeper::cluster::{MovePhase, MoveProgress, Node, NodeConfig, Parts, Portable};
use peeper::{Actor, BoxError, Context, Start, StateMut, Supervisor};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;

/// Both processes must present it, or the handshake fails.
const COOKIE: &str = "peeper-cluster-example";
/// Big enough that the row count, not per-row overhead, sets the size.
const ROW_BYTES: usize = 4096;
/// Bytes per MiB, for printing.
const MIB: f64 = 1024.0 * 1024.0;

/// A table row: bytes that serde keeps as one block (a plain `Vec<u8>` goes
/// through serde byte by byte, several times slower).
type Row = serde_bytes::ByteBuf;

/// The movable actor; what it knows lives in its state, table and dictionary.
struct Room;

/// Kept state; serde types, because it travels in the move's snapshot.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Book {
    visits: u64,
    /// Rows written by `Fill`, so a reply can check they are all still there.
    filled: u64,
    /// Set by `init` on arrival, so a reply shows which copy answered.
    arrived_from: Option<String>,
}

/// Both calls answer with a [`Summary`].
#[derive(Serialize, Deserialize)]
enum Call {
    /// Fills the table "rows" with this many rows.
    Fill(u64),
    /// Counts a visit.
    Visit,
}

/// What the instance holds, as seen from inside it.
#[derive(Serialize, Deserialize)]
struct Summary {
    visits: u64,
    rows: usize,
    /// Rows still holding the length and bytes that `Fill` wrote.
    intact: u64,
    label: Option<String>,
    arrived_from: Option<String>,
}

impl Actor for Room {
    type State = Book;
    type Call = Call;
    type Reply = Summary;
    type Cast = ();
    type Info = ();

    async fn init(
        &self,
        state: &mut StateMut<Book>,
        start: Start,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if let Start::Moved { from } = start {
            state.arrived_from = Some(from);
        }
        Ok(())
    }

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<Book>,
        ctx: &mut Context<Self>,
    ) -> Result<Summary, BoxError> {
        let table = ctx.table::<u64, Row>("rows")?;
        match msg {
            Call::Fill(rows) => {
                for key in 0..rows {
                    table.insert(key, Row::from(vec![byte_of(key); ROW_BYTES]));
                }
                state.filled = rows;
                let label = format!("{rows} rows of {ROW_BYTES} B");
                ctx.dictionary_mut().put("label", label);
            }
            Call::Visit => state.visits += 1,
        }
        // Length and both ends only: a full scan would be slow in debug builds.
        let intact = (0..state.filled)
            .filter(|&k| {
                let b = Some(&byte_of(k));
                let ok = |v: &Row| v.len() == ROW_BYTES && v.first() == b && v.last() == b;
                table.with(&k, ok) == Some(true)
            })
            .count() as u64;
        Ok(Summary {
            visits: state.visits,
            rows: table.len(),
            intact,
            label: ctx.dictionary().get::<String>("label").cloned(),
            arrived_from: state.arrived_from.clone(),
        })
    }
}

/// Each row's bytes depend on its key, so a row under the wrong key shows.
fn byte_of(key: u64) -> u8 {
    (key % 251) as u8
}

impl Portable for Room {
    const KIND: &'static str = "room";
    const VERSION: u32 = 1;

    // An undeclared table or entry would make the move refuse.
    fn parts(parts: &mut Parts) {
        parts
            .table::<u64, Row>("rows")
            .dictionary::<String>("label");
    }
}

/// The peer process; dropping it kills it, so no error path leaves it behind.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this same executable as node `name` and reads the address it
/// listens on.
async fn spawn_peer(name: &str) -> Result<(Peer, std::net::SocketAddr), Box<dyn Error>> {
    let mut peer = Peer(
        Command::new(std::env::current_exe()?)
            .args(["--serve", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = peer.0.stdout.take().ok_or("no stdout from the peer")?;
    let mut lines = BufReader::new(tokio::process::ChildStdout::from_std(stdout)?).lines();
    // Bounded, so a peer stuck at start cannot hang the driver.
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "the peer did not report its address within 10 s")??
        .ok_or("the peer exited before reporting its address")?;
    let addr = line
        .strip_prefix("listening ")
        .ok_or("unexpected line from the peer")?;
    Ok((peer, addr.parse()?))
}

/// The peer's role: node `name`, with a supervisor "dst" to receive into,
/// until the driver closes our stdin (or, failing that, for 120 s).
async fn serve(name: &str) -> Result<(), Box<dyn Error>> {
    let node = Node::start(NodeConfig::new(name, COOKIE)).await?;
    node.register(|| Room);
    let _dst = Supervisor::start("dst").await?;
    println!("listening {}", node.addr());
    // A plain thread: a pending stdin read must not hold up the exit.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = tokio::time::timeout(Duration::from_secs(120), stdin_closed).await;
    node.stop().await;
    Ok(())
}

/// Shows the move's events on the bar. Each phase counts from zero, so only
/// the bulk copy moves the bar; later phases only change the message.
async fn render(mut events: broadcast::Receiver<MoveProgress>, bar: ProgressBar) {
    loop {
        let p = match events.recv().await {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let (done, total, sent) = (p.rows_done, p.rows_total, HumanBytes(p.bytes_done));
        let message = match p.phase {
            MovePhase::Tables => {
                bar.set_length(total);
                bar.set_position(done);
                format!("{sent} copied, \"room\" still running")
            }
            MovePhase::CatchUp => {
                format!("frozen, resending {done}/{total} rows written meanwhile")
            }
            MovePhase::Snapshot => "frozen, sending state and dictionary".to_owned(),
            MovePhase::Committed => format!("{sent} sent, b took over"),
            MovePhase::Aborted => "aborted, \"room\" runs on at a".to_owned(),
            _ => format!("{:?}", p.phase),
        };
        bar.set_message(message);
    }
}

/// The driver's role: node "a", which fills "room" and moves it to the peer.
async fn drive(mib: u64) -> Result<(), Box<dyn Error>> {
    // First, so that the peer boots while the table fills.
    let (peer, peer_addr) = spawn_peer("b").await?;
    let node = Node::start(NodeConfig::new("a", COOKIE)).await?;
    node.register(|| Room);
    let src = Supervisor::start("src").await?;
    let room = src.start_child("room", Room, Book::default()).await?;
    let rows = mib * 1024 * 1024 / ROW_BYTES as u64;
    let started = Instant::now();
    // Longer than the default call timeout, which a debug build can exceed.
    let fill = room.call_timeout(Call::Fill(rows), Duration::from_secs(300));
    let n = fill.await?.rows;
    let took = started.elapsed();
    println!(
        "a: \"room\" holds {n} rows ({} MiB), filled in {took:.2?}",
        (n * ROW_BYTES) >> 20
    );
    let to = node.connect(peer_addr).await?;
    println!("a: connected to {to} at {peer_addr} (pid {})", peer.0.id());

    let before = memory();
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} rows, {msg}",
    )?;
    let bar = ProgressBar::new(rows)
        .with_style(style)
        .with_message("starting");
    bar.enable_steady_tick(Duration::from_millis(100));
    let renderer = tokio::spawn(render(node.subscribe_moves(), bar.clone()));
    let started = Instant::now();
    let moved = node.move_to::<Room>("room", &src, &to, "dst").await;
    let elapsed = started.elapsed();
    // Stopped first, so that no late event redraws the finished bar.
    renderer.abort();
    let _ = renderer.await;
    let report = moved.inspect_err(|_| bar.abandon())?;
    bar.finish_with_message(format!("{} sent, b took over", HumanBytes(report.bytes)));
    if !bar.is_hidden() {
        eprintln!(); // The bar leaves the cursor at the end of its line.
    }

    let moved_mib = report.bytes as f64 / MIB;
    let rate = moved_mib / elapsed.as_secs_f64();
    println!(
        "moved {} rows, {moved_mib:.1} MiB to {to} in {elapsed:.2?} ({rate:.1} MiB/s)",
        report.rows
    );
    println!("\"room\" was frozen for {:.2?}", report.frozen_for);
    println!("driver memory before the move: {before}");
    println!("driver memory right after it:  {}", memory());
    // a drops its copy of the table in the background, after the hand-over.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("driver memory 0.5 s later:     {}", memory());
    // By name from a: a has let the name go (or its old copy relays while it
    // passes on its queue), and the instance on b answers.
    let s = node.call::<Room>("room", Call::Visit).await?;
    println!(
        "call to \"room\" from a: visits={} rows={} intact={} label={:?} arrived_from={:?}",
        s.visits, s.rows, s.intact, s.label, s.arrived_from
    );
    node.stop().await;
    Ok(())
}

/// RSS from /proc (Linux only). The allocator may keep freed pages for
/// reuse, so RSS falls later and less than the heap does.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| {
        let value = l.strip_prefix("VmRSS:")?.trim().strip_suffix(" kB")?;
        value.parse::<u64>().ok()
    });
    let rss = kib.map_or("n/a".into(), |kib| format!("{} MiB", kib / 1024));
    format!("RSS {rss}")
}

/// How to call it, for argument errors.
const USAGE: &str = "usage: cluster [--mib N]   (--serve NAME is the peer's role)";

/// Runs as the driver, or as the peer with `--serve`; two workers suffice for
/// one node per process.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => drive(256).await,
        ["--mib", n] => drive(n.parse().ok().filter(|&m| m > 0).ok_or(USAGE)?).await,
        ["--serve", name] => serve(name).await,
        _ => Err(USAGE.into()),
    }
}
