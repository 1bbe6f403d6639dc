//! The catalogue: `/versions`, the official extensions and overlays of a version, and the
//! SecureBoot signing certificate.

use super::*;

/// `GET /versions`: the Talos versions the factory lists.
pub(super) fn versions(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { b, .. } = *r;
    respond(
        out,
        "200 OK",
        &[],
        serde_json::to_string(&b.versions).unwrap().as_bytes(),
    )
}

/// `GET /version/<v>/overlays/official`: two overlays.
pub(super) fn overlays(_: &Request, out: &mut Out) -> std::io::Result<()> {
    respond(
    out,
    "200 OK",
    &[],
    serde_json::to_string(&serde_json::json!([
        {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi", "ref": "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0", "digest": format!("sha256:{}", "1".repeat(64))},
        {"name": "rock5b", "image": "siderolabs/sbc-rockchip", "ref": "ghcr.io/siderolabs/sbc-rockchip:v0.1.0", "digest": format!("sha256:{}", "2".repeat(64))}
    ]))
    .unwrap()
    .as_bytes(),
)
}

/// `GET /version/<v>/extensions/official`: the catalogue, each digest from its name.
pub(super) fn extensions(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { b, .. } = *r;
    let list: Vec<serde_json::Value> = b
        .extensions
        .iter()
        .map(|name| {
            serde_json::json!({
                "name": name,
                "ref": format!("{}/{name}:1.0.0", b.extension_ref_host),
                "digest": format!(
                    "sha256:{}",
                    hex(&Sha256::digest(format!("{name}{}", b.extension_digest_salt)))
                ),
                "author": "Sidero Labs",
                "description": "test"
            })
        })
        .collect();
    respond(
        out,
        "200 OK",
        &[],
        serde_json::to_string(&list).unwrap().as_bytes(),
    )
}

/// `GET /secureboot/signing-cert.pem`, when the factory has SecureBoot keys.
pub(super) fn certificate(r: &Request, out: &mut Out) -> std::io::Result<()> {
    if !r.b.secure_boot_keys {
        return respond(out, "404 Not Found", &[], b"404 page not found");
    }
    respond(out, "200 OK", &[], SIGNING_CERT.as_bytes())
}
