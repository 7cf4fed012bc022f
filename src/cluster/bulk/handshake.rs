//! The handshake of a bulk stream: TLS when the node has it, then mutual
//! authentication with the cluster's cookie by challenge-response, each
//! message of a fixed size (drawn in the module docs of `bulk`).
//!
//! The steps are functions over any byte stream, so the same code runs over
//! plain TCP and over TLS; the port calls the target's steps one by one, as
//! it consults its registry between them.

use std::net::SocketAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

use super::BulkError;
use crate::cluster::node::Tls;

/// What the target knows a stream by: a hash of the move's key, so that the
/// hello has a fixed size whatever the key.
pub(super) type KeyId = [u8; 32];

const NONCE: usize = 32;
const PROOF: usize = 32;
/// Tells a bulk stream (and the version of its protocol) from anything else.
pub(super) const MAGIC: [u8; 8] = *b"peepbk\x00\x01";
/// The length of the source's hello.
pub(super) const HELLO_LEN: usize = MAGIC.len() + NONCE + 32;
/// The length of the target's challenge (or refusal).
pub(super) const CHALLENGE_LEN: usize = 1 + NONCE + PROOF;

const OK: u8 = 0;
const UNKNOWN_KEY: u8 = 1;
const TAKEN: u8 = 2;

// One domain per proof, so that a proof one side made can never pass as the
// other side's.
const TARGET_PROOF: &[u8] = b"peeper bulk v1: the target knows the cookie";
const SOURCE_PROOF: &[u8] = b"peeper bulk v1: the source knows the cookie";

/// A connection's two halves, each usable from its own task.
pub(super) struct Halves {
    /// What the peer sends.
    pub(super) reader: Box<dyn AsyncRead + Send + Unpin>,
    /// What goes to the peer.
    pub(super) writer: Box<dyn AsyncWrite + Send + Unpin>,
}

impl std::fmt::Debug for Halves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Halves").finish_non_exhaustive()
    }
}

impl Halves {
    /// Splits a plain TCP stream without a lock between the halves.
    pub(super) fn plain(stream: TcpStream) -> Halves {
        let (reader, writer) = stream.into_split();
        Halves {
            reader: Box::new(reader),
            writer: Box::new(writer),
        }
    }

    /// Splits any other stream (TLS) through tokio's shared split.
    pub(super) fn shared<S>(stream: S) -> Halves
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(stream);
        Halves {
            reader: Box::new(reader),
            writer: Box::new(writer),
        }
    }
}

/// The id the target files a key under.
pub(super) fn key_id(key: &[u8]) -> KeyId {
    let mut hash = Sha256::new();
    hash.update(b"peeper bulk key\0");
    hash.update(key);
    hash.finalize().into()
}

/// No delay for small writes (the acknowledgements), and keepalive, so
/// that a peer that vanishes without closing is noticed.
pub(super) fn tune(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(15));
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let keepalive = keepalive.with_interval(std::time::Duration::from_secs(5));
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

fn nonce() -> Result<[u8; NONCE], BulkError> {
    let mut nonce = [0_u8; NONCE];
    getrandom::fill(&mut nonce).map_err(|e| BulkError::from(std::io::Error::other(e)))?;
    Ok(nonce)
}

fn mac(cookie: &[u8], domain: &[u8], nonces: (&[u8], &[u8]), key: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(cookie).expect("HMAC takes a key of any length");
    mac.update(domain);
    mac.update(nonces.0);
    mac.update(nonces.1);
    mac.update(&(key.len() as u64).to_le_bytes());
    mac.update(key);
    mac
}

/// Connects to a data port and runs the source's side of the handshake.
pub(super) async fn open(
    addr: SocketAddr,
    cookie: &[u8],
    tls: Option<&Tls>,
    key: &[u8],
) -> Result<Halves, BulkError> {
    let tcp = TcpStream::connect(addr).await?;
    tune(&tcp)?;
    match tls {
        None => {
            let mut stream = tcp;
            source(&mut stream, cookie, key).await?;
            Ok(Halves::plain(stream))
        }
        Some(tls) => {
            let name =
                ServerName::try_from(tls.server_name.clone()).map_err(|e| BulkError::Tls {
                    reason: format!("server name {:?}: {e}", tls.server_name),
                })?;
            let mut stream =
                tls.connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| BulkError::Tls {
                        reason: e.to_string(),
                    })?;
            source(&mut stream, cookie, key).await?;
            Ok(Halves::shared(stream))
        }
    }
}

