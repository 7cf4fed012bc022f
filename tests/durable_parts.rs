//! What a durable instance stores of its dictionary and tables as they
//! change: removed entries stay removed, a cleared or dropped table comes
//! back as it was left, rows written by a callback that then crashed are
//! stored all the same (tables are not transactional), and with
//! `Durability::Batched` the same image comes back.
#![cfg(feature = "durable")]

use std::path::PathBuf;
use std::time::Duration;

use peeper::durable::{Durability, Durable};
use peeper::portable::{Parts, Portable};
use peeper::{Actor, BoxError, Context, StateMut};
use serde::{Deserialize, Serialize};

struct Shelf;

#[derive(Debug, Serialize, Deserialize)]
enum Op {
    Put(String, u32),
    Unput(String),
    Row(u32, String),
    Clear,
    Drop,
    RowThenPanic(u32),
    Read,
}

/// What the shelf holds: dictionary keys and the table's rows, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    entries: Vec<(String, u32)>,
    rows: Vec<(u32, String)>,
}

impl Actor for Shelf {
    type State = u32;
    type Call = Op;
    type Reply = Seen;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        op: Op,
        s: &mut StateMut<u32>,
        ctx: &mut Context<Self>,
    ) -> Result<Seen, BoxError> {
        **s += 1;
        match op {
            Op::Put(k, v) => {
                ctx.dictionary_mut().put(k, v);
            }
            Op::Unput(k) => {
                ctx.dictionary_mut().remove(&k);
            }
            Op::Row(k, v) => {
                ctx.table::<u32, String>("rows")?.insert(k, v);
            }
            Op::Clear => ctx.table::<u32, String>("rows")?.clear(),
            Op::Drop => {
                ctx.drop_table("rows");
            }
            Op::RowThenPanic(k) => {
                ctx.table::<u32, String>("rows")?
                    .insert(k, "before the panic".into());
                panic!("after writing a row");
            }
            Op::Read => {}
        }
        Ok(seen(ctx))
    }
}

fn seen(ctx: &Context<Shelf>) -> Seen {
    let mut entries: Vec<(String, u32)> = ["a", "b", "c"]
        .iter()
        .filter_map(|k| {
            ctx.dictionary()
                .get::<u32>(k)
                .map(|v| ((*k).to_owned(), *v))
        })
        .collect();
    entries.sort();
    let mut rows = if ctx.table_names().iter().any(|n| n == "rows") {
        ctx.table::<u32, String>("rows")
            .map(|t| t.to_vec())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    rows.sort();
    Seen { entries, rows }
}

impl Portable for Shelf {
    const KIND: &'static str = "shelf";
    const VERSION: u32 = 1;

    fn parts(parts: &mut Parts) {
        parts
            .table::<u32, String>("rows")
            .dictionary::<u32>("a")
            .dictionary::<u32>("b")
            .dictionary::<u32>("c");
    }
}

fn store_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peeper-durable-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.redb")
}

/// Runs `ops` on a fresh durable shelf, then reads it back after a restart
/// of the store; the image before and after.
async fn round_trip(test: &str, durability: Durability, ops: Vec<Op>) -> (Seen, Seen) {
    let path = store_path(test);
    let sup_name = format!("shelves-{test}");
    let name = format!("shelf-{test}");
    let before = {
        let durable = Durable::options()
            .durability(durability)
            .open(&path)
            .unwrap();
        durable.register(|| Shelf);
        let sup = durable.supervisor(sup_name.clone()).await.unwrap();
        let h = durable
            .start_child(&sup, name.clone(), Shelf, 0)
            .await
            .unwrap();
        for op in ops {
            let _ = h.call(op).await;
        }
        let before = h.call(Op::Read).await.unwrap();
        sup.stop().await;
        before
    };
    let durable = Durable::open(&path).unwrap();
    durable.register(|| Shelf);
    let sup = durable.supervisor(sup_name).await.unwrap();
    let h = peeper::lookup::<Shelf>(&name).unwrap();
    let after = h.call(Op::Read).await.unwrap();
    sup.stop().await;
    (before, after)
}

fn put(k: &str, v: u32) -> Op {
    Op::Put(k.to_owned(), v)
}

fn row(k: u32, v: &str) -> Op {
    Op::Row(k, v.to_owned())
}

#[tokio::test]
async fn removed_entries_stay_removed() {
    let ops = vec![
        put("a", 1),
        put("b", 2),
        put("c", 3),
        Op::Unput("b".into()),
        put("a", 9),
    ];
    let (before, after) = round_trip("entries", Durability::Immediate, ops).await;
    assert_eq!(before.entries, vec![("a".into(), 9), ("c".into(), 3)]);
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_cleared_table_comes_back_with_only_what_came_after() {
    let ops = vec![row(1, "x"), row(2, "y"), Op::Clear, row(3, "z")];
    let (before, after) = round_trip("clear", Durability::Immediate, ops).await;
    assert_eq!(before.rows, vec![(3, "z".into())]);
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_dropped_table_stays_dropped_and_a_new_one_starts_empty() {
    let ops = vec![row(1, "x"), Op::Drop];
    let (before, after) = round_trip("drop", Durability::Immediate, ops).await;
    assert!(before.rows.is_empty());
    assert_eq!(after, before);
    let ops = vec![row(1, "x"), Op::Drop, row(2, "y")];
    let (before, after) = round_trip("drop-new", Durability::Immediate, ops).await;
    assert_eq!(before.rows, vec![(2, "y".into())]);
    assert_eq!(after, before);
}

#[tokio::test]
async fn rows_written_before_a_crash_are_stored() {
    let ops = vec![row(1, "x"), Op::RowThenPanic(2)];
    let (before, after) = round_trip("crash", Durability::Immediate, ops).await;
    assert_eq!(before.rows.len(), 2);
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_batched_store_comes_back_the_same_after_a_clean_stop() {
    let ops = vec![put("a", 1), row(1, "x"), row(2, "y"), Op::Unput("a".into())];
    let batched = Durability::Batched(Duration::from_millis(20));
    let (before, after) = round_trip("batched", batched, ops).await;
    assert_eq!(before.rows.len(), 2);
    assert_eq!(after, before);
}
