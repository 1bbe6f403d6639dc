//! The air-gap bundle: images fetched by digest into a store of blobs, each checked against its
//! digest and size as it streams (a registry's word is never taken), each blob stored once
//! however many images share it, then packed as one OCI image layout in a tar. Every blob
//! waits at a temporary name beside the bundle until the tar is written, and is removed then,
//! on failure, or on a signal; the tar itself is a pending file for the record step.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::host::fsutil::PendingFile;
use crate::host::http::{self, Client, Failure};
use crate::host::progress::Line;
use crate::image::digest::{Digest, Sha256Hex};
use crate::image::download::{self, Pace};
use crate::image::registry::{self, MANIFEST_TYPES, Token};
use crate::util::{header, mib};

/// The annotation that names an entry of `index.json`; `skopeo copy oci-archive:<tar>:<name>`
/// finds an image by it.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Where an image's bytes come from: a registry's base URL and the repository there.
#[derive(Clone, Debug)]
pub struct Source {
    pub base: String,
    pub repository: String,
}

/// One entry of the bundle's `index.json`: the manifest to load, and the name to load it by.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// An image as fetched: what its tag resolved to, and its entry.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The index (or, for a one-platform image, the manifest) the reference resolved to.
    pub digest: Digest,
    pub entry: Entry,
}

/// The blobs fetched so far, at temporary names beside the bundle.
pub struct Store {
    client: Arc<Client>,
    bundle: PathBuf,
    pace: (std::time::Duration, u64),
    /// Digest → its pending file, once fetched and checked.
    blobs: Mutex<BTreeMap<String, PendingFile>>,
    /// Digests some worker has started on: the others leave them to it.
    claimed: Mutex<HashSet<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parsed {
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

impl Store {
    /// A store for the bundle at `bundle`; a stalled blob transfer is given up under `pace`
    /// (the media's `--stall-timeout`, `--min-rate`).
    pub fn new(client: Arc<Client>, bundle: PathBuf, pace: (std::time::Duration, u64)) -> Store {
        Store {
            client,
            bundle,
            pace,
            blobs: Mutex::default(),
            claimed: Mutex::default(),
        }
    }

    /// Fetches `reference` (a tag, or `sha256:<hex>`) of `source` for `architecture`: the index,
    /// its platform manifest, the config and every layer, each checked. `name` is the entry's
    /// name; `pinned`, a digest the reference must resolve to.
    pub fn image(
        &self,
        source: &Source,
        reference: &str,
        name: &str,
        pinned: Option<&Digest>,
        architecture: &str,
        line: &Line,
    ) -> anyhow::Result<Fetched> {
        let mut token = Token::default();
        line.status("resolving");
        let (top_type, top) = self
            .manifest(source, reference, &mut token)
            .with_context(|| format!("fetching {name}"))?;
        let digest = Digest::of(&top);
        let expected = pinned.cloned().or_else(|| Digest::parse(reference));
        if let Some(expected) = expected
            && expected != digest
        {
            bail!(
                "{name}: {}/v2/{}/manifests/{reference} sent bytes whose sha256 is {digest}, not {expected}: refused",
                source.base,
                source.repository
            );
        }
        let parsed = parse(&top, name)?;
        let (entry, manifest) = match parsed.manifests {
            Some(manifests) => {
                self.keep(digest.as_str(), &top)?;
                let chosen = manifests
                    .into_iter()
                    .find(|d| {
                        d.platform
                            .as_ref()
                            .is_some_and(|p| p.os == "linux" && p.architecture == architecture)
                    })
                    .ok_or_else(|| {
                        anyhow!("{name}@{digest}: the index has no linux/{architecture} manifest")
                    })?;
                let chosen_digest = checked_digest(&chosen, name)?;
                let (media_type, bytes) = self
                    .manifest(source, &chosen.digest, &mut token)
                    .with_context(|| {
                        format!("fetching the linux/{architecture} manifest of {name}")
                    })?;
                if Digest::of(&bytes) != chosen_digest || bytes.len() as u64 != chosen.size {
                    bail!(
                        "{name}: the linux/{architecture} manifest {} came with other bytes ({} bytes, sha256 {}): refused",
                        chosen.digest,
                        bytes.len(),
                        Digest::of(&bytes)
                    );
                }
                let entry = Entry {
                    name: name.to_string(),
                    media_type: chosen.media_type.unwrap_or(media_type),
                    digest: chosen_digest,
                    size: chosen.size,
                };
                (entry, bytes)
            }
            None => {
                let entry = Entry {
                    name: name.to_string(),
                    media_type: top_type,
                    digest: digest.clone(),
                    size: top.len() as u64,
                };
                (entry, top)
            }
        };
        self.keep(entry.digest.as_str(), &manifest)?;
        let parsed = parse(&manifest, name)?;
        let blobs: Vec<Descriptor> = parsed.config.into_iter().chain(parsed.layers).collect();
        let total: u64 = blobs.iter().map(|b| b.size).sum();
        for (i, blob) in blobs.iter().enumerate() {
            checked_digest(blob, name)?;
            line.status(&format!(
                "blob {} of {} ({} in all)",
                i + 1,
                blobs.len(),
                mib(total)
            ));
            self.blob(source, blob, &mut token, line)
                .with_context(|| format!("fetching blob {} of {name}", blob.digest))?;
        }
        line.finish(&format!(
            "{digest}, {} {} ({} blobs, {})",
            architecture,
            entry.digest,
            blobs.len(),
            mib(total)
        ));
        Ok(Fetched { digest, entry })
    }

    /// Only the digest `reference` resolves to now (`--check`): the index's bytes, hashed.
    pub fn resolve(client: &Client, source: &Source, reference: &str) -> anyhow::Result<Digest> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            source.base, source.repository
        );
        let bytes = registry::get(client, &url, MANIFEST_TYPES)?
            .ok_or_else(|| anyhow!("GET {url}: 404, no such image"))?;
        Ok(Digest::of(&bytes))
    }

