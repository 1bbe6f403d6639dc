//! A scratch copy of the appliance tree for each test, and the golden files.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A scratch appliance tree, removed on drop.
pub struct Tree {
    pub root: PathBuf,
}

/// The appliance tree every test starts from: release.yaml, the schematic and the empty
/// channels as they stood before the first release. The tests' expectations (the loopback
/// factory's versions, `APPLIANCE_ID`, the goldens) are this fixture's, so they hold whatever
/// the committed `ee/appliance` holds: a recorded release, the next version, another Talos minor.
pub const FIXTURE: &str = "xtask/tests/data/appliance";

impl Tree {
    /// A scratch tree from the fixture, with the committed schemas: they are the tool's
    /// contract with other tools, changed together with the code, never by a release.
    pub fn copy() -> Tree {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "xtask-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(&repo_root().join(FIXTURE), &root.join("ee/appliance"));
        copy_dir(
            &repo_root().join("ee/appliance/schemas"),
            &root.join("ee/appliance/schemas"),
        );
        Tree { root }
    }

    /// A scratch copy with release 0.1.0 recorded against `factory` (`extra`: more flags of
    /// `cargo xtask image`).
    pub fn recorded(factory: &Factory, extra: &[&str]) -> Tree {
        let tree = Tree::copy();
        let output = tree.image(factory, extra);
        assert!(output.status.success(), "{}", stderr(&output));
        tree
    }

    /// A scratch copy that is a git repository with everything committed, so a release records
    /// `source.commit` and `git show <commit>:<path>` works.
    pub fn copy_in_git() -> Tree {
        let tree = Tree::copy();
        tree.git(&["init", "-q"]);
        tree.commit("the appliance tree");
        tree
    }

