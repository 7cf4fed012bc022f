//! Local transfers between supervisors: a refused transfer changes nothing
//! and leaves the instance where it was; racing and storming transfers leave
//! every instance under exactly one supervisor with nothing lost; a pending
//! timer survives a transfer (and crashes around it).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cast, Gate, Info, Probe, bounded, supervised, supervisor, unique, value};
use peeper::{LookupError, TransferError};

// ---- refusals --------------------------------------------------------------

#[tokio::test]
async fn refused_transfers_leave_the_instance_where_it_was() {
    let a = supervisor("s5-ta").await;
    let b = supervisor("s5-tb").await;
    let stopped = supervisor("s5-tstopped").await;
    stopped.stop().await;
    let name = unique("s5-p");
    let h = a
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    h.cast(Cast::Add(4)).unwrap();

    assert!(matches!(
        peeper::transfer(&name, &a, &a).await,
        Err(TransferError::SameSupervisor { .. })
    ));
    assert!(matches!(
        peeper::transfer(&name, &a, &stopped).await,
        Err(TransferError::TargetStopped { .. })
    ));
    assert!(matches!(
        peeper::transfer(&name, &b, &a).await,
        Err(TransferError::NotChild { .. })
    ));
    assert_eq!(a.count(), 1);
    assert_eq!(b.count(), 0);
    assert_eq!(value(&h).await, 4);
    assert_eq!(h.supervisor_name().as_deref(), Some(a.name()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn transfer_from_a_stopped_supervisor_finds_no_child() {
    let (a, h) = supervised("transfer-src-stopped").await;
    let b = supervisor("transfer-src-b").await;
    let name = h.name().to_owned();
    a.stop().await;
    assert!(matches!(
        peeper::transfer(&name, &a, &b).await,
        Err(TransferError::Lookup(LookupError::NotFound { .. }))
    ));
    assert_eq!(b.count(), 0);
    b.stop().await;
}

#[tokio::test]
async fn transfer_during_a_stop_of_the_instance_is_refused() {
    let (a, h) = supervised("transfer-busy").await;
    let b = supervisor("transfer-busy-b").await;
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    let stopping = tokio::spawn({
        let (a, name) = (a.clone(), h.name().to_owned());
        async move { a.terminate_child::<Probe>(&name).await }
    });
    // Wait until the stop has claimed the instance and left the children.
    bounded(async {
        while a.count() == 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let r = peeper::transfer(h.name(), &a, &b).await;
    assert!(
        matches!(
            r,
            Err(TransferError::InProgress { .. } | TransferError::NotChild { .. })
        ),
        "{r:?}"
    );
    gate.release.notify_one();
    assert_eq!(bounded(stopping).await.unwrap().unwrap().value, 1);
    assert_eq!(b.count(), 0);
    a.stop().await;
    b.stop().await;
}

// ---- many at once ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transfers_of_one_instance_leave_it_under_exactly_one_supervisor() {
    let sups = [
        supervisor("s5-race-0").await,
        supervisor("s5-race-1").await,
        supervisor("s5-race-2").await,
    ];
    let name = unique("s5-race-p");
    let h = sups[0]
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..3_usize {
        let (sups, name) = (sups.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = 0;
            for round in 0..200_usize {
                let from = &sups[(i + round) % 3];
                let to = &sups[(i + round + 1) % 3];
                match peeper::transfer(&name, from, to).await {
                    Ok(()) => {}
                    Err(TransferError::NotChild { .. } | TransferError::InProgress { .. }) => {
                        refused += 1;
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            refused
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let holders: Vec<_> = sups.iter().filter(|s| s.count() == 1).collect();
    assert_eq!(sups.iter().map(|s| s.count()).sum::<usize>(), 1);
    assert_eq!(holders[0].which_children()[0].id, h.id());
    assert_eq!(h.supervisor_name().as_deref(), Some(holders[0].name()));
    assert_eq!(value(&h).await, 0);
    for s in &sups {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_storm_of_many_instances_loses_none() {
    let a = supervisor("transfer-storm-a").await;
    let b = supervisor("transfer-storm-b").await;
    let mut handles = Vec::new();
    for _ in 0..50 {
        let h = a
            .start_child(
                unique("transfer-storm-p"),
                Probe::default(),
                Default::default(),
            )
            .await
            .unwrap();
        handles.push(h);
    }
    let handles = Arc::new(handles);
    let movers: Vec<_> = (0..2)
        .map(|m| {
            let (a, b, handles) = (a.clone(), b.clone(), handles.clone());
            tokio::spawn(async move {
                for round in 0..20 {
                    for h in handles.iter().skip(m).step_by(2) {
                        let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
                        from.transfer(h.name(), to).await.unwrap();
                        h.cast(Cast::Incr).unwrap();
                    }
                }
            })
        })
        .collect();
    for m in movers {
        bounded(m).await.unwrap();
    }
    assert_eq!(a.count() + b.count(), 50);
    for h in handles.iter() {
        assert_eq!(value(h).await, 20);
    }
    a.stop().await;
    b.stop().await;
}

// ---- what travels ----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_timer_survives_a_crash_and_a_transfer() {
    let (a, h) = supervised("transfer-timer").await;
    let b = supervisor("transfer-timer-b").await;
    h.cast(Cast::Timer(Duration::from_secs(30), Info::Incr))
        .unwrap();
    h.cast(Cast::Panic).unwrap();
    a.transfer(h.name(), &b).await.unwrap();
    h.kill();
    assert_eq!(value(&h).await, 0);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(
        value(&h).await,
        1,
        "the timer fired after crash, move and kill"
    );
    a.stop().await;
    b.stop().await;
}
