//! A loopback Image Factory for `cargo xtask-bench release`: just enough of the protocol for a release of
//! ISO + disk image + installer, with what makes the factory slow — each asset (a medium file,
//! an installer tag) is built on its first request, `GET` or `HEAD`, and every request for it
//! waits until that build is done, as the factory's singleflight does. The schematic ID and
//! the stored canonical YAML come from this crate's own schematic code, as the factory's would.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;

use xtask::image::plan::Plan;
use xtask::image::talos::BootMedium;
use xtask::util::hex;
use xtask_loopback::{request, respond, write_response};

pub struct BenchFactory {
    pub url: String,
    state: Arc<State>,
}

struct State {
    build: Duration,
    media_size: u64,
    /// When each asset's build is (or was) done.
    builds: Mutex<HashMap<String, Instant>>,
    versions: String,
    extensions: String,
    canonical: String,
    id: String,
}

impl BenchFactory {
    /// Serves `plan`'s Talos version, extensions and schematic; media of `media_size` bytes.
    pub fn start(plan: &Plan, build: Duration, media_size: u64) -> anyhow::Result<BenchFactory> {
        let extensions: Vec<serde_json::Value> = plan
            .schematic
            .parsed
            .customization
            .official_extensions
            .iter()
            .map(|name| {
                serde_json::json!({
                    "name": name,
                    "ref": format!("ghcr.io/{name}:bench"),
                    "digest": format!("sha256:{}", hex(&sha2::Sha256::digest(name.as_bytes()))),
                })
            })
            .collect();
        let state = Arc::new(State {
            build,
            media_size,
            builds: Mutex::default(),
            versions: serde_json::to_string(&[plan.build.talos_version.to_string()])?,
            extensions: serde_json::to_string(&extensions)?,
            canonical: plan.schematic.canonical.clone(),
            id: plan.schematic.id.clone(),
        });
        let serving = state.clone();
        let server = xtask_loopback::Server::start(move |stream| serve(stream, &serving))?;
        Ok(BenchFactory {
            url: server.url(),
            state,
        })
    }

    /// Forgets every build: the next request for each asset builds it again.
    pub fn cool_down(&self) {
        self.state
            .builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl State {
    /// Waits until `asset` is built; its first request starts the build.
    fn built(&self, asset: &str) {
        let ready = *self
            .builds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(asset.to_string())
            .or_insert_with(|| Instant::now() + self.build);
        std::thread::sleep(ready.saturating_duration_since(Instant::now()));
    }
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    let (line, headers, mut reader) = request(&stream)?;
    let length: usize = (headers.get("content-length"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::Read::read_exact(&mut reader, &mut vec![0; length])?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    let schematic = format!("/schematics/{}", state.id);
    match (method, path) {
        ("GET", "/versions") => respond(&mut out, "200 OK", &[], state.versions.as_bytes()),
        ("GET", p) if p.ends_with("/extensions/official") => {
            respond(&mut out, "200 OK", &[], state.extensions.as_bytes())
        }
        ("POST", "/schematics") => {
            let answer = serde_json::json!({"id": state.id, "schematic": state.canonical});
            respond(&mut out, "201 Created", &[], answer.to_string().as_bytes())
        }
        ("GET", p) if p == schematic => {
            respond(&mut out, "200 OK", &[], state.canonical.as_bytes())
        }
        ("GET" | "HEAD", p) if p.starts_with("/image/") => {
            state.built(p);
            write_response(&mut out, "200 OK", &[], state.media_size, b"")?;
            if method == "HEAD" {
                return out.flush();
            }
            let medium = if p.ends_with(".iso") {
                BootMedium::Iso
            } else {
                BootMedium::DiskImage
            };
            crate::download::send_repeated(
                &mut out,
                &crate::download::medium_block(medium),
                state.media_size,
            )
        }
        ("HEAD", p) if p.starts_with("/v2/") && p.contains("/manifests/v") => {
            state.built(p);
            let digest = hex(&sha2::Sha256::digest(p.as_bytes()));
            let location = format!("{}/sha256:{digest}", p.rsplit_once('/').unwrap().0);
            respond(
                &mut out,
                "307 Temporary Redirect",
                &[("Location", &location)],
                b"",
            )
        }
        _ => respond(&mut out, "404 Not Found", &[], b"404 page not found"),
    }
}
