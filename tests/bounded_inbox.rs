//! A bounded inbox (`StartOptions::capacity`): a full one refuses casts and
//! hands the message back, `cast_wait` and calls wait for room, the queue
//! length is readable, and the bound holds across crashes, transfers and
//! stops of the actor from outside.

use std::sync::Arc;
use std::time::Duration;

use peeper::{
    Actor, BoxError, CallError, Context, Handle, RestartPolicy, SendError, StartOptions, StateMut,
    Supervisor, Undelivered,
};
use tokio::sync::Notify;

/// Records casts in order; `Hold` waits at the gate while the rest queue.
struct Gated {
    gate: Arc<Notify>,
    holding: Arc<Notify>,
}

enum Cast {
    Hold,
    Push(u32),
    Panic,
}

impl Actor for Gated {
    type State = Vec<u32>;
    type Call = ();
    type Reply = Vec<u32>;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<Vec<u32>>,
        _: &mut Context<Self>,
    ) -> Result<Vec<u32>, BoxError> {
        Ok((**state).clone())
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<Vec<u32>>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Cast::Hold => {
                self.holding.notify_one();
                self.gate.notified().await;
            }
            Cast::Push(n) => state.push(n),
            Cast::Panic => panic!("a crash between queued casts"),
        }
        Ok(())
    }
}

const CAPACITY: usize = 4;

/// An instance whose worker is held at the gate with `CAPACITY` casts
/// queued behind: its inbox is full.
async fn full(prefix: &str) -> (Supervisor, Handle<Gated>, Arc<Notify>, Arc<Notify>) {
    peeper::crash_report::route_to_tracing();
    let sup = Supervisor::start(format!("{prefix}-sup")).await.unwrap();
    let (gate, holding) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let behaviour = Gated {
        gate: gate.clone(),
        holding: holding.clone(),
    };
    let options = StartOptions::default()
        .capacity(CAPACITY)
        .restart_policy(RestartPolicy::new(100, Duration::from_secs(10)));
    let h = sup
        .start_child_with(prefix, behaviour, Vec::new(), options)
        .await
        .unwrap();
    assert_eq!(h.capacity(), Some(CAPACITY));
    h.cast(Cast::Hold).unwrap();
    holding.notified().await;
    for n in 0..CAPACITY as u32 {
        h.cast(Cast::Push(n)).unwrap();
    }
    assert_eq!(h.queue_len(), CAPACITY);
    (sup, h, gate, holding)
}

fn refused_as_full(sent: Result<(), SendError<Cast>>) -> Cast {
    let e = sent.expect_err("the inbox is full");
    assert!(
        matches!(e.reason(), Undelivered::Full { capacity, .. } if *capacity == CAPACITY),
        "{e}"
    );
    e.into_message()
}

#[tokio::test]
async fn a_full_inbox_refuses_casts_and_hands_them_back() {
    let (sup, h, gate, _) = full("bounded-refuse").await;
    assert!(matches!(
        refused_as_full(h.cast(Cast::Push(99))),
        Cast::Push(99)
    ));
    assert!(matches!(
        refused_as_full(peeper::cast::<Gated>("bounded-refuse", Cast::Push(98))),
        Cast::Push(98)
    ));
    assert_eq!(h.queue_len(), CAPACITY, "refusals take no slot");
    gate.notify_one();
    assert_eq!(h.call(()).await.unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(h.queue_len(), 0);
    h.cast(Cast::Push(4)).unwrap();
    assert_eq!(h.call(()).await.unwrap(), vec![0, 1, 2, 3, 4]);
    sup.stop().await;
}

#[tokio::test]
async fn cast_wait_waits_for_room_and_keeps_order() {
    let (sup, h, gate, _) = full("bounded-wait").await;
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move { h.cast_wait(Cast::Push(10)).await })
    };
    // Let it run until it waits: it cannot get in.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "no room yet");
    gate.notify_one();
    assert!(waiting.await.unwrap().is_ok());
    assert_eq!(h.call(()).await.unwrap(), vec![0, 1, 2, 3, 10]);
    sup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_room_within_its_timeout() {
    let (sup, h, gate, _) = full("bounded-call").await;
    let timeout = Duration::from_millis(200);
    assert!(matches!(
        h.call_timeout((), timeout).await,
        Err(CallError::Timeout { .. })
    ));
    assert_eq!(h.queue_len(), CAPACITY, "the timed-out call left no trace");
    let later = {
        let h = h.clone();
        tokio::spawn(async move { h.call_timeout((), Duration::from_secs(60)).await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    assert_eq!(later.await.unwrap().unwrap(), vec![0, 1, 2, 3]);
    sup.stop().await;
}

#[tokio::test]
async fn the_bound_holds_across_a_crash_a_transfer_and_an_outside_stop() {
    let (sup, h, gate, holding) = full("bounded-keep").await;
    let other = Supervisor::start("bounded-keep-other").await.unwrap();
    peeper::transfer("bounded-keep", &sup, &other)
        .await
        .unwrap();
    refused_as_full(h.cast(Cast::Push(50)));

    // An outside stop: the queued casts are kept, with their slots.
    let mut events = other.subscribe();
    h.actor_ref().unwrap().stop(None);
    gate.notify_one(); // the held cast ends with the old actor, or runs on
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a respawn")
            .unwrap();
        if matches!(event, peeper::SupervisorEvent::ActorRespawned { .. }) {
            break;
        }
    }
    assert_eq!(h.call(()).await.unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(h.queue_len(), 0);

    // A crash between queued casts: still bounded, nothing lost.
    h.cast(Cast::Hold).unwrap();
    holding.notified().await;
    assert_eq!(h.queue_len(), 0, "the held cast is being handled");
    h.cast(Cast::Panic).unwrap();
    for n in 0..(CAPACITY - 1) as u32 {
        h.cast(Cast::Push(10 + n)).unwrap();
    }
    refused_as_full(h.cast(Cast::Push(60)));
    gate.notify_one();
    assert_eq!(h.call(()).await.unwrap(), vec![0, 1, 2, 3, 10, 11, 12]);
    sup.stop().await;
    other.stop().await;
}
