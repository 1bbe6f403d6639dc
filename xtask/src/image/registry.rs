//! Resolving an installer image's digest from the factory's OCI registry (which lives on the
//! factory's host and scheme): `HEAD /v2/<repository>/manifests/<tag>` with the manifest
//! types in `Accept`. The factory answers 307 with the digest at the end of `Location`; a
//! plain registry answers 200 with `Docker-Content-Digest`; one that wants a token answers 401
//! with a Bearer challenge, answered anonymously.

use anyhow::anyhow;
use serde::Deserialize;

use crate::host::http::{self, Client, Failure};
use crate::image::build::InstallerRef;
use crate::image::digest::Digest;
use crate::util::header;

/// Without these, a registry may answer 404 for OCI content, or give one platform's digest.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// What an index (a referrers list, a fallback tag) is asked for with.
pub const INDEX_TYPES: &str = "application/vnd.oci.image.index.v1+json";
/// How many redirects a registry GET follows: the factory's one to its backing registry, and
/// whatever that registry does with blobs.
const MAX_REDIRECTS: usize = 10;

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// The digest of the installer image, from the registry on the factory's host.
pub fn installer_digest(client: &Client, installer: &InstallerRef) -> anyhow::Result<Digest> {
    resolve_digest(
        client,
        &installer.registry,
        &installer.repository,
        &installer.tag,
    )
}

/// The `sha256:<hex>` digest of `<registry>/<repository>:<tag>`.
fn resolve_digest(
    client: &Client,
    registry_base: &str,
    repository: &str,
    tag: &str,
) -> anyhow::Result<Digest> {
    let url = format!("{registry_base}/v2/{repository}/manifests/{tag}");
    client.with_retries(
        &format!("resolving the digest of {repository}:{tag}"),
        || {
            let mut response = head(client, &url, None)?;
            if response.status().as_u16() == 401 {
                let challenge = header(&response, "www-authenticate").unwrap_or_default();
                let token = anonymous_token(client, &url, &challenge)?;
                response = head(client, &url, Some(&token))?;
            }
            digest_from(&url, response)
        },
    )
}

/// `GET url` on a registry: follows redirects (the factory sends manifests by digest, other
/// tags and blobs to its backing registry) without leaving https, answers a Bearer challenge
/// with an anonymous token for the host that asked (the token is never sent elsewhere), and
/// gives the body, or `None` for 404.
pub fn get(client: &Client, url: &str, accept: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let mut token = Token::default();
    client.with_retries(&format!("GET {url}"), || {
        match open(client, url, accept, None, &mut token)? {
            Some(response) => http::read_capped(response, url, http::REGISTRY_OBJECT).map(Some),
            None => Ok(None),
        }
    })
}

/// The anonymous token a registry gave, and the origin (scheme://host:port) whose challenge it
/// answers: kept across the requests for one repository, sent to that origin only.
#[derive(Clone, Debug, Default)]
pub struct Token(Option<(String, String)>);

/// One `GET url` as [`get`] makes it, with `Range: bytes=<from>-` when `from` is given,
/// answered with the response (200 or 206) to stream, or `None` for 404. `token` is reused
/// and updated.
pub fn open(
    client: &Client,
    url: &str,
    accept: &str,
    from: Option<u64>,
    token: &mut Token,
) -> Result<Option<ureq::http::Response<ureq::Body>>, Failure> {
    let mut current = url.to_string();
    let mut challenged = false;
    for _ in 0..=MAX_REDIRECTS {
        let mut request = client.direct_get(&current).header("Accept", accept);
        if let Some(from) = from {
            request = request.header("Range", &format!("bytes={from}-"));
        }
        if let Some((origin, value)) = &token.0
            && *origin == origin_of(&current)
        {
            request = request.header("Authorization", &format!("Bearer {value}"));
        }
        let response = request
            .call()
            .map_err(|e| http::transport_failure("GET", &current, e))?;
        match response.status().as_u16() {
            200 | 206 => return Ok(Some(response)),
            404 => return Ok(None),
            301 | 302 | 303 | 307 | 308 => {
                let location = header(&response, "location").unwrap_or_default();
                let next = resolve(&current, &location).ok_or_else(|| {
                    Failure::Permanent(anyhow!(
                        "GET {current}: redirect to {location:?}, which is not a URL"
                    ))
                })?;
                if current.starts_with("https://") && !next.starts_with("https://") {
                    return Err(Failure::Permanent(anyhow!(
                        "GET {current}: refusing a redirect from https to plain http ({next})"
                    )));
                }
                current = next;
            }
            // A token that was refused (expired, or for another scope) is replaced once.
            401 if !challenged
                || token
                    .0
                    .as_ref()
                    .is_none_or(|(o, _)| *o != origin_of(&current)) =>
            {
                let challenge = header(&response, "www-authenticate").unwrap_or_default();
                let answer = anonymous_token(client, &current, &challenge)?;
                token.0 = Some((origin_of(&current), answer));
                challenged = true;
            }
            _ => return Err(http::status_failure("GET", &current, response)),
        }
    }
    Err(Failure::Permanent(anyhow!(
        "GET {url}: more than {MAX_REDIRECTS} redirects"
    )))
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{}", authority.to_ascii_lowercase())
}

