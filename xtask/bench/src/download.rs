//! `download`: the ISO download path (stream, hash, write, rename) against
//! `curl -o FILE URL && sha256sum FILE` on a loopback server; also the loopback file server the
//! other benchmarks share.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli;
use xtask::{host::http, image::download};

impl cli::BenchDownloadArgs {
    pub fn run(self, _root: &Path) -> anyhow::Result<()> {
        let size = self.size_mib * 1024 * 1024;
        let url = serve(size)?;
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let client = http::Client::new(http::Settings {
            response_timeout: Duration::from_secs(60),
            attempts: 1,
            first_retry_delay: Duration::from_millis(0),
            ca_file: None,
        })?;
        let shell = xshell::Shell::new()?;
        let progress = xtask::host::progress::Progress::new();
        let curl_file = dir.join("curl.iso");
        let mut ours = Duration::MAX;
        let mut theirs = Duration::MAX;
        for _ in 0..self.runs {
            // Writes still pending from earlier work (a build, the previous run) would land in
            // our fsync; flush them first, untimed, so each path starts from a quiet disk.
            flush_pending_writes();
            let start = Instant::now();
            let destination = dir.join("ours.iso");
            let target = download::Target {
                url: &url,
                destination: &destination,
                display: "bench",
                magic: xtask::image::talos::BootMedium::Iso.kind().magic,
                stall: Duration::from_secs(30),
                min_rate: 1024,
            };
            // The same work as a release: stream, hash, write, flush, then the rename.
            let got = download::download(&client, &target, &progress.line("ours.iso"))?;
            got.file.persist()?.keep();
            ours = ours.min(start.elapsed());
            flush_pending_writes();
            let start = Instant::now();
            xshell::cmd!(shell, "curl -sS -o {curl_file} {url}")
                .quiet()
                .run()
                .context("curl (install curl)")?;
            let sum = xshell::cmd!(shell, "sha256sum {curl_file}")
                .quiet()
                .read()?;
            theirs = theirs.min(start.elapsed());
            if !sum.starts_with(got.sha256.as_str()) {
                bail!(
                    "the two paths disagree on the SHA-256: {} vs {sum}",
                    got.sha256
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let rate = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
        println!(
            "file: {} MiB on {url}, best of {}",
            self.size_mib, self.runs
        );
        println!(
            "xtask download (stream + sha256 + write + rename): {:>8.1} MB/s  {:.2} s",
            rate(ours),
            ours.as_secs_f64()
        );
        println!(
            "curl -o FILE URL && sha256sum FILE:                {:>8.1} MB/s  {:.2} s",
            rate(theirs),
            theirs.as_secs_f64()
        );
        println!(
            "time ratio xtask / (curl + sha256sum): {:.2} (goal: at most 0.60)",
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
        println!(
            "peak RSS of this process (server included): {} MiB (goal: under 32 MiB)",
            peak_rss_mib().unwrap_or(0)
        );
        Ok(())
    }
}

/// Serves `size` bytes shaped like an ISO to every GET, from one fixed buffer.
pub(crate) fn serve(size: u64) -> anyhow::Result<String> {
    let block = medium_block(xtask::image::talos::BootMedium::Iso);
    let server = xtask_loopback::Server::start(move |stream| {
        xtask_loopback::request(&stream)?;
        let mut out = stream;
        xtask_loopback::write_response(&mut out, "200 OK", &[], size, b"")?;
        send_repeated(&mut out, &block, size)
    })?;
    Ok(format!("{}/image.iso", server.url()))
}

/// 1 MiB of noise shaped like `medium`: its magic bytes where a reader checks them.
pub(crate) fn medium_block(medium: xtask::image::talos::BootMedium) -> Vec<u8> {
    let mut block = vec![0u8; 1024 * 1024];
    for (i, b) in block.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    let magic = medium.kind().magic;
    let at = magic.offset as usize;
    block[at..at + magic.bytes.len()].copy_from_slice(magic.bytes);
    block
}

/// `size` bytes made of `block` over and over: a large body from a small buffer.
pub(crate) fn send_repeated(out: &mut impl Write, block: &[u8], size: u64) -> std::io::Result<()> {
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()
}

/// This process's peak resident memory, in MiB. Linux: `VmHWM` of /proc/self/status, this
/// process image's own (`getrusage` would report cargo's, which this process was forked from:
/// Linux keeps a parent's peak across fork and exec). Elsewhere (macOS): `getrusage`.
pub(crate) fn peak_rss_mib() -> Option<u64> {
    if cfg!(target_os = "linux") {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        return Some(kib / 1024);
    }
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills `usage` when it returns 0.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled `usage`.
    let usage = unsafe { usage.assume_init() };
    Some(max_rss_kib(usage.ru_maxrss) / 1024)
}

/// `ru_maxrss` in KiB: Linux gives KiB, macOS bytes.
pub(crate) fn max_rss_kib(max_rss: libc::c_long) -> u64 {
    let max_rss = u64::try_from(max_rss).unwrap_or(0);
    if cfg!(target_os = "macos") {
        max_rss / 1024
    } else {
        max_rss
    }
}

/// `sync(2)`: every pending write of the machine reaches the disk before a timed run.
pub(crate) fn flush_pending_writes() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}
