//! Durable instances in one process: what is stored comes back after the
//! supervisor (and the store) are gone and opened again, and bad stores,
//! versions and failing writes are typed errors. Process death (`kill -9`)
//! is tested with real processes in testkit's `durable_kill`.
#![cfg(feature = "durable")]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use peeper::durable::{
    CastDurableError, Durable, RecoverError, RedbStore, Store, StoreError, StoredInstance, Write,
};
use peeper::portable::{Parts, Portable};
use peeper::{Actor, BoxError, CallError, Context, Start, StateMut, SupervisorEvent};
use serde::{Deserialize, Serialize};

/// A ledger: a total, a table of entries, a note in the dictionary, and a
/// count of how it last started.
struct Ledger;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Book {
    total: i64,
    recovered: u32,
    ticks: u32,
}

#[derive(Debug, Serialize, Deserialize)]
enum Op {
    Add(u64, i64),
    Remove(u64),
    Note(String),
    Tick(u64),
    Total,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick;

impl Actor for Ledger {
    type State = Book;
    type Call = Op;
    type Reply = i64;
    type Cast = Op;
    type Info = Tick;

    async fn init(
        &self,
        s: &mut StateMut<Book>,
        start: Start,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if start == Start::Recovered {
            s.recovered += 1;
        }
        Ok(())
    }

    async fn handle_call(
        &self,
        op: Op,
        s: &mut StateMut<Book>,
        ctx: &mut Context<Self>,
    ) -> Result<i64, BoxError> {
        apply(op, s, ctx)?;
        Ok(s.total)
    }

    async fn handle_cast(
        &self,
        op: Op,
        s: &mut StateMut<Book>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        apply(op, s, ctx)
    }

    async fn handle_info(
        &self,
        _: Tick,
        s: &mut StateMut<Book>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        s.ticks += 1;
        Ok(())
    }
}

fn apply(op: Op, s: &mut StateMut<Book>, ctx: &mut Context<Ledger>) -> Result<(), BoxError> {
    match op {
        Op::Add(key, amount) => {
            s.total += amount;
            ctx.table::<u64, i64>("entries")?.insert(key, amount);
        }
        Op::Remove(key) => {
            if let Some(amount) = ctx.table::<u64, i64>("entries")?.remove(&key) {
                s.total -= amount;
            }
        }
        Op::Note(text) => {
            ctx.dictionary_mut().put("note", text);
        }
        Op::Tick(ms) => {
            ctx.send_after(Duration::from_millis(ms), Tick);
        }
        Op::Total => {}
    }
    Ok(())
}

impl Portable for Ledger {
    const KIND: &'static str = "ledger";
    const VERSION: u32 = 2;

    fn parts(parts: &mut Parts) {
        parts
            .table::<u64, i64>("entries")
            .dictionary::<String>("note");
    }
}

/// A fresh directory for one test's store.
fn store_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peeper-durable-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.redb")
}

fn opened(path: &PathBuf) -> Durable {
    let durable = Durable::open(path).unwrap();
    durable.register(|| Ledger);
    durable
}

#[tokio::test]
async fn state_tables_dictionary_and_timers_come_back() {
    let path = store_path("back");
    {
        let durable = opened(&path);
        let sup = durable.supervisor("ledgers-back").await.unwrap();
        let h = durable
            .start_child(&sup, "ledger-back", Ledger, Book::default())
            .await
            .unwrap();
        for key in 0..100 {
            h.call(Op::Add(key, 10)).await.unwrap();
        }
        h.call(Op::Remove(7)).await.unwrap();
        h.call(Op::Note("audited".into())).await.unwrap();
        h.call(Op::Tick(300)).await.unwrap();
        assert_eq!(h.call(Op::Total).await, Ok(990));
        sup.stop().await;
    }
    let durable = opened(&path);
    let sup = durable.supervisor("ledgers-back").await.unwrap();
    let h = peeper::lookup::<Ledger>("ledger-back").unwrap();
    assert_eq!(h.call(Op::Total).await, Ok(990));
    let state = h.last_state();
    assert_eq!(state.recovered, 1);
    let entries = h.table::<u64, i64>("entries").unwrap();
    assert_eq!(entries.len(), 99);
    assert_eq!(entries.get(&7), None);
    assert_eq!(entries.get(&8), Some(10));
    assert_eq!(
        h.dictionary().get::<String>("note").map(String::as_str),
        Some("audited")
    );
    // The timer set before the stop fires after the restart.
    for _ in 0..200 {
        if h.last_state().ticks == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.last_state().ticks, 1);
    sup.stop().await;
}

