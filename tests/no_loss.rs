//! No message lost (scenario S4): K senders each send M numbered casts and
//! calls to `"p"` while it is transferred back and forth between two
//! supervisors R times (and, in a variant, while its worker is killed). Every
//! message is handled exactly once, each sender's in the order sent, and
//! every call is answered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Call, Cast, Probe, Reply, supervisor, unique};
use peeper::{RestartPolicy, Supervisor};
use tokio::sync::Barrier;

const SENDERS: u32 = 8;
const MESSAGES: u64 = 2_000;
const TRANSFERS: usize = 1_000;

/// What disturbs the instance while the senders send.
#[derive(Clone, Copy)]
enum Disturbance {
    Transfers,
    TransfersAndKills,
}

async fn run(disturbance: Disturbance) {
    let a = supervisor("s4-a").await;
    let b = supervisor("s4-b").await;
    let name = unique("s4-p");
    // Kills count as crashes; allow them all.
    let policy = RestartPolicy::new(u32::MAX, Duration::from_secs(1));
    let h = a
        .start_child_with(&name, Probe::default(), Default::default(), policy)
        .await
        .unwrap();
    let start = Arc::new(Barrier::new(SENDERS as usize + 1));

    let mut senders = Vec::new();
    for sender in 1..=SENDERS {
        let (name, start) = (name.clone(), start.clone());
        senders.push(tokio::spawn(async move {
            start.wait().await;
            let mut answered = 0_u64;
            for seq in 1..=MESSAGES {
                let msg_is_call = seq % 2 == 0;
                if msg_is_call {
                    let reply = peeper::call::<Probe>(&name, Call::Seq { sender, seq }).await;
                    assert!(matches!(reply, Ok(Reply::Value(_))), "{reply:?}");
                    answered += 1;
                } else {
                    peeper::cast::<Probe>(&name, Cast::Seq { sender, seq }).unwrap();
                }
                if seq % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            answered
        }));
    }

    start.wait().await;
    let (mut from, mut to): (&Supervisor, &Supervisor) = (&a, &b);
    for i in 0..TRANSFERS {
        peeper::transfer(&name, from, to).await.unwrap();
        std::mem::swap(&mut from, &mut to);
        if matches!(disturbance, Disturbance::TransfersAndKills) && i % 4 == 0 {
            h.kill();
        }
        tokio::task::yield_now().await;
    }

    let mut answered = 0;
    for s in senders {
        answered += s.await.unwrap();
    }
    assert_eq!(
        answered,
        u64::from(SENDERS) * MESSAGES / 2,
        "every call answered"
    );
    // A last call queued behind every cast: once answered, all were handled.
    assert!(h.call(Call::Get).await.is_ok());
    let state = h.last_state();
    assert_eq!(
        state.handled,
        u64::from(SENDERS) * MESSAGES,
        "none lost or doubled"
    );
    assert_eq!(state.violations, 0, "each sender's order kept");
    for sender in 1..=SENDERS {
        assert_eq!(state.last_seq.get(&sender), Some(&MESSAGES));
    }
    // It ends under exactly one supervisor: the one the last transfer chose.
    assert_eq!(from.count() + to.count(), 1);
    assert_eq!(from.which_children()[0].id, h.id());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_while_transferring_back_and_forth() {
    run(Disturbance::Transfers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_while_transferring_and_killing() {
    run(Disturbance::TransfersAndKills).await;
}

#[tokio::test(flavor = "current_thread")]
async fn no_message_is_lost_on_a_current_thread_runtime() {
    run(Disturbance::TransfersAndKills).await;
}
