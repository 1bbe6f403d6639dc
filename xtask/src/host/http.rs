//! The HTTP client every network step shares: ureq with rustls and no transparent
//! decompression (we hash the bytes the server sent), proxy variables honoured, a short
//! connect timeout and a long wait for the first byte (the factory builds images before it
//! answers), and retries with exponential backoff for failures that may pass, or after the
//! time a 429/503 asked for in `Retry-After`. A request that starts on https stays on https
//! through every redirect.

use std::io::Read;
use std::time::Duration;

use anyhow::anyhow;

/// How long to wait for a TCP/TLS connection: a factory that is down should fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an error body to show: enough for the factory's one-line messages.
const BODY_EXCERPT: usize = 512;
/// The longest `Retry-After` waited out: a factory asking for more is down for maintenance,
/// and a release job is better failed with a message than silently parked.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Debug)]
pub struct Settings {
    /// Wait for the response headers. The factory builds an image synchronously before it
    /// sends the first byte, which takes minutes, hence 15 minutes by default.
    pub response_timeout: Duration,
    /// Attempts in all (not retries after the first).
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each later one.
    pub first_retry_delay: Duration,
    /// A PEM file whose certificates are the only ones trusted for https (a self-hosted
    /// factory behind an internal CA); `None` trusts the Mozilla roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Settings {
    pub fn from_flags(network: &crate::cli::Network) -> Settings {
        Settings {
            response_timeout: Duration::from_secs(network.timeout),
            attempts: network.retries,
            first_retry_delay: Duration::from_millis(network.retry_delay_ms),
            ca_file: network.ca_file.clone(),
        }
    }
}

pub struct Client {
    /// Follows redirects: the ISO may be served from a CDN.
    following: ureq::Agent,
    /// Does not follow: the registry's 307 carries the digest in `Location`.
    direct: ureq::Agent,
    settings: Settings,
}

/// Until when each URL was asked to be left alone by a 429 or 503 with `Retry-After`: no
/// request for it goes out before then, whichever worker sends it (a size probe's 429 holds the
/// download too).
static HOLDS: std::sync::Mutex<std::collections::BTreeMap<String, std::time::Instant>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Remembers that `url` asked for `wait`; a wait past what this tool waits ends the run
/// instead (`retrying`), so it is not held.
fn hold(url: &str, wait: Duration) {
    if wait > MAX_RETRY_AFTER {
        return;
    }
    let until = std::time::Instant::now() + wait;
    let mut holds = HOLDS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = holds.entry(url.to_string()).or_insert(until);
    *entry = (*entry).max(until);
}

/// Waits until `url` may be asked again.
fn wait_for_hold(url: &str) {
    let until = HOLDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(url)
        .copied();
    if let Some(wait) = until.and_then(|u| u.checked_duration_since(std::time::Instant::now())) {
        std::thread::sleep(wait);
    }
}

/// The outcome of one failed attempt.
pub enum Failure {
    /// Worth another attempt: connection errors, timeouts, 429, 5xx, a cut-off body.
    Transient(anyhow::Error),
    /// Retrying cannot help: 4xx, a malformed answer.
    Permanent(anyhow::Error),
    /// A 429 or 503 that said when to come back (`Retry-After`).
    RetryAfter(anyhow::Error, Duration),
}

