//! The factory's facts, recorded against now: what moved (drift), what moved and is only
//! metadata (a notice), what the record lacks (an older tool wrote it) and what this check does
//! not compare. Plain code over the manifest's types: each item (a medium, the installer, an
//! image of the bundle, the bundle, an extension, the certificate) is destructured whole, and
//! its facts compared in order.

use serde::Serialize;
use serde_json::Value;

use crate::image::manifest::{
    AirGap, BundledImage, Certificate, Extension, Installer, Manifest, Medium,
};
use crate::image::talos::MEDIA;
use crate::util::mib;

use super::{BUNDLE_NOT_COMPARED, HASHES_NOT_COMPARED, RECORD, not_compared_inputs};

/// One fact the factory gives, recorded one way and now another.
#[derive(Debug, PartialEq)]
pub struct Finding {
    /// JSON pointer into the manifest.
    pub path: String,
    pub recorded: Value,
    pub now: Value,
    /// What it means, in words.
    pub meaning: String,
}

/// Worth knowing, not drift.
#[derive(Debug, PartialEq)]
pub struct Notice {
    pub path: Option<String>,
    pub message: String,
}

/// A record compared with what the factory gives now.
#[derive(Debug, Default)]
pub struct Comparison {
    /// The factory moved: exit 3.
    pub differences: Vec<Finding>,
    /// Catalogue metadata that moved alone.
    pub notices: Vec<Notice>,
    /// Facts the record lacks (an older tool wrote it); not drift.
    pub not_recorded: Vec<String>,
    pub compared: usize,
    /// What was not compared, and why.
    pub not_compared: Vec<(String, String)>,
}

/// How a fact is compared.
#[derive(Clone, Copy, PartialEq)]
enum How {
    /// Drift when it moved.
    Drift,
    /// Drift only when no fact before it in its item moved: it follows them.
    Alone,
    /// A notice, not drift, when it moved and no fact before it in its item did.
    Notice,
}

/// The facts of one item, compared in order.
struct Item<'a> {
    out: &'a mut Comparison,
    /// Whether a fact of the item moved already.
    moved: bool,
}

impl Item<'_> {
    /// The fact at `path`: unknown now (not fetched) is skipped, unknown in the record is not
    /// recorded, and a move is said by `words(recorded, now)`.
    fn fact<T: PartialEq + Serialize>(
        &mut self,
        path: String,
        (was, now): (Option<&T>, Option<&T>),
        how: How,
        words: impl FnOnce(&T, &T) -> String,
    ) {
        let counted = match how {
            How::Drift => true,
            How::Alone => !self.moved,
            How::Notice => false,
        };
        if !counted && how != How::Notice {
            return;
        }
        let Some(now) = now else { return };
        let Some(was) = was else {
            return self.out.not_recorded.push(path);
        };
        if counted {
            self.out.compared += 1;
        }
        if was == now {
            return;
        }
        let meaning = words(was, now);
        if how == How::Notice {
            if !self.moved {
                let path = Some(path);
                self.out.notices.push(Notice {
                    path,
                    message: meaning,
                });
            }
            return;
        }
        self.moved = true;
        let json = |v: &T| serde_json::to_value(v).expect("a fact serialises");
        let (recorded, now) = (json(was), json(now));
        self.out.differences.push(Finding {
            path,
            recorded,
            now,
            meaning,
        });
    }
}

/// Every fact the factory gives in `recorded` against `now`; media and bundle hashes only with
/// `hashes`. What `now` does not have (the check did not fetch it) is not compared.
pub fn compare(recorded: &Manifest, now: &Manifest, hashes: bool) -> Comparison {
    let mut out = Comparison::default();
    media(recorded, now, hashes, &mut out);
    let installer = (&recorded.os.installer, &now.os.installer);
    installer_facts(installer, &mut item(&mut out));
    bundle(recorded, now, hashes, &mut out);
    extensions(recorded, now, &mut out);
    match (
        &recorded.os.secure_boot_certificate,
        &now.os.secure_boot_certificate,
    ) {
        (Some(was), Some(is)) => certificate(was, is, &mut item(&mut out)),
        (None, Some(_)) => out.not_recorded.push("/os/secureBootCertificate".into()),
        _ => {}
    }
    let record = RECORD
        .iter()
        .map(|(pointer, why)| (pointer.to_string(), why.to_string()));
    out.not_compared = std::iter::once(not_compared_inputs(recorded))
        .chain(record)
        .chain(out.not_compared)
        .collect();
    out
}

fn item(out: &mut Comparison) -> Item<'_> {
    Item { out, moved: false }
}

/// A size as a person reads it: `1.0 MiB (1048576 bytes)`.
fn bytes(size: u64) -> String {
    format!("{} ({size} bytes)", mib(size))
}

