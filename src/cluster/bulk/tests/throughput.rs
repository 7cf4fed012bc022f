//! Throughput against raw loopback TCP, measured by hand, in release:
//! `cargo test --release -p peeper --features cluster --lib bulk -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{COOKIE, LOCALHOST};
use crate::cluster::bulk::{DataPort, Frame, FrameKind, Outgoing};

const FRAME: usize = 1024 * 1024;
const FRAMES: usize = 1024;
const TOTAL: usize = FRAME * FRAMES;

/// 1 GiB in 1 MiB writes over plain TCP, read into one reused buffer.
async fn raw_tcp() -> Duration {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bound");
    let addr = listener.local_addr().expect("an address");
    let reader = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accepted");
        let mut buf = vec![0_u8; FRAME];
        let mut got = 0;
        while got < TOTAL {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early");
            got += n;
        }
    });
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connected");
    let chunk = vec![7_u8; FRAME];
    for _ in 0..FRAMES {
        stream.write_all(&chunk).await.expect("written");
    }
    reader.await.expect("the reader");
    start.elapsed()
}

/// 1 GiB in 1 MiB frames through a bulk stream, each frame a fresh buffer
/// (as a move's chunks are) and dropped once applied.
async fn bulk() -> Duration {
    let port = DataPort::bind(LOCALHOST, COOKIE.to_owned(), None)
        .await
        .expect("a port");
    let incoming = port.expect(b"throughput".to_vec());
    let receiver = tokio::spawn(incoming.run(Duration::from_secs(10), |frame| {
        drop(frame);
        Ok(())
    }));
    let start = Instant::now();
    let mut out = Outgoing::open(
        port.addr(),
        COOKIE,
        None,
        b"throughput".to_vec(),
        Duration::from_secs(10),
    )
    .await
    .expect("opened");
    for i in 0..FRAMES {
        let frame = Frame {
            kind: FrameKind::Rows,
            table: "bench".to_owned(),
            count: 1,
            bytes: vec![i as u8; FRAME],
        };
        out.send(frame).await.expect("sent");
    }
    out.finish().await.expect("finished");
    let applied = receiver.await.expect("joined").expect("ran");
    assert_eq!(applied, FRAMES as u64);
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand in release"]
async fn bulk_throughput_against_raw_tcp() {
    let gib = TOTAL as f64 / f64::from(1 << 30);
    for round in 1..=3 {
        let raw = raw_tcp().await;
        let bulk = bulk().await;
        println!(
            "round {round}: raw TCP {:.2} GiB/s, bulk {:.2} GiB/s, ratio {:.2}",
            gib / raw.as_secs_f64(),
            gib / bulk.as_secs_f64(),
            raw.as_secs_f64() / bulk.as_secs_f64()
        );
    }
}
