//! The in-process Image Factory on 127.0.0.1: schematics, versions, catalogue, media with
//! exact lengths, and the registry's 307/200/Bearer answers, each with its faults. `ROUTES`
//! sends a request (method and path) to its handler; the handlers live in a module per
//! endpoint family: `schematics`, `catalogue`, `media`, `registry`.
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::*;

mod catalogue;
mod media;
mod registry;
mod schematics;

use catalogue::*;
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
pub enum IsoFault {
    None,
    NotFound,
    /// Sends the headers and half the body, then closes.
    CutMidBody,
    /// Answers 200 with an HTML page.
    Html,
    /// Sends half the body, then goes silent.
    Stall,
    /// Announces the whole body, then sends one byte every 2 seconds (for up to a minute).
    Trickle,
    /// Announces no length, neither to HEAD nor to GET: the body ends when the connection
    /// closes (a server behind a streaming proxy).
    NoLength,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RegistryMode {
    /// The factory's own answer: 307 to a backing registry.
    Redirect,
    /// A registry answering directly with Docker-Content-Digest.
    Direct,
    /// 401 with a Bearer challenge, then 200 with the token.
    Bearer,
    /// 404: the digest cannot be resolved.
    Missing,
    /// 500 on every registry request: the registry is down.
    Down,
    /// Forwards registry requests to a real registry at this `http://host:port`, as the
    /// factory's `/v2/` fronts its backing registry.
    Proxy(String),
}

#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The answer to POST /schematics: `Some(json)` is sent as is.
    pub register_answer: Option<String>,
    pub iso_fault: IsoFault,
    /// Answer this many ISO downloads with 500 first.
    pub iso_failures_first: usize,
    pub registry: RegistryMode,
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    /// What the registry answers for any installer (`sha256:<hex>`).
    pub installer_digest: String,
    /// Runs when a digest is asked for: the last network step of a release, so a test can
    /// change the tree between the network and the recording.
    pub on_digest_request: Option<Hook>,
    /// Sends the ISO body in 16 KiB pieces with this pause between them (a slow download).
    pub iso_piece_delay: Option<Duration>,
    /// Answers the first ISO downloads with these (status, Retry-After) pairs, in order; a
    /// Retry-After of `+N` is sent as the HTTP date N seconds after the request arrived.
    pub iso_retry_after: Vec<(u16, String)>,
    /// Answers the first ISO `HEAD` (the size probe) with this (status, Retry-After).
    pub iso_head_retry_after: Option<(u16, String)>,
    /// Whether and how the ISO is offered in byte ranges.
    pub ranges: Ranges,
    /// Cuts this many ISO bodies off at half (after the headers promised the whole); other
    /// media are not cut.
    pub cut_first_bodies: usize,
    /// Whether /secureboot/signing-cert.pem is served (a factory with SecureBoot keys).
    pub secure_boot_keys: bool,
    /// What happens to disk image (`.raw.zst`) requests; `iso_fault` covers `.iso` ones.
    pub disk_image_fault: IsoFault,
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
    /// Answer this many `POST /schematics` with 201 without storing the schematic (#535).
    pub lose_after_register: usize,
    /// Forget every stored schematic at the first asset request (medium or installer).
    pub lose_at_first_asset: bool,
    /// Answers installer manifest requests only after this long (a slow installer build on
    /// its own, so the media arrive first).
    pub installer_delay: Option<Duration>,
    /// Mixed into every extension digest the catalogue lists (a moved image).
    pub extension_digest_salt: String,
    /// The registry host of every extension `ref` in the catalogue.
    pub extension_ref_host: String,
    /// Serves the plain ISO with its last byte flipped: the same size, other bytes.
    pub iso_flip_byte: bool,
    /// Bytes a medium's HEAD announces beyond what its GET sends (a factory at odds with
    /// itself).
    pub head_extra_bytes: usize,
    /// The `realm` of the Bearer challenge; `http://127.0.0.1:<port>/token` when `None`.
    pub token_realm: Option<String>,
    /// Where `/v2/` GETs are redirected to (`http://localhost:<port>`, another origin on this
    /// same server); this server's own origin when `None`.
    pub backing_origin: Option<String>,
    /// Requests (`"POST /schematics"`, `"GET /versions"`) answered with a 512 MiB body.
    pub huge_answers: Vec<String>,
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

/// A callback for `Behaviour`.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            register_answer: None,
            iso_fault: IsoFault::None,
            iso_failures_first: 0,
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
            on_digest_request: None,
            iso_piece_delay: None,
            iso_retry_after: Vec::new(),
            iso_head_retry_after: None,
            ranges: Ranges::None,
            cut_first_bodies: 0,
            secure_boot_keys: true,
            disk_image_fault: IsoFault::None,
            disk_image_size: 300 * 1024 + 7,
            proxy_prefix: String::new(),
            bundle: None,
            other_bundles: Vec::new(),
            token_realm: None,
            backing_origin: None,
            build_delay: None,
            lose_after_register: 0,
            lose_at_first_asset: false,
            installer_delay: None,
            extension_digest_salt: String::new(),
            extension_ref_host: "ghcr.io".into(),
            iso_flip_byte: false,
            head_extra_bytes: 0,
            huge_answers: Vec::new(),
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
    /// Whether the first ISO HEAD got `iso_head_retry_after`.
    iso_head_answered: std::sync::atomic::AtomicBool,
    iso_bytes_sent: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// Registered schematics: ID → the canonical YAML `GET /schematics/<id>` answers.
    schematics: Mutex<HashMap<String, Vec<u8>>>,
    posts: AtomicUsize,
    lost_at_asset: std::sync::atomic::AtomicBool,
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

