//! Model-based property test: random sequences of calls, casts, dictionary
//! and table writes, panics, kills and transfers over several instances and
//! supervisors, checked against a plain model after every step.
//!
//! `PEEPER_PROPTEST_CASES=5000 cargo test --test model` runs more cases than
//! the default 256.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Call, Cast, Probe, Reply, unique};
use peeper::{CallError, Handle, RestartPolicy, Supervisor, TransferError};
use proptest::prelude::*;

const INSTANCES: usize = 3;
const SUPERVISORS: usize = 3;
const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Add(usize, i64),
    SetDict(usize, usize, i64),
    Insert(usize, u64, String),
    PanicCast(usize),
    PanicCall(usize),
    FailCall(usize),
    DictThenPanic(usize, usize),
    Kill(usize),
    Transfer(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..INSTANCES;
    prop_oneof![
        3 => (i.clone(), -100_i64..100).prop_map(|(i, n)| Op::Add(i, n)),
        2 => (i.clone(), 0..KEYS.len(), -5_i64..5).prop_map(|(i, k, v)| Op::SetDict(i, k, v)),
        2 => (i.clone(), 0_u64..8, "[a-z]{0,4}").prop_map(|(i, k, v)| Op::Insert(i, k, v)),
        1 => i.clone().prop_map(Op::PanicCast),
        1 => i.clone().prop_map(Op::PanicCall),
        1 => i.clone().prop_map(Op::FailCall),
        1 => (i.clone(), 0..KEYS.len()).prop_map(|(i, k)| Op::DictThenPanic(i, k)),
        1 => i.clone().prop_map(Op::Kill),
        2 => (i, 0..SUPERVISORS).prop_map(|(i, s)| Op::Transfer(i, s)),
    ]
}

/// What each instance should hold.
#[derive(Debug, Clone, Default)]
struct Model {
    value: i64,
    dict: BTreeMap<&'static str, i64>,
    table: BTreeMap<u64, String>,
    owner: usize,
}

struct World {
    sups: Vec<Supervisor>,
    handles: Vec<Handle<Probe>>,
    models: Vec<Model>,
}

impl World {
    async fn new() -> World {
        let mut sups = Vec::new();
        for _ in 0..SUPERVISORS {
            peeper::crash_report::route_to_tracing();
            sups.push(Supervisor::start(unique("model-sup")).await.unwrap());
        }
        let mut handles = Vec::new();
        for _ in 0..INSTANCES {
            let h = sups[0]
                .start_child_with(
                    unique("model-p"),
                    Probe::default(),
                    Default::default(),
                    RestartPolicy::new(u32::MAX, Duration::from_secs(1)),
                )
                .await
                .unwrap();
            handles.push(h);
        }
        World {
            sups,
            handles,
            models: vec![Model::default(); INSTANCES],
        }
    }

    async fn apply(&mut self, op: &Op) {
        match *op {
            Op::Add(i, n) => {
                self.handles[i].cast(Cast::Add(n)).unwrap();
                self.models[i].value += n;
            }
            Op::SetDict(i, k, v) => {
                self.handles[i].cast(Cast::SetDict(KEYS[k], v)).unwrap();
                self.models[i].dict.insert(KEYS[k], v);
            }
            Op::Insert(i, k, ref v) => {
                self.handles[i]
                    .cast(Cast::Rows("t", vec![(k, v.clone())]))
                    .unwrap();
                self.models[i].table.insert(k, v.clone());
            }
            Op::PanicCast(i) => self.handles[i].cast(Cast::Panic).unwrap(),
            Op::DictThenPanic(i, k) => {
                self.handles[i]
                    .cast(Cast::SetDictThenPanic(KEYS[k], 99))
                    .unwrap();
            }
            Op::PanicCall(i) => {
                let r = self.handles[i].call(Call::Panic).await;
                assert!(matches!(r, Err(CallError::Crashed { .. })), "{r:?}");
            }
            Op::FailCall(i) => {
                let r = self.handles[i].call(Call::Fail).await;
                assert!(matches!(r, Err(CallError::Crashed { .. })), "{r:?}");
            }
            Op::Kill(i) => self.handles[i].kill(),
            Op::Transfer(i, to) => {
                let from = self.models[i].owner;
                let r = self.sups[from]
                    .transfer(self.handles[i].name(), &self.sups[to])
                    .await;
                if from == to {
                    assert!(
                        matches!(r, Err(TransferError::SameSupervisor { .. })),
                        "{r:?}"
                    );
                } else {
                    r.unwrap();
                    self.models[i].owner = to;
                }
            }
        }
    }

    async fn check(&self) {
        for (i, (h, m)) in self.handles.iter().zip(&self.models).enumerate() {
            // Queued behind every cast: once answered, the model applies.
            let reply = h.call(Call::Get).await;
            assert_eq!(reply, Ok(Reply::Value(m.value)), "value of instance {i}");
            let dict = h.dictionary();
            for key in KEYS {
                assert_eq!(
                    dict.get::<i64>(key).copied(),
                    m.dict.get(key).copied(),
                    "dictionary key {key} of instance {i}"
                );
            }
            let rows: BTreeMap<u64, String> = match h.table::<u64, String>("t") {
                Ok(t) => t.to_vec().into_iter().collect(),
                Err(_) => BTreeMap::new(),
            };
            assert_eq!(rows, m.table, "table of instance {i}");
            assert_eq!(
                h.supervisor_name().as_deref(),
                Some(self.sups[m.owner].name()),
                "owner of instance {i}"
            );
            assert_eq!(peeper::whereis(h.name()), Some(h.id()));
        }
        for (s, sup) in self.sups.iter().enumerate() {
            let expected = self.models.iter().filter(|m| m.owner == s).count();
            assert_eq!(sup.count(), expected, "children of supervisor {s}");
        }
    }

    async fn stop(self) {
        for s in self.sups {
            s.stop().await;
        }
    }
}

fn cases() -> u32 {
    std::env::var("PEEPER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn every_step_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut world = World::new().await;
            for op in &ops {
                world.apply(op).await;
                world.check().await;
            }
            world.stop().await;
        });
    }
}
