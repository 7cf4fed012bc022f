//! A counter that survives `kill -9` of its process (feature `durable`).
//!
//! This program runs itself as a child process that opens a store, brings
//! back the counter `c1` (or starts it at 0), and increments it, printing
//! each value once the store has it on disk, with now and then a durable
//! cast of +10. After five acknowledged increments the parent kills the
//! child with SIGKILL, starts a second child on the same store, and checks
//! that `c1` came back with every acknowledged increment and every stored
//! cast; the second child makes a few more calls and exits cleanly.
//!
//! ```text
//! cargo run --example durable --features durable
//! ```
//!
//! `--child <store> [calls]` is the child's role; the parent passes it,
//! you need not.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use peeper::durable::Durable;
use peeper::portable::Portable;
use peeper::{Actor, BoxError, Context, StateMut};
use serde::{Deserialize, Serialize};

/// The flag that makes this program the child.
const CHILD: &str = "--child";
/// Acknowledged increments the first child gets before it is killed.
const KILL_AFTER: usize = 5;
/// Calls of the second child, which exits on its own.
const SECOND_CALLS: u64 = 3;
/// The first child stops on its own after this many calls, should the
/// parent never kill it.
const FIRST_CALLS: u64 = 500;
/// The longest the parent waits for a child's next line or its exit.
const PATIENCE: Duration = Duration::from_secs(30);
/// Between a child's calls: the kill lands while it is calling, not after.
const PAUSE: Duration = Duration::from_millis(20);
/// What a durable cast adds.
const CAST: u64 = 10;

/// A counter whose value is its state, so every change of it is stored.
struct Counter;

/// What a call asks.
#[derive(Serialize, Deserialize)]
enum Call {
    /// Adds one, and answers the new value.
    Increment,
    /// Answers the value.
    Get,
}

impl Actor for Counter {
    type State = u64;
    type Call = Call;
    type Reply = u64;
    /// An amount to add.
    type Cast = u64;
    type Info = ();

    async fn handle_call(
        &self,
        call: Call,
        value: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        if let Call::Increment = call {
            **value += 1;
        }
        Ok(**value)
    }

    async fn handle_cast(
        &self,
        amount: u64,
        value: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        **value += amount;
        Ok(())
    }
}

impl Portable for Counter {
    // Stored with every record: a store refuses a kind it does not know.
    const KIND: &'static str = "counter";
    const VERSION: u32 = 1;
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(CHILD) {
        let store = args.get(1).ok_or("--child wants the store's path")?;
        let calls = args.get(2).map_or(Ok(FIRST_CALLS), |n| n.parse())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(child(Path::new(store), calls));
    }
    parent()
}

/// The child: brings `c1` back or starts it, then makes `calls` increments,
/// a durable cast after every third.
async fn child(store: &Path, calls: u64) -> Result<(), Box<dyn Error>> {
    let durable = Durable::open(store)?;
    durable.register(|| Counter);
    // Every instance stored under "counters" is running again once this
    // returns, `c1` included if an earlier child started it.
    let sup = durable.supervisor("counters").await?;
    let c1 = match peeper::lookup::<Counter>("c1") {
        Ok(c1) => {
            println!("recovered c1 = {}", c1.call(Call::Get).await?);
            c1
        }
        Err(_) => {
            let c1 = durable.start_child(&sup, "c1", Counter, 0).await?;
            println!("started c1 = 0");
            c1
        }
    };
    for i in 1..=calls {
        // The reply leaves only once the increment is on disk.
        let value = c1.call(Call::Increment).await?;
        println!("c1 = {value}, stored");
        if i % 3 == 0 {
            c1.cast_durable(CAST).await?;
            println!("cast +{CAST} to c1, stored");
        }
        tokio::time::sleep(PAUSE).await;
    }
    // A shutdown keeps `c1` in the store for the next run.
    sup.stop().await;
    Ok(())
}

/// A folder for the store, removed however the parent ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running child, its stdout read line by line on a thread of its own so
/// that the parent can wait with a deadline. Killed if dropped running.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    label: &'static str,
}

impl Running {
    fn start(store: &Path, calls: u64, label: &'static str) -> Result<Running, Box<dyn Error>> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CHILD)
            .arg(store)
            .arg(calls.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the child's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            child,
            lines,
            label,
        })
    }

    /// The child's next line, echoed; `None` once its stdout is closed.
    fn next(&mut self) -> Result<Option<String>, Box<dyn Error>> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => {
                println!("  [{}] {line}", self.label);
                Ok(Some(line))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("{} said nothing for {PATIENCE:?}", self.label).into())
            }
        }
    }

    /// Waits for the child to exit on its own.
    fn finish(&mut self) -> Result<(), Box<dyn Error>> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(format!("{} failed: {status}", self.label).into());
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not exit", self.label).into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The least `c1` must come back with, from what a child said was stored:
/// its last acknowledged value, plus the durable casts stored after it.
#[derive(Default)]
struct Floor {
    acknowledged: Option<u64>,
    value: u64,
}

impl Floor {
    /// Takes in one line of the child's; whether it was an acknowledgement.
    fn see(&mut self, line: &str) -> bool {
        if let Some(v) = value_of(line, "c1 = ", ", stored") {
            self.acknowledged = Some(v);
            self.value = v;
            return true;
        }
        if line.starts_with("cast +") && line.ends_with(", stored") {
            self.value += CAST;
        }
        false
    }
}

/// The number between `prefix` and `suffix` in `line`, if it is one.
fn value_of(line: &str, prefix: &str, suffix: &str) -> Option<u64> {
    line.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn parent() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("peeper-durable-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let scratch = Scratch(dir);
    let store = scratch.0.join("counters.redb");

    println!("first child, store {}", store.display());
    let mut first = Running::start(&store, FIRST_CALLS, "child 1")?;
    let mut floor = Floor::default();
    let mut acks = 0;
    while acks < KILL_AFTER {
        let line = first.next()?.ok_or("the first child ended early")?;
        if floor.see(&line) {
            acks += 1;
        }
    }
    first.child.kill()?;
    first.child.wait()?;
    // Lines it printed before the kill are acknowledgements too.
    while let Some(line) = first.next()? {
        floor.see(&line);
    }
    let last = floor.acknowledged.ok_or("no acknowledgement")?;
    println!("killed the child with kill -9 after c1 = {last} was acknowledged");

    let mut second = Running::start(&store, SECOND_CALLS, "child 2")?;
    let line = second.next()?.ok_or("the second child said nothing")?;
    let recovered = value_of(&line, "recovered c1 = ", "")
        .ok_or_else(|| format!("the second child did not recover c1: {line:?}"))?;
    if recovered < floor.value {
        return Err(format!(
            "c1 came back as {recovered}, below the {} the first child had stored",
            floor.value
        )
        .into());
    }
    println!(
        "ok: c1 came back as {recovered}, at least the {} stored \
         (last acknowledged {last}, plus the durable casts stored after it)",
        floor.value
    );
    while second.next()?.is_some() {}
    second.finish()?;
    println!("the second child exited cleanly");
    Ok(())
}
