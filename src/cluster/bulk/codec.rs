//! Frames and replies as bytes on the wire, after the handshake.
//!
//! A frame is an 11-byte header (kind, table length `u16`, count `u32`,
//! payload length `u32`, little-endian), then the table name, then the
//! payload, written from the frame's own buffers in one vectored write. The
//! end of a stream is a header of kind [`END`] with every other field zero.
//!
//! A reply (target to source) is a tag and a `u64`: the bytes applied so
//! far, the frames of a finished stream, or the length of a failure's text,
//! which follows.

use bytes::Buf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{BulkError, Frame, FrameKind, MAX_FRAME, MAX_TABLE_NAME};

/// The length of a frame's header.
pub(super) const HEADER_LEN: usize = 11;

/// The kind code of the end of a stream.
const END: u8 = 0xFF;

/// The length of a reply before any text.
const REPLY_LEN: usize = 9;

/// The longest failure text a reply carries; longer ones are cut.
pub(super) const MAX_REASON: usize = 16 * 1024;

const APPLIED: u8 = 1;
const FAILED: u8 = 2;
const DONE: u8 = 3;

/// What the target tells the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    /// The frames carrying this many bytes (counted by [`wire_size`]) are
    /// applied.
    Applied(u64),
    /// Applying a frame failed, for this reason; the stream ends.
    Failed(String),
    /// The stream is complete, with this many frames applied.
    Done(u64),
}

fn kind_code(kind: FrameKind) -> u8 {
    match kind {
        FrameKind::Rows => 0,
        FrameKind::Remove => 1,
        FrameKind::Reset => 2,
        FrameKind::Snapshot => 3,
        FrameKind::Entry => 4,
    }
}

fn kind_of(code: u8) -> Option<FrameKind> {
    match code {
        0 => Some(FrameKind::Rows),
        1 => Some(FrameKind::Remove),
        2 => Some(FrameKind::Reset),
        3 => Some(FrameKind::Snapshot),
        4 => Some(FrameKind::Entry),
        _ => None,
    }
}

/// The bytes a frame takes on the wire; both sides count the window in them.
pub(super) fn wire_size(frame: &Frame) -> u64 {
    (HEADER_LEN + frame.table.len() + frame.bytes.len()) as u64
}

/// Checks a frame against the limits the receiver enforces.
pub(super) fn check(frame: &Frame) -> Result<(), BulkError> {
    if frame.bytes.len() > MAX_FRAME {
        return Err(BulkError::FrameTooLarge {
            size: frame.bytes.len(),
            limit: MAX_FRAME,
        });
    }
    if frame.table.len() > MAX_TABLE_NAME {
        return Err(BulkError::TableNameTooLong {
            size: frame.table.len(),
            limit: MAX_TABLE_NAME,
        });
    }
    Ok(())
}

fn header(code: u8, table: usize, count: u32, payload: usize) -> [u8; HEADER_LEN] {
    let mut head = [0_u8; HEADER_LEN];
    head[0] = code;
    // The callers checked both lengths against limits below these widths.
    head[1..3].copy_from_slice(&(table as u16).to_le_bytes());
    head[3..7].copy_from_slice(&count.to_le_bytes());
    head[7..11].copy_from_slice(&(payload as u32).to_le_bytes());
    head
}

/// Writes a frame [`check`]ed beforehand, and flushes it (TLS may hold
/// bytes back otherwise, while the source waits for an acknowledgement).
pub(super) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> std::io::Result<()> {
    let head = header(
        kind_code(frame.kind),
        frame.table.len(),
        frame.count,
        frame.bytes.len(),
    );
    let mut parts = Buf::chain(&head[..], frame.table.as_bytes()).chain(&frame.bytes[..]);
    writer.write_all_buf(&mut parts).await?;
    writer.flush().await
}

/// Writes the end of a stream.
pub(super) async fn write_end<W: AsyncWrite + Unpin>(writer: &mut W) -> std::io::Result<()> {
    writer.write_all(&header(END, 0, 0, 0)).await?;
    writer.flush().await
}

