//! `/image/<id>/<version>/<file>`: the boot media, built on first request, offered in ranges
//! as the test's factory does.

use super::*;

/// What the factory serves under `/image/<id>/<version>/<file>`: the plain ISO as given,
/// other ISOs and disk images made of other noise with their magic bytes; `None` for a file
/// name the factory does not build.
pub(super) fn medium_bytes(file: &str, iso: &[u8], b: &Behaviour) -> Option<Vec<u8>> {
    let (stem, iso_like) = match file.strip_suffix(".iso") {
        Some(stem) => (stem, true),
        None => (file.strip_suffix(".raw.zst")?, false),
    };
    let stem = stem.strip_prefix("metal-")?;
    let (arch, secure) = match stem.strip_suffix("-secureboot") {
        Some(arch) => (arch, true),
        None => (stem, false),
    };
    if !matches!(arch, "amd64" | "arm64") {
        return None;
    }
    let seed = 0x9e37_79b9
        ^ (file.len() as u32) << 8
        ^ u32::from(secure)
        ^ u32::from(arch == "arm64") << 1;
    Some(match (iso_like, secure, arch) {
        (true, false, "amd64") => {
            let mut bytes = iso.to_vec();
            if b.iso_flip_byte {
                *bytes.last_mut().expect("an ISO has bytes") ^= 0xff;
            }
            bytes
        }
        (true, _, _) => {
            let mut bytes = noise(iso.len() + 4096, seed);
            bytes[0x8001..0x8006].copy_from_slice(b"CD001");
            bytes
        }
        (false, _, _) => {
            let mut bytes = noise(b.disk_image_size, seed);
            bytes[..4].copy_from_slice(&[0x28, 0xB5, 0x2F, 0xFD]);
            bytes
        }
    })
}

/// `GET|HEAD /image/<id>/<version>/<file>`: a medium of a stored schematic, built on its first
/// request (404 for another version or file).
pub(super) fn image(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request {
        method,
        path,
        headers,
        iso,
        b,
        state,
        ..
    } = *r;
    let (id, rest) = path
        .strip_prefix("/image/")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_default();
    if !state.knows(id) {
        let message = format!("schematic ID {id:?} not found");
        return respond(out, "404 Not Found", &[], message.as_bytes());
    }
    state.build(path, b.build_delay);
    // The ISO's downloads are numbered: a rebuilt file's validator names its build.
    let n = if method == "GET" && path.ends_with(".iso") {
        state.iso_requests.fetch_add(1, Ordering::SeqCst)
    } else {
        0
    };
    let file = Some(rest)
        .filter(|_| is_id(id))
        // Any version the factory lists, as the real one builds what /versions names.
        .and_then(|rest| rest.split_once('/'))
        .filter(|(version, _)| b.versions.iter().any(|v| v == version))
        .map(|(_, file)| file)
        .unwrap_or_default();
    let Some(served) = medium_bytes(file, iso, b) else {
        return respond(out, "404 Not Found", &[], b"404 page not found");
    };
    let content_type = if file.ends_with(".iso") {
        "application/x-iso9660-image"
    } else {
        "application/zstd"
    };
    // HEAD announces the length GET would send, as the factory does.
    if method == "HEAD" {
        let length = served.len() as u64;
        return write_response(
            out,
            "200 OK",
            &[("Content-Type", content_type)],
            length,
            &[],
        );
    }
    serve_body(out, &served, content_type, headers, b, n)
}

/// A medium's body: whole or from a range.
fn serve_body(
    out: &mut Out,
    served: &[u8],
    content_type: &str,
    headers: &HashMap<String, String>,
    b: &Behaviour,
    request_number: usize,
) -> std::io::Result<()> {
    // The ETag names the file's current build; a changing validator is a new build per body.
    let etag = match b.ranges {
        Ranges::ChangingValidator => format!("\"build-{request_number}\""),
        _ => "\"build-0\"".to_string(),
    };
    let range_start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| b.ranges != Ranges::None)
        .filter(|_| headers.get("if-range") == Some(&etag))
        .filter(|&n| n < served.len());
    let start = range_start.unwrap_or(0);
    let range = range_start.map(|n| format!("bytes {n}-{}/{}", served.len() - 1, served.len()));
    let mut fields = vec![("Content-Type", content_type)];
    if b.ranges != Ranges::None {
        fields.extend([("Accept-Ranges", "bytes"), ("ETag", etag.as_str())]);
    }
    let status = match &range {
        Some(range) => {
            fields.push(("Content-Range", range));
            "206 Partial Content"
        }
        None => "200 OK",
    };
    let body = &served[start..];
    write_response(out, status, &fields, body.len() as u64, &[])?;
    for piece in body.chunks(16 * 1024) {
        out.write_all(piece)?;
    }
    out.flush()
}
