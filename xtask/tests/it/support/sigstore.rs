//! The Sigstore bundles the loopback factory's registry lists for the installer digest: as
//! referrers or under the fallback tag, with the predicate annotation of each.

use super::*;

/// The predicate type annotation of a referrer holding a Sigstore bundle.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
pub const PROVENANCE_PREDICATE: &str = "https://slsa.dev/provenance/v1";

/// The registry's Bearer challenge for pulling `repository`.
pub(super) fn bearer_challenge(b: &Behaviour, port: u16, repository: &str) -> String {
    let realm = (b.token_realm.clone()).unwrap_or(format!("http://127.0.0.1:{port}/token"));
    format!(r#"Bearer realm="{realm}",service="registry",scope="repository:{repository}:pull""#)
}

/// A bundle's OCI objects: its blob and the manifest carrying it.
struct BundleObjects {
    blob: Vec<u8>,
    manifest: Vec<u8>,
}

/// The manifest cosign v3 (`--new-bundle-format`) writes around a bundle, as the real ones in
/// `tests/data/sigstore` were pushed: the bundle's artifactType and its two annotations.
fn bundle_objects(bundle: &[u8], predicate: &str) -> BundleObjects {
    let empty_digest = format!("sha256:{}", sha256_hex(b"{}"));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE_TYPE,
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            PREDICATE_ANNOTATION: predicate
        },
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
        "layers": [{
            "mediaType": BUNDLE_TYPE,
            "digest": format!("sha256:{}", sha256_hex(bundle)),
            "size": bundle.len()
        }]
    }))
    .unwrap();
    BundleObjects {
        blob: bundle.to_vec(),
        manifest,
    }
}

/// The bundles the registry holds for D, each with the predicate type its referrer names:
/// the others first, then the signature.
fn bundles(b: &Behaviour) -> Vec<(&'static str, BundleObjects)> {
    let others = (b.other_bundles.iter()).map(|(p, bundle)| (*p, bundle_objects(bundle, p)));
    let signature = b
        .bundle
        .iter()
        .map(|(_, s)| (SIGN_PREDICATE, bundle_objects(s, SIGN_PREDICATE)));
    others.chain(signature).collect()
}

/// The index listing D's bundle manifests (what the referrers API and the fallback tag answer).
fn bundle_index(b: &Behaviour) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = bundles(b)
        .iter()
        .map(|(predicate, objects)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", sha256_hex(&objects.manifest)),
                "size": objects.manifest.len(),
                "artifactType": BUNDLE_TYPE,
                "annotations": {PREDICATE_ANNOTATION: predicate}
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests
    }))
    .unwrap()
}

/// What cosign v3 pushes for a signature `bundle`, by `/v2/`-relative path under `repository`:
/// the bundle blob, the empty config, the manifest holding them, and the referrers index of
/// `subject` listing it; each with its media type.
pub fn cosign_push(
    repository: &str,
    subject: &str,
    bundle: &[u8],
) -> Vec<(String, &'static str, Vec<u8>)> {
    let objects = bundle_objects(bundle, SIGN_PREDICATE);
    let manifest_digest = format!("sha256:{}", sha256_hex(&objects.manifest));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": objects.manifest.len(),
            "artifactType": BUNDLE_TYPE,
            "annotations": {PREDICATE_ANNOTATION: SIGN_PREDICATE}
        }]
    }))
    .unwrap();
    let blob = |bytes: &[u8]| format!("{repository}/blobs/sha256:{}", sha256_hex(bytes));
    vec![
        (blob(&objects.blob), BUNDLE_TYPE, objects.blob.clone()),
        (
            blob(b"{}"),
            "application/vnd.oci.empty.v1+json",
            b"{}".to_vec(),
        ),
        (
            format!("{repository}/manifests/{manifest_digest}"),
            "application/vnd.oci.image.manifest.v1+json",
            objects.manifest,
        ),
        (
            format!("{repository}/referrers/{subject}"),
            "application/vnd.oci.image.index.v1+json",
            index,
        ),
    ]
}

/// The `sha256:` digest of the OCI manifest the factory wraps `bundle` in: what a manifest
/// records as the signature that verified.
pub fn bundle_manifest_digest(bundle: &[u8]) -> String {
    referrer_digest(bundle, SIGN_PREDICATE)
}

/// The `sha256:` digest of the manifest the registry lists `bundle` in with `predicate`.
pub fn referrer_digest(bundle: &[u8], predicate: &str) -> String {
    format!(
        "sha256:{}",
        sha256_hex(&bundle_objects(bundle, predicate).manifest)
    )
}

/// The digest of the index that lists the behaviour's bundles. As the installer digest, it
/// makes the fallback tag resolve to D itself (GitLab, oras-go #1396).
pub fn listing_digest(b: &Behaviour) -> String {
    format!("sha256:{}", sha256_hex(&bundle_index(b)))
}

/// The answer for `GET /v2/<repo>/referrers/<D>` or `/manifests/sha256-<hex>`, when the
/// behaviour lists bundles there.
pub(super) fn bundle_listing(path: &str, b: &Behaviour) -> Option<Vec<u8>> {
    let hex = b.installer_digest.strip_prefix("sha256:")?;
    // Other bundles alone are listed as referrers.
    let listing = match &b.bundle {
        Some((listing, _)) => listing,
        None if !b.other_bundles.is_empty() => &Listing::Referrers,
        None => return None,
    };
    let asked = match listing {
        Listing::Referrers => format!("/referrers/{}", b.installer_digest),
        Listing::FallbackTag => format!("/manifests/sha256-{hex}"),
    };
    path.ends_with(&asked).then(|| bundle_index(b))
}

/// What the backing registry holds: the fallback tag's listing, the bundles' manifests and
/// blobs, by digest.
pub(super) fn backing_object(path: &str, b: &Behaviour) -> Option<Vec<u8>> {
    if let Some(index) = bundle_listing(path, b) {
        return Some(index);
    }
    let digest = path.rsplit('/').next()?;
    bundles(b)
        .into_iter()
        .flat_map(|(_, objects)| [objects.manifest, objects.blob])
        .find(|bytes| format!("sha256:{}", sha256_hex(bytes)) == digest)
}
