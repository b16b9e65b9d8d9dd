//! Helpers that drive `wasi:io/streams` (crate-internal).

use crate::Error;
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Largest chunk the SDK reads or writes in one go (64 KiB).
pub(crate) const CHUNK: usize = 64 * 1024;

/// Maps a stream error to an [`Error::Io`]. `Closed` is reported as such.
pub(crate) fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Closed => Error::Io("stream closed".to_owned()),
        StreamError::LastOperationFailed(err) => Error::Io(err.to_debug_string()),
    }
}

/// Reads one chunk of at most `max` bytes. `Ok(None)` means end of stream.
pub(crate) fn read_chunk(stream: &InputStream, max: usize) -> Result<Option<Vec<u8>>, Error> {
    let max = u64::try_from(max.clamp(1, CHUNK)).unwrap_or(CHUNK as u64);
    loop {
        match stream.blocking_read(max) {
            // `blocking-read` waits for at least one byte, but be robust
            // against a host that returns an empty read.
            Ok(bytes) if bytes.is_empty() => stream.subscribe().block(),
            Ok(bytes) => return Ok(Some(bytes)),
            Err(StreamError::Closed) => return Ok(None),
            Err(e) => return Err(stream_error(e)),
        }
    }
}

/// Reads a stream to its end, failing with [`Error::BodyTooLarge`] as soon as
/// more than `limit` bytes have arrived.
pub(crate) fn read_to_end(stream: &InputStream, limit: Option<usize>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(chunk) = read_chunk(stream, CHUNK)? {
        out.extend_from_slice(&chunk);
        if let Some(limit) = limit
            && out.len() > limit
        {
            return Err(Error::BodyTooLarge { limit });
        }
    }
    Ok(out)
}

/// Writes all of `bytes`, respecting the stream's `check-write` budget and
/// never handing more than [`CHUNK`] bytes to a single `write`. Does not flush.
pub(crate) fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let permit = stream.check_write().map_err(stream_error)?;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(permit)
            .unwrap_or(usize::MAX)
            .min(CHUNK)
            .min(bytes.len());
        let (now, rest) = bytes.split_at(n);
        stream.write(now).map_err(stream_error)?;
        bytes = rest;
    }
    Ok(())
}

/// Flushes and waits until the host has accepted everything written so far.
pub(crate) fn flush(stream: &OutputStream) -> Result<(), Error> {
    stream.blocking_flush().map_err(stream_error)
}
