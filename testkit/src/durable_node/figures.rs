//! The lines a `peeper-durable-node` prints and its test reads back: one
//! [`Ack`] per op acknowledged, one [`Figures`] per instance checked. Both
//! ends use this one module, so the format cannot drift between them.
//!
//! ```
//! use peeper_testkit::durable_node::figures::{Ack, Figures};
//!
//! let ack = Ack { instance: "acct-0".into(), sender: "s1".into(), seq: 7 };
//! assert_eq!(Ack::parse(&ack.to_string()), Some(ack));
//!
//! let mut f = Figures { instance: "acct-0".into(), ..Figures::default() };
//! f.last_seq.insert("s0".into(), 3);
//! assert_eq!(Figures::parse(&f.to_string()), Some(f));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An op the node was told is done: the call answered, or the durable cast
/// stored. Printed as `ack <instance> <sender> <seq>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ack {
    /// The instance it went to.
    pub instance: String,
    /// Who sent it.
    pub sender: String,
    /// Its number.
    pub seq: u64,
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ack {} {} {}", self.instance, self.sender, self.seq)
    }
}

impl Ack {
    /// Reads an `ack` line; `None` for any other line.
    pub fn parse(line: &str) -> Option<Ack> {
        let mut words = line.strip_prefix("ack ")?.split(' ');
        let ack = Ack {
            instance: words.next()?.to_owned(),
            sender: words.next()?.to_owned(),
            seq: words.next()?.parse().ok()?,
        };
        words.next().is_none().then_some(ack)
    }
}

/// What one instance reports of itself, all read in one callback. Printed
/// as `figures <instance> key=value…`, `last_seq` as `sender:seq,…`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// The instance.
    pub instance: String,
    /// Ops handled.
    pub handled: u64,
    /// Ops out of their sender's order.
    pub violations: u64,
    /// Ops handled twice.
    pub dups: u64,
    /// Timers set.
    pub timers_set: u64,
    /// Timer messages handled.
    pub timer_fired: u64,
    /// `timer_fired` as read back from the store at the last recovery.
    pub fired_at_recovery: u64,
    /// Times read back from the store.
    pub recoveries: u64,
    /// Timers pending as the report was made.
    pub pending_timers: u64,
    /// Rows of the `ops` table.
    pub rows: u64,
    /// The `last` dictionary entry, if there is one.
    pub last: Option<u64>,
    /// The last `seq` handled, by sender.
    pub last_seq: BTreeMap<String, u64>,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self
            .last
            .map_or_else(|| "none".to_owned(), |n| n.to_string());
        let seqs: Vec<String> = self
            .last_seq
            .iter()
            .map(|(sender, seq)| format!("{sender}:{seq}"))
            .collect();
        write!(
            f,
            "figures {} handled={} violations={} dups={} timers_set={} timer_fired={} \
             fired_at_recovery={} recoveries={} pending_timers={} rows={} last={} last_seq={}",
            self.instance,
            self.handled,
            self.violations,
            self.dups,
            self.timers_set,
            self.timer_fired,
            self.fired_at_recovery,
            self.recoveries,
            self.pending_timers,
            self.rows,
            last,
            seqs.join(","),
        )
    }
}

impl Figures {
    /// Reads a `figures` line; `None` for any other line, or a damaged one.
    pub fn parse(line: &str) -> Option<Figures> {
        let mut words = line.strip_prefix("figures ")?.split(' ');
        let mut f = Figures {
            instance: words.next()?.to_owned(),
            ..Figures::default()
        };
        for word in words {
            let (key, value) = word.split_once('=')?;
            let number = || value.parse::<u64>().ok();
            match key {
                "handled" => f.handled = number()?,
                "violations" => f.violations = number()?,
                "dups" => f.dups = number()?,
                "timers_set" => f.timers_set = number()?,
                "timer_fired" => f.timer_fired = number()?,
                "fired_at_recovery" => f.fired_at_recovery = number()?,
                "recoveries" => f.recoveries = number()?,
                "pending_timers" => f.pending_timers = number()?,
                "rows" => f.rows = number()?,
                "last" if value == "none" => f.last = None,
                "last" => f.last = Some(number()?),
                "last_seq" => f.last_seq = parse_seqs(value)?,
                _ => return None,
            }
        }
        Some(f)
    }
}

fn parse_seqs(value: &str) -> Option<BTreeMap<String, u64>> {
    value
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (sender, seq) = pair.split_once(':')?;
            Some((sender.to_owned(), seq.parse().ok()?))
        })
        .collect()
}
