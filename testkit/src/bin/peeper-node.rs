//! `peeper-node`: one peeper node in its own process, driven by line
//! commands; see `peeper_testkit::shell` for the commands.
//!
//! ```text
//! peeper-node --name a --cookie secret [--port 0] [--lifetime-secs 120]
//! ```

use std::io::Write;

/// Writes each log line to standard error behind the node's name, so that
/// the lines of several nodes can be told apart.
struct Named(String);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Named {
    type Writer = NamedLine;

    fn make_writer(&'a self) -> NamedLine {
        NamedLine(self.0.clone())
    }
}

struct NamedLine(String);

impl Write for NamedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut line = format!("[{}] ", self.0).into_bytes();
        line.extend_from_slice(buf);
        std::io::stderr().write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args
        .iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    // Warnings and errors to standard error, which the harness shows only
    // when `PEEPER_NODE_LOG` is set (`RUST_LOG` overrides the level).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(false)
        .with_writer(Named(name))
        .init();
    let status = peeper_testkit::shell::serve(args).await;
    std::process::exit(status);
}