impl Client {
    pub fn new(settings: Settings) -> anyhow::Result<Client> {
        let roots = match &settings.ca_file {
            None => ureq::tls::RootCerts::WebPki,
            Some(path) => ureq::tls::RootCerts::new_with_certs(&read_certificates(path)?),
        };
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let agent = |redirects: u32| -> ureq::Agent {
            ureq::Agent::config_builder()
                .tls_config(tls.clone())
                .http_status_as_error(false)
                .proxy(ureq::Proxy::try_from_env())
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(settings.response_timeout))
                .max_redirects(redirects)
                .user_agent(concat!("appliance-xtask/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        Ok(Client {
            following: agent(10),
            direct: agent(0),
            settings,
        })
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts run out.
    pub fn with_retries<T>(
        &self,
        what: &str,
        attempt: impl FnMut() -> Result<T, Failure>,
    ) -> anyhow::Result<T> {
        self.retrying(what, &|message| crate::util::say!("{message}"), attempt)
    }

    /// `with_retries`, saying each retry on `line` (so it stays with that line's work).
    pub fn with_retries_noted<T>(
        &self,
        what: &str,
        line: &crate::host::progress::Line,
        attempt: impl FnMut() -> Result<T, Failure>,
    ) -> anyhow::Result<T> {
        self.retrying(what, &|message| line.note(message), attempt)
    }

    fn retrying<T>(
        &self,
        what: &str,
        report: &dyn Fn(&str),
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> anyhow::Result<T> {
        let mut delay = self.settings.first_retry_delay;
        for number in 1..=self.settings.attempts {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(error)) => return Err(error.context(what.to_string())),
                Err(Failure::RetryAfter(error, wait)) if wait > MAX_RETRY_AFTER => {
                    return Err(error.context(format!(
                        "{what}: the server asked to retry after {} s (Retry-After), more than the {} minutes this tool waits; run again later",
                        wait.as_secs(),
                        MAX_RETRY_AFTER.as_secs() / 60
                    )));
                }
                Err(Failure::Transient(error) | Failure::RetryAfter(error, _))
                    if number == self.settings.attempts =>
                {
                    return Err(error.context(format!("{what} (gave up after {number} attempts)")));
                }
                Err(Failure::RetryAfter(error, wait)) => {
                    report(&format!(
                        "{what}: attempt {number} of {} failed: {error:#}; the server asked to retry after {:.1} s (Retry-After), retrying then",
                        self.settings.attempts,
                        wait.as_secs_f64()
                    ));
                    std::thread::sleep(wait);
                }
                Err(Failure::Transient(error)) => {
                    report(&format!(
                        "{what}: attempt {number} of {} failed: {error:#}; retrying in {:.1} s",
                        self.settings.attempts,
                        delay.as_secs_f64()
                    ));
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
            }
        }
        unreachable!("attempts is at least 1")
    }

    /// A GET that follows redirects, on https throughout if it starts there: a CDN or
    /// registry redirecting to plain http would otherwise hand us bytes anyone could alter.
    /// Like every request, it waits out a `Retry-After` the URL gave (`HOLDS`).
    pub fn get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        wait_for_hold(url);
        self.following
            .get(url)
            .config()
            .https_only(url.starts_with("https://"))
            .build()
    }

    /// A HEAD that follows redirects, with the same rule as `get`.
    pub fn head(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        wait_for_hold(url);
        self.following
            .head(url)
            .config()
            .https_only(url.starts_with("https://"))
            .build()
    }
}

impl Client {
    /// A GET that does not follow redirects (a registry's 307 carries what it means).
    pub fn direct_get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        wait_for_hold(url);
        self.direct.get(url)
    }

    /// A HEAD that does not follow redirects.
    pub fn direct_head(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        wait_for_hold(url);
        self.direct.head(url)
    }

    /// A POST that does not follow redirects.
    pub fn direct_post(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        wait_for_hold(url);
        self.direct.post(url)
    }
}

/// The most of a `--ca-file` that is read.
const CA_FILE_CAP: u64 = 4 * 1024 * 1024;

/// Every certificate in a PEM file (at most [`CA_FILE_CAP`] bytes); at least one.
fn read_certificates(
    path: &std::path::Path,
) -> anyhow::Result<Vec<ureq::tls::Certificate<'static>>> {
    use anyhow::Context;
    let pem = crate::util::read_at_most(path, CA_FILE_CAP)
        .with_context(|| format!("reading --ca-file {}", path.display()))?
        .with_context(|| {
            format!(
                "--ca-file {}: larger than {CA_FILE_CAP} bytes, which no CA bundle is (the system's whole bundle is a few hundred KiB)",
                path.display()
            )
        })?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(certificate) =
            item.with_context(|| format!("--ca-file {}: not valid PEM", path.display()))?
        {
            certificates.push(certificate);
        }
    }
    anyhow::ensure!(
        !certificates.is_empty(),
        "--ca-file {}: no CERTIFICATE block in it",
        path.display()
    );
    Ok(certificates)
}

/// Classifies a transport error: connection trouble and timeouts may pass; a malformed URL,
/// a protocol violation or a TLS refusal will not.
pub fn transport_failure(method: &str, url: &str, error: ureq::Error) -> Failure {
    if let ureq::Error::RequireHttpsOnly(target) = &error {
        return Failure::Permanent(anyhow!(
            "{method} {url}: refusing a redirect from https to plain http ({target}): the bytes could be altered on the way"
        ));
    }
    let transient = matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
    );
    let error = anyhow::Error::new(error).context(format!("{method} {url}"));
    if transient {
        Failure::Transient(error)
    } else {
        Failure::Permanent(error)
    }
}

