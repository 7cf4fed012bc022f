//! The bulk stream's scenarios: a stream that completes, refusals (cookie,
//! key, garbage), failures on either side, the window, and TLS.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::handshake;
use super::{BulkError, DataPort, Frame, FrameKind, MAX_FRAME, Outgoing, codec};

mod refusals;
mod throughput;
mod tls;

const COOKIE: &str = "bulk-cookie";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Long enough never to expire in a passing test; bounds a failing one.
const LONG: Duration = Duration::from_secs(10);

/// Runs `future`, failing the test if it does not finish within [`LONG`].
async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LONG, future)
        .await
        .expect("finished in time")
}

async fn port() -> DataPort {
    DataPort::bind(LOCALHOST, COOKIE.to_owned(), None)
        .await
        .expect("a port")
}

async fn open(port: &DataPort, cookie: &str, key: &[u8]) -> Result<Outgoing, BulkError> {
    bounded(Outgoing::open(
        port.addr(),
        cookie,
        None,
        key.to_vec(),
        LONG,
    ))
    .await
}

/// Frames of every kind and of varied sizes, empty ones included.
fn frame(i: u32) -> Frame {
    let kinds = [
        FrameKind::Rows,
        FrameKind::Remove,
        FrameKind::Reset,
        FrameKind::Snapshot,
    ];
    let len = (i as usize * 7919) % 70_000;
    Frame {
        kind: kinds[i as usize % kinds.len()],
        table: if i.is_multiple_of(5) {
            String::new()
        } else {
            format!("table-{}", i % 3)
        },
        count: i,
        bytes: (0..len).map(|b| (b as u32 ^ i) as u8).collect(),
    }
}

type Seen = (FrameKind, String, u32, Vec<u8>);

/// Runs `incoming` in a task of its own, noting every frame it applies.
fn receive_all(
    incoming: super::Incoming,
) -> tokio::task::JoinHandle<(Result<u64, BulkError>, Vec<Seen>)> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        let applied = incoming
            .run(LONG, |frame| {
                got.push(seen(frame));
                Ok(())
            })
            .await;
        (applied, got)
    })
}

fn seen(frame: Frame) -> Seen {
    (frame.kind, frame.table, frame.count, frame.bytes)
}

/// Bytes that look like nothing, the same on every run.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// Reads until the port closes the connection, and returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    // A reset (the port closed with our bytes unread) is a close too.
    let _ = bounded(stream.read_to_end(&mut got)).await;
    got
}

#[tokio::test]
async fn frames_arrive_in_order_and_the_stream_completes() {
    let port = port().await;
    let incoming = port.expect(b"move-1".to_vec());
    let receiver = receive_all(incoming);

    let mut out = open(&port, COOKIE, b"move-1").await.expect("opened");
    for i in 0..200 {
        bounded(out.send(frame(i))).await.expect("sent");
    }
    bounded(out.flush()).await.expect("flushed");
    assert_eq!(out.unacknowledged(), 0);
    bounded(out.finish()).await.expect("finished");

    let (applied, got) = bounded(receiver).await.expect("the receiver");
    assert_eq!(applied.expect("complete"), 200);
    let expected: Vec<Seen> = (0..200).map(|i| seen(frame(i))).collect();
    assert!(got == expected, "frames arrive whole and in order");
}

#[tokio::test]
async fn an_apply_error_reaches_the_sender() {
    let port = port().await;
    let incoming = port.expect(b"move-7".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |frame| {
        if frame.count == 2 {
            Err("no room for table-2".to_owned())
        } else {
            Ok(())
        }
    }));

    let mut out = open(&port, COOKIE, b"move-7").await.expect("opened");
    let mut failed = None;
    for i in 0..5 {
        if let Err(e) = bounded(out.send(frame(i))).await {
            failed = Some(e);
            break;
        }
    }
    let failed = match failed {
        Some(e) => e,
        None => bounded(out.flush()).await.expect_err("the flush fails"),
    };
    assert!(
        matches!(&failed, BulkError::Apply(text) if text == "no room for table-2"),
        "{failed:?}"
    );
    let ran = bounded(receiver).await.expect("joined");
    assert!(
        matches!(&ran, Err(BulkError::Apply(text)) if text == "no room for table-2"),
        "{ran:?}"
    );
}

