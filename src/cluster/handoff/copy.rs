//! The tables of a move, source side: copied in chunks while the instance
//! runs, then what changed, and the last changes once it is frozen.

use std::collections::HashMap;

use futures::StreamExt;

use super::MovePhase;
use super::source::Mover;
use crate::cluster::error::MoveError;
use crate::cluster::wire::Step;
use crate::dictionary::Value;
use crate::instance::Kept;
use crate::portable::rows::CHUNK_BYTES;
use crate::portable::{Portable, RowSource};
use crate::table::TableId;

/// Rounds of sending rows written during the copy, before the freeze.
const RECOPY_ROUNDS: usize = 4;

/// Few enough changed rows to leave to the frozen catch-up.
const RECOPY_ENOUGH: u64 = 1024;

/// Chunks of rows in flight at once during a move.
const WINDOW: usize = 8;

/// Dictionary entries whose encoding is at least this large go ahead of the
/// freeze, like tables: the frozen time does not grow with them.
const ENTRY_AHEAD: usize = 64 * 1024;

/// The tables copied while the instance ran: their ids then, rows and bytes
/// sent.
pub(in crate::cluster::handoff) struct Precopied {
    tables: Vec<(String, TableId)>,
    pub(super) rows: u64,
    pub(super) bytes: u64,
    /// Dictionary entries sent ahead, with the very values sent: an entry
    /// that still holds it at the freeze is only named in the snapshot.
    pub(super) entries: HashMap<String, Value>,
}

impl Mover {
    /// Opens the move and copies every declared table while the instance
    /// keeps running; writes made meanwhile are noted for the catch-up.
    pub(super) async fn precopy<A: Portable>(
        &self,
        shared: &Kept<A>,
    ) -> Result<Precopied, MoveError> {
        let mut sources = Vec::new();
        let mut tables = Vec::new();
        for (table, port) in &self.parts.tables {
            // Noting starts before the first read: a write either lands
            // before the read or in the log.
            let Some(id) = port
                .track(&shared.tables, table)
                .map_err(|e| self.encode(e))?
            else {
                continue;
            };
            tables.push((table.clone(), id));
            if let Some(source) = port
                .source(&shared.tables, table)
                .map_err(|e| self.encode(e))?
            {
                sources.push((table.clone(), source));
            }
        }
        let dict = shared.committed.lock().dict.clone();
        let mut ahead = Vec::new();
        for (key, value) in dict.entries() {
            let Some(codec) = self.parts.dictionary.get(key) else {
                continue;
            };
            let encoded =
                (codec.encode)(value).map_err(|e| self.encode(format!("{key:?}: {e}")))?;
            if encoded.len() >= ENTRY_AHEAD {
                ahead.push((key.to_owned(), value.clone(), encoded));
            }
        }
        if sources.iter().any(|(_, s)| s.rows() > 0) || !ahead.is_empty() {
            self.step(self.begin(shared)).await?;
            self.open_data().await?;
        } else {
            // Nothing to stream: the answer can wait for `Commit`, which
            // reports a refused `Begin` (one round trip less per move, which
            // is what a drain of small instances is made of).
            self.post(self.begin(shared))?;
        }
        let (rows, mut bytes) = self.send_rows(sources, MovePhase::Tables).await?;
        let mut entries = HashMap::new();
        for (key, value, encoded) in ahead {
            bytes += encoded.len() as u64;
            let total = u32::try_from(encoded.len())
                .map_err(|_| self.encode(format!("dictionary entry {key:?} over 4 GiB")))?;
            for piece in encoded.chunks(CHUNK_BYTES) {
                self.send_data(Step::Entry {
                    key: key.clone(),
                    total,
                    piece: piece.to_vec(),
                })
                .await?;
            }
            entries.insert(key, value);
        }
        // Rows written during that copy go again, still while the instance
        // runs, until few enough are left for the frozen catch-up.
        for _ in 0..RECOPY_ROUNDS {
            let (changed, sent) = self.recopy(shared, &tables).await?;
            bytes += sent;
            if changed <= RECOPY_ENOUGH {
                break;
            }
        }
        // Whatever is still in flight is applied before the freeze, not
        // during it.
        self.flush_data().await?;
        Ok(Precopied {
            tables,
            rows,
            bytes,
            entries,
        })
    }