/// Each medium's size, then (with `--hashes`) its SHA-256. A medium the record lacks is said
/// before any is compared.
fn media(recorded: &Manifest, now: &Manifest, hashes: bool, out: &mut Comparison) {
    let mut both = Vec::new();
    for kind in MEDIA {
        let at = format!("/os/{}", kind.field);
        match (
            recorded.os.media.get(kind.medium),
            now.os.media.get(kind.medium),
        ) {
            (Some(was), Some(is)) => both.push((at, was, is)),
            (None, Some(_)) => out.not_recorded.push(at),
            _ => {}
        }
    }
    for (at, was, is) in both {
        let Medium {
            url: _,
            local_path,
            sha256,
            size,
        } = was;
        let file = crate::project::file_name(local_path).to_string();
        let mut item = item(out);
        item.fact(
            format!("{at}/size"),
            (size.as_ref(), is.size.as_ref()),
            How::Drift,
            |a, b| {
                format!(
                    "{file} is now {}, was {}: the factory builds it anew",
                    bytes(*b),
                    bytes(*a)
                )
            },
        );
        if hashes {
            let same_size = if *size == is.size {
                " at the same size"
            } else {
                ""
            };
            item.fact(format!("{at}/sha256"), (sha256.as_ref(), is.sha256.as_ref()), How::Drift, |a, b| {
                format!("{file} now has other bytes{same_size}: sha256 {a} → {b} (the factory rebuilt it, with newer imager code after an upgrade?)")
            });
        }
    }
    if !hashes && !recorded.os.media.0.is_empty() {
        out.not_compared
            .push(("/os/*/sha256".into(), HASHES_NOT_COMPARED.into()));
    }
}

/// The installer's digest, then its signature.
fn installer_facts((was, is): (&Installer, &Installer), item: &mut Item) {
    let Installer {
        image: _,
        digest,
        signature,
    } = was;
    let signed = match &is.signature {
        Some(_) => "the new one verifies under the policy",
        None => "the new one's signature is not verified",
    };
    item.fact(
        "/os/installer/digest".into(),
        (digest.as_ref(), is.digest.as_ref()),
        How::Drift,
        |a, b| format!("the factory rebuilt the installer: digest {a} → {b} ({signed})"),
    );
    item.fact(
        "/os/installer/signature".into(),
        (signature.as_ref(), is.signature.as_ref()),
        How::Drift,
        |_, _| "the installer is signed anew (the new signature verifies under the policy)".into(),
    );
}

/// The bundle's images (but the installer, whose digest is `/os/installer/digest`), each found
/// again by its ref, then the bundle's own SHA-256 (with `--hashes`; it covers the size).
fn bundle(recorded: &Manifest, now: &Manifest, hashes: bool, out: &mut Comparison) {
    let (was, is) = match (&recorded.air_gap, &now.air_gap) {
        (Some(was), Some(is)) => (was, is),
        (None, Some(_)) => {
            out.not_recorded.push("/airGap/images".into());
            out.not_recorded.push("/airGap".into());
            return;
        }
        (Some(_), None) => {
            if !hashes {
                out.not_compared
                    .push(("/airGap/sha256".into(), BUNDLE_NOT_COMPARED.into()));
            }
            return;
        }
        (None, None) => return,
    };
    let AirGap {
        path,
        sha256,
        size: _,
        images,
    } = was;
    for (index, image) in images.iter().enumerate() {
        let BundledImage {
            reference,
            digest,
            platform_digest,
        } = image;
        if *reference == recorded.os.installer.image {
            continue;
        }
        let Some(found) = is.images.iter().position(|i| i.reference == *reference) else {
            continue;
        };
        let now = &is.images[found];
        let at = format!("/airGap/images/{index}");
        let mut item = item(out);
        item.fact(
            format!("{at}/digest"),
            (digest.as_ref(), now.digest.as_ref()),
            How::Drift,
            |a, b| format!("{reference}: the tag moved: digest {a} → {b}"),
        );
        let platform = (platform_digest.as_ref(), now.platform_digest.as_ref());
        item.fact(
            format!("{at}/platformDigest"),
            platform,
            How::Alone,
            |a, b| format!("{reference}: the platform manifest changed: {a} → {b}"),
        );
    }
    if hashes {
        item(out).fact(
            "/airGap/sha256".into(),
            (sha256.as_ref(), is.sha256.as_ref()),
            How::Drift,
            |a, b| format!("{path} packed again has other bytes: sha256 {a} → {b}"),
        );
    } else {
        out.not_compared
            .push(("/airGap/sha256".into(), BUNDLE_NOT_COMPARED.into()));
    }
}

/// Each extension found again by name: its digest, then its ref (metadata: a notice).
fn extensions(recorded: &Manifest, now: &Manifest, out: &mut Comparison) {
    let (was, is) = match (&recorded.talos.extensions, &now.talos.extensions) {
        (Some(was), Some(is)) => (was, is),
        (None, Some(_)) => return out.not_recorded.push("/talos/extensions".into()),
        _ => return,
    };
    for (index, extension) in was.iter().enumerate() {
        let Extension {
            name,
            reference,
            digest,
        } = extension;
        let Some(now) = is.iter().find(|e| e.name == *name) else {
            continue;
        };
        let at = format!("/talos/extensions/{index}");
        let mut item = item(out);
        item.fact(
            format!("{at}/digest"),
            (Some(digest), Some(&now.digest)),
            How::Drift,
            |a, b| format!("extension {name}: the catalogue's image moved: digest {a} → {b}"),
        );
        item.fact(format!("{at}/ref"), (Some(reference), Some(&now.reference)), How::Notice, |a, b| {
            format!("notice: extension {name}: catalogue metadata changed, not the image: ref {a} → {b}, digest {digest} unchanged")
        });
    }
}

/// The SecureBoot signing certificate's fingerprint.
fn certificate(was: &Certificate, is: &Certificate, item: &mut Item) {
    let Certificate { url: _, sha256 } = was;
    item.fact("/os/secureBootCertificate/sha256".into(), (sha256.as_ref(), is.sha256.as_ref()), How::Drift, |a, b| {
        format!("the factory's SecureBoot signing certificate changed: sha256 {a} → {b}; media built now are signed by another key")
    });
}
