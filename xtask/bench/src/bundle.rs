//! `cargo xtask-bench bundle`: one image of `--layers` layers, `--size-mib` in all, served by a
//! loopback registry, fetched into a bundle (every blob by digest, hashed as it streams, to
//! its own temporary file) and packed into the tar; against the download path on an ISO of
//! the same size from the same kind of server. Memory must stay flat whatever the size.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::cli;
use xtask::image::bundle::{Source, Store};
use xtask::util::hex;
use xtask::{host::http, image::download};

/// What the registry serves: blobs are `block` repeated, each with its first bytes set to its
/// index so no two are the same.
struct Image {
    block: Vec<u8>,
    layer_size: u64,
    layers: Vec<String>,
    config: Vec<u8>,
    manifest: Vec<u8>,
    index: Vec<u8>,
}

impl cli::BenchBundleArgs {
    pub fn run(self, _root: &std::path::Path) -> anyhow::Result<()> {
        let size = self.size_mib * 1024 * 1024;
        let layers = self.layers.max(1);
        let image = Arc::new(Image::new(size / layers, layers));
        let registry = serve_registry(image.clone())?;
        let iso = crate::download::serve(size)?;
        let dir = std::env::temp_dir().join(format!("xtask-bench-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let client = Arc::new(http::Client::new(http::Settings {
            response_timeout: Duration::from_secs(60),
            attempts: 1,
            first_retry_delay: Duration::from_millis(0),
            ca_file: None,
        })?);
        let progress = xtask::host::progress::Progress::new();
        let pace = (Duration::from_secs(30), 1024);
        let (mut fetch, mut whole, mut media) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..self.runs {
            crate::download::flush_pending_writes();
            let start = Instant::now();
            let store = Store::new(client.clone(), dir.join("bundle.oci.tar"), pace);
            let source = Source {
                base: registry.clone(),
                repository: "bench/image".into(),
            };
            let fetched = store.image(
                &source,
                "v1",
                "127.0.0.1/bench/image:v1",
                None,
                "amd64",
                &progress.line("bundle"),
            )?;
            fetch = fetch.min(start.elapsed());
            let (tar, _, _) = store.pack(&[fetched.entry])?;
            tar.persist()?.keep();
            whole = whole.min(start.elapsed());

            crate::download::flush_pending_writes();
            let start = Instant::now();
            let destination = dir.join("ours.iso");
            let target = download::Target {
                url: &iso,
                destination: &destination,
                display: "bench",
                magic: xtask::image::talos::BootMedium::Iso.kind().magic,
                stall: pace.0,
                min_rate: pace.1,
            };
            let got = download::download(&client, &target, &progress.line("ours.iso"))?;
            got.file.persist()?.keep();
            media = media.min(start.elapsed());
        }
        let _ = std::fs::remove_dir_all(&dir);
        let rate = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
        println!(
            "image: {} MiB in {layers} layers on {registry}, best of {}",
            self.size_mib, self.runs
        );
        for (label, time) in [
            ("bundle fetch (blobs by digest, checked, to disk)", fetch),
            ("bundle fetch + pack into the tar", whole),
            ("media download path, same size", media),
        ] {
            println!(
                "{label:<50} {:>8.1} MB/s  {:.2} s",
                rate(time),
                time.as_secs_f64()
            );
        }
        println!(
            "peak RSS of this process (servers included): {} MiB (goal: under 64 MiB)",
            crate::download::peak_rss_mib().unwrap_or(0)
        );
        Ok(())
    }
}

impl Image {
    fn new(layer_size: u64, count: u64) -> Image {
        let mut block = vec![0u8; 1024 * 1024];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2654435761) >> 11) as u8;
        }
        let mut image = Image {
            block,
            layer_size,
            layers: Vec::new(),
            config: br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
            manifest: Vec::new(),
            index: Vec::new(),
        };
        image.layers = (0..count)
            .map(|n| {
                let mut hasher = Sha256::new();
                image.each_piece(n, &mut |piece| hasher.update(piece));
                format!("sha256:{}", hex(&hasher.finalize()))
            })
            .collect();
        let descriptor = |digest: &str, size: u64, media_type: &str| serde_json::json!({"mediaType": media_type, "digest": digest, "size": size});
        let layers: Vec<serde_json::Value> = image
            .layers
            .iter()
            .map(|d| descriptor(d, layer_size, "application/vnd.oci.image.layer.v1.tar"))
            .collect();
        image.manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(&digest(&image.config), image.config.len() as u64, "application/vnd.oci.image.config.v1+json"),
            "layers": layers,
        }))
        .expect("JSON values serialize");
        let mut entry = descriptor(
            &digest(&image.manifest),
            image.manifest.len() as u64,
            "application/vnd.oci.image.manifest.v1+json",
        );
        entry["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
        image.index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry],
        }))
        .expect("JSON values serialize");
        image
    }

    /// Layer `n`'s bytes, piece by piece.
    fn each_piece(&self, n: u64, sink: &mut dyn FnMut(&[u8])) {
        let mut left = self.layer_size;
        let mut first = true;
        while left > 0 {
            let take = left.min(self.block.len() as u64) as usize;
            if first {
                let mut head = self.block[..take].to_vec();
                head[..8.min(take)].copy_from_slice(&n.to_le_bytes()[..8.min(take)]);
                sink(&head);
                first = false;
            } else {
                sink(&self.block[..take]);
            }
            left -= take as u64;
        }
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn serve_registry(image: Arc<Image>) -> anyhow::Result<String> {
    let server = xtask_loopback::Server::start(move |stream| answer(stream, &image))
        .context("binding a loopback port")?;
    Ok(server.url())
}

fn answer(stream: TcpStream, image: &Image) -> std::io::Result<()> {
    let (line, _, _) = xtask_loopback::request(&stream)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut out = stream;
    let head = |out: &mut TcpStream, length: u64, media_type: &str| {
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nContent-Type: {media_type}\r\nConnection: close\r\n\r\n"
        )
    };
    let manifest_digest = digest(&image.manifest);
    let config_digest = digest(&image.config);
    if path.ends_with("/manifests/v1") {
        head(
            &mut out,
            image.index.len() as u64,
            "application/vnd.oci.image.index.v1+json",
        )?;
        out.write_all(&image.index)?;
    } else if path.ends_with(&format!("/manifests/{manifest_digest}")) {
        head(
            &mut out,
            image.manifest.len() as u64,
            "application/vnd.oci.image.manifest.v1+json",
        )?;
        out.write_all(&image.manifest)?;
    } else if path.ends_with(&format!("/blobs/{config_digest}")) {
        head(
            &mut out,
            image.config.len() as u64,
            "application/octet-stream",
        )?;
        out.write_all(&image.config)?;
    } else if let Some(n) = image
        .layers
        .iter()
        .position(|d| path.ends_with(&format!("/blobs/{d}")))
    {
        head(&mut out, image.layer_size, "application/octet-stream")?;
        let mut result = Ok(());
        image.each_piece(n as u64, &mut |piece| {
            if result.is_ok() {
                result = out.write_all(piece);
            }
        });
        result?;
    } else {
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
    }
    out.flush()
}
