//! A loopback OCI distribution registry for the air-gap tests: manifests by tag or digest,
//! blobs with byte ranges, and the faults a registry can have (a corrupted blob, a body cut
//! off, a slow one). Images are pushed in-process as two-platform indexes with a layer they
//! all share, so a test knows every digest without the code under test computing it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::hex;

/// What goes wrong with one blob, by digest.
#[derive(Clone, Debug, Default)]
pub struct OciFaults {
    /// Served with its middle byte flipped (same size, other bytes).
    pub corrupt: Option<String>,
    /// Its first body is cut off at half (after headers promising the whole).
    pub cut_first: Option<String>,
    /// Sent in 16 KiB pieces with this pause between them.
    pub slow: Option<(String, Duration)>,
}

/// An image as pushed: the index digest its tag resolves to, the linux/amd64 manifest's, and
/// the digest of the amd64 image's own (largest) layer.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub index: String,
    pub amd64: String,
    pub amd64_layer: String,
}

#[derive(Default)]
struct Store {
    /// `<repository>/manifests/<reference>` and `<repository>/blobs/<digest>` → (type, bytes).
    objects: BTreeMap<String, (String, Vec<u8>)>,
    faults: OciFaults,
    /// Request lines with their headers, in order.
    seen: Vec<(String, HashMap<String, String>)>,
    cut_done: bool,
}

pub struct Oci {
    pub port: u16,
    store: Arc<Mutex<Store>>,
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl Oci {
    pub fn start() -> Oci {
        let store: Arc<Mutex<Store>> = Arc::default();
        let shared = store.clone();
        let server = xtask_loopback::Server::start(move |stream| serve(stream, &shared))
            .expect("bind loopback");
        Oci {
            port: server.port,
            store,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_faults(&self, faults: OciFaults) {
        self.store.lock().unwrap().faults = faults;
    }

    /// Every request line seen so far (`GET /v2/etcd/blobs/sha256:…`), with its headers.
    pub fn seen(&self) -> Vec<(String, HashMap<String, String>)> {
        self.store.lock().unwrap().seen.clone()
    }

    /// Serves `bytes` at `/v2/<path>` (`<repository>/manifests/<reference>`,
    /// `<repository>/blobs/<digest>`, `<repository>/referrers/<digest>`), as pushed elsewhere.
    pub fn put_object(&self, path: &str, media_type: &str, bytes: &[u8]) {
        self.store
            .lock()
            .unwrap()
            .objects
            .insert(path.to_string(), (media_type.to_string(), bytes.to_vec()));
    }

    fn put(&self, repository: &str, kind: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        self.store.lock().unwrap().objects.insert(
            format!("{repository}/{kind}/{reference}"),
            (media_type.to_string(), bytes.to_vec()),
        );
    }

    fn blob(&self, repository: &str, bytes: &[u8]) -> serde_json::Value {
        let digest = digest(bytes);
        self.put(
            repository,
            "blobs",
            &digest,
            "application/octet-stream",
            bytes,
        );
        serde_json::json!({"digest": digest, "size": bytes.len()})
    }

    /// Pushes `<repository>:<tag>` as an index of linux/amd64 and linux/arm64 images, each a
    /// config, the layer every image shares and a layer of its own of `layer_size` bytes.
    pub fn push(&self, repository: &str, tag: &str, layer_size: usize) -> Pushed {
        let shared = self.blob(repository, b"the layer every image shares\n");
        let mut entries = Vec::new();
        let mut amd64 = (String::new(), String::new());
        for arch in ["amd64", "arm64"] {
            let config = self.blob(
                repository,
                format!(r#"{{"architecture":"{arch}","os":"linux","image":"{repository}:{tag}"}}"#)
                    .as_bytes(),
            );
            let own = noise(layer_size, &format!("{repository}:{tag}/{arch}"));
            let layer = self.blob(repository, &own);
            let layer_digest = layer["digest"].as_str().unwrap().to_string();
            let descriptor = |value: serde_json::Value, media_type: &str| {
                let mut value = value;
                value["mediaType"] = media_type.into();
                value
            };
            let manifest = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
                "layers": [
                    descriptor(shared.clone(), "application/vnd.oci.image.layer.v1.tar+gzip"),
                    descriptor(layer, "application/vnd.oci.image.layer.v1.tar+gzip"),
                ],
            }))
            .unwrap();
            let manifest_digest = digest(&manifest);
            self.put(
                repository,
                "manifests",
                &manifest_digest,
                MANIFEST,
                &manifest,
            );
            entries.push(serde_json::json!({
                "mediaType": MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            }));
            if arch == "amd64" {
                amd64 = (manifest_digest, layer_digest);
            }
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": entries,
        }))
        .unwrap();
        let index_digest = digest(&index);
        self.put(repository, "manifests", &index_digest, INDEX, &index);
        self.put(repository, "manifests", tag, INDEX, &index);
        Pushed {
            index: index_digest,
            amd64: amd64.0,
            amd64_layer: amd64.1,
        }
    }
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Deterministic bytes that do not compress, different for each `seed`.
fn noise(size: usize, seed: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < size {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(size);
    out
}

fn serve(stream: TcpStream, store: &Mutex<Store>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (line, headers) = super::read_head(&mut reader)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let request = format!("{method} {path}");
    let (found, faults, cut) = {
        let mut store = store.lock().unwrap();
        store.seen.push((request, headers.clone()));
        let key = path.strip_prefix("/v2/").unwrap_or_default().to_string();
        let found = store.objects.get(&key).cloned();
        let is_cut = found.is_some()
            && !store.cut_done
            && store
                .faults
                .cut_first
                .as_ref()
                .is_some_and(|d| key.ends_with(d));
        if is_cut {
            store.cut_done = true;
        }
        (found, store.faults.clone(), is_cut)
    };
    let mut out = stream;
    if path == "/v2/" {
        return super::write_response(&mut out, "200 OK", &[], 0, b"");
    }
    let Some((media_type, mut bytes)) = found else {
        return super::write_response(&mut out, "404 Not Found", &[], 0, b"");
    };
    let digest_of_bytes = digest(&bytes);
    let is_blob = path.contains("/blobs/");
    if is_blob && faults.corrupt.as_ref().is_some_and(|d| path.ends_with(d)) {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
    }
    let mut status = "200 OK";
    let mut extra = vec![
        ("Content-Type", media_type),
        ("Docker-Content-Digest", digest_of_bytes),
    ];
    let mut start = 0;
    if let Some(range) = headers.get("range").filter(|_| is_blob)
        && let Some(from) = range
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
        && from < bytes.len()
    {
        start = from;
        status = "206 Partial Content";
        extra.push((
            "Content-Range",
            format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len()),
        ));
    }
    let body = &bytes[start..];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The head alone (an empty body written): the body follows, whole, cut or slow.
    super::write_response(&mut out, status, &extra, body.len() as u64, b"")?;
    if method == "HEAD" {
        return out.flush();
    }
    if cut {
        out.write_all(&body[..body.len() / 2])?;
        return out.flush();
    }
    match faults
        .slow
        .as_ref()
        .filter(|(d, _)| is_blob && path.ends_with(d))
    {
        Some((_, pause)) => {
            for piece in body.chunks(16 * 1024) {
                out.write_all(piece)?;
                out.flush()?;
                std::thread::sleep(*pause);
            }
        }
        None => out.write_all(body)?,
    }
    out.flush()
}