#[tokio::test]
async fn a_durable_cast_is_handled_and_taken_out_of_the_store() {
    let path = store_path("cast");
    {
        let durable = opened(&path);
        let sup = durable.supervisor("ledgers-cast").await.unwrap();
        let h = durable
            .start_child(&sup, "ledger-cast", Ledger, Book::default())
            .await
            .unwrap();
        for key in 0..50 {
            h.cast_durable(Op::Add(key, 1)).await.unwrap();
        }
        assert_eq!(h.call(Op::Total).await, Ok(50));
        sup.stop().await;
    }
    let store = RedbStore::open(&path).unwrap();
    let stored = store.load().unwrap();
    let mine = stored.iter().find(|s| s.name == "ledger-cast").unwrap();
    assert!(mine.messages.is_empty(), "handled messages are gone");
    assert_eq!(mine.tables["entries"].len(), 50);
}

#[tokio::test]
async fn a_plain_instance_refuses_a_durable_cast() {
    let sup = peeper::Supervisor::start("ledgers-plain").await.unwrap();
    let h = sup
        .start_child("ledger-plain", Ledger, Book::default())
        .await
        .unwrap();
    assert!(matches!(
        h.cast_durable(Op::Total).await,
        Err(CastDurableError::NotDurable { .. })
    ));
    sup.stop().await;
}

#[tokio::test]
async fn a_terminated_instance_is_forgotten() {
    let path = store_path("forget");
    {
        let durable = opened(&path);
        let sup = durable.supervisor("ledgers-forget").await.unwrap();
        let h = durable
            .start_child(&sup, "ledger-forget", Ledger, Book::default())
            .await
            .unwrap();
        h.call(Op::Add(1, 5)).await.unwrap();
        durable
            .start_child(&sup, "ledger-kept", Ledger, Book::default())
            .await
            .unwrap();
        sup.terminate_child::<Ledger>("ledger-forget")
            .await
            .unwrap();
        sup.stop().await;
    }
    let durable = opened(&path);
    let sup = durable.supervisor("ledgers-forget").await.unwrap();
    assert!(peeper::lookup::<Ledger>("ledger-forget").is_err());
    assert!(peeper::lookup::<Ledger>("ledger-kept").is_ok());
    sup.stop().await;
}

#[tokio::test]
async fn a_second_holder_of_the_store_gets_a_typed_error() {
    let path = store_path("locked");
    let _first = Durable::open(&path).unwrap();
    assert!(matches!(
        Durable::open(&path),
        Err(StoreError::Locked { .. })
    ));
}

#[tokio::test]
async fn a_damaged_file_is_a_typed_error() {
    let path = store_path("damaged");
    std::fs::write(&path, vec![0xA5_u8; 64 * 1024]).unwrap();
    assert!(matches!(Durable::open(&path), Err(StoreError::Corrupt(_))));
    // Cut short after real use.
    let path = store_path("truncated");
    {
        let durable = opened(&path);
        let sup = durable.supervisor("ledgers-cut").await.unwrap();
        let h = durable
            .start_child(&sup, "ledger-cut", Ledger, Book::default())
            .await
            .unwrap();
        h.call(Op::Add(1, 1)).await.unwrap();
        sup.stop().await;
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 3).unwrap();
    drop(file);
    match Durable::open(&path) {
        Err(StoreError::Corrupt(_)) => {}
        Ok(durable) => {
            // redb may repair a cut file; then what it holds must read back
            // or be refused with a typed error, never a panic.
            durable.register(|| Ledger);
            let _ = durable.supervisor("ledgers-cut").await.map(|_| ());
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// The same kind, one version on.
struct LedgerV3;

impl Actor for LedgerV3 {
    type State = Book;
    type Call = Op;
    type Reply = i64;
    type Cast = Op;
    type Info = Tick;
}

impl Portable for LedgerV3 {
    const KIND: &'static str = "ledger";
    const VERSION: u32 = 3;
}

#[tokio::test]
async fn another_version_is_refused_with_both_versions_named() {
    let path = store_path("version");
    {
        let durable = opened(&path);
        let sup = durable.supervisor("ledgers-version").await.unwrap();
        durable
            .start_child(&sup, "ledger-version", Ledger, Book::default())
            .await
            .unwrap();
        sup.stop().await;
    }
    let durable = Durable::open(&path).unwrap();
    durable.register(|| LedgerV3);
    match durable.supervisor("ledgers-version").await {
        Err(RecoverError::Version {
            found: 2, ours: 3, ..
        }) => {}
        other => panic!("expected a version refusal, got {other:?}"),
    }
    // Nothing was started: the name is free.
    assert!(peeper::lookup::<LedgerV3>("ledger-version").is_err());
    let unknown = Durable::open(&path);
    assert!(
        matches!(unknown, Err(StoreError::Locked { .. })),
        "still held"
    );
    drop(durable);
    let unknown = Durable::open(&path).unwrap();
    assert!(matches!(
        unknown.supervisor("ledgers-version").await,
        Err(RecoverError::UnknownKind { .. })
    ));
}

/// A store that fails while `failing` is set.
struct Flaky {
    inner: RedbStore,
    failing: Arc<AtomicBool>,
}

impl Store for Flaky {
    fn commit(&self, writes: &[Write], sync: bool) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Write("disk full (test)".into()));
        }
        self.inner.commit(writes, sync)
    }

    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.record(name)
    }

    fn load(&self) -> Result<Vec<StoredInstance>, StoreError> {
        self.inner.load()
    }
}

