//! `peeper-durable-node`: one process holding a durable store, for the
//! `kill -9` test (`tests/durable_kill.rs`). The test starts it in `storm`
//! mode, kills it with SIGKILL at a moment of its choosing, then starts it
//! in `check` mode on the same store and compares what the instances
//! recovered with every op the killed process acknowledged.
//!
//! ```text
//! peeper-durable-node storm|check --store PATH [--instances 4] [--senders 3]
//!                     [--lifetime-secs 60]
//! ```
//!
//! - `storm`: opens the store, recovers the supervisor `bank`, starts the
//!   instances `acct-0…` it lacks, prints `ready`, then runs the senders
//!   `s0…` ([`storm`](storm::storm)), printing `ack <instance> <sender> <seq>`
//!   after each op acknowledged, until killed.
//! - `check`: opens and recovers the same way, waits until every instance
//!   handled what it recovered, prints one `figures …` line per instance
//!   ([`Figures`]) and `done`, and exits 0.
//!
//! Either prints `locked` and exits 3 if another process holds the store,
//! prints `error <why>` and exits 1 on any other failure, and exits 4 when
//! its lifetime is over, whatever it is doing. [`procs`] starts and ends
//! such processes for the test.

pub mod account;
pub mod check;
pub mod figures;
pub mod options;
pub mod out;
pub mod procs;
pub mod storm;

use std::time::Duration;

use peeper::Handle;
use peeper::durable::{Durable, StoreError};

use account::{Account, Answer, Ask};
use figures::Figures;
use options::{Mode, Options, USAGE};
use out::say;

/// The supervisor every instance runs under.
pub const SUPERVISOR: &str = "bank";
/// Exit status: something failed (the reason is on standard error).
pub const EXIT_FAILED: i32 = 1;
/// Exit status: the command line is wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: another process holds the store.
pub const EXIT_LOCKED: i32 = 3;
/// Exit status: the lifetime ran out.
pub const EXIT_LIFETIME: i32 = 4;

/// How long a report may take; far more than it needs.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of instance `i`.
pub fn instance_name(i: usize) -> String {
    format!("acct-{i}")
}

/// Asks an instance for its figures.
///
/// # Errors
/// The call failed, or got another answer.
pub async fn report(handle: &Handle<Account>) -> Result<Figures, String> {
    match handle.call_timeout(Ask::Report, REPORT_TIMEOUT).await {
        Ok(Answer::Report(figures)) => Ok(figures),
        Ok(other) => Err(format!("{}: unexpected answer {other:?}", handle.name())),
        Err(e) => Err(format!("{}: report: {e}", handle.name())),
    }
}

/// Runs the node with `args` (without the program's name); the process's
/// exit status.
pub async fn run(args: Vec<String>) -> i32 {
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    end_after(options.lifetime);
    let durable = match Durable::open(&options.store) {
        Ok(durable) => durable,
        Err(StoreError::Locked { .. }) => {
            say("locked");
            return EXIT_LOCKED;
        }
        Err(e) => return failed(format!("open: {e}")),
    };
    durable.register(|| Account);
    let sup = match durable.supervisor(SUPERVISOR).await {
        Ok(sup) => sup,
        Err(e) => return failed(format!("recover: {e}")),
    };
    let outcome = match options.mode {
        Mode::Storm => storm::storm(&durable, &sup, options.instances, options.senders).await,
        Mode::Check => check::check(options.instances).await,
    };
    sup.stop().await;
    drop(durable);
    match outcome {
        Ok(()) => 0,
        Err(e) => failed(e),
    }
}

fn failed(why: String) -> i32 {
    say(format_args!("error {why}"));
    EXIT_FAILED
}

/// Ends the process after `lifetime`, even with the runtime stuck: a
/// process the test lost track of must not outlive it for long.
fn end_after(lifetime: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(lifetime);
        eprintln!("peeper-durable-node: lifetime over");
        std::process::exit(EXIT_LIFETIME);
    });
}
