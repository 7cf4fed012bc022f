//! Refusals: a wrong cookie, a key nobody expects, garbage before and after
//! the handshake. None of them panics, applies anything or spoils the port.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{COOKIE, LONG, bounded, frame, garbage, open, port, until_closed};
use crate::cluster::bulk::BulkError;
use crate::cluster::bulk::codec;
use crate::cluster::bulk::handshake::{self, CHALLENGE_LEN, HELLO_LEN, MAGIC};

/// What a test expects of an error.
type Expect = fn(&BulkError) -> bool;

#[tokio::test]
async fn a_wrong_cookie_is_refused_on_both_sides() {
    let port = port().await;
    let incoming = port.expect(b"move-2".to_vec());

    let refused = open(&port, "not-the-cookie", b"move-2").await;
    assert!(matches!(refused, Err(BulkError::Auth)), "{refused:?}");

    let mut applied = 0;
    let waited = incoming
        .run(Duration::from_millis(200), |_| {
            applied += 1;
            Ok(())
        })
        .await;
    assert!(
        matches!(waited, Err(BulkError::Timeout { .. })),
        "{waited:?}"
    );
    assert_eq!(applied, 0);
}

#[tokio::test]
async fn a_refused_source_leaves_the_move_to_the_right_one() {
    let port = port().await;
    let incoming = port.expect(b"move-3".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));

    let refused = open(&port, "not-the-cookie", b"move-3").await;
    assert!(matches!(refused, Err(BulkError::Auth)), "{refused:?}");

    let mut out = open(&port, COOKIE, b"move-3").await.expect("opened");
    bounded(out.send(frame(1))).await.expect("sent");
    bounded(out.finish()).await.expect("finished");
    assert_eq!(bounded(receiver).await.expect("joined").expect("ran"), 1);
}

#[tokio::test]
async fn a_source_that_cannot_prove_the_cookie_is_closed_by_the_port() {
    let port = port().await;
    let incoming = port.expect(b"move-4".to_vec());

    let mut stream = TcpStream::connect(port.addr()).await.expect("connected");
    let mut hello = Vec::from(MAGIC);
    hello.extend_from_slice(&[7; 32]);
    hello.extend_from_slice(&handshake::key_id(b"move-4"));
    assert_eq!(hello.len(), HELLO_LEN);
    stream.write_all(&hello).await.expect("hello");
    let mut challenge = [0; CHALLENGE_LEN];
    bounded(stream.read_exact(&mut challenge))
        .await
        .expect("a challenge");
    assert_eq!(challenge[0], 0, "the key is expected");
    stream.write_all(&[9; 32]).await.expect("a proof");
    assert!(until_closed(&mut stream).await.is_empty(), "no verdict");

    let waited = incoming.run(Duration::from_millis(200), |_| Ok(())).await;
    assert!(
        matches!(waited, Err(BulkError::Timeout { .. })),
        "{waited:?}"
    );
}

#[tokio::test]
async fn an_unexpected_key_is_refused() {
    let port = port().await;
    let refused = open(&port, COOKIE, b"nobody-expects-this").await;
    assert!(matches!(refused, Err(BulkError::UnknownKey)), "{refused:?}");

    // Dropping the Incoming unregisters its key.
    drop(port.expect(b"move-5".to_vec()));
    let refused = open(&port, COOKIE, b"move-5").await;
    assert!(matches!(refused, Err(BulkError::UnknownKey)), "{refused:?}");
}

#[tokio::test]
async fn a_second_source_for_the_same_move_is_refused() {
    let port = port().await;
    let incoming = port.expect(b"move-6".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));
    let first = open(&port, COOKIE, b"move-6").await.expect("opened");
    let second = open(&port, COOKIE, b"move-6").await;
    assert!(matches!(second, Err(BulkError::UnknownKey)), "{second:?}");
    bounded(first.finish()).await.expect("finished");
    assert_eq!(bounded(receiver).await.expect("joined").expect("ran"), 0);
}

#[tokio::test]
async fn garbage_sent_to_the_port_is_refused() {
    let port = port().await;
    let incoming = port.expect(b"move-10".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));

    for (seed, len) in [(1, 4096), (2, 10), (3, HELLO_LEN), (4, 64 * 1024)] {
        let mut stream = TcpStream::connect(port.addr()).await.expect("connected");
        // The port may close before all of it is written: that is the point.
        let _ = stream.write_all(&garbage(len, seed)).await;
        let _ = stream.shutdown().await;
        assert!(until_closed(&mut stream).await.is_empty(), "seed {seed}");
    }

    // The right magic with an unknown key: a refusal, then the close.
    let mut stream = TcpStream::connect(port.addr()).await.expect("connected");
    let mut hello = Vec::from(MAGIC);
    hello.extend_from_slice(&garbage(64, 5));
    stream.write_all(&hello).await.expect("hello");
    let refusal = until_closed(&mut stream).await;
    assert_eq!(refusal.len(), CHALLENGE_LEN);
    assert_eq!(refusal[0], 1, "unknown key");

    // The port still serves the move it expects.
    let out = open(&port, COOKIE, b"move-10").await.expect("opened");
    bounded(out.finish()).await.expect("finished");
    assert_eq!(bounded(receiver).await.expect("joined").expect("ran"), 0);
}

#[tokio::test]
async fn a_header_out_of_bounds_is_refused_before_allocating() {
    let headers: [(&[u8], Expect); 4] = [
        // A payload of 4 GiB.
        (&[0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], |e| {
            matches!(e, BulkError::FrameTooLarge { .. })
        }),
        // A table name of 64 KiB.
        (&[0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0], |e| {
            matches!(e, BulkError::TableNameTooLong { .. })
        }),
        (&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], |e| {
            matches!(e, BulkError::Malformed(_))
        }),
        (&[0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], |e| {
            matches!(e, BulkError::Malformed(_))
        }),
    ];
    let port = port().await;
    for (i, (header, expected)) in headers.into_iter().enumerate() {
        let key = format!("move-11-{i}");
        let incoming = port.expect(key.clone().into_bytes());
        let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));
        let mut stream = TcpStream::connect(port.addr()).await.expect("connected");
        bounded(handshake::source(
            &mut stream,
            COOKIE.as_bytes(),
            key.as_bytes(),
        ))
        .await
        .expect("authenticated");
        stream.write_all(header).await.expect("header");
        let ran = bounded(receiver).await.expect("joined");
        assert!(ran.as_ref().is_err_and(expected), "header {i}: {ran:?}");
    }
}

#[tokio::test]
async fn garbage_never_panics_the_decoders() {
    for seed in 0..5_000 {
        let bytes = garbage((seed as usize * 13) % 300, seed);
        let _ = codec::read_frame(&mut &bytes[..]).await;
        let _ = codec::read_reply(&mut &bytes[..]).await;
        let _ = handshake::hello(&mut &bytes[..]).await;
    }
}
