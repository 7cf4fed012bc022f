//! Nodes over TLS (ractor_cluster's own): two TLS nodes connect, and a node
//! without TLS cannot join them. (The nodes share this process: only the
//! connections are checked here, as `pg` groups are process-wide.) The
//! certificate in `tests/tls/` is a self-signed one for the name
//! `peeper.test`, made for these tests only.

#![cfg(feature = "cluster")]

use std::sync::Arc;

use peeper::ClusterError;
use peeper::cluster::tokio_rustls::rustls::pki_types::pem::PemObject;
use peeper::cluster::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use peeper::cluster::tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use peeper::cluster::tokio_rustls::{TlsAcceptor, TlsConnector};
use peeper::cluster::{Node, NodeConfig, Tls};

const CERT: &[u8] = include_bytes!("tls/cert.pem");
const KEY: &[u8] = include_bytes!("tls/key.pem");

fn tls() -> Tls {
    let cert = CertificateDer::from_pem_slice(CERT).expect("the test certificate");
    let key = PrivateKeyDer::from_pem_slice(KEY).expect("the test key");
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("a server config");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a root");
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
        server_name: "peeper.test".to_owned(),
    }
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
