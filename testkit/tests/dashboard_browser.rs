//! The live view in a real browser (headless Chromium through chromedriver):
//! node A runs instances and the dashboard with a token, node B waits for
//! moves. The page shows an instance; its kill button raises its restart
//! count without a reload, and the redraws keep the button (a click spans
//! them); its "move to" list moves it to B while the page
//! shows the move's phase and progress bar; an instance's page withholds
//! its state; a drain moves the rest; `/metrics` parses.
//!
//! A screenshot goes to cargo's temporary directory for tests, and to the
//! path in `PEEPER_DASHBOARD_SCREENSHOT` if set (the README's
//! `docs/dashboard.png` is made so).
//!
//! Chromium missing is a failure that says how to install it, not a skip.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use peeper_testkit::browser::{self, Chromedriver};
use peeper_testkit::nodes::NodeProc;

const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");
const TOKEN: &str = "browser-test-token";
/// Polls of the page, each after the page had a moment: far more than
/// needed (the page samples every 100 ms).
const POLLS: usize = 600;

/// Evaluates `script` in the page; its value as text ("" for null).
async fn text(client: &Client, script: &str) -> String {
    let value = client
        .execute(script, Vec::new())
        .await
        .expect("a script runs");
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Polls `script` until `done` holds for its value; panics with `what` and
/// the last value if it never does.
async fn until(client: &Client, what: &str, script: &str, done: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..POLLS {
        last = text(client, script).await;
        if done(&last) {
            return last;
        }
        // The pause between polls only paces them; the bound is POLLS.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: still {last:?}");
}

/// Clicks what `css` selects, again if the page redrew it meanwhile.
async fn click(client: &Client, css: &str) {
    for _ in 0..POLLS {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.click().await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not click {css}");
}

/// Picks `value` in the list `css` selects, again if the page redrew it.
async fn choose(client: &Client, css: &str, value: &str) {
    for _ in 0..POLLS {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.select_by_value(value).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not choose {value} in {css}");
}

fn save(png: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("dashboard.png");
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
    if let Some(to) = std::env::var_os("PEEPER_DASHBOARD_SCREENSHOT") {
        std::fs::write(&to, png).expect("write the screenshot where asked");
        eprintln!("screenshot: {}", to.to_string_lossy());
    }
}

/// Every sample line is `name{labels} value` with a float value.
fn check_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a float: {line:?}"));
        let bare = name.split('{').next().unwrap_or(name);
        assert!(
            !bare.is_empty() && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line:?}"
        );
        assert!(
            !name.contains('{') || name.ends_with('}'),
            "bad labels in {line:?}"
        );
        samples.insert(name.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_kills_and_moves_live() {
    let driver = Chromedriver::start();
    let mut a = NodeProc::start(PEEPER_NODE, "a", "browser-cookie");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "browser-cookie");
    for node in [&mut a, &mut b] {
        node.ok("supervisor rooms");
    }
    a.ok("supervisor lobby");
    // Enough rows that the move streams for a while, in a debug build.
    a.ok("spawn rooms big 100000 256");
    a.ok("spawnmany rooms small 5");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    let addr = a.ok(&format!("dashboard {TOKEN}")).remove(0);

    let mut caps = ClientBuilder::new(HttpConnector::new());
    caps.capabilities(driver.capabilities());
    let client = caps
        .connect(&driver.url())
        .await
        .expect("a Chromium session through chromedriver");
    client
        .goto(&format!("http://{addr}/?token={TOKEN}"))
        .await
        .expect("the page loads");
    // Set once: still set at the end, so the page was never reloaded.
    client
        .execute("window.notReloaded = true; return null", Vec::new())
        .await
        .expect("a script runs");

    let restarts =
        r#"return document.querySelector('tr[data-name="small0"] td.restarts')?.textContent"#;
    until(&client, "small0 listed", restarts, |t| t == "0").await;
    until(
        &client,
        "peer b listed",
        r#"return document.querySelector('tr[data-peer="b"]')?.textContent"#,
        |t| t.contains("ms"),
    )
    .await;

    // The button clicked, to see that the redraws keep it (see below).
    client
        .execute(
            r#"window.killButton = document.querySelector('tr[data-name="small0"] button.kill');
               return null"#,
            Vec::new(),
        )
        .await
        .expect("a script runs");
    click(&client, r#"tr[data-name="small0"] button.kill"#).await;
    let message = "return document.getElementById('message').textContent";
    // The server's answer: the kill was asked. small0 is dormant (nothing
    // called it), and a kill of a dormant instance counts and restores at
    // once, so the count must follow without anything else reaching it.
    until(&client, "the page says it killed small0", message, |t| {
        t.contains("killed the worker of \"small0\"")
    })
    .await;
    until(
        &client,
        "small0's restart count after a kill",
        restarts,
        |t| t == "1",
    )
    .await;
    // The count was redrawn into the row that held the button: a page that
    // replaced its rows at each sample (ten times a second) lost a click
    // whose press and release straddled a redraw.
    assert_eq!(
        text(&client, "return String(window.killButton.isConnected)").await,
        "true",
        "the redraw replaced the kill button"
    );
    let crash = r#"return document.querySelector('tr[data-name="small0"] td.crash')?.textContent"#;
    until(&client, "small0's last crash", crash, |t| {
        t.contains("killed")
    })
    .await;

    // Notes every phase the page shows, however briefly.
    client
        .execute(
            "window.phasesSeen = [];
             new MutationObserver(() => {
               const m = document.querySelector('.move[data-name=\"big\"]');
               const p = m && m.dataset.phase + ':' + m.querySelector('.bar div').style.width;
               if (p && window.phasesSeen[window.phasesSeen.length - 1] !== p) window.phasesSeen.push(p);
             }).observe(document.getElementById('moves'), { childList: true, subtree: true });
             return null",
            Vec::new(),
        )
        .await
        .expect("a script runs");
    choose(&client, r#"tr[data-name="big"] select.move-to"#, "b").await;
    let phase = r#"return document.querySelector('.move[data-name="big"]')?.dataset.phase"#;
    let first = until(&client, "the move of big shown", phase, |t| !t.is_empty()).await;
    eprintln!("first phase seen: {first}");
    let bar = r#"return document.querySelector('.move[data-name="big"] .bar div')?.style.width"#;
    until(&client, "the move committed", phase, |t| t == "Committed").await;
    until(&client, "a full progress bar", bar, |t| {
        t.starts_with("100")
    })
    .await;
    let phases = text(&client, "return window.phasesSeen.join(' ')").await;
    eprintln!("phases shown: {phases}");
    assert!(
        phases.split(' ').any(|p| !p.starts_with("Committed")),
        "no phase before the commit was shown: {phases}"
    );
    let gone = r#"return String(!!document.querySelector('tr[data-name="big"]'))"#;
    until(&client, "big no longer listed on a", gone, |t| t == "false").await;
    until(&client, "the page says it moved", message, |t| {
        t.contains("moved \"big\"")
    })
    .await;
    until(
        &client,
        "the moves total",
        "return document.querySelector('#total-moves b')?.textContent",
        |t| t == "1",
    )
    .await;
    assert_eq!(
        text(&client, "return String(window.notReloaded === true)").await,
        "true",
        "the page was reloaded"
    );
    save(&client.screenshot().await.expect("a screenshot"));

    // An instance's own page: its kind did not opt in, so no state.
    click(&client, r#"tr[data-name="small1"] a"#).await;
    let name = "return document.getElementById('detail-name').textContent";
    until(&client, "small1's page", name, |t| t == "small1").await;
    let state = "return document.getElementById('detail-state').textContent";
    until(&client, "small1's state withheld", state, |t| {
        t.contains("not shown")
    })
    .await;
    click(&client, "#back").await;

    // A drain moves the rest to b, with its own bar.
    click(&client, "#drain-button").await;
    until(&client, "the page says it drained", message, |t| {
        t.contains("drained: 5 moved")
    })
    .await;
    let drain = "return document.getElementById('drain')?.textContent";
    until(&client, "the drain's row", drain, |t| t.contains("done")).await;
    client.close().await.expect("the session closes");
    assert_eq!(a.ok("count rooms"), ["0"]);
    assert_eq!(b.ok("count rooms"), ["6"]);

    let (status, metrics) = browser::get(&addr, "/metrics", TOKEN).await;
    assert_eq!(status, 200);
    let samples = check_metrics(&metrics);
    assert!(samples["peeper_moves_total"] >= 1.0, "{metrics}");
    assert!(samples["peeper_moved_bytes_total"] > 0.0, "{metrics}");
    assert!(samples["peeper_restarts_total"] >= 1.0, "{metrics}");
    let (status, _) = browser::get(&addr, "/metrics", "wrong").await;
    assert_eq!(status, 401);
    drop(driver);
}
