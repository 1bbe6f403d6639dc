//! Downloading boot media: one streaming pass that writes a temporary file beside the
//! destination and feeds SHA-256 as the bytes arrive, checks the length and the medium's
//! magic bytes, and renames into place. Before a byte is written the filesystem must have
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
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::fsutil::{self, PendingFile};
use crate::http::{self, Client, Failure};
use crate::interrupt::Provisional;
use crate::schematic::hex;
use crate::talos::Magic;

/// Size of each buffer handed from the reader to the hasher.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the two threads; with `CHUNK` this bounds memory use.
const BUFFERS: usize = 8;

pub struct Downloaded {
    pub sha256: String,
    pub size: u64,
    /// The file in place; removed when dropped unless kept (a medium no manifest names).
    pub file: Provisional,
}

/// Downloads `url` to `destination` (shown to the user as `display`), retrying transient
/// failures and resuming where the server allows it.
pub fn download(
    client: &Client,
    url: &str,
    destination: &Path,
    display: &str,
    magic: Magic,
    stall_timeout: Duration,
) -> anyhow::Result<Downloaded> {
    let mut partial: Option<Partial> = None;
    let target = Target {
        url,
        destination,
        display,
        magic,
        stall: stall_timeout,
    };
    let (sha256, size) = client.with_retries(&format!("downloading {url} to {display}"), || {
        attempt(client, &target, &mut partial)
    })?;
    let done = partial.take().expect("a finished download has its file");
    let file = done.pending.persist()?;
    Ok(Downloaded { sha256, size, file })
}

/// The ISO's size as the factory announces it to `HEAD`, for `--check`: the factory builds the
/// image first (minutes, as for `GET`), then answers with its exact `Content-Length`.
pub fn announced_size(client: &Client, url: &str) -> anyhow::Result<u64> {
    eprintln!(
        "asking the size of {url} (the factory builds the image before answering; this can take minutes)"
    );
    client.with_retries(&format!("asking the size of {url}"), || {
        let response = client
            .head(url)
            .call()
            .map_err(|e| http::transport_failure("HEAD", url, e))?;
        if !response.status().is_success() {
            return Err(http::status_failure("HEAD", url, response));
        }
        content_length(&response).ok_or_else(|| {
            Failure::Permanent(anyhow!(
                "HEAD {url}: {} without a Content-Length, so the size cannot be compared",
                response.status()
            ))
        })
    })
}

struct Target<'a> {
    url: &'a str,
    destination: &'a Path,
    display: &'a str,
    magic: Magic,
    stall: Duration,
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

type Response = ureq::http::Response<ureq::Body>;

fn attempt(
    client: &Client,
    target: &Target,
    partial: &mut Option<Partial>,
) -> Result<(String, u64), Failure> {
    let url = target.url;
    // Only a server that promised ranges for this very file can continue it.
    if partial.as_ref().is_some_and(|p| p.validator.is_none()) {
        *partial = None;
    }
    let progress = Progress::start(url);
    let mut request = client.get(url);
    if let Some(p) = partial.as_ref() {
        let validator = p.validator.as_deref().expect("checked above");
        eprintln!(
            "resuming at {} of {}",
            mib(p.received),
            p.total
                .map(mib)
                .unwrap_or_else(|| "an unannounced size".into())
        );
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
            eprintln!(
                "the server sent the whole file again (it changed, or ranges are not offered): starting over from byte 0"
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
    receive(response, target, p, &progress)?;

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
    progress.finish(p.received);
    Ok((hex(&p.hasher.clone().finalize()), p.received))
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
    progress: &Progress,
) -> Result<(), Failure> {
    let url = target.url;
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

    loop {
        let (buffer, n) = match full_rx.recv_timeout(target.stall) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                return Err(Failure::Transient(anyhow!(e).context(format!(
                    "GET {url}: the connection failed after {} bytes",
                    p.received
                ))));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Failure::Transient(anyhow!(
                    "GET {url}: no data for {} s after {} bytes (stalled)",
                    target.stall.as_secs(),
                    p.received
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let bytes = &buffer[..n];
        p.hasher.update(bytes);
        collect_magic(&mut p.magic, target.magic, p.received, bytes);
        p.pending.file().write_all(bytes).map_err(|e| {
            Failure::Permanent(
                anyhow!(e).context(format!("writing {}", target.destination.display())),
            )
        })?;
        p.received += n as u64;
        progress.advance(p.received);
        let _ = empty_tx.send(buffer);
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

fn header(response: &Response, name: &str) -> Option<String> {
    Some(response.headers().get(name)?.to_str().ok()?.to_string())
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

/// A bar with bytes, rate and ETA on a terminal (a spinner while the factory builds); plain
/// lines every 10% otherwise, so CI logs stay readable.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    total: std::cell::Cell<Option<u64>>,
    next_report: std::cell::Cell<u64>,
}

impl Progress {
    fn start(url: &str) -> Progress {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_message(format!("waiting for the factory to build {url}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            eprintln!(
                "requesting {url} (the factory builds the image before answering; this can take minutes)"
            );
        }
        Progress {
            bar,
            started: Instant::now(),
            total: std::cell::Cell::new(None),
            next_report: std::cell::Cell::new(0),
        }
    }

    /// The body starts arriving, `from` bytes in (a resumed download).
    fn receiving(&self, total: Option<u64>, from: u64) {
        self.total.set(total);
        match &self.bar {
            Some(bar) => {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(from);
                let template = if total.is_some() {
                    "{bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left"
                } else {
                    "{spinner} {bytes} {bytes_per_sec}"
                };
                bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
                bar.reset_elapsed();
            }
            None => eprintln!(
                "receiving {} after {:.0} s",
                total
                    .map(mib)
                    .unwrap_or_else(|| "a file of unannounced size".into()),
                self.started.elapsed().as_secs_f64()
            ),
        }
    }

    fn advance(&self, received: u64) {
        match (&self.bar, self.total.get()) {
            (Some(bar), _) => bar.set_position(received),
            (None, Some(total)) if total > 0 && received >= self.next_report.get() => {
                let percent = received * 100 / total;
                if received < total {
                    eprintln!("received {} of {} ({percent}%)", mib(received), mib(total));
                }
                self.next_report.set((percent / 10 + 1) * 10 * total / 100);
            }
            _ => {}
        }
    }

    fn finish(&self, size: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!("downloaded {} in {seconds:.1} s", mib(size));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
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
                    crate::talos::BootMedium::Iso.kind().magic,
                    (i * chunk) as u64,
                    piece,
                );
            }
            assert_eq!(magic, b"CD001", "chunk size {chunk}");
        }
    }
}