    /// The first asset request of a factory set to forget its schematics then.
    fn maybe_lose(&self, b: &Behaviour) {
        if b.lose_at_first_asset && !self.lost_at_asset.swap(true, Ordering::SeqCst) {
            self.schematics.lock().unwrap().clear();
        }
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

/// A route: the methods it answers, whether it takes the request, and its handler.
type Route = (&'static [&'static str], fn(&Request) -> bool, Handler);

type Handler = fn(&Request, TcpStream) -> std::io::Result<()>;

/// The factory's endpoints, in order: the first route that takes a request answers it, and a
/// test's faults live in the behaviour each handler reads.
const ROUTES: &[Route] = &[
    (&["POST"], |r| r.path == "/schematics", register),
    (
        &["GET"],
        |r| r.path.starts_with("/schematics/"),
        stored_schematic,
    ),
    (&["GET"], |r| r.path == "/versions", versions),
    (
        &["GET"],
        |r| r.path.ends_with("/overlays/official"),
        overlays,
    ),
    (
        &["GET"],
        |r| r.path.ends_with("/extensions/official"),
        extensions,
    ),
    (&["GET", "HEAD"], |r| r.path.starts_with("/image/"), image),
    (
        &["GET"],
        |r| r.path == "/secureboot/signing-cert.pem" && r.b.secure_boot_keys,
        certificate,
    ),
    (&["GET"], |r| r.path.starts_with("/token"), token),
    (
        &["HEAD"],
        |r| r.path.starts_with("/v2/") && matches!(r.b.registry, RegistryMode::Proxy(_)),
        proxy_head_route,
    ),
    (
        &["GET"],
        |r| r.path.starts_with("/v2/") && matches!(r.b.registry, RegistryMode::Proxy(_)),
        proxy_get,
    ),
    (
        &["GET"],
        |r| {
            r.path.starts_with("/v2/")
                && r.b.registry == RegistryMode::Bearer
                && r.headers.get("authorization").map(String::as_str)
                    != Some("Bearer anonymous-token")
        },
        bearer_unauthorized,
    ),
    (&["GET"], |r| r.path.starts_with("/v2/"), registry_get),
    (&["GET"], |r| r.path.starts_with("/backing/v2/"), backing),
    (&["HEAD"], |r| r.path.starts_with("/v2/"), registry_head),
];

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
    requests.lock().unwrap().push(format!("{method} {path}"));
    state.seen.lock().unwrap().push(Seen {
        line: format!("{method} {path}"),
        headers: headers.clone(),
        at: Instant::now(),
    });
    let b = behaviour.lock().unwrap().clone();
    let mut out = stream;
    if let Some(hook) = b
        .on_digest_request
        .as_ref()
        .filter(|_| path.starts_with("/v2/"))
    {
        (hook.0)();
    }

    if b.huge_answers.contains(&format!("{method} {path}")) {
        let size: u64 = 512 * 1024 * 1024;
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )?;
        let block = vec![b' '; 1024 * 1024];
        for _ in 0..512 {
            out.write_all(&block)?; // ends when the client stops reading
        }
        return Ok(());
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
        .find(|(methods, takes, _)| methods.contains(&request.method) && takes(&request))
        .map_or(not_found as Handler, |(_, _, handler)| *handler);
    handler(&request, out)
}

/// Anything else.
fn not_found(_: &Request, mut out: TcpStream) -> std::io::Result<()> {
    respond(&mut out, "404 Not Found", &[], b"404 page not found")
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
