//! The OCI registry under `/v2/`: the installer's manifest (307, 200 or a Bearer challenge),
//! the token endpoint, a backing registry and a proxy to a real one, and signatures.

use super::*;

/// `GET /token…`: an anonymous registry token.
pub(super) fn token(_: &Request, out: &mut Out) -> std::io::Result<()> {
    respond(out, "200 OK", &[], br#"{"token":"anonymous-token"}"#)
}

/// `GET /v2/…` redirected to a real registry at `upstream`, as the factory does for manifests
/// by digest (or a tag not starting with `v`), blobs and referrers.
fn proxy_get(r: &Request, upstream: &str, out: &mut Out) -> std::io::Result<()> {
    let Request { b, path, .. } = *r;
    let location = format!("{upstream}/v2/{}{}", b.proxy_prefix, &path["/v2/".len()..]);
    respond(
        out,
        "307 Temporary Redirect",
        &[("Location", &location)],
        b"",
    )
}

/// `GET /v2/…` without the anonymous token, behind `RegistryMode::Bearer`: the challenge.
fn bearer_unauthorized(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { port, b, .. } = *r;
    let challenge = bearer_challenge(b, port, "metal-installer");
    respond(
        out,
        "401 Unauthorized",
        &[("WWW-Authenticate", &challenge)],
        b"",
    )
}

/// `GET /v2/…`: as the registry mode says (redirected to a real registry, or a Bearer
/// challenge without the token); else blobs and manifests by digest redirected to the backing
/// registry, and a signature listing where a test put one.
pub(super) fn registry_get(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request {
        path, headers, b, ..
    } = *r;
    let p = path;
    match &b.registry {
        RegistryMode::Proxy(upstream) => return proxy_get(r, upstream, out),
        RegistryMode::Bearer
            if headers.get("authorization").map(String::as_str)
                != Some("Bearer anonymous-token") =>
        {
            return bearer_unauthorized(r, out);
        }
        _ => {}
    }
    let redirected = p
        .rsplit_once("/manifests/")
        .is_some_and(|(_, reference)| !reference.starts_with('v'))
        || p.contains("/blobs/");
    if redirected {
        // A path on this host, so an https front keeps the scheme.
        let origin = b.backing_origin.clone().unwrap_or_default();
        let location = format!("{origin}/backing{p}");
        return respond(
            out,
            "307 Temporary Redirect",
            &[("Location", &location)],
            b"",
        );
    }
    match bundle_listing(p, b) {
        Some(index) => respond(
            out,
            "200 OK",
            &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
            &index,
        ),
        None => respond(out, "404 Not Found", &[], b""),
    }
}

/// `GET /backing/v2/…`: the backing registry's objects.
pub(super) fn backing(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request { b, path, .. } = *r;
    let p = path;
    match backing_object(p, b) {
        Some(bytes) => respond(out, "200 OK", &[], &bytes),
        None => respond(out, "404 Not Found", &[], b""),
    }
}

/// `HEAD /v2/<repo>/<id>/manifests/<version>`: the installer's digest, built on first request,
/// as the registry mode says (forwarded to a real registry in `Proxy` mode).
pub(super) fn registry_head(r: &Request, out: &mut Out) -> std::io::Result<()> {
    let Request {
        headers,
        port,
        b,
        state,
        path,
        ..
    } = *r;
    let p = path;
    if let RegistryMode::Proxy(upstream) = &b.registry {
        // Forwarded to the real registry, as the factory's `/v2/` fronts its backing one.
        let path = format!("/v2/{}{}", b.proxy_prefix, &p["/v2/".len()..]);
        return proxy_head(out, upstream, &path, headers);
    }
    let (repository, id) = p
        .strip_prefix("/v2/")
        .and_then(|rest| rest.rsplit_once("/manifests/"))
        .filter(|(_, version)| b.versions.iter().any(|v| v == version))
        .and_then(|(rest, _)| rest.split_once('/'))
        .unwrap_or_default();
    if is_id(id) && !state.knows(id) {
        return respond(out, "404 Not Found", &[], b"");
    }
    state.build(p, b.build_delay);
    let digest = match repository {
        "metal-installer" => b.installer_digest.clone(),
        "metal-installer-secureboot" => SECUREBOOT_INSTALLER_DIGEST.to_string(),
        _ => String::new(),
    };
    let accepts_oci = headers
        .get("accept")
        .is_some_and(|a| a.contains("application/vnd.oci.image.index.v1+json"));
    if !is_id(id) || digest.is_empty() || !accepts_oci {
        return respond(out, "404 Not Found", &[], b"");
    }
    match b.registry {
        RegistryMode::Redirect => {
            let location =
                format!("https://registry.example.invalid/v2/{repository}/{id}/manifests/{digest}");
            respond(
                out,
                "307 Temporary Redirect",
                &[("Location", &location)],
                b"",
            )
        }
        RegistryMode::Bearer
            if headers.get("authorization").map(String::as_str)
                != Some("Bearer anonymous-token") =>
        {
            let challenge = bearer_challenge(b, port, &format!("{repository}/{id}"));
            respond(
                out,
                "401 Unauthorized",
                &[("WWW-Authenticate", &challenge)],
                b"",
            )
        }
        _ => respond(out, "200 OK", &[("Docker-Content-Digest", &digest)], b""),
    }
}

/// Sends `HEAD path` to `upstream` with the client's `Accept` and `Authorization`, and relays
/// the answer as it came: status, `Docker-Content-Digest`, `WWW-Authenticate` and all.
pub(super) fn proxy_head(
    out: &mut Out,
    upstream: &str,
    path: &str,
    headers: &HashMap<String, String>,
) -> std::io::Result<()> {
    let authority = upstream
        .strip_prefix("http://")
        .expect("an http:// upstream")
        .trim_end_matches('/');
    let mut registry = TcpStream::connect(authority)?;
    write!(
        registry,
        "HEAD {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n"
    )?;
    for name in ["accept", "authorization"] {
        if let Some(value) = headers.get(name) {
            write!(registry, "{name}: {value}\r\n")?;
        }
    }
    write!(registry, "\r\n")?;
    let mut answer = Vec::new();
    registry.read_to_end(&mut answer)?;
    out.write_all(&answer)?;
    out.flush()
}
