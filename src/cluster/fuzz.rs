//! Support for fuzzing the decoders of what other nodes send.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::cluster::snapshot;
use crate::cluster::wire::{self, Begin, MoveKey, Request, Response, Step};
use crate::dictionary::Dictionary;
use crate::portable::rows::TableFill;
use crate::portable::{Parts, Portable, RowSink};
use crate::table::TableSet;

/// A kind with a bit of everything, for snapshots.
struct Sample;

#[derive(Clone, Serialize, Deserialize)]
struct SampleState {
    numbers: Vec<u64>,
    name: String,
}

impl Actor for Sample {
    type State = SampleState;
    type Call = String;
    type Reply = Vec<u32>;
    type Cast = ();
    type Info = (u8, String);
}

impl Portable for Sample {
    const KIND: &'static str = "fuzz-sample";
    const VERSION: u32 = 1;

    fn parts(parts: &mut Parts) {
        parts
            .table::<u64, String>("rows")
            .dictionary::<Vec<String>>("tags");
    }
}

pub(crate) fn decode_all(bytes: &[u8]) -> usize {
    let mut accepted = 0;
    accepted += usize::from(wire::decode::<Request>(bytes).is_ok());
    accepted += usize::from(wire::decode::<Response>(bytes).is_ok());
    accepted += usize::from(
        snapshot::decode::<Sample>(bytes, &Parts::of::<Sample>(), &mut Default::default()).is_ok(),
    );
    let tables = TableSet::default();
    if let Ok(table) = tables.open_or_create::<u64, String>("rows") {
        let mut fill = TableFill::new(table);
        // The count comes from the same untrusted message as the rows.
        let count = bytes.first().map_or(0, |&b| u32::from(b));
        accepted += usize::from(fill.absorb(bytes, count).is_ok());
        accepted += usize::from(fill.remove(bytes, count).is_ok());
    }
    accepted
}

pub(crate) fn seeds() -> Vec<Vec<u8>> {
    let mv = MoveKey {
        name: "p".to_owned(),
        epoch: 3,
    };
    let step = |step| Request::Move {
        mv: mv.clone(),
        step,
    };
    let requests = [
        Request::Ping,
        Request::Whereis { name: "p".into() },
        Request::Call {
            name: "p".into(),
            kind: "k".into(),
            budget_ms: 5_000,
            body: vec![1, 2, 3],
        },
        step(Step::Begin(Begin {
            durable: false,
            kind: "k".into(),
            version: 1,
            supervisor: "s".into(),
            from_node: "a".into(),
            from_incarnation: 7,
            max_restarts: 10,
            restart_window_ms: 1000,
            capacity: Some(10_000),
        })),
        step(Step::Rows {
            table: "rows".into(),
            count: 2,
            rows: vec![1, 1, b'a', 2, 1, b'b'],
        }),
        step(Step::Commit),
        Request::Outcome { mv: mv.clone() },
    ];
    let mut seeds: Vec<Vec<u8>> = requests
        .iter()
        .filter_map(|r| wire::encode(r).ok())
        .collect();
    seeds.extend(wire::encode(&Response::Count(7)).ok());
    let mut dict = Dictionary::default();
    dict.put("tags", vec!["x".to_owned()]);
    let state = SampleState {
        numbers: vec![1, 2, 3],
        name: "n".into(),
    };
    let timer = snapshot::Timer {
        id: 1,
        remaining_us: 10,
        period_us: Some(5),
        msg: postcard::to_stdvec(&(1_u8, "t")).unwrap_or_default(),
    };
    seeds.extend(
        snapshot::encode::<Sample>(
            &state,
            &dict,
            vec![timer],
            &Parts::of::<Sample>(),
            &Default::default(),
        )
        .ok(),
    );
    seeds
}