/// The source's side: hello, check the target's proof, prove, read the
/// verdict.
pub(super) async fn source<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    cookie: &[u8],
    key: &[u8],
) -> Result<(), BulkError> {
    let ours = nonce()?;
    let mut hello = [0_u8; HELLO_LEN];
    hello[..MAGIC.len()].copy_from_slice(&MAGIC);
    hello[MAGIC.len()..MAGIC.len() + NONCE].copy_from_slice(&ours);
    hello[MAGIC.len() + NONCE..].copy_from_slice(&key_id(key));
    stream.write_all(&hello).await?;
    stream.flush().await?;

    let mut challenge = [0_u8; CHALLENGE_LEN];
    read_or_refused(stream, &mut challenge).await?;
    match challenge[0] {
        OK => {}
        UNKNOWN_KEY => return Err(BulkError::UnknownKey),
        _ => return Err(BulkError::Malformed("an unknown challenge status")),
    }
    let theirs = &challenge[1..1 + NONCE];
    mac(cookie, TARGET_PROOF, (&ours, theirs), key)
        .verify_slice(&challenge[1 + NONCE..])
        .map_err(|_| BulkError::Auth)?;

    let proof = mac(cookie, SOURCE_PROOF, (&ours, theirs), key).finalize();
    stream.write_all(&proof.into_bytes()).await?;
    stream.flush().await?;

    let mut verdict = [0_u8; 1];
    read_or_refused(stream, &mut verdict).await?;
    match verdict[0] {
        OK => Ok(()),
        TAKEN => Err(BulkError::AlreadyConnected),
        _ => Err(BulkError::Malformed("an unknown verdict")),
    }
}

async fn read_or_refused<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Result<(), BulkError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(BulkError::Refused),
        Err(e) => Err(e.into()),
    }
}

/// The target's first step: reads the fixed-size hello and returns the
/// source's nonce and the id of the key it asks for.
pub(super) async fn hello<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<([u8; NONCE], KeyId), BulkError> {
    let mut hello = [0_u8; HELLO_LEN];
    stream.read_exact(&mut hello).await?;
    if hello[..MAGIC.len()] != MAGIC {
        return Err(BulkError::Malformed("not a bulk stream"));
    }
    let mut nonce = [0_u8; NONCE];
    nonce.copy_from_slice(&hello[MAGIC.len()..MAGIC.len() + NONCE]);
    let mut id = [0_u8; 32];
    id.copy_from_slice(&hello[MAGIC.len() + NONCE..]);
    Ok((nonce, id))
}

/// Tells the source that no stream is expected under its key.
pub(super) async fn unknown_key<S: AsyncWrite + Unpin>(stream: &mut S) -> Result<(), BulkError> {
    let mut refusal = [0_u8; CHALLENGE_LEN];
    refusal[0] = UNKNOWN_KEY;
    stream.write_all(&refusal).await?;
    stream.flush().await?;
    Ok(())
}

/// The target's second step: proves it knows the cookie, then checks the
/// source's proof.
///
/// # Errors
/// [`BulkError::Auth`] if the source's proof is wrong.
pub(super) async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    cookie: &[u8],
    key: &[u8],
    theirs: &[u8; NONCE],
) -> Result<(), BulkError> {
    let ours = nonce()?;
    let mut challenge = [0_u8; CHALLENGE_LEN];
    challenge[0] = OK;
    challenge[1..1 + NONCE].copy_from_slice(&ours);
    let proof = mac(cookie, TARGET_PROOF, (theirs, &ours), key).finalize();
    challenge[1 + NONCE..].copy_from_slice(&proof.into_bytes());
    stream.write_all(&challenge).await?;
    stream.flush().await?;

    let mut proof = [0_u8; PROOF];
    stream.read_exact(&mut proof).await?;
    mac(cookie, SOURCE_PROOF, (theirs, &ours), key)
        .verify_slice(&proof)
        .map_err(|_| BulkError::Auth)
}

/// The target's last step: accepts the stream, or says another one took
/// its key.
pub(super) async fn verdict<S: AsyncWrite + Unpin>(
    stream: &mut S,
    accepted: bool,
) -> Result<(), BulkError> {
    stream
        .write_all(&[if accepted { OK } else { TAKEN }])
        .await?;
    stream.flush().await?;
    Ok(())
}