#[tokio::test]
async fn a_failing_write_is_a_typed_error_and_the_next_change_stores_it_whole() {
    let path = store_path("flaky");
    let failing = Arc::new(AtomicBool::new(false));
    {
        let store = Flaky {
            inner: RedbStore::open(&path).unwrap(),
            failing: failing.clone(),
        };
        let durable = Durable::options().with_store(store).unwrap();
        durable.register(|| Ledger);
        let sup = durable.supervisor("ledgers-flaky").await.unwrap();
        let mut events = sup.subscribe();
        let h = durable
            .start_child(&sup, "ledger-flaky", Ledger, Book::default())
            .await
            .unwrap();
        h.call(Op::Add(1, 1)).await.unwrap();
        failing.store(true, Ordering::SeqCst);
        match h.call(Op::Add(2, 2)).await {
            Err(CallError::NotDurable { reason, .. }) => assert!(reason.contains("disk full")),
            other => panic!("expected NotDurable, got {other:?}"),
        }
        loop {
            match events.recv().await.unwrap() {
                SupervisorEvent::NotStored { name, .. } => {
                    assert_eq!(name, "ledger-flaky");
                    break;
                }
                _ => continue,
            }
        }
        // It runs on in memory.
        assert_eq!(h.last_state().total, 3);
        failing.store(false, Ordering::SeqCst);
        // The next change stores it whole, the failed one's row included.
        assert_eq!(h.call(Op::Add(3, 3)).await, Ok(6));
        sup.stop().await;
    }
    let durable = opened(&path);
    let sup = durable.supervisor("ledgers-flaky").await.unwrap();
    let h = peeper::lookup::<Ledger>("ledger-flaky").unwrap();
    assert_eq!(h.call(Op::Total).await, Ok(6));
    assert_eq!(h.table::<u64, i64>("entries").unwrap().len(), 3);
    sup.stop().await;
}

#[tokio::test]
async fn a_transferred_instance_comes_back_under_its_new_supervisor_with_its_policy() {
    let path = store_path("transfer");
    {
        let durable = opened(&path);
        let a = durable.supervisor("ledgers-from").await.unwrap();
        let b = durable.supervisor("ledgers-to").await.unwrap();
        let options = peeper::StartOptions::default()
            .restart_policy(peeper::RestartPolicy::new(7, Duration::from_secs(9)))
            .capacity(64);
        let h = durable
            .start_child_with(&a, "ledger-moving", Ledger, Book::default(), options)
            .await
            .unwrap();
        h.call(Op::Add(1, 4)).await.unwrap();
        peeper::transfer("ledger-moving", &a, &b).await.unwrap();
        a.stop().await;
        b.stop().await;
    }
    let durable = opened(&path);
    let a = durable.supervisor("ledgers-from").await.unwrap();
    assert!(
        peeper::lookup::<Ledger>("ledger-moving").is_err(),
        "not under its old supervisor"
    );
    let b = durable.supervisor("ledgers-to").await.unwrap();
    let h = peeper::lookup::<Ledger>("ledger-moving").unwrap();
    assert_eq!(h.call(Op::Total).await, Ok(4));
    assert_eq!(h.capacity(), Some(64));
    assert_eq!(h.supervisor_name().as_deref(), Some("ledgers-to"));
    a.stop().await;
    b.stop().await;
}
