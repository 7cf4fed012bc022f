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
