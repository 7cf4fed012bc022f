//! A bulk stream over TLS, with the test certificate of `tests/tls/` (a
//! self-signed one for `peeper.test`, the one the node TLS tests use).

use super::{COOKIE, LOCALHOST, LONG, Seen, bounded, frame, receive_all, seen};
use crate::cluster::bulk::{BulkError, DataPort, Outgoing};
use crate::cluster::node::Tls;

const CERT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/cert.pem"));
const KEY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/key.pem"));

fn tls() -> Tls {
    Tls::from_pem(CERT, CERT, KEY, "peeper.test").expect("the test certificate and key")
}

#[tokio::test]
async fn frames_cross_over_tls() {
    let tls = tls();
    let port = DataPort::bind(LOCALHOST, COOKIE.to_owned(), Some(tls.clone()))
        .await
        .expect("a port");
    let incoming = port.expect(b"tls-move".to_vec());
    let receiver = receive_all(incoming);

    // A plain source cannot talk to a TLS port.
    let plain = bounded(Outgoing::open(
        port.addr(),
        COOKIE,
        None,
        b"tls-move".to_vec(),
        LONG,
    ))
    .await;
    assert!(plain.is_err(), "{plain:?}");

    let opening = Outgoing::open(port.addr(), COOKIE, Some(&tls), b"tls-move".to_vec(), LONG);
    let mut out = bounded(opening).await.expect("opened");
    for i in 0..50 {
        bounded(out.send(frame(i))).await.expect("sent");
    }
    bounded(out.finish()).await.expect("finished");

    let (applied, got) = bounded(receiver).await.expect("joined");
    assert_eq!(applied.expect("complete"), 50);
    let expected: Vec<Seen> = (0..50).map(|i| seen(frame(i))).collect();
    assert!(got == expected, "frames arrive whole and in order");
}

#[tokio::test]
async fn a_tls_source_cannot_talk_to_a_plain_port() {
    let port = DataPort::bind(LOCALHOST, COOKIE.to_owned(), None)
        .await
        .expect("a port");
    let _incoming = port.expect(b"tls-move".to_vec());
    let tls = tls();
    let opening = Outgoing::open(port.addr(), COOKIE, Some(&tls), b"tls-move".to_vec(), LONG);
    let refused = bounded(opening).await;
    assert!(matches!(refused, Err(BulkError::Tls { .. })), "{refused:?}");
}