/// Reads the next frame, or `None` at the end of the stream.
///
/// # Errors
/// [`BulkError::ClosedEarly`] if the connection ends before the end of the
/// stream, [`BulkError::FrameTooLarge`] or [`BulkError::Malformed`] for a
/// header out of bounds (refused before allocating), I/O errors.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Frame>, BulkError> {
    let mut head = [0_u8; HEADER_LEN];
    reader.read_exact(&mut head).await?;
    let table_len = usize::from(u16::from_le_bytes([head[1], head[2]]));
    let count = u32::from_le_bytes([head[3], head[4], head[5], head[6]]);
    let len = u32::from_le_bytes([head[7], head[8], head[9], head[10]]) as usize;
    if head[0] == END {
        if table_len != 0 || count != 0 || len != 0 {
            return Err(BulkError::Malformed("an end marker with content"));
        }
        return Ok(None);
    }
    let kind = kind_of(head[0]).ok_or(BulkError::Malformed("an unknown frame kind"))?;
    if table_len > MAX_TABLE_NAME {
        return Err(BulkError::TableNameTooLong {
            size: table_len,
            limit: MAX_TABLE_NAME,
        });
    }
    if len > MAX_FRAME {
        return Err(BulkError::FrameTooLarge {
            size: len,
            limit: MAX_FRAME,
        });
    }
    let table = read_exactly(reader, table_len).await?;
    let table =
        String::from_utf8(table).map_err(|_| BulkError::Malformed("a table name not in UTF-8"))?;
    let bytes = read_exactly(reader, len).await?;
    Ok(Some(Frame {
        kind,
        table,
        count,
        bytes,
    }))
}

/// Reads exactly `len` bytes into a new buffer of that capacity, straight
/// from the reader (no zeroing first, no intermediate copy for large reads).
async fn read_exactly<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> Result<Vec<u8>, BulkError> {
    let mut buf = Vec::with_capacity(len);
    // `take` keeps each read within the frame even if the allocator gave
    // the buffer more room than asked.
    let mut limited = reader.take(len as u64);
    while buf.len() < len {
        if limited.read_buf(&mut buf).await? == 0 {
            return Err(BulkError::ClosedEarly);
        }
    }
    Ok(buf)
}

/// Writes a reply and flushes it.
pub(super) async fn write_reply<W: AsyncWrite + Unpin>(
    writer: &mut W,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut head = [0_u8; REPLY_LEN];
    let (tag, value, text) = match reply {
        Reply::Applied(bytes) => (APPLIED, *bytes, &[][..]),
        Reply::Failed(text) => (FAILED, text.len() as u64, text.as_bytes()),
        Reply::Done(frames) => (DONE, *frames, &[][..]),
    };
    head[0] = tag;
    head[1..].copy_from_slice(&value.to_le_bytes());
    let mut parts = Buf::chain(&head[..], text);
    writer.write_all_buf(&mut parts).await?;
    writer.flush().await
}

/// Reads the next reply.
///
/// # Errors
/// [`BulkError::ClosedEarly`] if the connection ends, [`BulkError::Malformed`]
/// for an unknown tag or a text over [`MAX_REASON`], I/O errors.
pub(super) async fn read_reply<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Reply, BulkError> {
    let mut head = [0_u8; REPLY_LEN];
    reader.read_exact(&mut head).await?;
    let mut value = [0_u8; 8];
    value.copy_from_slice(&head[1..]);
    let value = u64::from_le_bytes(value);
    match head[0] {
        APPLIED => Ok(Reply::Applied(value)),
        DONE => Ok(Reply::Done(value)),
        FAILED => {
            let len = usize::try_from(value)
                .ok()
                .filter(|len| *len <= MAX_REASON)
                .ok_or(BulkError::Malformed("a failure text over the limit"))?;
            let text = read_exactly(reader, len).await?;
            Ok(Reply::Failed(String::from_utf8_lossy(&text).into_owned()))
        }
        _ => Err(BulkError::Malformed("an unknown reply")),
    }
}

/// Cuts a failure text to [`MAX_REASON`] bytes, on a character boundary.
pub(super) fn cut(mut text: String) -> String {
    if text.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
