//! A headless Chromium for the live view's browser test: chromedriver as a
//! child process on a free port, ended by its PID when dropped (on failure
//! too), the capabilities that start Chromium headless with a fresh profile,
//! and a plain HTTP GET for what the test reads besides the page.
//!
//! Debian's `chromium` and `chromium-driver` packages provide
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`; `CHROMIUM` and
//! `CHROMEDRIVER` name others.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long chromedriver may take to listen.
const START: Duration = Duration::from_secs(30);

/// What to do when the browser is missing.
const INSTALL: &str = "install them with `apt-get install -y chromium chromium-driver` \
     (or name other binaries with CHROMIUM and CHROMEDRIVER)";

/// A running chromedriver; dropping it kills it by its PID and reaps it.
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    port: u16,
    /// The browser binary it is to start.
    pub chromium: PathBuf,
    /// A fresh profile directory, removed on drop.
    profile: PathBuf,
}

fn binary(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "the browser test needs {} (not found); {INSTALL}",
        path.display()
    );
    path
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it listens.
    ///
    /// # Panics
    ///
    /// If Chromium or chromedriver is missing (saying how to install them),
    /// or chromedriver does not listen within 30 s.
    pub fn start() -> Chromedriver {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let driver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            // A group of its own, led by it: the browsers it starts are in
            // it too, and end with it even if no session closes them.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL}", driver.display()));
        let profile =
            std::env::temp_dir().join(format!("peeper-chromium-{}-{port}", std::process::id()));
        let running = Chromedriver {
            child,
            port,
            chromium,
            profile,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < START,
                "chromedriver did not listen on {addr} within {START:?}"
            );
            // A poll, bounded above; the pause only spares the CPU.
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    /// Where to connect a WebDriver client.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The W3C capabilities of a headless Chromium session with a fresh
    /// profile, as a JSON object.
    pub fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", self.profile.display())])
        .collect::<Vec<_>>();
        let options = serde_json::json!({
            "binary": self.chromium.display().to_string(),
            "args": args,
        });
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("goog:chromeOptions".into(), options);
        caps
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // By id: the group chromedriver leads (its PID), so the browsers it
        // started end too; never by a name.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A GET of `path` at `addr` with a bearer token, on a fresh connection:
/// the status and the body (which must not be chunked: the dashboard's
/// answers have a length).
///
/// # Panics
///
/// If the connection fails or the answer is not HTTP.
pub async fn get(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}
