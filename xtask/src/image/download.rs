//! Downloading boot media: one streaming pass that writes a temporary file beside the
//! destination and feeds SHA-256 as the bytes arrive, checks the length and the medium's
//! magic bytes, and flushes it; the record step renames it into place. Before a byte is written the filesystem must have
//! room for the announced length. An attempt cut off mid-body resumes where it stopped when
//! the server offered ranges with a validator (`Range` + `If-Range`, continuing the same file
//! and the same running hash); otherwise the retry starts from zero.
//!
//! Reading runs on its own thread, handing fixed buffers to the hashing and writing thread:
//! receiving, hashing and writing overlap, memory stays flat, and a stalled connection is
//! noticed even though a blocking read cannot be interrupted.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use sha2::{Digest, Sha256};

use crate::host::fsutil::{self, PendingFile};
use crate::host::http::{self, Client, Failure};
use crate::host::progress::Line;
use crate::image::talos::Magic;
use crate::util::{header, mib};

/// Size of each buffer handed from the reader to the hasher.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the two threads; with `CHUNK` this bounds memory use.
const BUFFERS: usize = 8;

/// A finished download: hashed, checked and flushed, still at its temporary name.
pub struct Downloaded {
    pub sha256: crate::image::digest::Sha256Hex,
    pub size: u64,
    /// Removed when dropped (or on a signal) unless the record step persists it.
    pub file: PendingFile,
}

/// One file to download.
pub struct Target<'a> {
    pub url: &'a str,
    /// The final name; the bytes go to a temporary file beside it.
    pub destination: &'a Path,
    /// `destination` as the user knows it (repository-relative).
    pub display: &'a str,
    pub magic: Magic,
    /// The window over which the transfer rate is judged.
    pub stall: Duration,
    /// Bytes per second a window must bring, or the attempt is given up.
    pub min_rate: u64,
}

/// Downloads `target.url` beside `target.destination`, retrying transient failures and resuming
/// where the server allows it; reports on `line`.
pub fn download(client: &Client, target: &Target, line: &Line) -> anyhow::Result<Downloaded> {
    let mut partial: Option<Partial> = None;
    let what = format!("downloading {} to {}", target.url, target.display);
    let (sha256, size) =
        client.with_retries_noted(&what, line, || attempt(client, target, &mut partial, line))?;
    let mut done = partial.take().expect("a finished download has its file");
    done.pending.sync()?;
    Ok(Downloaded {
        sha256,
        size,
        file: done.pending,
    })
}

/// The size the factory announces to `HEAD`: it builds the asset first (minutes, as for `GET`),
/// then answers with its exact `Content-Length`. One attempt; the caller decides what a failure
/// means (a real run only warms the build with it, `--check` compares the size).
pub fn head_size(client: &Client, url: &str) -> Result<u64, Failure> {
    let response = client
        .head(url)
        .call()
        .map_err(|e| http::transport_failure("HEAD", url, e))?;
    if !response.status().is_success() {
        return Err(http::status_failure("HEAD", url, response));
    }
    content_length(&response).ok_or_else(|| {
        Failure::Permanent(anyhow!(
            "HEAD {url}: {} without a Content-Length, so the size is not known",
            response.status()
        ))
    })
}

/// What earlier attempts received, kept across them.
struct Partial {
    pending: PendingFile,
    hasher: Sha256,
    received: u64,
    magic: Vec<u8>,
    total: Option<u64>,
    /// `If-Range` value (a strong ETag, else Last-Modified) when the server offered byte
    /// ranges; `None` when a cut-off attempt can only start over.
    validator: Option<String>,
}

impl Partial {
    fn start(destination: &Path, response: &Response) -> Result<Partial, Failure> {
        Ok(Partial {
            pending: PendingFile::create(destination).map_err(Failure::Permanent)?,
            hasher: Sha256::new(),
            received: 0,
            magic: Vec::new(),
            total: content_length(response),
            validator: validator(response),
        })
    }

    /// Empties the file and the hash for a response that sends the whole body again.
    fn restart(&mut self, response: &Response) -> Result<(), Failure> {
        self.pending.truncate().map_err(Failure::Permanent)?;
        self.hasher = Sha256::new();
        self.received = 0;
        self.magic.clear();
        self.total = content_length(response);
        self.validator = validator(response);
        Ok(())
    }
}

pub type Response = ureq::http::Response<ureq::Body>;

