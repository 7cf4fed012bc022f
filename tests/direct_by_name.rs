//! Calls by name run by their callers take the same ways as calls through
//! handles (see `direct.rs`): a crash is answered with the instance's name,
//! and a callback that awaits is handed over to the worker, also when calls
//! by name nest.

mod common;

use common::{Call, Gate, Probe, Reply, bounded, supervised, unique, value};
use peeper::{Actor, BoxError, CallError, Context, Crash, StateMut};

/// Calls another instance by name from its callback and answers what that
/// instance answered.
struct Forward;

impl Actor for Forward {
    type State = ();
    type Call = (String, Call);
    type Reply = Reply;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        (name, call): (String, Call),
        _: &mut StateMut<()>,
        _: &mut Context<Self>,
    ) -> Result<Reply, BoxError> {
        Ok(peeper::call::<Probe>(&name, call).await?)
    }
}

/// Calls by name take the same ways as calls through handles: a crash is
/// answered with the instance's name, and a call by name whose callback
/// awaits, made from the callback of another call by name that then awaits
/// it, is handed over twice and answered once its gate opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_by_name_crash_and_await_as_calls_through_handles_do() {
    let (sup, probe) = supervised("direct-by-name").await;
    let forward = unique("forward");
    sup.start_child(forward.clone(), Forward, ()).await.unwrap();
    let probe_name = probe.name().to_owned();
    bounded(async {
        let err = peeper::call::<Probe>(&probe_name, Call::Panic)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CallError::Crashed { name, crash: Crash::Panicked(_) } if *name == probe_name),
            "{err:?}"
        );
        let gate = Gate::default();
        let call = (probe_name.clone(), Call::AddThenWait(gate.clone()));
        let forward_name = forward.clone();
        let outer =
            tokio::spawn(async move { peeper::call::<Forward>(&forward_name, call).await });
        gate.reached.notified().await;
        // Both callbacks wait now: calls to either queue behind them.
        let (f, p) = (forward.clone(), probe_name.clone());
        let behind = tokio::spawn(async move {
            peeper::call::<Forward>(&f, (p, Call::Get)).await
        });
        gate.release.notify_one();
        assert_eq!(outer.await.unwrap().unwrap(), Reply::Done);
        assert_eq!(behind.await.unwrap().unwrap(), Reply::Value(1000));
        assert_eq!(value(&probe).await, 1000);
    })
    .await;
}