#[tokio::test]
async fn a_sender_that_dies_mid_stream_fails_the_receiver() {
    let port = port().await;
    let incoming = port.expect(b"move-8".to_vec());
    let (applied, mut count) = tokio::sync::mpsc::unbounded_channel();
    let receiver = tokio::spawn(incoming.run(LONG, move |_| {
        let _ = applied.send(());
        Ok(())
    }));

    let mut out = open(&port, COOKIE, b"move-8").await.expect("opened");
    for i in 0..3 {
        bounded(out.send(frame(i))).await.expect("sent");
    }
    bounded(out.flush()).await.expect("flushed");
    drop(out);

    let ran = bounded(receiver).await.expect("joined");
    assert!(matches!(ran, Err(BulkError::ClosedEarly)), "{ran:?}");
    let mut applied = 0;
    while count.recv().await.is_some() {
        applied += 1;
    }
    assert_eq!(applied, 3);
}

#[tokio::test]
async fn a_sender_that_dies_mid_frame_fails_the_receiver() {
    let port = port().await;
    let incoming = port.expect(b"move-9".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));

    let mut stream = TcpStream::connect(port.addr()).await.expect("connected");
    bounded(handshake::source(&mut stream, COOKIE.as_bytes(), b"move-9"))
        .await
        .expect("authenticated");
    // A header promising 1000 bytes of payload, then 10 of them.
    let header = [0, 1, 0, 0, 0, 0, 0, 0xE8, 0x03, 0, 0];
    stream.write_all(&header).await.expect("header");
    stream.write_all(b"t0123456789").await.expect("part");
    drop(stream);

    let ran = bounded(receiver).await.expect("joined");
    assert!(matches!(ran, Err(BulkError::ClosedEarly)), "{ran:?}");
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_before_sending() {
    let port = port().await;
    let incoming = port.expect(b"move-12".to_vec());
    let receiver = tokio::spawn(incoming.run(LONG, |_| Ok(())));
    let mut out = open(&port, COOKIE, b"move-12").await.expect("opened");
    let huge = Frame {
        kind: FrameKind::Rows,
        table: "t".to_owned(),
        count: 1,
        bytes: vec![0; MAX_FRAME + 1],
    };
    let refused = bounded(out.send(huge)).await;
    assert!(
        matches!(refused, Err(BulkError::FrameTooLarge { .. })),
        "{refused:?}"
    );
    bounded(out.send(frame(1))).await.expect("still usable");
    bounded(out.finish()).await.expect("finished");
    assert_eq!(bounded(receiver).await.expect("joined").expect("ran"), 1);
}

#[tokio::test]
async fn dropping_the_port_fails_a_waiting_stream() {
    let port = port().await;
    let incoming = port.expect(b"move-13".to_vec());
    drop(port);
    let ran = bounded(incoming.run(LONG, |_| Ok(()))).await;
    assert!(matches!(ran, Err(BulkError::PortClosed)), "{ran:?}");
}

// `apply` blocks on a gate: with block_in_place, on a runtime of two workers,
// the blocked receiver holds no other task up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_bounds_what_is_unacknowledged() {
    let port = port().await;
    let incoming = port.expect(b"move-14".to_vec());
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let receiver = tokio::spawn(incoming.run(LONG, move |_| {
        // Waits until `release` is dropped, then lets every frame through.
        tokio::task::block_in_place(|| {
            let _ = gate.recv();
        });
        Ok(())
    }));
    let blob = || Frame {
        kind: FrameKind::Rows,
        table: "t".to_owned(),
        count: 1,
        bytes: vec![5; 16 * 1024],
    };
    let size = codec::wire_size(&blob());

    let out = open(&port, COOKIE, b"move-14").await.expect("opened");
    let mut out = out.with_window(4 * size);
    for _ in 0..4 {
        bounded(out.send(blob())).await.expect("within the window");
    }
    assert_eq!(out.unacknowledged(), 4 * size);
    // Cancelled while it waits for the window, which leaves the stream usable.
    let fifth = tokio::time::timeout(Duration::from_millis(200), out.send(blob())).await;
    assert!(fifth.is_err(), "the fifth frame waits: {fifth:?}");
    assert_eq!(out.unacknowledged(), 4 * size);

    drop(release);
    bounded(out.send(blob())).await.expect("the window moved");
    bounded(out.finish()).await.expect("finished");
    assert_eq!(bounded(receiver).await.expect("joined").expect("ran"), 5);
}