    /// Sends the rows written since the last look, with the instance
    /// running; returns how many rows had changed, and the bytes sent.
    async fn recopy<A: Portable>(
        &self,
        shared: &Kept<A>,
        tables: &[(String, TableId)],
    ) -> Result<(u64, u64), MoveError> {
        let mut sources = Vec::new();
        let mut changed = 0;
        for (table, id) in tables {
            let Some(port) = self.parts.tables.get(table) else {
                continue;
            };
            let rotated = port.rotate(&shared.tables, table, *id);
            let Some(d) = rotated.map_err(|e| self.encode(e))? else {
                continue;
            };
            changed += self.send_removed(table, d.removed).await?;
            changed += d.rows.rows();
            sources.push((table.clone(), d.rows));
        }
        let (_, bytes) = self.send_rows(sources, MovePhase::Changes).await?;
        Ok((changed, bytes))
    }

    /// Sends, for each declared table, what changed since it was copied; a
    /// table made, cleared or dropped meanwhile goes again whole (or away).
    pub(super) async fn catch_up<A: Portable>(
        &self,
        shared: &Kept<A>,
        precopied: &Precopied,
    ) -> Result<(u64, u64), MoveError> {
        let mut sources = Vec::new();
        for (table, port) in &self.parts.tables {
            let copied = precopied
                .tables
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, id)| *id);
            let dirty = port
                .dirty(&shared.tables, table)
                .map_err(|e| self.encode(e))?;
            match (copied, dirty) {
                (Some(id), Some(d)) if d.id == id && !d.cleared => {
                    self.send_removed(table, d.removed).await?;
                    sources.push((table.clone(), d.rows));
                }
                (copied, dirty) => {
                    if copied.is_some() {
                        self.send_data(Step::ResetTable {
                            table: table.clone(),
                        })
                        .await?;
                    }
                    if dirty.is_some()
                        && let Some(all) = port
                            .source(&shared.tables, table)
                            .map_err(|e| self.encode(e))?
                    {
                        sources.push((table.clone(), all));
                    }
                }
            }
        }
        self.send_rows(sources, MovePhase::CatchUp).await
    }

    /// Tells the target which keys left `table`; how many.
    async fn send_removed(
        &self,
        table: &str,
        removed: Vec<(Vec<u8>, u32)>,
    ) -> Result<u64, MoveError> {
        let mut keys_sent = 0;
        for (keys, count) in removed {
            keys_sent += u64::from(count);
            self.send_data(Step::Remove {
                table: table.to_owned(),
                count,
                keys,
            })
            .await?;
        }
        Ok(keys_sent)
    }

    /// Streams rows chunk by chunk, up to WINDOW in flight; rows and bytes sent.
    async fn send_rows(
        &self,
        sources: Vec<(String, Box<dyn RowSource>)>,
        phase: MovePhase,
    ) -> Result<(u64, u64), MoveError> {
        let total: u64 = sources.iter().map(|(_, s)| s.rows()).sum();
        let (mut rows, mut bytes) = (0_u64, 0_u64);
        self.progress(phase, 0, total, 0);
        if self.has_data().await {
            // The stream's window keeps it busy and bounds memory.
            for (table, mut source) in sources {
                while let Some((chunk, count)) =
                    source.next_chunk(CHUNK_BYTES).map_err(|e| self.encode(e))?
                {
                    bytes += chunk.len() as u64;
                    rows += u64::from(count);
                    self.send_data(Step::Rows {
                        table: table.clone(),
                        count,
                        rows: chunk,
                    })
                    .await?;
                    self.progress(phase, rows, total, bytes);
                }
            }
            return Ok((rows, bytes));
        }
        // Up to WINDOW chunks in flight: enough to keep the connection busy,
        // few enough that memory stays bounded on both sides.
        let mut in_flight = futures::stream::FuturesOrdered::new();
        for (table, mut source) in sources {
            while let Some((chunk, count)) =
                source.next_chunk(CHUNK_BYTES).map_err(|e| self.encode(e))?
            {
                if in_flight.len() >= WINDOW
                    && let Some(done) = in_flight.next().await
                {
                    let (n, b) = done?;
                    rows += n;
                    bytes += b;
                    self.progress(phase, rows, total, bytes);
                }
                let sent = (u64::from(count), chunk.len() as u64);
                let ask = self.step(Step::Rows {
                    table: table.clone(),
                    count,
                    rows: chunk,
                });
                in_flight.push_back(async move { ask.await.map(|()| sent) });
            }
        }
        while let Some(done) = in_flight.next().await {
            let (n, b) = done?;
            rows += n;
            bytes += b;
            self.progress(phase, rows, total, bytes);
        }
        Ok((rows, bytes))
    }

    /// Stops noting writes (after a failed move).
    pub(super) fn untrack<A: Portable>(&self, shared: &Kept<A>) {
        for (table, port) in &self.parts.tables {
            let _ = port.dirty(&shared.tables, table);
        }
    }
}
