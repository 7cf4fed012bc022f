//! `peeper-node`: one peeper node in its own process, driven by line
//! commands; see `peeper_testkit::shell` for the commands.
//!
//! ```text
//! peeper-node --name a --cookie secret [--port 0] [--lifetime-secs 120]
//! ```

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let status = peeper_testkit::shell::serve(std::env::args().skip(1).collect()).await;
    std::process::exit(status);
}