/// A redirect's `Location` against the URL that answered: absolute, or a path on its origin.
fn resolve(base: &str, location: &str) -> Option<String> {
    if location.starts_with("https://") || location.starts_with("http://") {
        Some(location.to_string())
    } else if location.starts_with("//") {
        let scheme = base.split_once("://")?.0;
        Some(format!("{scheme}:{location}"))
    } else if location.starts_with('/') {
        Some(format!("{}{location}", origin_of(base)))
    } else {
        None
    }
}

fn head(
    client: &Client,
    url: &str,
    token: Option<&str>,
) -> Result<ureq::http::Response<ureq::Body>, Failure> {
    let mut request = client.direct_head(url).header("Accept", MANIFEST_TYPES);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request
        .call()
        .map_err(|e| http::transport_failure("HEAD", url, e))
}

fn digest_from(url: &str, response: ureq::http::Response<ureq::Body>) -> Result<Digest, Failure> {
    let status = response.status().as_u16();
    let (source, value) = match status {
        301 | 302 | 303 | 307 | 308 => {
            let location = header(&response, "location").unwrap_or_default();
            let tail = location.rsplit('/').next().unwrap_or_default().to_string();
            ("Location", tail)
        }
        200 => (
            "Docker-Content-Digest",
            header(&response, "docker-content-digest").unwrap_or_default(),
        ),
        _ => return Err(http::status_failure("HEAD", url, response)),
    };
    Digest::parse(&value).ok_or_else(|| {
        Failure::Permanent(anyhow!(
            "HEAD {url}: {status} without a sha256 digest in {source} (found {value:?})"
        ))
    })
}

/// Answers a `Bearer realm=…,service=…,scope=…` challenge that `asked_by` sent with an
/// anonymous token. An https registry's realm must be https too: a token fetched over plain
/// http could be read or replaced on the way.
fn anonymous_token(client: &Client, asked_by: &str, challenge: &str) -> Result<String, Failure> {
    let permanent = |m: String| Failure::Permanent(anyhow!(m));
    let params = challenge
        .strip_prefix("Bearer ")
        .or_else(|| challenge.strip_prefix("bearer "))
        .map(parse_challenge)
        .ok_or_else(|| {
            permanent(format!(
                "the registry wants authentication this tool does not do: {challenge:?}"
            ))
        })?;
    let realm = params
        .iter()
        .find(|(k, _)| k == "realm")
        .map(|(_, v)| v.clone())
        .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
        .ok_or_else(|| {
            permanent(format!(
                "the registry's Bearer challenge has no usable realm: {challenge:?}"
            ))
        })?;
    if asked_by.starts_with("https://") && !realm.starts_with("https://") {
        return Err(permanent(format!(
            "{asked_by}: the registry (https) names a plain-http token realm {realm}: refused, the token would travel unencrypted; fix the registry's `realm`"
        )));
    }
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "service" || k == "scope")
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let url = if query.is_empty() {
        realm
    } else {
        format!("{realm}?{}", query.join("&"))
    };
    let response = client
        .get(&url)
        .call()
        .map_err(|e| http::transport_failure("GET", &url, e))?;
    if !response.status().is_success() {
        return Err(http::status_failure("GET", &url, response));
    }
    let body = http::read_capped(response, &url, http::TOKEN)?;
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| permanent(format!("GET {url}: the token answer is not JSON: {e}")))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            permanent(format!(
                "GET {url}: the answer has no `token` or `access_token`"
            ))
        })
}

/// `key="value",key=value` pairs of an authentication challenge; commas inside quotes stay.
fn parse_challenge(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        pairs.push((key, value.to_string()));
        rest = remainder.trim_start_matches([',', ' ']);
    }
    pairs
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_keep_commas_inside_quotes() {
        let pairs = parse_challenge(
            r#"realm="http://127.0.0.1:1/token",service="registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            pairs,
            vec![
                ("realm".into(), "http://127.0.0.1:1/token".into()),
                ("service".into(), "registry".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        assert_eq!(
            percent_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn redirects_resolve_against_the_answering_origin() {
        let base = "https://Factory.example:8443/v2/a/manifests/sha256-x";
        assert_eq!(origin_of(base), "https://factory.example:8443");
        assert_eq!(
            resolve(base, "/v2/b/blobs/sha256:1").as_deref(),
            Some("https://factory.example:8443/v2/b/blobs/sha256:1")
        );
        assert_eq!(
            resolve(base, "//cdn.example/x").as_deref(),
            Some("https://cdn.example/x")
        );
        assert_eq!(
            resolve(base, "http://r.example/x").as_deref(),
            Some("http://r.example/x")
        );
        assert_eq!(resolve(base, "relative/path"), None);
    }
}
