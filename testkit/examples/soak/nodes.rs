//! Node moves for the soak (flag `--nodes`): this process
//! is node "soak-a"; it starts a copy of itself as node "soak-b" on
//! 127.0.0.1, and the chaos task moves random instances to b and back while
//! the senders go on sending through the handles they hold. b moves an
//! instance back when a asks it on its standard input (`move <name> <sup>`).

use std::process::Stdio;

use peeper::Supervisor;
use peeper::cluster::{Node, NodeConfig, Portable};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Tally;

/// The flag that makes this program node b.
pub const PEER_FLAG: &str = "--soak-peer";
const COOKIE: &str = "peeper-soak";
const A: &str = "soak-a";
const B: &str = "soak-b";

impl Portable for Tally {
    const KIND: &'static str = "soak-tally";
    const VERSION: u32 = 1;
}

async fn node(name: &str) -> Result<Node, Box<dyn std::error::Error>> {
    let node = Node::start(NodeConfig::new(name, COOKIE)).await?;
    node.register(|| Tally);
    Ok(node)
}

/// Runs node b until its input closes.
pub async fn serve_peer(supervisors: usize) -> Result<(), Box<dyn std::error::Error>> {
    let node = node(B).await?;
    for s in 0..supervisors {
        Supervisor::start(format!("soak-{s}")).await?;
    }
    println!("listening {}", node.addr());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words[..] {
            ["move", name, sup] => match Supervisor::lookup(sup) {
                Some(from) => match node.move_to::<Tally>(name, &from, A, sup).await {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => format!("error {e}"),
                },
                None => "error no such supervisor".to_owned(),
            },
            _ => format!("error unknown command {line:?}"),
        };
        println!("{answer}");
    }
    Ok(())
}

/// Node a's side: its node, and node b's process.
pub struct Peer {
    pub node: Node,
    child: Child,
    stdin: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Starts node a, starts node b as a child process and connects them.
    pub async fn start(supervisors: usize) -> Result<Peer, Box<dyn std::error::Error>> {
        let node = node(A).await?;
        let mut child = Command::new(std::env::current_exe()?)
            .args([PEER_FLAG, "--supervisors", &supervisors.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut answers = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), answers.next_line())
            .await??
            .ok_or("node b ended")?;
        let addr = first
            .strip_prefix("listening ")
            .ok_or_else(|| format!("node b said {first:?}"))?;
        node.connect(addr.parse()?).await?;
        Ok(Peer {
            node,
            child,
            stdin,
            answers,
        })
    }

    /// Moves `name` from `sup` here to the supervisor of the same name on b.
    pub async fn move_out(&self, name: &str, sup: &Supervisor) -> Result<(), String> {
        let moved = self.node.move_to::<Tally>(name, sup, B, sup.name()).await;
        moved.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Asks b to move `name` back here, under the supervisor `sup`.
    pub async fn move_back(&mut self, name: &str, sup: &str) -> Result<(), String> {
        let line = format!("move {name} {sup}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        match self.answers.next_line().await {
            Ok(Some(answer)) if answer == "ok" => Ok(()),
            Ok(Some(answer)) => Err(answer),
            Ok(None) => Err("node b ended".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Ends node b (our child, by its PID).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
