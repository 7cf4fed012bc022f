//! A durable kind whose state changed between two versions of a program:
//! the new one reads the old state through `Portable::upgrade`.
#![cfg(feature = "durable")]

use peeper::durable::Durable;
use peeper::portable::Portable;
use peeper::{Actor, BoxError, Context, StateMut};
use serde::{Deserialize, Serialize};

/// Version 1: a balance in whole units.
struct WalletV1;

impl Actor for WalletV1 {
    type State = u32;
    type Call = u32;
    type Reply = u32;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        n: u32,
        s: &mut StateMut<u32>,
        _: &mut Context<Self>,
    ) -> Result<u32, BoxError> {
        **s += n;
        Ok(**s)
    }
}

impl Portable for WalletV1 {
    const KIND: &'static str = "wallet";
    const VERSION: u32 = 1;
}

/// Version 2: cents, and a currency.
struct WalletV2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Balance {
    cents: u64,
    currency: String,
}

impl Actor for WalletV2 {
    type State = Balance;
    type Call = ();
    type Reply = Balance;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        (): (),
        s: &mut StateMut<Balance>,
        _: &mut Context<Self>,
    ) -> Result<Balance, BoxError> {
        Ok((**s).clone())
    }
}

impl Portable for WalletV2 {
    const KIND: &'static str = "wallet";
    const VERSION: u32 = 2;

    fn upgrade(version: u32, state: &[u8]) -> Result<Option<Balance>, BoxError> {
        if version != 1 {
            return Ok(None);
        }
        let units: u32 = postcard::from_bytes(state)?;
        Ok(Some(Balance {
            cents: u64::from(units) * 100,
            currency: "EUR".to_owned(),
        }))
    }
}

#[tokio::test]
async fn an_older_state_is_upgraded_when_it_comes_back() {
    let dir = std::env::temp_dir().join(format!("peeper-durable-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.redb");
    {
        let durable = Durable::open(&path).unwrap();
        durable.register(|| WalletV1);
        let sup = durable.supervisor("wallets").await.unwrap();
        let w = durable
            .start_child(&sup, "wallet-1", WalletV1, 0)
            .await
            .unwrap();
        assert_eq!(w.call(12).await, Ok(12));
        sup.stop().await;
    }
    let durable = Durable::open(&path).unwrap();
    durable.register(|| WalletV2);
    let sup = durable.supervisor("wallets").await.unwrap();
    let w = peeper::lookup::<WalletV2>("wallet-1").unwrap();
    let balance = w.call(()).await.unwrap();
    assert_eq!(
        balance,
        Balance {
            cents: 1200,
            currency: "EUR".to_owned()
        }
    );
    sup.stop().await;
    drop(durable);
    std::fs::remove_dir_all(&dir).unwrap();
}
