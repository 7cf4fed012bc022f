//! `peeper-node`: one peeper node in its own process, driven by line
//! commands; see `peeper_testkit::shell` for the commands.
//!
//! ```text
//! peeper-node --name a --cookie secret [--port 0] [--lifetime-secs 120]
//! ```

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Warnings and errors to standard error, which the harness shows only
    // when `PEEPER_NODE_LOG` is set (`RUST_LOG` overrides the level).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let status = peeper_testkit::shell::serve(std::env::args().skip(1).collect()).await;
    std::process::exit(status);
}