    /// A manifest or index (capped, as every registry object read into memory) and its type.
    fn manifest(
        &self,
        source: &Source,
        reference: &str,
        token: &mut Token,
    ) -> anyhow::Result<(String, Vec<u8>)> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            source.base, source.repository
        );
        self.client.with_retries(&format!("GET {url}"), || {
            let response = registry::open(&self.client, &url, MANIFEST_TYPES, None, token)?
                .ok_or_else(|| Failure::Permanent(anyhow!("GET {url}: 404, no such image")))?;
            let media_type = header(&response, "content-type")
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let bytes = http::read_capped(response, &url, http::REGISTRY_OBJECT)?;
            Ok((media_type, bytes))
        })
    }

    /// Stores `bytes` under `digest` (already checked), once.
    fn keep(&self, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if !self.claim(digest) {
            return Ok(());
        }
        let mut pending = PendingFile::create(&self.blob_path(digest))?;
        pending
            .file()
            .write_all(bytes)
            .with_context(|| format!("writing blob {digest}"))?;
        self.lock_blobs().insert(digest.to_string(), pending);
        Ok(())
    }

    /// Streams one blob to its temporary file, hashing as it goes; a connection cut off
    /// mid-body continues from where it stopped (a blob's digest is its validator: the bytes
    /// behind it cannot change), a body that does not hash to the digest is refused.
    fn blob(
        &self,
        source: &Source,
        blob: &Descriptor,
        token: &mut Token,
        line: &Line,
    ) -> anyhow::Result<()> {
        if !self.claim(&blob.digest) {
            return Ok(());
        }
        let url = format!(
            "{}/v2/{}/blobs/{}",
            source.base, source.repository, blob.digest
        );
        let mut pending = PendingFile::create(&self.blob_path(&blob.digest))?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let pace = Pace {
            url: &url,
            stall: self.pace.0,
            min_rate: self.pace.1,
        };
        self.client
            .with_retries_noted(&format!("GET {url}"), line, || {
                let from = (received > 0).then_some(received);
                let response = registry::open(&self.client, &url, "*/*", from, token)?
                    .ok_or_else(|| Failure::Permanent(anyhow!("GET {url}: 404, no such blob")))?;
                if response.status().as_u16() != 206 && received > 0 {
                    // The whole blob again: start over.
                    pending.truncate().map_err(Failure::Permanent)?;
                    hasher = Sha256::new();
                    received = 0;
                } else if response.status().as_u16() == 206 {
                    let first = header(&response, "content-range").and_then(|v| {
                        v.strip_prefix("bytes ")?
                            .split('-')
                            .next()?
                            .parse::<u64>()
                            .ok()
                    });
                    if first != Some(received) {
                        return Err(Failure::Permanent(anyhow!(
                            "GET {url}: asked for bytes from {received} on, got Content-Range {:?}",
                            header(&response, "content-range").unwrap_or_default()
                        )));
                    }
                }
                line.receiving(Some(blob.size), received);
                let file = pending.file();
                download::stream(
                    response,
                    &pace,
                    &mut received,
                    line,
                    &mut |offset, bytes| {
                        if offset + bytes.len() as u64 > blob.size {
                            return Err(Failure::Permanent(anyhow!(
                                "GET {url}: more bytes than the {} the manifest gives the blob",
                                blob.size
                            )));
                        }
                        hasher.update(bytes);
                        file.write_all(bytes)
                            .map_err(|e| Failure::Permanent(anyhow!(e).context("writing a blob")))
                    },
                )?;
                if received < blob.size {
                    return Err(Failure::Transient(anyhow!(
                        "GET {url}: the body ended after {received} of {} bytes",
                        blob.size
                    )));
                }
                if received > blob.size {
                    return Err(Failure::Permanent(anyhow!(
                        "GET {url}: {received} bytes, but the manifest gives the blob {}",
                        blob.size
                    )));
                }
                Ok(())
            })?;
        let got = Digest::finish(hasher);
        if *got.as_str() != blob.digest {
            bail!(
                "{url}: the {received} bytes received hash to {got}, not {}: a corrupted or substituted blob, refused",
                blob.digest
            );
        }
        self.lock_blobs().insert(blob.digest.clone(), pending);
        Ok(())
    }

    fn claim(&self, digest: &str) -> bool {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_string())
    }

    fn lock_blobs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PendingFile>> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name a blob's temporary file is derived from (it never exists itself).
    fn blob_path(&self, digest: &str) -> PathBuf {
        let name = self
            .bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.bundle
            .with_file_name(format!("{name}.{}", digest.replace(':', "-")))
    }

    /// Writes the OCI image layout with `entries` in its `index.json` as a tar beside its
    /// final name; the blobs' temporary files go as it ends. Returns the tar, its sha256 and
    /// size.
    pub fn pack(self, entries: &[Entry]) -> anyhow::Result<(PendingFile, Sha256Hex, u64)> {
        let blobs = self.blobs.into_inner().unwrap_or_else(|e| e.into_inner());
        let index = index_json(entries);
        let mut tar = PendingFile::create(&self.bundle)?;
        let shown = self.bundle.display().to_string();
        let mut out = Hashing::new(BufWriter::with_capacity(1 << 20, tar.file()));
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        ustar_file(
            &mut out,
            "oci-layout",
            layout.len() as u64,
            &mut &layout[..],
        )?;
        ustar_file(
            &mut out,
            "index.json",
            index.len() as u64,
            &mut index.as_bytes(),
        )?;
        for (digest, mut pending) in blobs {
            let digest = Digest::parse(&digest).expect("checked when its descriptor was read");
            let hex_part = digest.hex();
            let file = pending.file();
            let size = file.metadata()?.len();
            use std::io::Seek;
            file.rewind()?;
            ustar_file(&mut out, &format!("blobs/sha256/{hex_part}"), size, file)
                .with_context(|| format!("writing blob {digest} into {shown}"))?;
        }
        // Two empty blocks end a tar.
        out.write_all(&[0u8; 1024])?;
        let (writer, sha256, size) = out.finish();
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {shown}"))?;
        tar.sync()?;
        Ok((tar, sha256, size))
    }
}

