//! Nodes over TLS (ractor_cluster's own): two TLS nodes connect, and a node
//! without TLS cannot join them. (The nodes share this process: only the
//! connections are checked here, as `pg` groups are process-wide.) The
//! certificate in `tests/tls/` is a self-signed one for the name
//! `peeper.test`, made for these tests only.

#![cfg(feature = "cluster")]

use peeper::ClusterError;
use peeper::cluster::{Node, NodeConfig, Tls};

const CERT: &[u8] = include_bytes!("tls/cert.pem");
const KEY: &[u8] = include_bytes!("tls/key.pem");

fn tls() -> Tls {
    Tls::from_pem(CERT, CERT, KEY, "peeper.test").expect("the test certificate and key")
}

fn config(name: &str, tls: Option<Tls>) -> NodeConfig {
    let mut config = NodeConfig::new(name, "tls-cookie");
    config.tls = tls;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_nodes_connect_and_a_plain_node_cannot_join() {
    let a = Node::start(config("tls-a", Some(tls()))).await.unwrap();
    let b = Node::start(config("tls-b", Some(tls()))).await.unwrap();
    assert_eq!(a.connect(b.addr()).await.unwrap(), "tls-b");
    assert_eq!(a.peers(), ["tls-b"]);
    assert!(b.ping_peer("tls-a").await.is_some(), "b reaches a over TLS");

    // A plain handshake against a TLS listener: refused, a typed error.
    let plain = Node::start(config("plain-c", None)).await.unwrap();
    let refused = plain.connect(b.addr()).await;
    assert!(
        matches!(
            refused,
            Err(ClusterError::Refused { .. } | ClusterError::Timeout { .. })
        ),
        "{refused:?}"
    );
}

#[test]
fn a_bad_certificate_or_key_is_a_typed_error() {
    let bad = Tls::from_pem(CERT, b"not a certificate", KEY, "peeper.test");
    assert!(matches!(bad, Err(ClusterError::Tls { .. })), "{bad:?}");
    let bad = Tls::from_pem(CERT, CERT, b"not a key", "peeper.test");
    assert!(matches!(bad, Err(ClusterError::Tls { .. })), "{bad:?}");
}
