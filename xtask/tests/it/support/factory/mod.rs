//! The in-process Image Factory on 127.0.0.1: schematics, versions, catalogue, media with
//! exact lengths, and the registry's 307/200/Bearer answers. `ROUTES` sends a request (by a
//! pattern of its method and path) to its handler; the handlers live in a module per endpoint
//! family: `schematics`, `catalogue`, `media`, `registry`. A test's faults are put on
//! requests, not read by the handlers: `faults` applies them around whichever route answers.
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;

mod catalogue;
mod faults;
mod media;
mod registry;
mod schematics;

use catalogue::*;
use faults::*;
pub use faults::{
    ASSET_REQUESTS, DISK_IMAGE_GETS, Fault, INSTALLER_HEADS, ISO_GETS, MEDIA_GETS, Out,
    REGISTRY_REQUESTS, becomes_a_folder, retry_after,
};
use media::*;
use registry::*;
use schematics::*;

/// The ID the factory assigns to the fixture's schematic (iscsi-tools, util-linux-tools):
/// an anchor from shared/image-factory.md, not computed by the code under test.
pub const APPLIANCE_ID: &str = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245";

pub const TALOS: &str = "v1.12.11";

pub const INSTALLER_DIGEST: &str =
    "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// What the registry answers for the SecureBoot installer: another repository, another digest.
pub const SECUREBOOT_INSTALLER_DIGEST: &str =
    "sha256:5ec0b0075ec0b0075ec0b0075ec0b0075ec0b0075ec0b0075ec0b0075ec0b007";

/// The certificate the factory serves at /secureboot/signing-cert.pem, and the SHA-256 of its
/// DER form as `openssl x509 -outform der | sha256sum` computed it when the file was made.
pub const SIGNING_CERT: &str = include_str!("../../../data/signing-cert.pem");

pub const SIGNING_CERT_SHA256: &str = include_str!("../../../data/signing-cert.sha256");

#[derive(Clone, Debug, PartialEq)]
pub enum RegistryMode {
    /// The factory's own answer: 307 to a backing registry.
    Redirect,
    /// A registry answering directly with Docker-Content-Digest.
    Direct,
    /// 401 with a Bearer challenge, then 200 with the token.
    Bearer,
    /// Forwards registry requests to a real registry at this `http://host:port`, as the
    /// factory's `/v2/` fronts its backing registry.
    Proxy(String),
}

#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The answer to POST /schematics: `Some(json)` is sent as is.
    pub register_answer: Option<String>,
    pub registry: RegistryMode,
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    /// What the registry answers for any installer (`sha256:<hex>`).
    pub installer_digest: String,
    /// Whether and how the ISO is offered in byte ranges.
    pub ranges: Ranges,
    /// Whether /secureboot/signing-cert.pem is served (a factory with SecureBoot keys).
    pub secure_boot_keys: bool,
    /// Size of the disk images served.
    pub disk_image_size: usize,
    /// In `Proxy` mode, put before the repository on the way to the real registry
    /// (`sig-good/` serves `sig-good/metal-installer/<id>`), to pick a signature case.
    pub proxy_prefix: String,
    /// A Sigstore bundle served for the installer digest, and where the factory lists it.
    pub bundle: Option<(Listing, Vec<u8>)>,
    /// Sigstore bundles listed before `bundle`, each with the predicate type its referrer
    /// names (Enterprise factories list SLSA provenance next to the signature).
    pub other_bundles: Vec<(&'static str, Vec<u8>)>,
    /// How long the factory builds each asset (each medium file, each installer repository)
    /// on its first request, `GET` or `HEAD`: every request for it waits until that build is
    /// done, later ones are answered at once, as the factory joins identical requests.
    pub build_delay: Option<Duration>,
    /// Mixed into every extension digest the catalogue lists (a moved image).
    pub extension_digest_salt: String,
    /// The registry host of every extension `ref` in the catalogue.
    pub extension_ref_host: String,
    /// Serves the plain ISO with its last byte flipped: the same size, other bytes.
    pub iso_flip_byte: bool,
    /// The `realm` of the Bearer challenge; `http://127.0.0.1:<port>/token` when `None`.
    pub token_realm: Option<String>,
    /// Where `/v2/` GETs are redirected to (`http://localhost:<port>`, another origin on this
    /// same server); this server's own origin when `None`.
    pub backing_origin: Option<String>,
    /// The faults tests put on routes (`with`, `with_first`, `Factory::put`), in order.
    pub faults: Vec<Put>,
}

/// Where the registry lists a bundle for the installer digest D.
#[derive(Clone, Debug, PartialEq)]
pub enum Listing {
    /// `GET /v2/<repo>/referrers/<D>` (factories from v1.5.0).
    Referrers,
    /// The fallback tag `sha256-<hex of D>`.
    FallbackTag,
}

/// The artifact type and layer media type of a Sigstore bundle.
pub const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