fn attempt(
    client: &Client,
    target: &Target,
    partial: &mut Option<Partial>,
    progress: &Line,
) -> Result<(crate::image::digest::Sha256Hex, u64), Failure> {
    let url = target.url;
    // Only a server that promised ranges for this very file can continue it.
    if partial.as_ref().is_some_and(|p| p.validator.is_none()) {
        *partial = None;
    }
    progress.status(&format!(
        "requesting (the factory builds the image before answering; this can take minutes): GET {url}"
    ));
    let mut request = client.get(url);
    if let Some(p) = partial.as_ref() {
        let validator = p.validator.as_deref().expect("checked above");
        progress.note(&format!(
            "resuming at {} of {}",
            mib(p.received),
            p.total
                .map(mib)
                .unwrap_or_else(|| "an unannounced size".into())
        ));
        request = request
            .header("Range", &format!("bytes={}-", p.received))
            .header("If-Range", validator);
    }
    let response = request
        .call()
        .map_err(|e| http::transport_failure("GET", url, e))?;

    match (response.status().as_u16(), partial.as_mut()) {
        (206, Some(p)) => {
            let range = content_range(&response);
            if range.is_none_or(|(first, total)| {
                first != p.received || p.total.is_some_and(|t| Some(t) != total)
            }) {
                let received = p.received;
                *partial = None;
                return Err(Failure::Transient(anyhow!(
                    "GET {url}: asked for bytes from {received} on, but the answer's Content-Range is {:?}; starting over",
                    header(&response, "content-range").unwrap_or_default()
                )));
            }
        }
        (200, Some(p)) => {
            progress.note(
                "the server sent the whole file again (it changed, or ranges are not offered): starting over from byte 0",
            );
            p.restart(&response)?;
        }
        (200, None) => *partial = Some(Partial::start(target.destination, &response)?),
        (status, _) if (200..300).contains(&status) => {
            return Err(Failure::Transient(anyhow!(
                "GET {url}: unexpected {status} for a download"
            )));
        }
        _ => return Err(http::status_failure("GET", url, response)),
    }
    let p = partial.as_mut().expect("set above");
    progress.receiving(p.total, p.received);
    ensure_room(target, p)?;
    receive(response, target, p, progress)?;

    if let Some(expected) = p.total
        && p.received != expected
    {
        return Err(Failure::Transient(anyhow!(
            "GET {url}: received {} bytes but Content-Length announced {expected} (connection cut short)",
            p.received
        )));
    }
    if p.magic != target.magic.bytes {
        return Err(Failure::Permanent(anyhow!(
            "GET {url}: the {} bytes received are {}; an error page or proxy answer?",
            p.received,
            target.magic.missing
        )));
    }
    let sha256 = crate::image::digest::Sha256Hex::finish(p.hasher.clone());
    progress.finish(&format!("downloaded {}, sha256 {sha256}", mib(p.received)));
    Ok((sha256, p.received))
}

/// Fails before a byte is written when the announced rest of the file cannot fit.
fn ensure_room(target: &Target, p: &Partial) -> Result<(), Failure> {
    let Some(total) = p.total else {
        return Ok(());
    };
    let needed = total.saturating_sub(p.received);
    let folder = target.destination.parent().expect("a file has a folder");
    let available = fsutil::available_space(folder).map_err(Failure::Permanent)?;
    if needed > available {
        let shown = Path::new(target.display)
            .parent()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        return Err(Failure::Permanent(anyhow!(
            "not enough disk space for {}: needs {} in {shown}, {} available; free space or point {shown} at a larger disk",
            target.display,
            mib(needed),
            mib(available)
        )));
    }
    Ok(())
}

/// Streams the body into the partial file and the running hash.
fn receive(
    response: Response,
    target: &Target,
    p: &mut Partial,
    progress: &Line,
) -> Result<(), Failure> {
    let pace = Pace {
        url: target.url,
        stall: target.stall,
        min_rate: target.min_rate,
    };
    let destination = target.destination;
    let magic = target.magic;
    let (hasher, collected, pending) = (&mut p.hasher, &mut p.magic, &mut p.pending);
    stream(
        response,
        &pace,
        &mut p.received,
        progress,
        &mut |offset, bytes| {
            hasher.update(bytes);
            collect_magic(collected, magic, offset, bytes);
            pending.file().write_all(bytes).map_err(|e| {
                Failure::Permanent(anyhow!(e).context(format!("writing {}", destination.display())))
            })
        },
    )
}

/// How slow a transfer may be before an attempt is given up: fewer than `min_rate` bytes per
/// second over a window of `stall`, as curl's --speed-limit/--speed-time.
pub struct Pace<'a> {
    pub url: &'a str,
    pub stall: Duration,
    pub min_rate: u64,
}

/// Where [`stream`] puts each piece of a body: its offset and bytes.
pub type Sink<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Failure> + 'a;

