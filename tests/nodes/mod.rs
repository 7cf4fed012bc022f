//! Node processes for the multi-node scenarios: each test starts
//! `peeper-node` processes on 127.0.0.1, drives them by line commands, and
//! ends them by their PID (dropping a [`NodeProc`] kills and reaps it). Every
//! process also ends by itself after two minutes or when its input closes.

#![allow(dead_code)] // each test file uses a part of the helpers

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// How long any one answer may take: far more than it needs.
const ANSWER: Duration = Duration::from_secs(120);

pub struct NodeProc {
    pub name: String,
    pub addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl NodeProc {
    /// Starts `peeper-node` (tests and benches only: others have no path to it).
    pub fn start(name: &str, cookie: &str) -> NodeProc {
        let Some(program) = option_env!("CARGO_BIN_EXE_peeper-node") else {
            panic!("peeper-node's path is known only to tests and benches");
        };
        NodeProc::start_with(Command::new(program), name, cookie, 120)
    }

    /// Starts a node shell with `command`, which must accept the shell's
    /// arguments after its own.
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
            .stderr(Stdio::null())
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

    pub fn rss_mib(&mut self) -> f64 {
        self.ok("rss")[0].parse().expect("a number")
    }

    /// `kill -STOP` of this process: it stays, with its sockets open, but
    /// says nothing more.
    pub fn freeze(&mut self) {
        let status = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
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
    pub value: i64,
    pub handled: u64,
    pub violations: u64,
    pub rows: u64,
    pub label: String,
    pub supervisor: String,
    /// Deliveries of the one-shot and of the interval timer.
    pub once: u64,
    pub every: u64,
}

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
    }
}
