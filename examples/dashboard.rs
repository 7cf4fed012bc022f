//! A small busy system to watch in the live view: rooms under two
//! supervisors take visits, now and then crash (and lose nothing), and are
//! transferred between the supervisors; with the `cluster` feature, some
//! are moved to a second node process this program starts.
//!
//! ```text
//! cargo run --example dashboard --features dashboard -- --seconds 60
//! cargo run --example dashboard --features dashboard,cluster
//! ```
//!
//! It prints `dashboard: http://127.0.0.1:PORT/?token=…`; open it. Options:
//! `--seconds N` stops after N seconds (it runs until Ctrl-C otherwise),
//! `--port P` (default 9185; 0 picks a free one), `--rooms N` (default 40),
//! `--no-actions` (no token, so the page cannot kill, transfer or move).
//! `--serve NAME` is the second node's role; the program passes it itself.

use std::collections::hash_map::RandomState;
use std::error::Error;
use std::hash::BuildHasher;
use std::time::Duration;

use peeper::dashboard::Dashboard;
use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
use serde::{Deserialize, Serialize};

/// A room: counts visits, keeps who came in a table, and crashes on a bad
/// visitor.
struct Room;

/// Shown on a room's page: [`Dashboard::builder`] is told to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Guests {
    visits: u64,
    last: Option<u64>,
}

#[derive(Serialize, Deserialize)]
enum Visit {
    /// A visitor by number.
    By(u64),
    /// A visitor that makes the callback panic.
    Troublemaker,
}

impl Actor for Room {
    type State = Guests;
    type Call = ();
    type Reply = u64;
    type Cast = Visit;
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<Guests>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        Ok(state.visits)
    }

    async fn handle_cast(
        &self,
        visit: Visit,
        state: &mut StateMut<Guests>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match visit {
            Visit::By(who) => {
                state.visits += 1;
                state.last = Some(who);
                ctx.table::<u64, u64>("visitors")?
                    .insert(who % 64, state.visits);
                ctx.dictionary_mut().put("last_visitor", who);
            }
            Visit::Troublemaker => panic!("a troublemaker broke the furniture"),
        }
        Ok(())
    }
}

#[cfg(feature = "cluster")]
impl peeper::portable::Portable for Room {
    const KIND: &'static str = "room";
    const VERSION: u32 = 1;

    fn parts(parts: &mut peeper::portable::Parts) {
        parts
            .table::<u64, u64>("visitors")
            .dictionary::<u64>("last_visitor");
    }
}

/// A small random number generator (xorshift), seeded from the standard
/// library's random hasher keys: enough for a demo.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        Dice(RandomState::new().hash_one(std::process::id()) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The options.
struct Options {
    seconds: Option<u64>,
    port: u16,
    rooms: u64,
    actions: bool,
}

const USAGE: &str = "usage: dashboard [--seconds N] [--port P] [--rooms N] [--no-actions]   (--serve NAME is the second node's role)";

fn options(args: &[String]) -> Result<Options, Box<dyn Error>> {
    let mut o = Options {
        seconds: None,
        port: peeper::dashboard::DEFAULT_PORT,
        rooms: 40,
        actions: true,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(USAGE);
        match arg.as_str() {
            "--seconds" => o.seconds = Some(value()?.parse()?),
            "--port" => o.port = value()?.parse()?,
            "--rooms" => o.rooms = value()?.parse()?,
            "--no-actions" => o.actions = false,
            _ => return Err(USAGE.into()),
        }
    }
    Ok(o)
}

