//! Starting `peeper-durable-node` processes and ending them by their PID,
//! for the test. Every wait is bounded: a process that says nothing for
//! [`ANSWER`] fails the test, and one still running when dropped is killed
//! and reaped. Each process also ends by itself after its lifetime.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::figures::{Ack, Figures};

/// How long any one line may take to come: far more than it needs, even
/// on a busy machine.
pub const ANSWER: Duration = Duration::from_secs(60);

/// A process's output: its lines as they come, and its standard error
/// whole once it ended.
#[derive(Debug)]
struct Output {
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Output {
    fn of(child: &mut Child) -> Output {
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Output {
            lines,
            stderr: Some(stderr),
        }
    }

    /// What the process wrote to standard error; call once it ended.
    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

fn command(program: &OsStr, mode: &str, store: &Path, instances: usize) -> Command {
    let mut command = Command::new(program);
    command
        .arg(mode)
        .arg("--store")
        .arg(store)
        .args(["--instances", &instances.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A `storm` process, and the acks it printed so far.
#[derive(Debug)]
pub struct Storm {
    child: Child,
    output: Output,
    acks: Vec<Ack>,
    reaped: Option<ExitStatus>,
}

impl Storm {
    /// Starts `program` (the `peeper-durable-node` binary) in `storm` mode
    /// on `store`, for `lifetime_secs` at most, and waits for its `ready`.
    ///
    /// # Panics
    /// If it cannot start, or ends or falls silent before `ready`.
    pub fn start(
        program: impl AsRef<OsStr>,
        store: &Path,
        instances: usize,
        senders: usize,
        lifetime_secs: u64,
    ) -> Storm {
        let mut child = command(program.as_ref(), "storm", store, instances)
            .args(["--senders", &senders.to_string()])
            .args(["--lifetime-secs", &lifetime_secs.to_string()])
            .spawn()
            .expect("start peeper-durable-node storm");
        let output = Output::of(&mut child);
        let mut storm = Storm {
            child,
            output,
            acks: Vec::new(),
            reaped: None,
        };
        let first = storm.line();
        assert_eq!(first, "ready", "{}", storm.ended_early(&first));
        storm
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> String {
        match self.output.lines.recv_timeout(ANSWER) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => {
                let why = self.ended_early("(output closed)");
                panic!("{why}")
            }
            Err(RecvTimeoutError::Timeout) => panic!("storm said nothing for {ANSWER:?}"),
        }
    }

    /// Why the storm is not doing what it should, with its exit status and
    /// standard error if it ended.
    fn ended_early(&mut self, line: &str) -> String {
        let _ = self.child.kill();
        let status = self.child.wait();
        self.reaped = status.as_ref().ok().copied();
        let stderr = self.output.stderr();
        format!("storm: unexpected {line:?}; exit {status:?}; stderr:\n{stderr}")
    }

    /// Reads lines until `min` acks came in all.
    ///
    /// # Panics
    /// If the process prints anything but acks, ends, or falls silent.
    pub fn wait_acks(&mut self, min: usize) {
        while self.acks.len() < min {
            let line = self.line();
            match Ack::parse(&line) {
                Some(ack) => self.acks.push(ack),
                None => panic!("{}", self.ended_early(&line)),
            }
        }
    }

    /// Sends SIGKILL to its PID, reaps it, and returns every ack it printed
    /// before it died.
    ///
    /// # Panics
    /// If it had ended already, or prints anything but acks.
    pub fn kill9(mut self) -> Vec<Ack> {
        // Child::kill is SIGKILL, to this PID only.
        self.child.kill().expect("SIGKILL the storm");
        let status = self.child.wait().expect("reap the storm");
        self.reaped = Some(status);
        let stderr = self.output.stderr();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the storm ended before the kill ({status}); stderr:\n{stderr}"
        );
        // The pipe's last lines are still to be read; the reader ends at
        // its end, now that the writer is gone.
        loop {
            match self.output.lines.recv_timeout(ANSWER) {
                Ok(line) => match Ack::parse(&line) {
                    Some(ack) => self.acks.push(ack),
                    None => panic!("storm: unexpected {line:?}; stderr:\n{stderr}"),
                },
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("the storm's output never closed"),
            }
        }
        std::mem::take(&mut self.acks)
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a `check` process printed, and how it ended.
#[derive(Debug)]
pub struct Checked {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub lines: Vec<String>,
    /// Its standard error.
    pub stderr: String,
}

impl Checked {
    /// Runs `program` in `check` mode on `store`, for `lifetime_secs` at
    /// most; killed by its PID if it overruns that.
    ///
    /// # Panics
    /// If it cannot start, or overruns its lifetime.
    pub fn run(
        program: impl AsRef<OsStr>,
        store: &Path,
        instances: usize,
        lifetime_secs: u64,
    ) -> Checked {
        let mut child = command(program.as_ref(), "check", store, instances)
            .args(["--lifetime-secs", &lifetime_secs.to_string()])
            .spawn()
            .expect("start peeper-durable-node check");
        let mut output = Output::of(&mut child);
        // Its own lifetime ends it; this is for a process past saving.
        let deadline = Instant::now() + Duration::from_secs(lifetime_secs) + ANSWER;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match output.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("check overran its lifetime; it printed {lines:?}");
                }
            }
        }
        let status = child.wait().expect("reap check");
        let stderr = output.stderr();
        Checked {
            status,
            lines,
            stderr,
        }
    }

    /// The `figures` lines, read; panics unless it ended well with `done`.
    ///
    /// # Panics
    /// If it failed, or printed anything unexpected.
    pub fn figures(&self) -> Vec<Figures> {
        assert!(
            self.status.success() && self.lines.last().map(String::as_str) == Some("done"),
            "check failed: {self:?}"
        );
        let figures = &self.lines[..self.lines.len() - 1];
        figures
            .iter()
            .map(|line| {
                Figures::parse(line).unwrap_or_else(|| panic!("unexpected {line:?}: {self:?}"))
            })
            .collect()
    }
}
