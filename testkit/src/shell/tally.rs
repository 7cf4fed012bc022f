//! The shell's instance: a tally that counts numbered messages per sender,
//! flags any out of order or seen twice, and keeps a table of rows, a
//! dictionary label and two timers' counts.

use std::collections::BTreeMap;
use std::time::Duration;

use peeper::cluster::{Parts, Portable};
use peeper::{Actor, BoxError, Context, StateMut};
use serde::{Deserialize, Serialize};

/// A table row: bytes that serde keeps as one block (a plain `Vec<u8>` would
/// be encoded byte by byte).
pub(super) type Row = serde_bytes::ByteBuf;

/// Notes message `seq` of `sender`: one more handled, and a violation if
/// it is not the one after the last.
fn count(state: &mut StateMut<Counts>, sender: String, seq: u64) {
    let counts: &mut Counts = state;
    let last = counts.last.entry(sender).or_insert(0);
    if seq != *last + 1 {
        counts.violations += 1;
    }
    if seq <= *last {
        counts.dups += 1;
    }
    *last = seq;
    counts.handled += 1;
    counts.value += 1;
}

/// Counts numbered calls per sender and keeps a table of rows.
pub(super) struct Tally;

#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct Counts {
    pub(super) value: i64,
    pub(super) last: BTreeMap<String, u64>,
    pub(super) handled: u64,
    pub(super) violations: u64,
    /// Numbered messages seen again, or older than one seen: handled twice.
    pub(super) dups: u64,
    /// Deliveries of the one-shot timer and of the interval timer.
    pub(super) once: u64,
    pub(super) every: u64,
}

/// What the timers deliver.
#[derive(Clone, Serialize, Deserialize)]
pub(super) enum Tick {
    Once,
    Every,
}

#[derive(Serialize, Deserialize)]
pub(super) enum Call {
    Get,
    Seq {
        sender: String,
        seq: u64,
    },
    /// An order-independent digest of the table.
    Digest,
    /// Whether the callback runs on the shell's calling task.
    Where,
}

#[derive(Serialize, Deserialize)]
pub(super) enum Reply {
    Counts(Counts),
    Digest { rows: u64, digest: u64 },
    Where(bool),
}

#[derive(Serialize, Deserialize)]
pub(super) enum Cast {
    /// Counted like `Call::Seq`.
    Seq { sender: String, seq: u64 },
    /// Keeps the instance busy (awaiting) for this long.
    Sleep { ms: u64 },
    /// Sets a one-shot timer and an interval timer.
    Timers { once_ms: u64, every_ms: u64 },
    /// Inserts rows `from..to`; the last batch (`to == rows`) sets the label.
    Fill {
        from: u64,
        to: u64,
        rows: u64,
        bytes: usize,
    },
    /// Overwrites and removes rows, the same way for the same round.
    Churn { round: u64, rows: u64 },
    /// Puts this many MiB of bytes under the dictionary key `blob`: one
    /// large entry, which a move carries as one block.
    Blob { mib: usize },
}

impl Actor for Tally {
    type State = Counts;
    type Call = Call;
    type Reply = Reply;
    type Cast = Cast;
    type Info = Tick;

    async fn handle_info(
        &self,
        tick: Tick,
        state: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match tick {
            Tick::Once => state.once += 1,
            Tick::Every => state.every += 1,
        }
        Ok(())
    }

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<Counts>,
        ctx: &mut Context<Self>,
    ) -> Result<Reply, BoxError> {
        if let Call::Digest = msg {
            let table = ctx.table::<u64, Row>("rows")?;
            let digest = table.to_vec().iter().fold(0_u64, |acc, (k, v)| {
                let row = k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ v.iter().map(|&b| u64::from(b)).sum::<u64>();
                acc.wrapping_add(row.rotate_left(17))
            });
            return Ok(Reply::Digest {
                rows: table.len() as u64,
                digest,
            });
        }
        if let Call::Where = msg {
            return Ok(Reply::Where(super::held::on_caller()));
        }
        if let Call::Seq { sender, seq } = msg {
            count(state, sender, seq);
        }
        Ok(Reply::Counts((**state).clone()))
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<Counts>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if let Cast::Seq { sender, seq } = msg {
            count(state, sender, seq);
            return Ok(());
        }
        if let Cast::Sleep { ms } = msg {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return Ok(());
        }
        if let Cast::Timers { once_ms, every_ms } = msg {
            ctx.send_after(Duration::from_millis(once_ms), Tick::Once);
            ctx.send_interval(Duration::from_millis(every_ms), Tick::Every);
            return Ok(());
        }
        if let Cast::Blob { mib } = msg {
            let blob = serde_bytes::ByteBuf::from(vec![0x5a_u8; mib << 20]);
            ctx.dictionary_mut().put("blob", blob);
            return Ok(());
        }
        let table = ctx.table::<u64, Row>("rows")?;
        match msg {
            Cast::Fill {
                from,
                to,
                rows,
                bytes,
            } => {
                for i in from..to {
                    table.insert(i, Row::from(vec![(i % 251) as u8; bytes]));
                }
                if to == rows {
                    ctx.dictionary_mut().put("label", format!("{rows} rows"));
                }
            }
            Cast::Churn { round, rows } => {
                for k in 0..50 {
                    let key = (round * 7919 + k * 104_729) % (rows + 1000);
                    if k % 5 == 0 {
                        table.remove(&key);
                    } else {
                        table.insert(key, Row::from(vec![(round % 251) as u8; 8]));
                    }
                }
            }
            Cast::Timers { .. } | Cast::Seq { .. } | Cast::Sleep { .. } | Cast::Blob { .. } => {}
        }
        Ok(())
    }
}

impl Portable for Tally {
    const KIND: &'static str = "tally";
    const VERSION: u32 = 1;

    fn parts(parts: &mut Parts) {
        parts
            .table::<u64, Row>("rows")
            .dictionary::<String>("label")
            .dictionary::<serde_bytes::ByteBuf>("blob");
    }
}
