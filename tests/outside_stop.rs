//! A stop of an instance's ractor actor from outside peeper (ractor's `stop`
//! or `kill` on it) loses nothing: every cast that returned `Ok` is handled,
//! in order, and every call is answered, while the supervisor respawns the
//! actor over and over under running senders.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use peeper::{Actor, BoxError, Context, RestartPolicy, StateMut, Supervisor, SupervisorEvent};

/// Counts casts per sender and checks that each sender's arrive in order.
struct Tally;

#[derive(Clone, Default)]
struct Seen {
    handled: [u64; 2],
    out_of_order: u64,
    calls: u64,
}

enum Cast {
    Seq { sender: usize, seq: u64 },
}

enum Call {
    Bump,
    Report,
}

impl Actor for Tally {
    type State = Seen;
    type Call = Call;
    type Reply = Seen;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<Seen>,
        _: &mut Context<Self>,
    ) -> Result<Seen, BoxError> {
        if let Call::Bump = msg {
            state.calls += 1;
        }
        Ok((**state).clone())
    }

    async fn handle_cast(
        &self,
        Cast::Seq { sender, seq }: Cast,
        state: &mut StateMut<Seen>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if seq != state.handled[sender] + 1 {
            state.out_of_order += 1;
        }
        state.handled[sender] = seq;
        Ok(())
    }
}

/// How many times the actor is stopped (or killed) from outside.
const STOPS: usize = 1000;

async fn stops_from_outside_lose_no_accepted_message(kill: bool) {
    peeper::crash_report::route_to_tracing();
    let name = if kill { "outside-kill" } else { "outside-stop" };
    let sup = Supervisor::start(format!("{name}-sup")).await.unwrap();
    // Outside stops count as crashes: allow all of them.
    let policy = RestartPolicy::new(u32::MAX, Duration::from_secs(1));
    let handle = sup
        .start_child_with(name, Tally, Seen::default(), policy)
        .await
        .unwrap();
    let mut events = sup.subscribe();
    let done = Arc::new(AtomicBool::new(false));

    // Two casting senders (one by handle, one by name) and a calling one.
    let senders: Vec<_> = (0..2)
        .map(|sender| {
            let (handle, done) = (handle.clone(), done.clone());
            tokio::spawn(async move {
                let mut accepted = 0_u64;
                while !done.load(Ordering::Acquire) {
                    let msg = Cast::Seq {
                        sender,
                        seq: accepted + 1,
                    };
                    let sent = if sender == 0 {
                        handle.cast(msg)
                    } else {
                        peeper::cast::<Tally>(name, msg)
                    };
                    sent.expect("the instance never stops for good here");
                    accepted += 1;
                    if accepted.is_multiple_of(32) {
                        // Paced: a call behind each batch keeps the backlog
                        // short, and must be answered too.
                        handle.call(Call::Report).await.expect("answered");
                    }
                }
                // Behind this sender's casts: answered once they are handled.
                let seen = handle.call(Call::Report).await.expect("answered");
                (accepted, seen)
            })
        })
        .collect();
    let caller = {
        let (handle, done) = (handle.clone(), done.clone());
        tokio::spawn(async move {
            let mut answered = 0_u64;
            while !done.load(Ordering::Acquire) {
                handle
                    .call(Call::Bump)
                    .await
                    .expect("a call is answered across outside stops");
                answered += 1;
            }
            answered
        })
    };

    let mut respawns = 0;
    for _ in 0..STOPS {
        let actor = handle.actor_ref().expect("running");
        if kill {
            actor.kill();
        } else {
            actor.stop(None);
        }
        // The sync point: the supervisor has a new actor in place.
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("a respawn within 10 s")
                .expect("no event lost");
            if matches!(event, SupervisorEvent::ActorRespawned { .. }) {
                respawns += 1;
                break;
            }
        }
    }
    done.store(true, Ordering::Release);

    let mut accepted = [0_u64; 2];
    let mut last = Seen::default();
    for (sender, task) in senders.into_iter().enumerate() {
        let (sent, seen) = task.await.unwrap();
        accepted[sender] = sent;
        last = seen;
    }
    let calls = caller.await.unwrap();
    let seen = handle.call(Call::Report).await.unwrap();
    assert_eq!(respawns, STOPS);
    assert!(
        accepted.iter().all(|&n| n > 0),
        "both senders sent: {accepted:?}"
    );
    assert_eq!(seen.handled, accepted, "every accepted cast handled, once");
    assert_eq!(seen.out_of_order, 0, "each sender's casts handled in order");
    assert_eq!(seen.calls, calls, "every answered call applied, once");
    assert!(last.handled[1] == accepted[1] || last.handled[0] == accepted[0]);
    assert_eq!(handle.stop_reason(), None);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_accepted_around_outside_stops_are_all_handled_in_order() {
    stops_from_outside_lose_no_accepted_message(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_accepted_around_outside_kills_are_all_handled_in_order() {
    stops_from_outside_lose_no_accepted_message(true).await;
}