/// Turns a non-success answer into a failure showing the status and a body excerpt;
/// 429 and 5xx are transient (after the `Retry-After` a 429 or 503 names), every other status
/// is not.
pub fn status_failure(
    method: &str,
    url: &str,
    response: ureq::http::Response<ureq::Body>,
) -> Failure {
    let status = response.status();
    let retry_after = matches!(status.as_u16(), 429 | 503)
        .then(|| response.headers().get("retry-after")?.to_str().ok())
        .flatten()
        .and_then(|value| parse_retry_after(value, jiff::Timestamp::now()));
    let excerpt = body_excerpt(response);
    let message = format!(
        "{method} {url}: {status}{}",
        if excerpt.is_empty() {
            String::new()
        } else {
            format!(": {excerpt}")
        }
    );
    let error = if status.as_u16() == 404 {
        anyhow::Error::new(NotFound(message))
    } else {
        anyhow::anyhow!(message)
    };
    if let Some(wait) = retry_after {
        hold(url, wait);
        Failure::RetryAfter(error, wait)
    } else if status.as_u16() == 429 || status.is_server_error() {
        Failure::Transient(error)
    } else {
        Failure::Permanent(error)
    }
}

/// A 404 answer. For a factory asset it may mean the factory lost the schematic (it forgets
/// registrations it answered 201 to, see docs/image-factory.md), which the resolve stage asks
/// about and repairs once.
#[derive(Debug)]
pub struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// Whether `error` was caused by a 404 answer.
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<NotFound>())
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), as a wait from `now`;
/// a date in the past is no wait. `None` for a value that is neither.
fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // RFC 9110's IMF-fixdate is RFC 2822 with a GMT zone; the parser also checks the weekday.
    if !value.ends_with(" GMT") {
        return None;
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// The start of a body as one line of text.
pub fn body_excerpt(response: ureq::http::Response<ureq::Body>) -> String {
    let mut bytes = Vec::new();
    let mut reader = response.into_body().into_reader().take(BODY_EXCERPT as u64);
    let _ = reader.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if bytes.len() == BODY_EXCERPT {
        format!("{line}…")
    } else {
        line
    }
}

/// The most the tool reads into memory from one answer, by kind: far above what the factory
/// or a registry sends, far below what a wrong URL serving an ISO (or a hostile server) would.
/// Listed in docs/reference.md (Bounds).
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    pub what: &'static str,
    pub bytes: u64,
}

/// A factory API answer: `/versions`, a catalogue, a registered or stored schematic.
pub const FACTORY_ANSWER: Cap = Cap {
    what: "a factory API answer",
    bytes: 4 * 1024 * 1024,
};
/// The SecureBoot signing certificate.
pub const CERTIFICATE: Cap = Cap {
    what: "a certificate",
    bytes: 1024 * 1024,
};
/// A registry token answer.
pub const TOKEN: Cap = Cap {
    what: "a registry token answer",
    bytes: 64 * 1024,
};
/// A registry manifest, index or blob read into memory (signatures, bundles).
pub const REGISTRY_OBJECT: Cap = Cap {
    what: "a registry manifest or signature blob",
    bytes: 16 * 1024 * 1024,
};

/// Reads a body completely, but no more than `cap`: past it the answer is refused, naming
/// `url` and the cap, having read only `cap` + 1 bytes.
pub fn read_capped(
    response: ureq::http::Response<ureq::Body>,
    url: &str,
    cap: Cap,
) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(cap.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::Transient(
                anyhow::Error::new(e).context(format!("reading the answer of {url}")),
            )
        })?;
    if bytes.len() as u64 > cap.bytes {
        return Err(Failure::Permanent(anyhow::anyhow!(
            "{url}: the answer is larger than {} bytes, the most this tool reads for {}; not read further (a wrong URL, or a server misbehaving?)",
            cap.bytes,
            cap.what
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = jiff::Timestamp::from_second(1_795_860_000).unwrap(); // 2026-11-28 10:00 UTC
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        for bad in [
            "soon",
            "-1",
            "1.5",
            "Sat, 28 Nov 2026 10:01:30 CET",
            "Sat, 28 Nov 2026 10:01:30 +0000",
            "Sun, 28 Nov 2026 10:01:30 GMT",
            "",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }
}
