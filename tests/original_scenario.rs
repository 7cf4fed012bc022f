//! The original scenario (S1) in one process: a counter keeps its state,
//! dictionary and table across a kill of its worker and a transfer to another
//! supervisor, and the table is the same table, not a copy.

mod common;

use common::{Call, Cast, Probe, Reply, dict, supervisor, unique, value};
use peeper::ChildKind;

#[tokio::test]
async fn state_dictionary_and_table_survive_a_kill_and_a_transfer() {
    // 1. A supervisor `source` with a counter at 0.
    let source = supervisor("s1-source").await;
    let name = unique("p");
    let handle = source
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();

    // 2. state -> 0
    assert_eq!(value(&handle).await, 0);

    // 3. a table with rows, a dictionary key, an increment.
    let rows: Vec<(u64, String)> = (1..=3).map(|i| (i, format!("row {i}"))).collect();
    handle.cast(Cast::Rows("my_table", rows.clone())).unwrap();
    handle.cast(Cast::SetDict("foo", 42)).unwrap();
    handle.cast(Cast::Incr).unwrap();
    assert_eq!(value(&handle).await, 1);
    let table = handle.table::<u64, String>("my_table").unwrap();

    // 4. Kill the worker: everything is still there, through the same handle.
    handle.kill();
    assert_eq!(value(&handle).await, 1);
    assert_eq!(dict(&handle, "foo").await, Some(42));
    let mut after_kill = handle.table::<u64, String>("my_table").unwrap().to_vec();
    after_kill.sort();
    assert_eq!(after_kill, rows);

    // 5. Transfer to `target`.
    let target = supervisor("s1-target").await;
    peeper::transfer(&name, &source, &target).await.unwrap();

    // 6. One child under target, a supervisor-kind child with the identity
    //    that name lookup returns; none under source.
    let children = target.which_children();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].kind, ChildKind::Supervisor);
    assert_eq!(Some(children[0].id), peeper::whereis(&name));
    assert_eq!(children[0].id, handle.id());
    assert!(source.which_children().is_empty());
    assert_eq!(source.count(), 0);

    // 7. Same state, dictionary and rows; the table is the same table.
    let by_name = peeper::call::<Probe>(&name, Call::Get).await.unwrap();
    assert_eq!(by_name, Reply::Value(1));
    assert_eq!(dict(&handle, "foo").await, Some(42));
    let after_move = handle.table::<u64, String>("my_table").unwrap();
    assert!(after_move.same_table(&table), "the table was not copied");
    assert_eq!(after_move.id(), table.id());
    assert_eq!(after_move.len(), rows.len());
    assert_eq!(handle.supervisor_name().as_deref(), Some(target.name()));

    source.stop().await;
    target.stop().await;
}

#[tokio::test]
async fn stopping_the_old_supervisor_does_not_touch_a_moved_instance() {
    let source = supervisor("s1b-source").await;
    let target = supervisor("s1b-target").await;
    let name = unique("p");
    let handle = source
        .start_child(&name, Probe::default(), Default::default())
        .await
        .unwrap();
    handle.cast(Cast::Add(5)).unwrap();
    source.transfer(&name, &target).await.unwrap();
    source.stop().await;
    assert_eq!(value(&handle).await, 5);
    assert_eq!(target.count(), 1);
    target.stop().await;
}
