//! The dynamic supervisor: listing, counting, stopping children (queued
//! messages first, a second time harmlessly), events, and instances that run
//! on by name when every handle is gone.

mod common;

use common::{Call, Cast, Gate, Probe, Reply, bounded, supervised, supervisor, unique, value};
use peeper::{ChildKind, StartError, StopError, StopReason, Supervisor, SupervisorEvent};

#[tokio::test]
async fn which_children_lists_every_instance_as_a_supervisor_kind_child() {
    let sup = supervisor("sup-list").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let h = sup
            .start_child(unique("sup-list-p"), Probe::default(), Default::default())
            .await
            .unwrap();
        ids.push((h.name().to_owned(), h.id()));
    }
    ids.sort();
    let children = sup.which_children();
    assert_eq!(sup.count(), 3);
    let listed: Vec<_> = children.iter().map(|c| (c.name.clone(), c.id)).collect();
    assert_eq!(listed, ids, "sorted by name, with the handles' identities");
    assert!(children.iter().all(|c| c.kind == ChildKind::Supervisor));
    assert!(children.iter().all(|c| c.actor_type.ends_with("Probe")));
    sup.stop().await;
}

#[tokio::test]
async fn stopping_a_supervisor_terminates_each_child_gracefully() {
    let sup = supervisor("sup-stop").await;
    let mut events = sup.subscribe();
    let probe = Probe::default();
    let mut handles = Vec::new();
    for i in 0..4 {
        let h = sup
            .start_child(unique("sup-stop-p"), probe.clone(), Default::default())
            .await
            .unwrap();
        h.cast(Cast::Add(i)).unwrap();
        assert_eq!(value(&h).await, i);
        handles.push(h);
    }
    sup.stop().await;
    let mut terminated = probe.terminated.lock().clone();
    terminated.sort_by_key(|(_, v)| *v);
    let expected: Vec<_> = (0..4).map(|i| (StopReason::Shutdown, i)).collect();
    assert_eq!(
        terminated, expected,
        "terminate ran once per child, with its state"
    );
    for h in &handles {
        assert_eq!(h.stop_reason(), Some(StopReason::Shutdown));
        assert_eq!(peeper::whereis(h.name()), None);
    }
    let mut stopped = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(event, SupervisorEvent::ChildStopped { .. }) {
            stopped += 1;
        }
    }
    assert_eq!(stopped, 4);
    assert!(!sup.is_running());
    assert!(Supervisor::lookup(sup.name()).is_none(), "its name is free");
}

#[tokio::test]
async fn terminate_child_hands_back_the_state_and_frees_the_name_at_once() {
    let sup = supervisor("sup-term").await;
    let name = unique("sup-term-p");
    let h = sup
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    h.cast(Cast::Add(12)).unwrap();
    let last = sup.terminate_child::<Probe>(&name).await.unwrap();
    assert_eq!(last.value, 12);
    assert_eq!(sup.count(), 0);
    // The name can be taken again right away.
    let again = sup
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    assert_ne!(again.id(), h.id());
    assert_eq!(value(&again).await, 0);
    assert!(matches!(
        sup.terminate_child::<Probe>("sup-term-nobody").await,
        Err(StopError::NotChild { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn a_supervisor_name_is_unique_while_it_runs() {
    let name = unique("sup-name");
    let sup = Supervisor::start(&name).await.unwrap();
    assert!(matches!(
        Supervisor::start(&name).await,
        Err(StartError::NameTaken { .. })
    ));
    assert_eq!(Supervisor::lookup(&name).map(|s| s.id()), Some(sup.id()));
    sup.stop().await;
    sup.stop().await; // idempotent
    let again = Supervisor::start(&name).await.unwrap();
    again.stop().await;
}

#[tokio::test]
async fn events_report_starts_and_transfers() {
    let a = supervisor("sup-ev-a").await;
    let b = supervisor("sup-ev-b").await;
    let (mut ea, mut eb) = (a.subscribe(), b.subscribe());
    let name = unique("sup-ev-p");
    let h = a
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    a.transfer(&name, &b).await.unwrap();
    assert_eq!(
        ea.try_recv().unwrap(),
        SupervisorEvent::ChildStarted {
            name: name.clone(),
            id: h.id()
        }
    );
    assert_eq!(
        ea.try_recv().unwrap(),
        SupervisorEvent::TransferredOut {
            name: name.clone(),
            id: h.id(),
            to: b.name().to_owned()
        }
    );
    assert_eq!(
        eb.try_recv().unwrap(),
        SupervisorEvent::TransferredIn {
            name: name.clone(),
            id: h.id(),
            from: a.name().to_owned()
        }
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn terminate_twice_is_not_child_the_second_time() {
    let (sup, h) = supervised("sup-term-twice").await;
    bounded(sup.terminate_child::<Probe>(h.name()))
        .await
        .unwrap();
    assert!(matches!(
        bounded(sup.terminate_child::<Probe>(h.name())).await,
        Err(StopError::NotChild { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn stopping_a_supervisor_with_queued_messages_handles_them_first() {
    let (sup, h) = supervised("sup-stop-queue").await;
    let gate = Gate::default();
    h.cast(Cast::AddThenWait(1, gate.clone())).unwrap();
    gate.reached.notified().await;
    for _ in 0..100 {
        h.cast(Cast::Incr).unwrap();
    }
    let stopping = tokio::spawn({
        let sup = sup.clone();
        async move { sup.stop().await }
    });
    tokio::task::yield_now().await;
    gate.release.notify_one();
    bounded(stopping).await.unwrap();
    assert_eq!(
        h.last_state().value,
        101,
        "queued casts handled before the stop"
    );
}

#[tokio::test]
async fn stopping_a_supervisor_twice_is_harmless() {
    let (sup, _h) = supervised("sup-stop-twice").await;
    bounded(sup.stop()).await;
    bounded(sup.stop()).await;
    assert!(!sup.is_running());
}

#[tokio::test]
async fn dropping_every_handle_leaves_the_instance_running_by_name() {
    let sup = supervisor("sup-drop").await;
    let name = unique("sup-drop-p");
    {
        let h = sup
            .start_child(&name, Probe::default(), Default::default())
            .await
            .unwrap();
        h.cast(Cast::Add(8)).unwrap();
    }
    let r = bounded(peeper::call::<Probe>(&name, Call::Get)).await;
    assert_eq!(r, Ok(Reply::Value(8)));
    sup.stop().await;
}
