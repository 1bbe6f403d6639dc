//! `/image/<id>/<version>/<file>`: the boot media, built on first request, with the download
//! faults a test asks for (cut, stalled, trickling, HTML, ranges, Retry-After).

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

/// `GET|HEAD /image/<id>/<version>/<file>`: a medium, built on its first request, with the faults a test asked for.
pub(super) fn image(r: &Request, mut out: TcpStream) -> std::io::Result<()> {
    let Request {
        method,
        path,
        b,
        state,
        ..
    } = *r;
    let id_and_rest = path.strip_prefix("/image/");
    state.maybe_lose(b);
    let id = id_and_rest
        .and_then(|rest| rest.split_once('/'))
        .map(|(id, _)| id)
        .unwrap_or_default();
    if !state.knows(id) {
        let message = format!("schematic ID {id:?} not found");
        return respond(&mut out, "404 Not Found", &[], message.as_bytes());
    }
    state.build(path, b.build_delay);
    // The ISO's faults count its downloads only, so they stay deterministic while
    // other media download beside it.
    let n = if method == "GET" && path.ends_with(".iso") {
        state.iso_requests.fetch_add(1, Ordering::SeqCst)
    } else {
        usize::MAX
    };
    let head_answer = (method == "HEAD" && path.ends_with(".iso"))
        .then(|| b.iso_head_retry_after.clone())
        .flatten()
        .filter(|_| !state.iso_head_answered.swap(true, Ordering::SeqCst));
    if let Some((status, retry_after)) = b.iso_retry_after.get(n).cloned().or(head_answer) {
        let status = match status {
            429 => "429 Too Many Requests",
            503 => "503 Service Unavailable",
            _ => panic!("iso_retry_after takes 429 or 503"),
        };
        // `+N`: an HTTP date N seconds after this request arrived.
        let retry_after = match retry_after.strip_prefix('+') {
            Some(seconds) => http_date_in(seconds.parse().expect("+<seconds>")),
            None => retry_after.clone(),
        };
        return respond(
            &mut out,
            status,
            &[("Retry-After", &retry_after)],
            b"building, come back later",
        );
    }
    if n != usize::MAX && n < b.iso_failures_first {
        return respond(
            &mut out,
            "500 Internal Server Error",
            &[],
            b"image build failed: try again",
        );
    }
    serve_medium(r, out, n)
}

/// The medium a built `/image/` path names (404 for another version or file), with the fault
/// a test put on it; `n`, the request's number among the ISO's downloads.
pub(super) fn serve_medium(r: &Request, mut out: TcpStream, n: usize) -> std::io::Result<()> {
    let Request {
        method,
        path,
        headers,
        iso,
        b,
        state,
        ..
    } = *r;
    let id_and_rest = path.strip_prefix("/image/");
    let file = id_and_rest
        .and_then(|rest| rest.split_once('/'))
        .filter(|(id, _)| is_id(id))
        // Any version the factory lists, as the real one builds what /versions names.
        .and_then(|(_, rest)| rest.split_once('/'))
        .filter(|(version, _)| b.versions.iter().any(|v| v == version))
        .map(|(_, file)| file)
        .unwrap_or_default();
    let served = medium_bytes(file, iso, b);
    let fault = if file.ends_with(".raw.zst") {
        &b.disk_image_fault
    } else {
        &b.iso_fault
    };
    let Some(served) = served.filter(|_| *fault != IsoFault::NotFound) else {
        return respond(&mut out, "404 Not Found", &[], b"404 page not found");
    };
    let content_type = if file.ends_with(".iso") {
        "application/x-iso9660-image"
    } else {
        "application/zstd"
    };
    if *fault == IsoFault::NoLength {
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
        )?;
        if method == "GET" {
            out.write_all(&served)?;
        }
        return out.flush();
    }
    // HEAD announces the length GET would send, as the factory does.
    if method == "HEAD" {
        return write_response(
            &mut out,
            "200 OK",
            &[("Content-Type", content_type)],
            (served.len() + b.head_extra_bytes) as u64,
            &[],
        );
    }
    match fault {
        IsoFault::Trickle => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
                served.len()
            )?;
            for byte in served.iter().take(30) {
                out.write_all(&[*byte])?;
                out.flush()?;
                std::thread::sleep(Duration::from_secs(2));
            }
            Ok(())
        }
        IsoFault::Html => respond(
            &mut out,
            "200 OK",
            &[("Content-Type", "text/html")],
            &[
                b"<html><body>".as_slice(),
                &vec![b'x'; 40_000],
                b"</body></html>",
            ]
            .concat(),
        ),
        IsoFault::CutMidBody | IsoFault::Stall => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
                served.len()
            )?;
            out.write_all(&served[..served.len() / 2])?;
            out.flush()?;
            if *fault == IsoFault::Stall {
                std::thread::sleep(Duration::from_secs(30));
            }
            Ok(())
        }
        _ => serve_iso(&mut out, &served, headers, b, state, n),
    }
}

/// The ISO body: whole or from a range, optionally slow, optionally cut off at half.
pub(super) fn serve_iso(
    out: &mut TcpStream,
    iso: &[u8],
    headers: &HashMap<String, String>,
    b: &Behaviour,
    state: &State,
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
        .filter(|&n| n < iso.len());
    let start = range_start.unwrap_or(0);
    let mut head = match range_start {
        Some(n) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{}\r\n",
            iso.len() - 1,
            iso.len()
        ),
        None => "HTTP/1.1 200 OK\r\n".to_string(),
    };
    head += &format!(
        "Content-Length: {}\r\nContent-Type: application/x-iso9660-image\r\nConnection: close\r\n",
        iso.len() - start
    );
    if b.ranges != Ranges::None {
        head += &format!("Accept-Ranges: bytes\r\nETag: {etag}\r\n");
    }
    out.write_all(format!("{head}\r\n").as_bytes())?;
    let cut = request_number < b.cut_first_bodies;
    let end = if cut { iso.len() / 2 } else { iso.len() };
    for piece in iso[start..end.max(start)].chunks(16 * 1024) {
        out.write_all(piece)?;
        // Counted for the ISO (a numbered download) only.
        if request_number != usize::MAX {
            state
                .iso_bytes_sent
                .fetch_add(piece.len(), Ordering::SeqCst);
        }
        if let Some(delay) = b.iso_piece_delay {
            out.flush()?;
            std::thread::sleep(delay);
        }
    }
    out.flush()
}