fn parse(bytes: &[u8], name: &str) -> anyhow::Result<Parsed> {
    let parsed: Parsed = serde_json::from_slice(bytes).with_context(|| {
        format!("{name}: the registry's manifest is not an OCI manifest or index")
    })?;
    let is_index = parsed
        .media_type
        .as_deref()
        .is_some_and(|t| INDEX_TYPES.contains(&t))
        || parsed.manifests.is_some();
    if !is_index && parsed.config.is_none() {
        bail!("{name}: the registry's manifest has neither `manifests` nor `config`");
    }
    Ok(parsed)
}

/// The digest a descriptor names, when it is one this tool fetches by: sha256, 64 lowercase hex.
fn checked_digest(d: &Descriptor, name: &str) -> anyhow::Result<Digest> {
    Digest::parse(&d.digest).ok_or_else(|| {
        anyhow!(
            "{name}: a descriptor names digest {:?}; only sha256:<64 hex> is fetched",
            d.digest
        )
    })
}

/// `index.json`: one manifest descriptor per entry, named by `REF_NAME`.
fn index_json(entries: &[Entry]) -> String {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "mediaType": e.media_type,
                "digest": e.digest,
                "size": e.size,
                "annotations": { REF_NAME: e.name },
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    serde_json::to_string_pretty(&index).expect("JSON values serialize") + "\n"
}

