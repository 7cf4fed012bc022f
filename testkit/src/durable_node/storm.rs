//! `storm`: numbered ops to every instance, until the process is killed.
//!
//! Each sender task goes round the instances, one op at a time, so the ops
//! of one (sender, instance) pair are sequential: each is numbered one
//! after the last that instance handled from that sender, as recovered, so
//! that the order is checkable across every run on the store. Calls and
//! durable casts alternate; plain casts are not durable and are not used.

use std::time::Duration;

use peeper::durable::Durable;
use peeper::{Handle, Supervisor};

use super::account::{Account, Answer, Ask, Ledger, Op};
use super::figures::{Ack, Figures};
use super::out::say;
use super::{instance_name, report};

/// Far longer than an op needs, even with the machine busy: a timeout
/// would leave the op's fate unknown and stop its sender.
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the missing instances, then runs `senders` senders over all of
/// them; returns only if every sender stopped on an error.
///
/// # Errors
/// An instance could not be started or reported on.
pub async fn storm(
    durable: &Durable,
    sup: &Supervisor,
    instances: usize,
    senders: usize,
) -> Result<(), String> {
    let mut accounts = Vec::with_capacity(instances);
    for i in 0..instances {
        let name = instance_name(i);
        let handle = match peeper::lookup::<Account>(&name) {
            Ok(handle) => handle,
            Err(_) => durable
                .start_child(sup, name.as_str(), Account, Ledger::default())
                .await
                .map_err(|e| format!("start {name}: {e}"))?,
        };
        // A call queues behind the durable casts recovered with the
        // instance, so its report counts them.
        let figures = report(&handle).await?;
        accounts.push((handle, figures));
    }
    say("ready");
    let tasks: Vec<_> = (0..senders)
        .map(|j| tokio::spawn(send(format!("s{j}"), j, accounts.clone())))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    Err("every sender stopped".to_owned())
}

/// One sender: round the instances from the `first`, forever.
async fn send(sender: String, first: usize, accounts: Vec<(Handle<Account>, Figures)>) {
    let mut next: Vec<u64> = accounts
        .iter()
        .map(|(_, f)| f.last_seq.get(&sender).copied().unwrap_or(0) + 1)
        .collect();
    let mut turn = first;
    loop {
        let i = turn % accounts.len();
        turn += 1;
        let handle = &accounts[i].0;
        let op = Op {
            sender: sender.clone(),
            seq: next[i],
        };
        let done = if op.seq % 2 == 0 {
            match handle.call_timeout(Ask::Op(op), OP_TIMEOUT).await {
                Ok(Answer::Done) => Ok(()),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        } else {
            handle.cast_durable(op).await.map_err(|e| e.to_string())
        };
        if let Err(e) = done {
            // Whether that op was handled is unknown: no later one of this
            // sender can be numbered safely.
            eprintln!("{sender} stops: {} seq {}: {e}", handle.name(), next[i]);
            return;
        }
        say(Ack {
            instance: handle.name().to_owned(),
            sender: sender.clone(),
            seq: next[i],
        });
        next[i] += 1;
    }
}
