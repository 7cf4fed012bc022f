//! The shell's command line: the node's name, cookie and port, its lifetime,
//! its timings and its store (see the [module docs](super)).

use std::time::Duration;

/// The shell's command line.
pub(super) struct Args {
    pub(super) name: String,
    pub(super) cookie: String,
    pub(super) port: u16,
    pub(super) lifetime: Duration,
    /// Node timings given in milliseconds: heartbeat, heartbeat timeout,
    /// step timeout, call timeout.
    pub(super) timings: [Option<Duration>; 4],
    /// The durable store's file, if any.
    pub(super) store: Option<String>,
}

pub(super) fn args(raw: Vec<String>) -> Result<Args, String> {
    let mut a = Args {
        name: String::new(),
        cookie: String::new(),
        port: 0,
        lifetime: Duration::from_secs(120),
        timings: [None; 4],
        store: None,
    };
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--name" => a.name = value,
            "--store" => a.store = Some(value),
            "--cookie" => a.cookie = value,
            "--port" => a.port = value.parse().map_err(|_| "bad --port")?,
            "--lifetime-secs" => {
                a.lifetime = Duration::from_secs(value.parse().map_err(|_| "bad --lifetime-secs")?);
            }
            "--heartbeat-ms"
            | "--heartbeat-timeout-ms"
            | "--step-timeout-ms"
            | "--call-timeout-ms" => {
                let i = [
                    "--heartbeat-ms",
                    "--heartbeat-timeout-ms",
                    "--step-timeout-ms",
                    "--call-timeout-ms",
                ]
                .iter()
                .position(|f| *f == flag)
                .unwrap_or(0);
                let ms = value.parse().map_err(|_| format!("bad {flag}"))?;
                a.timings[i] = Some(Duration::from_millis(ms));
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.name.is_empty() || a.cookie.is_empty() {
        return Err("usage: --name N --cookie C [--port P] [--lifetime-secs S]".into());
    }
    Ok(a)
}