/// The names `index.json` in a bundle's tar gives its entries, reading only as far as that file.
pub fn bundle_names(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    loop {
        let mut header = [0u8; 512];
        file.read_exact(&mut header).with_context(|| {
            format!(
                "{}: no index.json before the end of the tar",
                path.display()
            )
        })?;
        if header.iter().all(|&b| b == 0) {
            bail!("{}: the tar has no index.json", path.display());
        }
        let name = String::from_utf8_lossy(&header[..100])
            .trim_end_matches('\0')
            .to_string();
        let size_field = String::from_utf8_lossy(&header[124..136]);
        let size = u64::from_str_radix(size_field.trim_matches(|c| c == '\0' || c == ' '), 8)
            .with_context(|| format!("{}: a tar header with a bad size", path.display()))?;
        if name == "index.json" {
            anyhow::ensure!(
                size <= 16 * 1024 * 1024,
                "{}: index.json is {size} bytes",
                path.display()
            );
            let mut text = vec![0u8; size as usize];
            file.read_exact(&mut text)?;
            let index: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{}: index.json is not JSON", path.display()))?;
            return Ok(index["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["annotations"][REF_NAME].as_str().map(str::to_string))
                .collect());
        }
        let padded = size.div_ceil(512) * 512;
        std::io::copy(&mut (&mut file).take(padded), &mut std::io::sink())?;
    }
}

/// One regular file in ustar format: a 512-byte header, the bytes, zeros to the next block.
fn ustar_file(
    out: &mut impl Write,
    name: &str,
    size: u64,
    body: &mut dyn Read,
) -> anyhow::Result<()> {
    anyhow::ensure!(name.len() < 100, "tar entry name {name} is too long");
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    // A fixed time: the same blobs give the same tar.
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{checksum:06o}\0").as_bytes());
    out.write_all(&header)?;
    let copied = std::io::copy(&mut body.take(size), out)?;
    anyhow::ensure!(
        copied == size,
        "{name}: {copied} bytes where {size} were expected"
    );
    let padding = (512 - size % 512) % 512;
    out.write_all(&vec![0u8; padding as usize])?;
    Ok(())
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn finish(self) -> (W, Sha256Hex, u64) {
        (self.inner, Sha256Hex::finish(self.hasher), self.written)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ustar_entry_has_a_valid_checksum_and_padding() {
        let mut out = Vec::new();
        ustar_file(&mut out, "index.json", 3, &mut &b"{}\n"[..]).unwrap();
        assert_eq!(out.len(), 1024);
        let stored = u32::from_str_radix(std::str::from_utf8(&out[148..154]).unwrap(), 8).unwrap();
        let mut copy = out[..512].to_vec();
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(&out[512..515], b"{}\n");
        assert!(out[515..].iter().all(|&b| b == 0));
    }
}
