//! Node processes for the multi-node scenarios: a test starts `peeper-node`
//! processes on 127.0.0.1, drives them by line commands (see
//! [`shell`](crate::shell) for the commands), and ends them by their PID
//! (dropping a [`NodeProc`] kills and reaps it). Every process also ends by
//! itself when its lifetime is over (two minutes for [`NodeProc::start`]) or
//! when its input closes.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How long any one answer may take: far more than it needs.
const ANSWER: Duration = Duration::from_secs(120);

/// One node process, its input and its output lines.
#[derive(Debug)]
pub struct NodeProc {
    /// The node's name, as given with `--name`.
    pub name: String,
    /// Where it listens (`127.0.0.1:port`), as it said first.
    pub addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl NodeProc {
    /// Starts `program`, the `peeper-node` binary, for two minutes at most.
    /// Cargo gives its path to this crate's tests and benches only, as
    /// `env!("CARGO_BIN_EXE_peeper-node")`.
    ///
    /// # Panics
    ///
    /// If the process cannot be started or does not say where it listens.
    pub fn start(program: impl AsRef<OsStr>, name: &str, cookie: &str) -> NodeProc {
        NodeProc::start_with(Command::new(program), name, cookie, 120)
    }

    /// As [`NodeProc::start`], with environment variables (`PEEPER_FAULT`,
    /// see `peeper::cluster`'s fault points) and more shell flags (the
    /// node's timings, see [`shell`](crate::shell)).
    ///
    /// # Panics
    ///
    /// As [`NodeProc::start`].
    pub fn start_opts(
        program: impl AsRef<OsStr>,
        name: &str,
        cookie: &str,
        env: &[(&str, &str)],
        flags: &[&str],
    ) -> NodeProc {
        let mut command = Command::new(program);
        command.envs(env.iter().copied()).args(flags);
        NodeProc::start_with(command, name, cookie, 120)
    }

    /// Starts a node shell with `command`, which must accept the shell's
    /// arguments after its own, for `lifetime` seconds at most.
    ///
    /// # Panics
    ///
    /// As [`NodeProc::start`].
    pub fn start_with(mut command: Command, name: &str, cookie: &str, lifetime: u32) -> NodeProc {
        let lifetime = lifetime.to_string();
        let mut child = command
            .args([
                "--name",
                name,
                "--cookie",
                cookie,
                "--lifetime-secs",
                &lifetime,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("PEEPER_NODE_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start peeper-node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut node = NodeProc {
            name: name.to_owned(),
            addr: String::new(),
            child,
            stdin,
            lines,
        };
        let first = node.line().expect("the node says where it listens");
        node.addr = first
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        node
    }

    /// The next line, or `None` if the process ended.
    ///
    /// # Panics
    ///
    /// If the process says nothing for two minutes.
    pub fn line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(ANSWER) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("node {} said nothing for {ANSWER:?}", self.name)
            }
        }
    }

    /// Sends a command without waiting for its answer.
    pub fn send_only(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("write a command");
        self.stdin.flush().expect("flush");
    }

    /// Sends a command and returns its answer (`ok …` or `error …`),
    /// skipping progress lines.
    pub fn send(&mut self, command: &str) -> String {
        self.send_only(command);
        self.answer()
    }

    /// The next `ok …` or `error …` line.
    pub fn answer(&mut self) -> String {
        loop {
            let line = self
                .line()
                .unwrap_or_else(|| panic!("node {} ended", self.name));
            if line.starts_with("ok") || line.starts_with("error") {
                return line;
            }
        }
    }

    /// Sends a command that must succeed; returns the words after `ok`.
    pub fn ok(&mut self, command: &str) -> Vec<String> {
        let answer = self.send(command);
        let rest = answer
            .strip_prefix("ok")
            .unwrap_or_else(|| panic!("{}: {command:?} answered {answer:?}", self.name));
        rest.split_whitespace().map(str::to_owned).collect()
    }

    /// The node's resident memory in MiB (its `rss` command).
    pub fn rss_mib(&mut self) -> f64 {
        self.ok("rss")[0].parse().expect("a number")
    }

    /// `kill -STOP` of this process: it stays, with its sockets open, but
    /// says nothing more.
    pub fn freeze(&mut self) {
        self.signal("-STOP");
    }

    /// `kill -CONT` of this process after [`NodeProc::freeze`] (or after it
    /// stopped itself at a fault point).
    pub fn thaw(&mut self) {
        self.signal("-CONT");
    }

    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits until the process ended by itself (a fault point killed it).
    pub fn wait_dead(&mut self) {
        let _ = self.child.wait();
    }

    /// Waits until the process stopped itself (a fault point sent it
    /// `SIGSTOP`), reading its state from `/proc`; at most `limit`.
    ///
    /// # Panics
    ///
    /// If it is not stopped by then.
    pub fn wait_stopped(&mut self, limit: Duration) {
        let stat = format!("/proc/{}/stat", self.child.id());
        let deadline = std::time::Instant::now() + limit;
        loop {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state follows the command name, which is in parentheses.
            let stopped = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'));
            if stopped {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node {} did not stop within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `kill -9` of this process (our own child, by its PID), then reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The fields of a `check` answer.
#[derive(Debug, PartialEq)]
pub struct Check {
    /// The instance's counter.
    pub value: i64,
    /// Numbered calls and casts it handled.
    pub handled: u64,
    /// Numbered messages that came out of order or twice.
    pub violations: u64,
    /// Rows in its table.
    pub rows: u64,
    /// Its dictionary's label (`-` if none), spaces as `_`.
    pub label: String,
    /// The name of its supervisor on that node (`-` if none, as for a relay).
    pub supervisor: String,
    /// Deliveries of its one-shot timer.
    pub once: u64,
    /// Deliveries of its interval timer.
    pub every: u64,
    /// Numbered messages handled twice (or older than one handled).
    pub dups: u64,
}

/// Polls `check name` on `node` until the instance answers there, at most
/// about 20 s (bounded, for instances that start after a move or a
/// restart), and returns what it holds.
///
/// # Panics
/// If it never answers.
pub fn wait_check(node: &mut NodeProc, name: &str) -> Check {
    for _ in 0..400 {
        if node.send(&format!("check {name}")).starts_with("ok") {
            return check(node, name);
        }
        node.ok("pause 50");
    }
    panic!("{name} never ran on {}", node.name);
}

/// Asks `node` what the instance `name` holds (the `check` command).
pub fn check(node: &mut NodeProc, name: &str) -> Check {
    let w = node.ok(&format!("check {name}"));
    Check {
        value: w[0].parse().expect("value"),
        handled: w[1].parse().expect("handled"),
        violations: w[2].parse().expect("violations"),
        rows: w[3].parse().expect("rows"),
        label: w[4].clone(),
        supervisor: w[5].clone(),
        once: w[6].parse().expect("once"),
        every: w[7].parse().expect("every"),
        dups: w[8].parse().expect("dups"),
    }
}
