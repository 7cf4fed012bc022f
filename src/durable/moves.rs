//! Durable instances and moves between nodes: what a node's store answers
//! about an instance (`Holds`), the instances a restart found noted as
//! moving, and the journal of one that arrives. The protocol is in the
//! `cluster::handoff` docs.

use std::sync::Arc;

#[cfg(feature = "cluster")]
use super::journal::InstanceJournal;
use super::store::{StoreError, Write};
use super::{Durable, RecoverError, record, writer};
#[cfg(feature = "cluster")]
use crate::portable::Portable;
use crate::supervisor::Supervisor;

impl Durable {
    /// The instances a restart found noted as moving to another node, with
    /// that node: they start here only once it says it does not hold them
    /// (feature `cluster`, and a node with this store in its
    /// `NodeConfig::durable`), and are forgotten here once it says it does.
    pub fn in_doubt(&self) -> Vec<(String, String)> {
        self.inner
            .in_doubt
            .lock()
            .values()
            .filter_map(|d| Some((d.stored.name.clone(), d.record.moving.clone()?)))
            .collect()
    }

    /// The node an instance was moving to holds it: its records here go.
    pub(crate) async fn forget_in_doubt(&self, name: &str) {
        if self.inner.in_doubt.lock().remove(name).is_none() {
            return;
        }
        let forget = vec![Write::Forget {
            name: name.to_owned(),
        }];
        let outcome = self
            .inner
            .writer
            .send(forget, Arc::default(), writer::Kind::Apart);
        let _ = outcome.await;
    }

    /// The node an instance was moving to does not hold it: it starts here,
    /// under its supervisor if that runs (else it stays in doubt), and its
    /// record loses the note.
    pub(crate) async fn resume_in_doubt(&self, name: &str) -> Result<bool, RecoverError> {
        let Some(mut doubt) = self.inner.in_doubt.lock().remove(name) else {
            return Ok(false);
        };
        let Some(sup) = Supervisor::lookup(&doubt.record.supervisor) else {
            self.inner.in_doubt.lock().insert(name.to_owned(), doubt);
            return Ok(false);
        };
        let kind = self.inner.kinds.lock().get(&doubt.record.kind).cloned();
        let Some(kind) = kind else {
            return Err(RecoverError::UnknownKind {
                name: name.to_owned(),
                kind: doubt.record.kind,
            });
        };
        doubt.record.moving = None;
        kind.recover(self, &sup, doubt.stored, doubt.record, true)
            .await?;
        Ok(true)
    }

    /// Whether this store holds `name`: `Some(true)` with a record noted as
    /// moving elsewhere (in doubt), `Some(false)` with a plain one.
    pub(crate) fn holds(&self, name: &str) -> Result<Option<bool>, StoreError> {
        if self.inner.in_doubt.lock().contains_key(name) {
            return Ok(Some(true));
        }
        let Some(bytes) = self.inner.store.record(name)? else {
            return Ok(None);
        };
        let record = record::decode(&bytes).map_err(StoreError::Corrupt)?;
        Ok(Some(record.moving.is_some()))
    }

    /// A journal for an instance of kind `A` arriving here from another
    /// node, under `supervisor`.
    #[cfg(feature = "cluster")]
    pub(crate) fn journal_for<A: Portable>(
        &self,
        name: &str,
        supervisor: &str,
    ) -> Box<dyn crate::instance::Journal<A>> {
        Box::new(InstanceJournal::<A>::new(
            name.to_owned(),
            self.inner.writer.clone(),
            self.inner.durability,
            self.parts_of::<A>(),
            supervisor.to_owned(),
            None,
            0,
        ))
    }
}
