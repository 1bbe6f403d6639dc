//! The HTTP client every network step shares: ureq with rustls and no transparent
//! decompression (we hash the bytes the server sent), proxy variables honoured, a short
//! connect timeout and a long wait for the first byte (the factory builds images before it
//! answers), and retries with exponential backoff for failures that may pass.

use std::io::Read;
use std::time::Duration;

/// How long to wait for a TCP/TLS connection: a factory that is down should fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an error body to show: enough for the factory's one-line messages.
const BODY_EXCERPT: usize = 512;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Wait for the response headers. The factory builds an image synchronously before it
    /// sends the first byte, which takes minutes, hence 15 minutes by default.
    pub response_timeout: Duration,
    /// Attempts in all (not retries after the first).
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each later one.
    pub first_retry_delay: Duration,
}

pub struct Client {
    /// Follows redirects: the ISO may be served from a CDN.
    pub following: ureq::Agent,
    /// Does not follow: the registry's 307 carries the digest in `Location`.
    pub direct: ureq::Agent,
    settings: Settings,
}

/// The outcome of one failed attempt.
pub enum Failure {
    /// Worth another attempt: connection errors, timeouts, 429, 5xx, a cut-off body.
    Transient(anyhow::Error),
    /// Retrying cannot help: 4xx, a malformed answer.
    Permanent(anyhow::Error),
}

impl Client {
    pub fn new(settings: Settings) -> Client {
        let agent = |redirects: u32| -> ureq::Agent {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(ureq::Proxy::try_from_env())
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(settings.response_timeout))
                .max_redirects(redirects)
                .user_agent(concat!("appliance-xtask/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        Client {
            following: agent(10),
            direct: agent(0),
            settings,
        }
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts run out.
    pub fn with_retries<T>(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> anyhow::Result<T> {
        let mut delay = self.settings.first_retry_delay;
        for number in 1..=self.settings.attempts {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(error)) => return Err(error.context(what.to_string())),
                Err(Failure::Transient(error)) if number == self.settings.attempts => {
                    return Err(error.context(format!("{what} (gave up after {number} attempts)")));
                }
                Err(Failure::Transient(error)) => {
                    eprintln!(
                        "{what}: attempt {number} of {} failed: {error:#}; retrying in {:.1} s",
                        self.settings.attempts,
                        delay.as_secs_f64()
                    );
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
            }
        }
        unreachable!("attempts is at least 1")
    }
}

/// Classifies a transport error: connection trouble and timeouts may pass; a malformed URL,
/// a protocol violation or a TLS refusal will not.
pub fn transport_failure(method: &str, url: &str, error: ureq::Error) -> Failure {
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
/// 429 and 5xx are transient, every other status is not.
pub fn status_failure(
    method: &str,
    url: &str,
    response: ureq::http::Response<ureq::Body>,
) -> Failure {
    let status = response.status();
    let excerpt = body_excerpt(response);
    let error = anyhow::anyhow!(
        "{method} {url}: {status}{}",
        if excerpt.is_empty() {
            String::new()
        } else {
            format!(": {excerpt}")
        }
    );
    if status.as_u16() == 429 || status.is_server_error() {
        Failure::Transient(error)
    } else {
        Failure::Permanent(error)
    }
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

/// Reads a small body completely (API answers, tokens), bounded so a wrong URL serving an
/// ISO cannot fill memory.
pub fn read_small_body(
    response: ureq::http::Response<ureq::Body>,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    const LIMIT: u64 = 16 * 1024 * 1024;
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::Transient(anyhow::Error::new(e).context(format!("reading {what}")))
        })?;
    if bytes.len() as u64 > LIMIT {
        return Err(Failure::Permanent(anyhow::anyhow!(
            "{what} is larger than {LIMIT} bytes"
        )));
    }
    Ok(bytes)
}
