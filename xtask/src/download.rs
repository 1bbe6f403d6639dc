//! Downloading the ISO: one streaming pass that writes a temporary file beside the
//! destination and feeds SHA-256 as the bytes arrive, checks the length and the ISO 9660
//! magic, and renames into place. A failed attempt leaves nothing; a retry starts from zero.
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

use crate::fsutil::PendingFile;
use crate::http::{self, Client, Failure};
use crate::schematic::hex;

/// Size of each buffer handed from the reader to the hasher.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the two threads; with `CHUNK` this bounds memory use.
const BUFFERS: usize = 8;
/// ISO 9660: the primary volume descriptor's `CD001` at byte 0x8001.
const ISO_MAGIC_OFFSET: u64 = 0x8001;
const ISO_MAGIC: &[u8] = b"CD001";

pub struct Downloaded {
    pub sha256: String,
    pub size: u64,
}

/// Downloads `url` to `destination` (shown to the user as `display`).
pub fn download_iso(
    client: &Client,
    url: &str,
    destination: &Path,
    display: &str,
    stall_timeout: Duration,
) -> anyhow::Result<Downloaded> {
    client.with_retries(&format!("downloading {url} to {display}"), || {
        attempt(client, url, destination, stall_timeout)
    })
}

/// The ISO's size as the factory announces it to `HEAD`, for `--check`: the factory builds the
/// image first (minutes, as for `GET`), then answers with its exact `Content-Length`.
pub fn announced_size(client: &Client, url: &str) -> anyhow::Result<u64> {
    eprintln!(
        "asking the size of {url} (the factory builds the image before answering; this can take minutes)"
    );
    client.with_retries(&format!("asking the size of {url}"), || {
        let response = client
            .following
            .head(url)
            .call()
            .map_err(|e| http::transport_failure("HEAD", url, e))?;
        if !response.status().is_success() {
            return Err(http::status_failure("HEAD", url, response));
        }
        content_length(&response).ok_or_else(|| {
            Failure::Permanent(anyhow!(
                "HEAD {url}: {} without a Content-Length, so the ISO's size cannot be compared",
                response.status()
            ))
        })
    })
}

fn attempt(
    client: &Client,
    url: &str,
    destination: &Path,
    stall: Duration,
) -> Result<Downloaded, Failure> {
    let progress = Progress::start(url);
    let response = client
        .following
        .get(url)
        .call()
        .map_err(|e| http::transport_failure("GET", url, e));
    let response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Err(http::status_failure("GET", url, r)),
        Err(e) => return Err(e),
    };
    let expected = content_length(&response);
    progress.receiving(expected);

    let permanent = |e: anyhow::Error| Failure::Permanent(e);
    let mut pending = PendingFile::create(destination).map_err(permanent)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut magic = Vec::with_capacity(ISO_MAGIC.len());

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
        let (buffer, n) = match full_rx.recv_timeout(stall) {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => {
                return Err(Failure::Transient(anyhow!(e).context(format!(
                    "GET {url}: the connection failed after {size} bytes"
                ))));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Failure::Transient(anyhow!(
                    "GET {url}: no data for {} s after {size} bytes (stalled)",
                    stall.as_secs()
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if n == 0 {
            break;
        }
        let bytes = &buffer[..n];
        hasher.update(bytes);
        collect_magic(&mut magic, size, bytes);
        pending.file().write_all(bytes).map_err(|e| {
            permanent(anyhow!(e).context(format!("writing {}", destination.display())))
        })?;
        size += n as u64;
        progress.advance(size);
        let _ = empty_tx.send(buffer);
    }

    if let Some(expected) = expected
        && size != expected
    {
        return Err(Failure::Transient(anyhow!(
            "GET {url}: received {size} bytes but Content-Length announced {expected} (connection cut short)"
        )));
    }
    if magic != ISO_MAGIC {
        return Err(Failure::Permanent(anyhow!(
            "GET {url}: the {size} bytes received are not an ISO image (no ISO 9660 `CD001` at offset 0x8001); an error page or proxy answer?"
        )));
    }
    pending.persist().map_err(permanent)?;
    let sha256 = hex(&hasher.finalize());
    progress.finish(size);
    Ok(Downloaded { sha256, size })
}

/// The announced body length, when the header is there and a number.
fn content_length(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-length")?;
    value.to_str().ok()?.trim().parse().ok()
}

/// Keeps the bytes of the ISO magic as they stream past, wherever chunk boundaries fall.
fn collect_magic(magic: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let end = offset + bytes.len() as u64;
    let want_start = ISO_MAGIC_OFFSET + magic.len() as u64;
    let want_end = ISO_MAGIC_OFFSET + ISO_MAGIC.len() as u64;
    if magic.len() < ISO_MAGIC.len() && want_start >= offset && want_start < end {
        let from = (want_start - offset) as usize;
        let to = (want_end.min(end) - offset) as usize;
        magic.extend_from_slice(&bytes[from..to]);
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

    fn receiving(&self, total: Option<u64>) {
        self.total.set(total);
        match &self.bar {
            Some(bar) => {
                if let Some(total) = total {
                    bar.set_length(total);
                }
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
                    .unwrap_or_else(|| "an ISO of unannounced size".into()),
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
                collect_magic(&mut magic, (i * chunk) as u64, piece);
            }
            assert_eq!(magic, b"CD001", "chunk size {chunk}");
        }
    }
}
