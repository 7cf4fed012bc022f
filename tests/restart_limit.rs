//! The restart limit (scenario S3): a worker that crashes on every message
//! is restarted at most N times in window T, then the instance stops; its
//! supervisor and its callers see a clear error, and its last state can still
//! be taken out.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Call, Cast, Probe, bounded, supervisor, unique, value};
use peeper::{
    CallError, Crash, RestartPolicy, SendError, StopReason, SupervisorEvent, Undelivered,
};

#[tokio::test]
async fn too_many_crashes_stop_the_instance_with_a_clear_error() {
    let sup = supervisor("s3").await;
    let mut events = sup.subscribe();
    let name = unique("s3-p");
    let probe = Probe::default();
    let policy = RestartPolicy::new(3, Duration::from_secs(60));
    let h = sup
        .start_child_with(&name, probe.clone(), Default::default(), policy)
        .await
        .unwrap();
    h.cast(Cast::Add(11)).unwrap();
    assert_eq!(value(&h).await, 11);

    // Three crashes are restarted...
    for _ in 0..3 {
        let r = h.call(Call::Panic).await;
        assert!(matches!(r, Err(CallError::Crashed { .. })), "{r:?}");
    }
    assert_eq!(value(&h).await, 11);
    // ...the fourth goes over the limit.
    let r = h.call(Call::Panic).await;
    assert!(matches!(r, Err(CallError::Crashed { .. })), "{r:?}");

    // Callers see why it stopped.
    let after = h.call(Call::Get).await;
    let Err(CallError::Stopped { reason, .. }) = after else {
        panic!("expected Stopped, got {after:?}");
    };
    assert!(matches!(
        reason,
        StopReason::RestartLimit {
            restarts: 4,
            last: Crash::Panicked(_),
            ..
        }
    ));
    assert!(matches!(
        h.cast(Cast::Incr).map_err(SendError::without_message),
        Err(Undelivered::Stopped { .. })
    ));

    // The supervisor sees it too, and no longer lists it.
    let stopped = loop {
        match events.recv().await.unwrap() {
            SupervisorEvent::ChildStopped { reason, id, .. } => break (reason, id),
            _ => continue,
        }
    };
    assert_eq!(stopped.1, h.id());
    assert!(matches!(stopped.0, StopReason::RestartLimit { .. }));
    assert_eq!(sup.count(), 0);
    assert_eq!(peeper::whereis(&name), None);

    // terminate ran with the last state, which can still be taken out.
    assert_eq!(probe.terminated.lock().len(), 1);
    assert_eq!(probe.terminated.lock()[0].1, 11);
    assert_eq!(h.last_state().value, 11);
    assert_eq!(h.stop_reason(), Some(reason));
    sup.stop().await;
}

#[tokio::test(start_paused = true)]
async fn crashes_spread_wider_than_the_window_are_all_restarted() {
    let sup = supervisor("s3-window").await;
    let policy = RestartPolicy::new(1, Duration::from_secs(10));
    let h = sup
        .start_child_with(unique("s3w"), Probe::default(), Default::default(), policy)
        .await
        .unwrap();
    for _ in 0..5 {
        assert!(matches!(
            h.call(Call::Panic).await,
            Err(CallError::Crashed { .. })
        ));
        tokio::time::advance(Duration::from_secs(11)).await;
    }
    h.cast(Cast::Incr).unwrap();
    assert_eq!(
        value(&h).await,
        1,
        "still running after five spaced crashes"
    );
    sup.stop().await;
}

#[tokio::test]
async fn a_policy_of_zero_stops_at_the_first_crash() {
    let sup = supervisor("s3-zero").await;
    let h = sup
        .start_child_with(
            unique("s3z"),
            Probe::default(),
            Default::default(),
            RestartPolicy::new(0, Duration::from_secs(1)),
        )
        .await
        .unwrap();
    h.cast(Cast::Panic).unwrap();
    let r = h.call(Call::Get).await;
    assert!(
        matches!(
            r,
            Err(CallError::Stopped {
                reason: StopReason::RestartLimit { restarts: 1, .. },
                ..
            })
        ),
        "{r:?}"
    );
    sup.stop().await;
}

#[tokio::test]
async fn init_that_panics_after_every_restore_ends_in_the_restart_limit() {
    let probe = Probe::default();
    probe.failing_restores.store(u32::MAX, Ordering::SeqCst);
    let sup = supervisor("limit-init-loop").await;
    let h = sup
        .start_child_with(
            unique("limit-il"),
            probe,
            Default::default(),
            RestartPolicy::new(5, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    h.cast(Cast::Add(3)).unwrap();
    let _ = bounded(h.call(Call::Panic)).await;
    let r = bounded(h.call(Call::Get)).await;
    assert!(matches!(
        r,
        Err(CallError::Stopped {
            reason: StopReason::RestartLimit { .. },
            ..
        })
    ));
    assert_eq!(h.last_state().value, 3, "the last state is still there");
    sup.stop().await;
}

#[tokio::test]
async fn a_restart_storm_of_casts_is_reported_to_the_supervisor() {
    let sup = supervisor("limit-storm").await;
    let mut events = sup.subscribe();
    let h = sup
        .start_child_with(
            unique("limit-storm-p"),
            Probe::default(),
            Default::default(),
            RestartPolicy::new(10, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    for _ in 0..100 {
        // Refused once it has stopped: that is the point.
        let _ = h.cast(Cast::Panic);
    }
    let reason = bounded(async {
        loop {
            if let SupervisorEvent::ChildStopped { reason, .. } = events.recv().await.unwrap() {
                break reason;
            }
        }
    })
    .await;
    assert!(matches!(
        reason,
        StopReason::RestartLimit { restarts: 11, .. }
    ));
    assert!(matches!(
        h.cast(Cast::Incr).map_err(SendError::without_message),
        Err(Undelivered::Stopped { .. })
    ));
    sup.stop().await;
}