#[derive(Clone, Debug, PartialEq)]
pub enum Ranges {
    /// No `Accept-Ranges`, no validator, `Range` ignored: the factory's own behaviour.
    None,
    /// `Accept-Ranges: bytes` with a strong ETag; `Range` + matching `If-Range` answered 206.
    Offered,
    /// Ranges offered, but the ETag changes after each body (a rebuilt file): `If-Range`
    /// never matches, so a range request is answered 200 with the whole file.
    ChangingValidator,
}

/// One request as the factory saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub line: String,
    pub headers: HashMap<String, String>,
    pub at: Instant,
}

/// A callback for `Fault::Hook`.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl Hook {
    pub fn new(run: impl Fn() + Send + Sync + 'static) -> Hook {
        Hook(Arc::new(run))
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            register_answer: None,
            registry: RegistryMode::Redirect,
            versions: ["v1.11.5", "v1.12.0", "v1.12.10", TALOS]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            extensions: [
                "siderolabs/iscsi-tools",
                "siderolabs/util-linux-tools",
                "siderolabs/qemu-guest-agent",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            installer_digest: INSTALLER_DIGEST.into(),
            ranges: Ranges::None,
            secure_boot_keys: true,
            disk_image_size: 300 * 1024 + 7,
            proxy_prefix: String::new(),
            bundle: None,
            other_bundles: Vec::new(),
            token_realm: None,
            backing_origin: None,
            build_delay: None,
            extension_digest_salt: String::new(),
            extension_ref_host: "ghcr.io".into(),
            iso_flip_byte: false,
            faults: Vec::new(),
        }
    }
}

pub struct Factory {
    pub port: u16,
    pub iso: Arc<Vec<u8>>,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<State>,
}

/// What the serving threads count, log and remember.
#[derive(Default)]
struct State {
    iso_requests: AtomicUsize,
    iso_bytes_sent: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// Registered schematics: ID → the canonical YAML `GET /schematics/<id>` answers.
    schematics: Mutex<HashMap<String, Vec<u8>>>,
    posts: AtomicUsize,
    /// When each asset's build is (or was) done, from its first request.
    builds: Mutex<HashMap<String, Instant>>,
}

impl State {
    fn knows(&self, id: &str) -> bool {
        self.schematics.lock().unwrap().contains_key(id)
    }

    /// Waits until `asset` is built: the first request starts its build.
    fn build(&self, asset: &str, delay: Option<Duration>) {
        let Some(delay) = delay else { return };
        let ready = *self
            .builds
            .lock()
            .unwrap()
            .entry(asset.to_string())
            .or_insert_with(|| Instant::now() + delay);
        std::thread::sleep(ready.saturating_duration_since(Instant::now()));
    }
}

/// The canonical YAML of the schematic a 201 named: the answer's own `schematic`, else the
/// vector with that ID, else the fixture's schematic's.
fn canonical_for(id: &str, answer: &serde_json::Value) -> Option<Vec<u8>> {
    if let Some(text) = answer.get("schematic").and_then(|s| s.as_str()) {
        return Some(text.as_bytes().to_vec());
    }
    if id == APPLIANCE_ID {
        return Some(APPLIANCE_CANONICAL.as_bytes().to_vec());
    }
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../../data/schematic-ids.json")).unwrap();
    vectors["vectors"]
        .as_array()?
        .iter()
        .find(|v| v["id"] == id)
        .map(|v| v["canonical"].as_str().unwrap().as_bytes().to_vec())
}

/// The factory's canonical YAML of the fixture's schematic, which hashes to `APPLIANCE_ID`.
pub const APPLIANCE_CANONICAL: &str = "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/iscsi-tools\n            - siderolabs/util-linux-tools\n";

impl Factory {
    pub fn start(behaviour: Behaviour) -> Factory {
        Factory::with_iso(behaviour, 600 * 1024 + 123)
    }

    /// A factory serving an ISO of `size` bytes.
    pub fn with_iso(behaviour: Behaviour, size: usize) -> Factory {
        let (iso, requests, behaviour, state) = (
            Arc::new(make_iso(size)),
            Arc::<Mutex<Vec<String>>>::default(),
            Arc::new(Mutex::new(behaviour)),
            Arc::<State>::default(),
        );
        let shared = (
            iso.clone(),
            requests.clone(),
            behaviour.clone(),
            state.clone(),
        );
        let server = xtask_loopback::Server::start(move |stream| {
            let (iso, requests, behaviour, state) = &shared;
            // The port this connection came in on: the server's own.
            let port = stream.local_addr()?.port();
            serve(stream, port, iso, requests, behaviour, state)
        })
        .expect("bind loopback");
        let port = server.port;
        Factory {
            port,
            iso,
            requests,
            behaviour,
            state,
        }
    }

    /// The ISO downloads seen so far (`GET /image/….iso`), with headers and times.
    pub fn iso_requests(&self) -> Vec<Seen> {
        self.downloads(".iso")
    }

