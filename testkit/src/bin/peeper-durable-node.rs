//! `peeper-durable-node`: one process holding a durable store, in `storm`
//! or `check` mode, for the `kill -9` test; see
//! `peeper_testkit::durable_node`.

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Warnings and errors to standard error (`RUST_LOG` overrides the level).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let args = std::env::args().skip(1).collect();
    let status = peeper_testkit::durable_node::run(args).await;
    std::process::exit(status);
}