    /// Commits every change of the tree.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// Runs git in the tree's root, as a committer that signs nothing.
    pub fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(&self.root)
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?}");
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// A JSON file of the tree (a manifest, a channel), parsed.
    pub fn json(&self, relative: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Sets fields of `release.yaml`, each a dotted path and a YAML value (`("os.airGap",
    /// "true")`), through the parsed document: exactly those fields change, whatever else the
    /// file holds (its comments are not kept).
    pub fn set_intent(&self, fields: &[(&str, &str)]) {
        use serde_yaml::Value;
        const INTENT: &str = "ee/appliance/release.yaml";
        let mut intent: Value = serde_yaml::from_str(&self.read(INTENT)).unwrap();
        for (path, value) in fields {
            let mut node = &mut intent;
            for key in path.split('.') {
                node = node
                    .as_mapping_mut()
                    .unwrap_or_else(|| panic!("{path}: {key} is not under a mapping"))
                    .entry(Value::String(key.into()))
                    .or_insert(Value::Mapping(Default::default()));
            }
            *node = serde_yaml::from_str(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        }
        self.write(INTENT, &serde_yaml::to_string(&intent).unwrap());
    }

    /// Runs `cargo xtask <args>` on this tree.
    pub fn xtask(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run xtask")
    }

    /// Replaces the fixture's `installerSignature` block of `release.yaml` (its last field) with
    /// `policy`: YAML text, or "" for no policy.
    pub fn set_signature_policy(&self, policy: &str) {
        const INTENT: &str = "ee/appliance/release.yaml";
        let fixture = self.read(INTENT);
        let start = fixture
            .find("\ninstallerSignature:")
            .expect("the fixture's intent ends with installerSignature")
            + 1;
        self.write(INTENT, &format!("{}{policy}", &fixture[..start]));
    }

    /// `cargo xtask <args>` on this tree, to spawn: no proxy, a fixed SOURCE_DATE_EPOCH.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command.args(args);
        self.environment(&mut command, self.root.as_os_str());
        command
    }

    /// The Windows build `exe` under wine with `args` on this tree, whose path it is given as
    /// wine's `Z:` drive (the Unix root) names it.
    pub fn wine_command(&self, exe: &str, args: &[String]) -> Command {
        let mut command = Command::new("wine");
        command.arg(exe).args(args).env("WINEDEBUG", "-all");
        let root = format!("Z:{}", self.root.display()).replace('/', "\\");
        self.environment(&mut command, std::ffi::OsStr::new(&root));
        command
    }

    /// What every run on this tree is given: the tree (`root`, as the binary names it), no
    /// proxy, a fixed SOURCE_DATE_EPOCH.
    fn environment(&self, command: &mut Command, root: &std::ffi::OsStr) {
        command
            .env("XTASK_PROJECT_ROOT", root)
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .env_remove("TALOS_FACTORY_URL")
            .env_remove("XTASK_TEST_RECORD_PAUSE_MS")
            .env("NO_PROXY", "127.0.0.1")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY");
    }

    /// The arguments of `cargo xtask image` against `factory`, with short retry delays and
    /// stall timeout unless `extra` sets them, then `extra`. The loopback factory serves no
    /// signature unless a test gives it one, so `--allow-unsigned` is passed too, unless `extra`
    /// asks for signatures (`--require-signature`); `image_args_bound` never passes it.
    pub fn image_args(&self, factory: &Factory, extra: &[&str]) -> Vec<String> {
        let mut args = self.image_args_bound(factory, extra);
        if !extra.contains(&"--require-signature") {
            args.push("--allow-unsigned".into());
        }
        args
    }

    /// `image_args` without `--allow-unsigned`: the fixture's signature policy binds.
    pub fn image_args_bound(&self, factory: &Factory, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["image".to_string(), "--factory-url".into(), factory.url()];
        for (flag, value) in [("--retry-delay-ms", "10"), ("--stall-timeout", "2")] {
            if !extra.contains(&flag) {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs `cargo xtask image` against `factory`, with short retry delays and stall timeout.
    pub fn image(&self, factory: &Factory, extra: &[&str]) -> Output {
        let args = self.image_args(factory, extra);
        self.xtask(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `image` with the fixture's signature policy binding (no `--allow-unsigned`).
    pub fn image_bound(&self, factory: &Factory, extra: &[&str]) -> Output {
        let args = self.image_args_bound(factory, extra);
        self.xtask(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Every file below `ee/appliance` with its bytes, for "nothing was written" checks.
    pub fn contents(&self) -> Vec<(String, Vec<u8>)> {
        self.files()
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(self.path(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    }

    /// Every file below `ee/appliance`, for "nothing was left behind" checks.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        list(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Compares `actual` with the golden file `xtask/tests/data/golden/<name>`. With
/// `XTASK_BLESS_GOLDEN=1` the file is written instead (only ever by hand, to record what the tool
/// does before a change that must keep it byte for byte; CI never sets it).
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("xtask/tests/data/golden").join(name);
    if std::env::var_os("XTASK_BLESS_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        actual == golden,
        "{name} differs from its golden file:\n--- golden\n{golden}\n--- now\n{actual}"
    );
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            list(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// Two channels apart, as a promotion finds them: stable on 1.0.0 (Kubernetes `stable`), beta on 1.1.0 (v1.34.1) then 1.2.0 (v1.35.4).
pub fn stable_behind_beta(stable: &str) -> (Factory, Tree) {
    let factory = Factory::start(Behaviour::default());
    let tree = Tree::copy();
    for (version, channel, kubernetes) in [
        ("1.0.0", "stable", stable),
        ("1.1.0", "beta", "v1.34.1"),
        ("1.2.0", "beta", "v1.35.4"),
    ] {
        let output = tree.image(
            &factory,
            &[
                "--release-version",
                version,
                "--channel",
                channel,
                "--kubernetes-version",
                kubernetes,
            ],
        );
        assert!(output.status.success(), "{version}: {}", stderr(&output));
    }
    (factory, tree)
}
