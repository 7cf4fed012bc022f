//! Finding the node that runs a name: what this node knows of it
//! ([`Place`]), what its peers answer, and the chain of nodes it went
//! through; see the windows in the [module docs](super).

use super::MAX_HOPS;
use crate::cluster::error::RemoteCallError;
use crate::cluster::handoff::relay;
use crate::cluster::node::Node;
use crate::cluster::peers::is_peer;
use crate::cluster::wire::{self, Place, Request, Response};
use crate::error::LookupError;
use crate::registry;

/// Where a call or cast goes next, and whether a "not there" from that node
/// proves that no node runs the name.
pub(super) struct Located {
    pub(super) node: String,
    /// The node itself said, at the time of asking, that it runs the name.
    /// Otherwise (a cached route, a relay's or a note's word, an arrival)
    /// a "not there" sends the caller looking again.
    pub(super) sure: bool,
}

impl Located {
    fn sure(node: String) -> Self {
        Located { node, sure: true }
    }

    pub(super) fn hint(node: String) -> Self {
        Located { node, sure: false }
    }
}

impl Node {
    /// What this node knows of `name`: the answer it gives to `Whereis`.
    pub(crate) fn place(&self, name: &str) -> Place {
        match registry::get(name) {
            Some(instance) => instance.moved_to().map_or(Place::Here, Place::Gone),
            // Reserved at `Commit`, not yet started: the name does not
            // resolve, but the move holds requests for it.
            None if self.inner.stages.arriving(name) => Place::Arriving,
            None => relay::forwarded(name).map_or(Place::Nowhere, Place::Gone),
        }
    }

    /// The node that runs `name`: the cached route (unless `fresh`), this
    /// node, where it went from here, or what the peers say. `NotFound`
    /// only once every peer answered and none runs it, holds it arriving,
    /// or sent it to a node that runs it.
    pub(super) async fn locate(&self, name: &str, fresh: bool) -> Result<Located, RemoteCallError> {
        if !fresh && let Some(node) = self.inner.routes.get(name) {
            return Ok(Located::hint(node));
        }
        let here = self.place(name);
        match &here {
            // No route to this node itself: the registry answers first
            // and sure, and a route left from before the instance came
            // back would send the next call the long way round.
            Place::Here => {
                self.inner.routes.forget(name);
                return Ok(Located::sure(self.name().to_owned()));
            }
            // Where it went from here answers for it, or sends the caller
            // on; only a fresh look, after a "not there", checks the word.
            Place::Gone(to) if !fresh => {
                self.inner.routes.set(name, to);
                return Ok(Located::hint(to.clone()));
            }
            _ => {}
        }
        crate::cluster::fault::hold("locate.asking").await;
        let peers = self.peers();
        let asks = peers.iter().map(|peer| self.ask_whereis(peer, name));
        let answers = futures::future::join_all(asks).await;
        let mut arriving = (here == Place::Arriving).then(|| self.name().to_owned());
        let mut gone: Vec<String> = match here {
            Place::Gone(to) => vec![to],
            _ => Vec::new(),
        };
        let mut silent = Vec::new();
        for (peer, answer) in peers.iter().zip(answers) {
            match answer {
                Some(Place::Here) => {
                    self.inner.routes.set(name, peer);
                    return Ok(Located::sure(peer.clone()));
                }
                // Its source did not say Here: the call waits there.
                Some(Place::Arriving) => arriving = Some(peer.clone()),
                Some(Place::Gone(to)) if !gone.contains(&to) => gone.push(to),
                Some(Place::Gone(_) | Place::Nowhere) => {}
                None => silent.push(peer.clone()),
            }
        }
        if let Some(node) = arriving {
            self.inner.routes.set(name, &node);
            return Ok(Located::hint(node));
        }
        let mut unreachable = None;
        for to in gone {
            match self.follow(name, to).await {
                Err(RemoteCallError::Lookup(LookupError::NotFound { .. })) => {}
                Err(e) => unreachable = Some(e),
                Ok(found) => {
                    self.inner.routes.set(name, &found.node);
                    return Ok(found);
                }
            }
        }
        if let Some(e) = unreachable {
            return Err(e);
        }
        // Peers met before and lost since may run it: say so rather than
        // "no such instance".
        silent.extend(
            self.inner
                .peers
                .lost_peers()
                .into_iter()
                .filter(|p| !is_peer(p)),
        );
        if silent.is_empty() {
            Err(LookupError::NotFound { name: name.into() }.into())
        } else {
            Err(RemoteCallError::Unreachable {
                node: silent.join(","),
                reason: format!("no connected node runs {name:?}, and these did not answer"),
            })
        }
    }

    /// Follows `name` from `to`, where a node said it went: each node is
    /// asked after the one that named it answered, so it answers for a
    /// time when the instance had reached it (a source names its target
    /// only once the target runs it).
    async fn follow(&self, name: &str, mut to: String) -> Result<Located, RemoteCallError> {
        for _ in 0..MAX_HOPS {
            let place = if to == self.name() {
                Some(self.place(name))
            } else {
                self.ask_whereis(&to, name).await
            };
            match place {
                Some(Place::Here) => return Ok(Located::sure(to)),
                Some(Place::Arriving) => return Ok(Located::hint(to)),
                Some(Place::Gone(next)) => to = next,
                Some(Place::Nowhere) => {
                    return Err(LookupError::NotFound { name: name.into() }.into());
                }
                None => {
                    return Err(RemoteCallError::Unreachable {
                        node: to,
                        reason: format!("{name:?} went there, and it did not answer"),
                    });
                }
            }
        }
        Err(RemoteCallError::Unreachable {
            node: to,
            reason: format!("{name:?} moved more than {MAX_HOPS} times while it was looked for"),
        })
    }

    /// What `peer` knows of `name`; `None` if it did not answer.
    async fn ask_whereis(&self, peer: &str, name: &str) -> Option<Place> {
        let agent = self.agent_of(peer)?;
        let req = Request::Whereis {
            name: name.to_owned(),
        };
        match wire::ask(&agent, &req, self.config().call_timeout).await {
            Some(Response::Where(place)) => Some(place),
            _ => None,
        }
    }
}
