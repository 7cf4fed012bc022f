//! The command line of `peeper-durable-node`.

use std::path::PathBuf;
use std::time::Duration;

/// What the node does once its store is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send numbered ops to every instance until killed.
    Storm,
    /// Report every instance once its recovered work is done, then exit.
    Check,
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// `storm` or `check`.
    pub mode: Mode,
    /// The redb file.
    pub store: PathBuf,
    /// How many instances (`acct-0`…).
    pub instances: usize,
    /// How many sender tasks (`s0`…); unused by `check`.
    pub senders: usize,
    /// The process exits by itself after this long, whatever it is doing.
    pub lifetime: Duration,
}

/// How to call it.
pub const USAGE: &str = "usage: peeper-durable-node storm|check --store PATH \
                         [--instances N] [--senders S] [--lifetime-secs L]";

impl Options {
    /// Parses the arguments (without the program's name).
    ///
    /// # Errors
    /// What is wrong with them, for standard error.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut mode = None;
        let mut store = None;
        let mut instances = 4;
        let mut senders = 3;
        let mut lifetime: u64 = 60;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "storm" => mode = Some(Mode::Storm),
                "check" => mode = Some(Mode::Check),
                "--store" => store = Some(PathBuf::from(value()?)),
                "--instances" => instances = number(arg, value()?)?,
                "--senders" => senders = number(arg, value()?)?,
                "--lifetime-secs" => lifetime = number(arg, value()?)?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Options {
            mode: mode.ok_or("a mode: storm or check")?,
            store: store.ok_or("--store is required")?,
            instances,
            senders,
            lifetime: Duration::from_secs(lifetime),
        })
    }
}

fn number<N: std::str::FromStr>(flag: &str, value: &str) -> Result<N, String> {
    value.parse().map_err(|_| format!("bad {flag}: {value:?}"))
}