/// Runs the busy system until `--seconds` or Ctrl-C.
async fn drive(o: Options) -> Result<(), Box<dyn Error>> {
    let lobby = Supervisor::start("lobby").await?;
    let arena = Supervisor::start("arena").await?;
    for i in 0..o.rooms {
        let sup = if i % 2 == 0 { &lobby } else { &arena };
        sup.start_child(format!("room-{i:03}"), Room, Guests::default())
            .await?;
    }
    #[cfg(feature = "cluster")]
    let cluster = cluster::start().await?;
    let mut builder = Dashboard::builder()
        .addr(([127, 0, 0, 1], o.port))
        .show_state::<Room>();
    let token = o
        .actions
        .then(|| format!("{:016x}", RandomState::new().hash_one("token")));
    if let Some(token) = &token {
        builder = builder.token(token.clone());
    }
    #[cfg(feature = "cluster")]
    {
        builder = builder.node(&cluster.node);
    }
    let dashboard = builder.serve().await?;
    match &token {
        Some(token) => {
            println!("dashboard: {}?token={token}", dashboard.url());
            println!("token: {token}");
        }
        None => println!("dashboard: {}", dashboard.url()),
    }
    let busy = busy(o.rooms, lobby.clone(), arena.clone());
    #[cfg(feature = "cluster")]
    let busy = async {
        tokio::join!(busy, cluster::moves(&cluster, o.rooms, &lobby));
    };
    let until = async {
        match o.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::select! {
        () = until => {}
        () = busy => {}
    }
    dashboard.shutdown().await;
    lobby.stop().await;
    arena.stop().await;
    Ok(())
}

/// Visits, troublemakers and transfers, forever.
async fn busy(rooms: u64, lobby: Supervisor, arena: Supervisor) {
    let mut dice = Dice::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for step in 0u64.. {
        tick.tick().await;
        let name = format!("room-{:03}", dice.below(rooms));
        let visit = if dice.below(400) == 0 {
            Visit::Troublemaker
        } else {
            Visit::By(dice.below(1000))
        };
        // A room moved to the other node, or stopped at its restart limit,
        // is no longer here: nothing to do.
        let _ = peeper::cast::<Room>(&name, visit);
        if step % 200 == 0 {
            let (from, to) = if lobby.which_children().iter().any(|c| c.name == name) {
                (&lobby, &arena)
            } else {
                (&arena, &lobby)
            };
            let _ = peeper::transfer(&name, from, to).await;
        }
    }
}

#[cfg(feature = "cluster")]
mod cluster {
    //! The second node: a copy of this program run with `--serve b`.

    use std::error::Error;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use peeper::Supervisor;
    use peeper::cluster::{Node, NodeConfig};
    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::{Dice, Room};

    const COOKIE: &str = "peeper-dashboard-example";

    /// The peer process; dropping it kills it.
    pub(super) struct Peer(Child);

    impl Drop for Peer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// This node, connected to the second one.
    pub(super) struct Cluster {
        pub(super) node: Node,
        peer: String,
        _process: Peer,
    }

    pub(super) async fn start() -> Result<Cluster, Box<dyn Error>> {
        let mut process = Peer(
            Command::new(std::env::current_exe()?)
                .args(["--serve", "b"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?,
        );
        let stdout = process.0.stdout.take().ok_or("no stdout from the peer")?;
        let mut lines = BufReader::new(tokio::process::ChildStdout::from_std(stdout)?).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .map_err(|_| "the second node did not start within 20 s")??
            .ok_or("the second node exited before it started")?;
        let addr = line
            .strip_prefix("listening ")
            .ok_or("unexpected line from the second node")?;
        let node = Node::start(NodeConfig::new("a", COOKIE)).await?;
        node.register(|| Room);
        let peer = node.connect(addr.parse()?).await?;
        Ok(Cluster {
            node,
            peer,
            _process: process,
        })
    }

    /// Moves a room to the second node every few seconds, and starts a
    /// new one in its place.
    pub(super) async fn moves(cluster: &Cluster, rooms: u64, lobby: &Supervisor) {
        let mut dice = Dice::new();
        let mut tick = tokio::time::interval(Duration::from_secs(4));
        tick.tick().await;
        loop {
            tick.tick().await;
            let name = format!("room-{:03}", dice.below(rooms));
            if !lobby.which_children().iter().any(|c| c.name == name) {
                continue;
            }
            let moved = cluster
                .node
                .move_to::<Room>(&name, lobby, &cluster.peer, "lobby")
                .await;
            if moved.is_ok() {
                let _ = lobby
                    .start_child(name, Room, super::Guests::default())
                    .await;
            }
        }
    }

    /// The second node's role: receives rooms until stdin closes.
    pub(super) async fn serve(name: &str) -> Result<(), Box<dyn Error>> {
        let node = Node::start(NodeConfig::new(name, COOKIE)).await?;
        node.register(|| Room);
        let _lobby = Supervisor::start("lobby").await?;
        let _arena = Supervisor::start("arena").await?;
        println!("listening {}", node.addr());
        let (closed, stdin_closed) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(());
        });
        let _ = stdin_closed.await;
        node.stop().await;
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    // The rooms crash on purpose: their panics go to `tracing` (not set up
    // here) rather than to the terminal; the page shows each crash.
    peeper::crash_report::route_to_tracing();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = &args[..]
        && flag == "--serve"
    {
        #[cfg(feature = "cluster")]
        return cluster::serve(name).await;
        #[cfg(not(feature = "cluster"))]
        return Err(format!("--serve {name} needs the cluster feature").into());
    }
    drive(options(&args)?).await
}
