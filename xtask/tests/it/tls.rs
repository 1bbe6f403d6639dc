//! https against a loopback factory: an https front (a small Python server with a certificate
//! from a throw-away CA, trusted through `--ca-file`) relays to the test factory. A release over
//! it succeeds; one whose ISO is redirected to plain http is refused before a byte is taken.
//!
//! Needs `openssl` and `python3`, so the tests are ignored by a plain `cargo test` (counted as
//! ignored); `.ci/run` runs them with `--include-ignored`, and without the tools they fail
//! saying what is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const BETA: &str = "ee/appliance/releases/channels/beta.json";

/// A CA and a certificate for 127.0.0.1 signed by it, in a scratch folder.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make() -> Certificates {
        let tools = [("openssl", "version"), ("python3", "--version")]
            .iter()
            .all(|(tool, arg)| {
                Command::new(tool)
                    .arg(arg)
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        assert!(
            tools,
            "openssl or python3 is missing: install both, then `cargo test --workspace -- --include-ignored` (.ci/run does)"
        );
        // One folder per call: the tests run in parallel in one process.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("xtask-tls-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                stderr(&output)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-subj", "/CN=xtask test CA", "-days", "1"],
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    "front.key",
                    "-out",
                    "front.csr",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "front.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "front.pem",
        ]);
        Certificates { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Python front, stopped on drop.
struct Front {
    child: Child,
    port: u16,
}

impl Front {
    fn start(certificates: &Certificates, factory: &Factory, mode: &str) -> Front {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/tls_front.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(certificates.dir.join("front.pem"))
            .arg(certificates.dir.join("front.key"))
            .arg(factory.port.to_string())
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the front prints its port");
        Front { child, port }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release(tree: &Tree, front: &Front, certificates: &Certificates) -> std::process::Output {
    release_with(tree, front, certificates, &[])
}

fn release_with(
    tree: &Tree,
    front: &Front,
    certificates: &Certificates,
    extra: &[&str],
) -> std::process::Output {
    let (ca, url) = (certificates.ca(), front.url());
    let args = [
        &[
            "image",
            "--factory-url",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--retry-delay-ms",
            "10",
            // The loopback factory behind the front signs nothing.
            "--allow-unsigned",
        ][..],
        extra,
    ]
    .concat();
    tree.xtask(&args)
}

#[test]
#[ignore = "needs openssl and python3; .ci/run runs these with --include-ignored"]
fn a_release_over_https_trusts_the_given_ca() {
    let certificates = Certificates::make();
    let factory = Factory::start(Behaviour::default());
    let front = Front::start(&certificates, &factory, "relay");
    let tree = Tree::copy();
    let output = release(&tree, &front, &certificates);
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest: serde_json::Value = tree.json(MANIFEST);
    assert_eq!(manifest["os"]["iso"]["sha256"], factory.iso_sha256());
    assert_eq!(manifest["talos"]["factoryUrl"], front.url());

    // Without the CA, the same front is not trusted.
    let untrusted = Tree::copy();
    let output = untrusted.xtask(&["image", "--factory-url", &front.url(), "--retries", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}

#[test]
#[ignore = "needs openssl and python3; .ci/run runs these with --include-ignored"]
fn an_https_download_redirected_to_plain_http_is_refused() {
    let certificates = Certificates::make();
    let factory = Factory::start(Behaviour::default());
    let front = Front::start(&certificates, &factory, "downgrade");
    let tree = Tree::copy();
    let (before, beta) = (tree.files(), tree.read(BETA));
    let output = release(&tree, &front, &certificates);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("refusing a redirect from https to plain http"),
        "{err}"
    );
    assert!(factory.saw("POST /schematics"), "the API went over https");
    assert!(
        !factory.saw("GET /image/"),
        "the plain-http URL was not followed"
    );
    assert_eq!(tree.files(), before);
    assert_eq!(tree.read(BETA), beta);
}

#[test]
#[ignore = "needs openssl and python3; .ci/run runs these with --include-ignored"]
fn an_https_registry_naming_a_plain_http_token_realm_is_refused() {
    let certificates = Certificates::make();
    // The registry behind the front asks for a token at http://127.0.0.1:<port>/token.
    let factory = Factory::start(Behaviour {
        registry: RegistryMode::Bearer,
        ..Behaviour::default()
    });
    let front = Front::start(&certificates, &factory, "relay");
    let tree = Tree::copy();
    let (before, beta) = (tree.files(), tree.read(BETA));
    let output = release_with(&tree, &front, &certificates, &["--require-digest"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("names a plain-http token realm http://127.0.0.1:") && err.contains("refused"),
        "{err}"
    );
    assert!(
        !factory.saw("GET /token"),
        "the plain-http realm was not asked"
    );
    assert_eq!(tree.files(), before);
    assert_eq!(tree.read(BETA), beta);

    // The same registry naming an https realm is answered.
    factory.behaviour.lock().unwrap().token_realm = Some(format!("{}/token", front.url()));
    let output = release_with(&tree, &front, &certificates, &["--require-digest"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(factory.saw("GET /token"));
}

#[test]
#[ignore = "needs openssl and python3; .ci/run runs these with --include-ignored"]
fn an_https_registry_request_redirected_to_plain_http_is_refused() {
    let certificates = Certificates::make();
    // The signature lookup (`GET /v2/…/referrers/<D>`) is redirected to plain http.
    let factory = Factory::start(Behaviour::default());
    let front = Front::start(&certificates, &factory, "downgrade-registry");
    let tree = Tree::copy();
    let (before, beta) = (tree.files(), tree.read(BETA));
    let output = release(&tree, &front, &certificates);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing a redirect from https to plain http") && err.contains("/referrers/"),
        "{err}"
    );
    assert!(
        !factory.saw("GET /v2/"),
        "the plain-http URL was not followed"
    );
    assert_eq!(tree.files(), before);
    assert_eq!(tree.read(BETA), beta);
}
