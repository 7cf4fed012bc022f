//! # peeper-testkit
//!
//! What peeper's multi-node tests, benches and examples share, in one crate
//! they import by name. It is not published; peeper itself does not depend
//! on it (so `cargo test -p peeper` builds peeper with only the features
//! asked for), and everything that needs node processes lives here:
//! `tests/` (moves, move faults, drain), `benches/` (criterion, local and
//! remote) and `examples/` (`bench_report`, `soak`).
//!
//! # Layout
//!
//! - [`nodes`]: [`NodeProc`](nodes::NodeProc), one node process on 127.0.0.1
//!   driven by line commands, ended by its PID when dropped.
//! - [`shell`]: the node shell such a process runs ([`shell::serve`]); the
//!   `peeper-node` binary of this crate is nothing else.
//! - [`durable_node`]: the `peeper-durable-node` process, which holds a
//!   durable store and sends numbered ops to its instances (`storm`) or
//!   reports what they recovered (`check`), and the harness that kills it
//!   with SIGKILL for the `durable_kill` test.
//! - [`bench`]: the actors and workloads that the criterion benches and the
//!   report measure, so that both measure the same code.
//! - [`browser`]: chromedriver as a child process and a headless Chromium
//!   session's capabilities, for the live view's browser test.
//! - [`rss`]: this process's resident memory, from `/proc`; [`heap`]: the
//!   heap bytes in use, as the allocator counts them.
//!
//! A multi-node test starts `peeper-node`, whose path cargo gives to this
//! crate's tests and benches:
//!
//! ```no_run
//! use peeper_testkit::nodes::{NodeProc, check};
//!
//! // In a test of this crate: env!("CARGO_BIN_EXE_peeper-node").
//! # let peeper_node = "target/debug/peeper-node";
//! let mut a = NodeProc::start(peeper_node, "a", "cookie");
//! a.ok("supervisor src");
//! a.ok("spawn src p 1000 8");
//! assert_eq!(check(&mut a, "p").rows, 1000);
//! ```

#![deny(missing_docs)]

pub mod bench;
pub mod browser;
pub mod durable_node;
pub mod heap;
pub mod nodes;
pub mod rss;
pub mod shell;