    /// The downloads of files ending in `suffix` seen so far.
    pub fn downloads(&self, suffix: &str) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.line.starts_with("GET /image/") && s.line.ends_with(suffix))
            .cloned()
            .collect()
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many `POST /schematics` were answered.
    pub fn posts(&self) -> usize {
        self.state.posts.load(Ordering::SeqCst)
    }

    /// Puts `fault` on the requests matching `on` from now on (`Behaviour::with`), for all of
    /// them or the first `times`.
    pub fn put(&self, on: &str, fault: Fault, times: Option<usize>) {
        self.behaviour.lock().unwrap().put(on, fault, times);
    }

    /// Takes every fault off: the routes answer as the factory holds.
    pub fn clear_faults(&self) {
        self.behaviour.lock().unwrap().faults.clear();
    }

    /// Forgets every build, so each asset is built again on its next request.
    pub fn cool_down(&self) {
        self.state.builds.lock().unwrap().clear();
    }

    /// Forgets every registered schematic, as a restarted factory without storage would.
    pub fn forget_schematics(&self) {
        self.state.schematics.lock().unwrap().clear();
    }

    /// ISO body bytes written to clients so far.
    pub fn iso_bytes_sent(&self) -> usize {
        self.state.iso_bytes_sent.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn iso_sha256(&self) -> String {
        hex(&Sha256::digest(self.iso.as_slice()))
    }

    /// The bytes served for a medium's file name (`metal-amd64-secureboot.raw.zst`), `None`
    /// for a name the factory does not build.
    pub fn served(&self, file: &str) -> Option<Vec<u8>> {
        let behaviour = self.behaviour.lock().unwrap().clone();
        medium_bytes(file, &self.iso, &behaviour)
    }

    pub fn saw(&self, prefix: &str) -> bool {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with(prefix))
    }
}

/// An "ISO": deterministic bytes with the ISO 9660 magic where a real one has it.
pub fn make_iso(size: usize) -> Vec<u8> {
    let mut bytes = noise(size, 0x1234_5678);
    bytes[0x8001..0x8006].copy_from_slice(b"CD001");
    bytes
}

fn noise(size: usize, seed: u32) -> Vec<u8> {
    let mut state: u32 = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// One request, as a route sees it: the behaviour a test set at the moment it arrived.
#[derive(Clone, Copy)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a HashMap<String, String>,
    port: u16,
    iso: &'a [u8],
    b: &'a Behaviour,
    state: &'a State,
}

/// A route: the requests it answers (a pattern of request lines: `*` is any run of
/// characters, `|` separates alternatives), and its handler.
type Route = (&'static str, Handler);

type Handler = fn(&Request, &mut Out) -> std::io::Result<()>;

/// The factory's endpoints, in order: the first route whose pattern matches a request answers
/// it, after the faults a test put on that request (faults.rs) had their turn.
const ROUTES: &[Route] = &[
    ("POST /schematics", register),
    ("GET /schematics/*", stored_schematic),
    ("GET /versions", versions),
    ("GET /version/*/overlays/official", overlays),
    ("GET /version/*/extensions/official", extensions),
    ("GET /image/*|HEAD /image/*", image),
    ("GET /secureboot/signing-cert.pem", certificate),
    ("GET /token*", token),
    ("HEAD /v2/*", registry_head),
    ("GET /v2/*", registry_get),
    ("GET /backing/v2/*", backing),
];

/// Whether the request line `line` (`GET /versions`) matches `pattern`.
fn matches(pattern: &str, line: &str) -> bool {
    fn glob(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
            Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
        }
    }
    (pattern.split('|')).any(|p| glob(p.as_bytes(), line.as_bytes()))
}

fn serve(
    stream: TcpStream,
    port: u16,
    iso: &[u8],
    requests: &Mutex<Vec<String>>,
    behaviour: &Mutex<Behaviour>,
    state: &State,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (line, headers) = read_head(&mut reader)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let line = format!("{method} {path}");
    requests.lock().unwrap().push(line.clone());
    state.seen.lock().unwrap().push(Seen {
        line: line.clone(),
        headers: headers.clone(),
        at: Instant::now(),
    });
    let (faults, b) = {
        let mut behaviour = behaviour.lock().unwrap();
        (behaviour.take_faults(&line), behaviour.clone())
    };
    let mut stream = stream;
    for fault in &faults {
        if before_route(fault, &mut stream, state)? {
            return Ok(());
        }
    }
    let request = Request {
        method: &method,
        path: &path,
        headers: &headers,
        port,
        iso,
        b: &b,
        state,
    };
    let handler = ROUTES
        .iter()
        .find(|(pattern, _)| matches(pattern, &line))
        .map_or(not_found as Handler, |(_, handler)| *handler);
    let counted = method == "GET" && path.starts_with("/image/") && path.ends_with(".iso");
    let mut out = Out::new(stream, faults, state, counted);
    handler(&request, &mut out)?;
    out.finish()
}

/// Anything else.
fn not_found(_: &Request, out: &mut Out) -> std::io::Result<()> {
    respond(out, "404 Not Found", &[], b"404 page not found")
}

pub use xtask_loopback::{read_head, respond, write_response};

/// The HTTP date (RFC 9110, whole seconds) `seconds` from now.
fn http_date_in(seconds: u64) -> String {
    let at =
        jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + seconds as i64).unwrap();
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&at)
        .unwrap()
}

/// A schematic ID as the factory writes them: 64 lowercase hex characters.
fn is_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
