//! A node's data port: it accepts connections, authenticates each in a task
//! of its own (at most [`MAX_HANDSHAKES`] at once, each within
//! [`HANDSHAKE_TIMEOUT`]) and hands an authenticated stream to the
//! [`Incoming`] that expects its key.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::handshake::{self, Halves};
use super::registry::Registry;
use super::{BulkError, HANDSHAKE_TIMEOUT, Incoming};
use crate::cluster::node::Tls;

/// How many connections may be in their handshake at once; more are closed
/// at once, so that a flood of idle connections holds bounded memory.
const MAX_HANDSHAKES: usize = 128;

/// A pause after a failed accept (out of file descriptors, say), so that
/// the loop does not spin while the cause lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A node's data port. One per node; moves register the stream they expect.
///
/// Dropping it stops accepting connections and fails every [`Incoming`]
/// still waiting for its stream; streams already delivered go on.
pub(crate) struct DataPort {
    addr: SocketAddr,
    registry: Arc<Registry>,
    server: JoinHandle<()>,
}

/// What the port's tasks share.
struct Secrets {
    cookie: String,
    tls: Option<Tls>,
}

impl std::fmt::Debug for DataPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPort")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl DataPort {
    /// Binds a free port on `ip` and serves authenticated streams in a
    /// background task (which stops when the `DataPort` is dropped).
    ///
    /// # Errors
    /// [`BulkError::Io`] if the port cannot be bound.
    pub(crate) async fn bind(
        ip: IpAddr,
        cookie: String,
        tls: Option<Tls>,
    ) -> Result<DataPort, BulkError> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let registry = Arc::new(Registry::default());
        let secrets = Arc::new(Secrets { cookie, tls });
        let server = tokio::spawn(serve(listener, secrets, Arc::clone(&registry)));
        Ok(DataPort {
            addr,
            registry,
            server,
        })
    }

    /// The address sources connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers the stream of one move, named by an opaque key (the move's
    /// id). A stream that connects with a key nobody expects is refused and
    /// closed. Dropping the `Incoming` unregisters it. Registering a key
    /// again replaces the earlier registration.
    pub(crate) fn expect(&self, key: Vec<u8>) -> Incoming {
        let (registration, delivered) = self.registry.expect(key);
        Incoming::new(registration, delivered)
    }
}

impl Drop for DataPort {
    fn drop(&mut self) {
        // Aborting the accept task drops its set of handshakes too.
        self.server.abort();
        self.registry.close();
    }
}

async fn serve(listener: TcpListener, secrets: Arc<Secrets>, registry: Arc<Registry>) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) if handshakes.len() < MAX_HANDSHAKES => {
                    handshakes.spawn(connection(tcp, peer, Arc::clone(&secrets), Arc::clone(&registry)));
                }
                Ok((_, peer)) => {
                    tracing::warn!(%peer, "peeper: bulk port busy, connection closed");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "peeper: bulk port could not accept");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
}

/// Authenticates one connection and delivers it; a failure only closes it.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    secrets: Arc<Secrets>,
    registry: Arc<Registry>,
) {
    let handshake = async {
        handshake::tune(&tcp)?;
        match &secrets.tls {
            None => authenticate(tcp, &secrets.cookie, &registry, Halves::plain).await,
            Some(tls) => {
                let stream = tls.acceptor.accept(tcp).await.map_err(|e| BulkError::Tls {
                    reason: e.to_string(),
                })?;
                authenticate(stream, &secrets.cookie, &registry, Halves::shared).await
            }
        }
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(())) => tracing::debug!(%peer, "peeper: bulk stream accepted"),
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "peeper: bulk stream refused"),
        Err(_) => tracing::debug!(%peer, "peeper: bulk handshake timed out"),
    }
}

/// The target's side of the handshake, with the registry consulted between
/// the steps, then the delivery of the stream to whoever expects it.
async fn authenticate<S>(
    mut stream: S,
    cookie: &str,
    registry: &Registry,
    split: fn(S) -> Halves,
) -> Result<(), BulkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (nonce, id) = handshake::hello(&mut stream).await?;
    let Some(found) = registry.find(&id) else {
        handshake::unknown_key(&mut stream).await?;
        return Err(BulkError::UnknownKey);
    };
    handshake::challenge(&mut stream, cookie.as_bytes(), &found.key, &nonce).await?;
    // Claimed only now, so that a connection that fails to authenticate
    // leaves the registration to the right one.
    let Some(deliver) = registry.claim(&id, &found) else {
        handshake::verdict(&mut stream, false).await?;
        return Err(BulkError::AlreadyConnected);
    };
    handshake::verdict(&mut stream, true).await?;
    // If the Incoming went away since the claim, the stream is dropped and
    // the source's next call fails: nobody would apply its frames.
    let _ = deliver.send(split(stream));
    Ok(())
}
