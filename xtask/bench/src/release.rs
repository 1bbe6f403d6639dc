//! `cargo xtask-bench release`: how much of the factory's build time a release and a check
//! pay. The real binary runs a release of ISO + disk image + installer (and then `--check`)
//! on a scratch copy of the tree against a loopback factory that builds each asset for D on
//! its first request; each is timed cold (every build to do) and warm (all built). The figure
//! is (cold − warm) / (the sum of the builds, 3·D): 1 when the builds are paid one after the
//! other, 1/3 when they overlap completely. Goal: at most 0.45. Also the peak RSS of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli;
use crate::factory::BenchFactory;
use xtask::cli::Pins;
use xtask::image::plan::Plan;
use xtask::image::talos::BootMedium;
use xtask::project;

/// The assets a release of ISO + disk image asks the factory to build: two media, one installer.
const BUILDS: u32 = 3;

impl cli::BenchReleaseArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        let scratch =
            std::env::temp_dir().join(format!("xtask-bench-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        copy_tree(&root.join("ee/appliance"), &scratch.join("ee/appliance"))?;
        let _ = std::fs::remove_dir_all(scratch.join(project::DIST_DIR));
        let result = self.measure(root, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    fn measure(&self, root: &Path, scratch: &Path) -> anyhow::Result<()> {
        let pins = Pins {
            boot_media: Some(vec![BootMedium::Iso, BootMedium::DiskImage]),
            ..Pins::default()
        };
        let plan = Plan::build(scratch, &pins, Default::default())?;
        let build = Duration::from_millis(self.build_delay_ms);
        let factory = BenchFactory::start(&plan, build, self.size_mib * 1024 * 1024)?;
        let release = [
            "image",
            "--factory-url",
            &factory.url,
            "--boot-media",
            "iso,disk-image",
            "--force",
            // The loopback factory signs nothing; the signature lookup still runs.
            "--allow-unsigned",
        ];
        let check = [
            "image",
            "--factory-url",
            &factory.url,
            "--boot-media",
            "iso,disk-image",
            "--check",
            "--release-version",
            &plan.release.version,
        ];
        let exe = match &self.binary {
            Some(binary) => binary.clone(),
            None => xtask_binary(root)?,
        };
        let run = |args: &[&str]| run(&exe, scratch, args);
        let (mut cold_release, mut warm_release, mut cold_check, mut warm_check) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.runs {
            factory.cool_down();
            cold_release.push(run(&release)?);
            warm_release.push(run(&release)?);
            factory.cool_down();
            cold_check.push(run(&check)?);
            warm_check.push(run(&check)?);
        }
        let min = |runs: &[Measured]| runs.iter().map(|m| m.took).min().expect("at least one run");
        let peak = |runs: &[&[Measured]]| {
            runs.iter()
                .flat_map(|r| r.iter())
                .map(|m| m.peak_rss_kib)
                .max()
                .unwrap_or(0)
                / 1024
        };
        let builds = build * BUILDS;
        let ratio = |cold: Duration, warm: Duration| {
            cold.saturating_sub(warm).as_secs_f64() / builds.as_secs_f64()
        };
        println!(
            "loopback factory: each of {BUILDS} assets (ISO, disk image, installer) builds for {:.1} s on first request; media {} MiB each; best of {}",
            build.as_secs_f64(),
            self.size_mib,
            self.runs
        );
        for (what, cold, warm) in [
            ("image", min(&cold_release), min(&warm_release)),
            ("image --check", min(&cold_check), min(&warm_check)),
        ] {
            println!(
                "{what:<14} cold {:>6.2} s  warm {:>6.2} s  (cold − warm) / builds = {:.2} (goal: at most 0.45; 1/3 is all overlapping)",
                cold.as_secs_f64(),
                warm.as_secs_f64(),
                ratio(cold, warm)
            );
        }
        println!(
            "peak RSS: a release {} MiB (two media of {} MiB), a check {} MiB (goal: under 32 MiB)",
            peak(&[&cold_release, &warm_release]),
            self.size_mib,
            peak(&[&cold_check, &warm_check])
        );
        Ok(())
    }
}

/// One timed run: how long it took and its own peak RSS.
struct Measured {
    took: Duration,
    peak_rss_kib: u64,
}

/// Runs `exe` with `args` on `scratch`; its resource use is taken from `wait4`, so the peak RSS
/// is that process's alone.
fn run(exe: &Path, scratch: &Path, args: &[&str]) -> anyhow::Result<Measured> {
    let log = scratch.join("bench-run.log");
    let start = Instant::now();
    let child = Command::new(exe)
        .args(args)
        .env("XTASK_PROJECT_ROOT", scratch)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("TALOS_FACTORY_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("running xtask")?;
    let pid = libc::pid_t::try_from(child.id()).context("a process ID")?;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `pid` is our own child, not yet waited for; wait4 fills `status` and `usage`.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    let took = start.elapsed();
    if waited != pid {
        bail!("waiting for xtask: {}", std::io::Error::last_os_error());
    }
    // SAFETY: wait4 returned the child, so it filled `usage`.
    let usage = unsafe { usage.assume_init() };
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!(
            "`cargo xtask {}` failed: {}",
            args.join(" "),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Ok(Measured {
        took,
        peak_rss_kib: crate::download::max_rss_kib(usage.ru_maxrss),
    })
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The `cargo xtask` binary of this checkout, built now in the dev profile (the one
/// `cargo xtask` runs) beside this benchmark's own binary.
fn xtask_binary(root: &Path) -> anyhow::Result<PathBuf> {
    let shell = xshell::Shell::new()?;
    shell.change_dir(root);
    xshell::cmd!(shell, "cargo build --quiet -p xtask --bin xtask")
        .run()
        .context("building the xtask binary to measure")?;
    let here = std::env::current_exe().context("finding this benchmark's binary")?;
    let folder = here
        .parent()
        .context("the benchmark's binary has no folder")?;
    // `cargo run -p xtask-bench` is the dev profile too; with --release, the dev build sits
    // in the sibling `debug` folder.
    let debug = match folder.file_name().and_then(|n| n.to_str()) {
        Some("debug") => folder.to_path_buf(),
        _ => folder.with_file_name("debug"),
    };
    Ok(debug.join(format!("xtask{}", std::env::consts::EXE_SUFFIX)))
}
