//! `Named`: a handle found by name once, kept across crashes and transfers,
//! and found again only once the instance stopped for good.

mod common;

use common::{Call, Cast, Probe, Reply, bounded, supervisor};
use peeper::{CallError, LookupError, Named, Undelivered};

#[tokio::test]
async fn a_named_handle_follows_its_instance_and_then_its_successor() {
    let a = supervisor("named-a").await;
    let b = supervisor("named-b").await;
    let name = common::unique("named-probe");
    let named = Named::<Probe>::new(name.as_str());
    assert!(matches!(
        bounded(named.call(Call::Get)).await,
        Err(CallError::Lookup(LookupError::NotFound { .. }))
    ));
    let refused = named.cast(Cast::Incr).unwrap_err();
    assert!(matches!(refused.reason(), Undelivered::Lookup(_)));

    let first = a
        .start_child(name.as_str(), Probe::default(), Default::default())
        .await
        .unwrap();
    named.cast(Cast::Incr).unwrap();
    named.cast(Cast::Panic).unwrap();
    peeper::transfer(&name, &a, &b).await.unwrap();
    named.cast(Cast::Incr).unwrap();
    assert_eq!(
        bounded(named.call(Call::Get)).await.unwrap(),
        Reply::Value(2)
    );
    assert_eq!(
        named.handle().unwrap().id(),
        first.id(),
        "the same instance throughout"
    );

    b.terminate_child::<Probe>(&name).await.unwrap();
    let second = b
        .start_child(name.as_str(), Probe::default(), Default::default())
        .await
        .unwrap();
    assert_eq!(
        bounded(named.call(Call::Get)).await.unwrap(),
        Reply::Value(0)
    );
    assert_eq!(
        named.handle().unwrap().id(),
        second.id(),
        "found again after the stop"
    );
    a.stop().await;
    b.stop().await;
}

/// A call by name reaches whichever instance holds the name now. Each
/// thread caches the names it looked up; a name whose instance stopped for
/// good is not found, and the next instance under it is, on the thread that
/// looked it up before and on the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_by_name_reach_whoever_holds_the_name_now() {
    let sup = supervisor("name-cache").await;
    let name = common::unique("name-cache-probe");
    for round in 0..50_i64 {
        let state = common::Counter {
            value: round,
            ..Default::default()
        };
        sup.start_child(name.as_str(), Probe::default(), state)
            .await
            .unwrap();
        // Twice: the second lookup is answered from this thread's cache.
        for _ in 0..2 {
            assert_eq!(
                bounded(peeper::call::<Probe>(&name, Call::Get))
                    .await
                    .unwrap(),
                Reply::Value(round)
            );
        }
        let others: Vec<_> = (0..4)
            .map(|_| {
                let name = name.clone();
                tokio::spawn(async move { peeper::call::<Probe>(&name, Call::Get).await })
            })
            .collect();
        for other in others {
            assert_eq!(bounded(other).await.unwrap().unwrap(), Reply::Value(round));
        }
        sup.terminate_child::<Probe>(&name).await.unwrap();
        assert!(
            matches!(
                peeper::call::<Probe>(&name, Call::Get).await,
                Err(CallError::Lookup(LookupError::NotFound { .. }))
            ),
            "round {round}: the stopped instance still answered to its name"
        );
    }
    sup.stop().await;
}