/// Streams a response body to `sink` (given each piece's offset and bytes), counting into
/// `received`. Reading runs on its own thread, handing fixed buffers over: receiving and the
/// sink's work overlap, memory stays at `BUFFERS` × `CHUNK`, and a stalled connection is
/// noticed even though a blocking read cannot be interrupted.
pub fn stream(
    response: Response,
    pace: &Pace,
    received: &mut u64,
    progress: &Line,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let url = pace.url;
    let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<(Vec<u8>, usize)>>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        empty_tx.send(vec![0; CHUNK]).expect("receiver alive");
    }
    let mut body = response.into_body().into_reader();
    // The reader thread ends when the body ends, fails, or the receiving side is gone. On a
    // stall it stays blocked in `read` until the process exits; it owns nothing but its socket.
    std::thread::spawn(move || {
        while let Ok(mut buffer) = empty_rx.recv() {
            let result = body.read(&mut buffer).map(|n| (buffer, n));
            let done = !matches!(result, Ok((_, n)) if n > 0);
            if full_tx.send(result).is_err() || done {
                return;
            }
        }
    });

    let mut window = Window::start(*received);
    loop {
        let wait = window.left(pace.stall);
        let (buffer, n) = match full_rx.recv_timeout(wait) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                return Err(Failure::Transient(anyhow!(e).context(format!(
                    "GET {url}: the connection failed after {received} bytes"
                ))));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                window.judge(pace, *received)?;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        sink(*received, &buffer[..n])?;
        *received += n as u64;
        progress.advance(*received);
        let _ = empty_tx.send(buffer);
        window.judge(pace, *received)?;
    }
}

/// One window of the low-speed check: when it began and how much had arrived then.
struct Window {
    began: Instant,
    received: u64,
}

impl Window {
    fn start(received: u64) -> Window {
        Window {
            began: Instant::now(),
            received,
        }
    }

    /// How long until this window is over.
    fn left(&self, length: Duration) -> Duration {
        length
            .saturating_sub(self.began.elapsed())
            .max(Duration::from_millis(1))
    }

    /// At the end of a window: fails the attempt if the window brought less than the minimum
    /// rate, else starts the next one.
    fn judge(&mut self, pace: &Pace, received: u64) -> Result<(), Failure> {
        let elapsed = self.began.elapsed();
        if elapsed < pace.stall {
            return Ok(());
        }
        let got = received - self.received;
        let rate = got as f64 / elapsed.as_secs_f64();
        if rate < pace.min_rate as f64 {
            let what = if got == 0 {
                "no data".to_string()
            } else {
                format!("{got} bytes ({rate:.0} bytes/s)")
            };
            return Err(Failure::Transient(anyhow!(
                "GET {}: {what} in the last {:.0} s after {received} bytes, below --min-rate {} bytes/s over --stall-timeout {} s (stalled)",
                pace.url,
                elapsed.as_secs_f64(),
                pace.min_rate,
                pace.stall.as_secs()
            )));
        }
        *self = Window::start(received);
        Ok(())
    }
}

/// What `If-Range` can carry for this response: ranges offered and a strong validator.
fn validator(response: &Response) -> Option<String> {
    let ranges = header(response, "accept-ranges")
        .is_some_and(|v| v.split(',').any(|u| u.trim().eq_ignore_ascii_case("bytes")));
    if !ranges {
        return None;
    }
    // A weak ETag may not be used in If-Range (RFC 9110 §13.1.5).
    header(response, "etag")
        .filter(|tag| !tag.starts_with("W/"))
        .or_else(|| header(response, "last-modified"))
}

/// `Content-Range: bytes <first>-<last>/<total or *>` as (first, total).
fn content_range(response: &Response) -> Option<(u64, Option<u64>)> {
    let value = header(response, "content-range")?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let first = range.split_once('-')?.0.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first, total))
}

/// The announced body length, when the header is there and a number.
fn content_length(response: &Response) -> Option<u64> {
    header(response, "content-length")?.trim().parse().ok()
}

/// Keeps the bytes of the magic as they stream past, wherever chunk boundaries fall.
fn collect_magic(collected: &mut Vec<u8>, magic: Magic, offset: u64, bytes: &[u8]) {
    let end = offset + bytes.len() as u64;
    let want_start = magic.offset + collected.len() as u64;
    let want_end = magic.offset + magic.bytes.len() as u64;
    if collected.len() < magic.bytes.len() && want_start >= offset && want_start < end {
        let from = (want_start - offset) as usize;
        let to = (want_end.min(end) - offset) as usize;
        collected.extend_from_slice(&bytes[from..to]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_is_found_across_chunk_boundaries() {
        let mut image = vec![0u8; 0x9000];
        image[0x8001..0x8006].copy_from_slice(b"CD001");
        for chunk in [1, 7, 0x8003, 4096] {
            let mut magic = Vec::new();
            for (i, piece) in image.chunks(chunk).enumerate() {
                collect_magic(
                    &mut magic,
                    crate::image::talos::BootMedium::Iso.kind().magic,
                    (i * chunk) as u64,
                    piece,
                );
            }
            assert_eq!(magic, b"CD001", "chunk size {chunk}");
        }
    }
}
