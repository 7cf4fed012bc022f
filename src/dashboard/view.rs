//! What the page shows of instances, as JSON: one row per instance, found,
//! filtered and paginated on the server so that 100k instances cost the
//! browser one page of rows.
//!
//! Every row is read from the shared structures the core keeps anyway (the
//! registry, the kept parts); listing sends no message to any instance.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::probe::{cause, short_type};
use crate::actor::Actor;
use crate::instance::{AnyInstance, Kept};
use crate::registry;

/// The most rows one page may ask for.
pub(crate) const MAX_PER_PAGE: usize = 500;

/// The query of `/api/instances`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Keeps instances whose name or kind contains this, ignoring ASCII case.
    #[serde(default)]
    pub(crate) q: String,
    /// Keeps instances under this supervisor.
    pub(crate) supervisor: Option<String>,
    /// The page, from 0.
    #[serde(default)]
    pub(crate) page: usize,
    /// Rows per page, 1 to [`MAX_PER_PAGE`].
    #[serde(default = "default_per_page")]
    pub(crate) per_page: usize,
    /// Only for the token check; ignored here.
    #[serde(default)]
    #[allow(dead_code, reason = "read by the token check, from the raw query")]
    pub(crate) token: Option<String>,
}

fn default_per_page() -> usize {
    50
}

/// One page of instances.
#[derive(Debug, Serialize)]
pub(crate) struct Page {
    /// Instances registered in all.
    pub(crate) total: usize,
    /// Instances the query kept.
    pub(crate) matched: usize,
    /// This page, from 0.
    pub(crate) page: usize,
    /// Rows per page.
    pub(crate) per_page: usize,
    /// The page's rows, by name.
    pub(crate) items: Vec<Row>,
}

/// One instance.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// Its behaviour's type, without the module path.
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) supervisor: Option<String>,
    /// The node it runs on: this one, or the one it moved to.
    pub(crate) node: String,
    /// Crashes since it started.
    pub(crate) restarts: u64,
    pub(crate) last_crash: Option<LastCrash>,
    pub(crate) queue_len: usize,
    pub(crate) tables: Vec<TableRow>,
    pub(crate) dict_keys: Vec<String>,
    /// How many times it moved between nodes.
    pub(crate) epoch: u64,
}

/// An instance's last crash.
#[derive(Debug, Serialize)]
pub(crate) struct LastCrash {
    /// What the crash says.
    pub(crate) reason: String,
    /// `panic`, `error`, `killed` or `actor_lost`.
    pub(crate) cause: &'static str,
    /// When, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// One of an instance's tables.
#[derive(Debug, Serialize)]
pub(crate) struct TableRow {
    pub(crate) name: String,
    pub(crate) rows: usize,
}

/// One instance's page: its row, and its state if its kind shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Detail {
    #[serde(flatten)]
    pub(crate) row: Row,
    /// The committed state, `{:#?}`-formatted; `None` unless the kind opted
    /// in ([`DashboardBuilder::show_state`](super::DashboardBuilder::show_state)).
    pub(crate) state: Option<String>,
}

/// Formats the state of an instance of one kind.
type ShowFn = fn(Arc<dyn Any + Send + Sync>) -> Option<String>;

/// The kinds whose state the page may show, by the type of their kept parts.
#[derive(Default, Clone)]
pub(crate) struct StateViews(HashMap<TypeId, ShowFn>);

impl StateViews {
    /// Lets the page show the state of instances of `A`.
    pub(crate) fn allow<A: Actor>(&mut self)
    where
        A::State: Debug,
    {
        self.0.insert(TypeId::of::<Kept<A>>(), show::<A>);
    }

    /// The state of `instance`, if its kind opted in.
    fn render(&self, instance: Arc<dyn AnyInstance>) -> Option<String> {
        let any = instance.into_any();
        let show = self.0.get(&(*any).type_id())?;
        show(any)
    }
}

fn show<A: Actor>(any: Arc<dyn Any + Send + Sync>) -> Option<String>
where
    A::State: Debug,
{
    let kept = any.downcast::<Kept<A>>().ok()?;
    let state = kept.committed.lock().state.clone();
    Some(format!("{state:#?}"))
}

/// The page of instances `query` asks for; `node` names this node.
pub(crate) fn list(query: &ListQuery, node: &str) -> Page {
    let all = registry::live();
    let total = all.len();
    let needle = query.q.as_bytes();
    let mut kept: Vec<Arc<dyn AnyInstance>> = all
        .into_iter()
        .filter(|i| {
            needle.is_empty()
                || contains_ignoring_case(i.name().as_bytes(), needle)
                || contains_ignoring_case(short_type(i.actor_type()).as_bytes(), needle)
        })
        .filter(|i| match &query.supervisor {
            Some(s) => i.owner().is_some_and(|o| o.name() == s),
            None => true,
        })
        .collect();
    let matched = kept.len();
    let start = query.page.saturating_mul(query.per_page).min(matched);
    let end = start.saturating_add(query.per_page).min(matched);
    // Only the rows up to the page's end need their order.
    if end > 0 && end < matched {
        kept.select_nth_unstable_by(end - 1, |a, b| a.name().cmp(b.name()));
        kept.truncate(end);
    }
    kept.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    let items = kept[start..end].iter().map(|i| row(&**i, node)).collect();
    Page {
        total,
        matched,
        page: query.page,
        per_page: query.per_page,
        items,
    }
}

/// The page of the instance `name`, if one runs.
pub(crate) fn detail(name: &str, node: &str, views: &StateViews) -> Option<Detail> {
    let instance = registry::get(name)?;
    let row = row(&*instance, node);
    let state = views.render(instance);
    Some(Detail { row, state })
}

fn row(instance: &dyn AnyInstance, node: &str) -> Row {
    let vitals = instance.vitals();
    let (restarts, last_crash) = match vitals.crashes {
        Some(history) => (
            history.total,
            Some(LastCrash {
                reason: history.last.to_string(),
                cause: cause(&history.last),
                at_ms: history
                    .at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            }),
        ),
        None => (0, None),
    };
    Row {
        name: instance.name().to_owned(),
        kind: short_type(instance.actor_type()),
        id: instance.id().to_string(),
        supervisor: vitals.supervisor,
        node: instance.moved_to().unwrap_or_else(|| node.to_owned()),
        restarts,
        last_crash,
        queue_len: vitals.queue_len,
        tables: vitals
            .tables
            .into_iter()
            .map(|(name, rows)| TableRow { name, rows })
            .collect(),
        dict_keys: vitals.dict_keys,
        epoch: vitals.epoch,
    }
}

/// Whether `needle` occurs in `haystack`, ignoring ASCII case, without
/// allocating: run for every instance of every listing.
fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::contains_ignoring_case;

    #[test]
    fn search_ignores_ascii_case() {
        assert!(contains_ignoring_case(b"Room-42", b"room"));
        assert!(contains_ignoring_case(b"Room-42", b"-4"));
        assert!(!contains_ignoring_case(b"Room", b"rooms"));
    }
}
