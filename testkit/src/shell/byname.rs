//! The shell's loads by name that run in the background, and its hold on a
//! fault point: what the tests of calls and casts during moves drive (see
//! the [module docs](super) for the commands).

use std::time::{Duration, Instant};

use peeper::cluster::Node;
use tokio::task::JoinHandle;

use super::LoadResult;
use super::tally::{Call, Cast, Tally};

/// How long `faultreached` waits for a task to park.
const PARK_WAIT: Duration = Duration::from_secs(60);

/// Waits until a task is parked at the fault point `point`.
pub(super) async fn fault_reached(point: &str) -> Result<String, String> {
    tokio::time::timeout(PARK_WAIT, peeper::cluster::fault_reached(point))
        .await
        .map_err(|_| format!("nothing parked at {point} within {PARK_WAIT:?}"))?;
    Ok(String::new())
}

/// Numbered casts by name (`Node::cast`) from `sender`, one after another.
pub(super) fn casts(
    node: Node,
    name: String,
    sender: String,
    casts: u64,
) -> JoinHandle<LoadResult> {
    tokio::spawn(async move {
        let (mut failed, mut first) = (0, None);
        for seq in 1..=casts {
            let msg = Cast::Seq {
                sender: sender.clone(),
                seq,
            };
            if let Err(e) = node.cast::<Tally>(&name, msg).await {
                failed += 1;
                first.get_or_insert(e.to_string());
            }
        }
        (casts - failed, failed, Duration::ZERO, first)
    })
}

/// Numbered calls by name (`Node::call`) from `sender` to each of `names`
/// in turn, round and round: at least one whole round, so that each gets
/// its first call, then until `stop` is set.
pub(super) fn calls_round(
    node: Node,
    names: Vec<String>,
    sender: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> JoinHandle<LoadResult> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        let (mut ok, mut failed, mut first) = (0, 0, None);
        let mut longest = Duration::ZERO;
        // At least one whole round: every instance gets its first call.
        for seq in 1.. {
            if seq > 1 && stop.load(Ordering::Relaxed) {
                break;
            }
            for name in &names {
                let msg = Call::Seq {
                    sender: sender.clone(),
                    seq,
                };
                let sent = Instant::now();
                match node.call::<Tally>(name, msg).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        failed += 1;
                        first.get_or_insert(format!("{name}: {e}"));
                    }
                }
                longest = longest.max(sent.elapsed());
            }
        }
        (ok, failed, longest, first)
    })
}
