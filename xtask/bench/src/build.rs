//! `cargo xtask-bench build`: how long a contributor's first `cargo xtask` compiles, against
//! the floor of its bare dependency set (`xtask/bench-baseline`, built with the versions of the
//! workspace's Cargo.lock). Each build starts from an empty target folder; the two alternate so
//! a machine that slows down slows both; the best of `--runs` is reported, with the slowest
//! units of xtask's last build (cargo's `--timings`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cli;

/// The goal the ratio is held to (docs/benchmarks.md).
const GOAL: f64 = 1.8;

impl cli::BenchBuildArgs {
    pub fn run(self, root: &Path) -> anyhow::Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        let scratch =
            std::env::temp_dir().join(format!("xtask-bench-build-{}", std::process::id()));
        let result = measure(root, &scratch, self.runs);
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }
}

/// One crate to build cold: the arguments after `cargo build`, and where its target folder is.
struct Build {
    name: &'static str,
    args: Vec<String>,
    target: PathBuf,
}

fn measure(root: &Path, scratch: &Path, runs: u32) -> anyhow::Result<()> {
    let baseline = scratch.join("baseline");
    std::fs::create_dir_all(baseline.join("src"))?;
    for file in ["Cargo.toml", "src/main.rs"] {
        let from = root.join("xtask/bench-baseline").join(file);
        std::fs::copy(&from, baseline.join(file))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    // The same versions as xtask's, so the two compile the same code for what they share.
    std::fs::copy(root.join("Cargo.lock"), baseline.join("Cargo.lock"))
        .context("copying Cargo.lock")?;
    let manifest = baseline.join("Cargo.toml");
    let builds = [
        Build {
            name: "xtask",
            args: vec!["-p".into(), "xtask".into()],
            target: scratch.join("target-xtask"),
        },
        Build {
            name: "baseline",
            args: vec!["--manifest-path".into(), manifest.display().to_string()],
            target: scratch.join("target-baseline"),
        },
    ];
    // Downloads are not part of a build: fetch first, then build offline.
    for build in &builds {
        cargo(
            root,
            &[&["fetch".to_string()][..], &fetch_args(&build.args)].concat(),
        )?;
    }
    let mut best = [Duration::MAX; 2];
    for run in 1..=runs {
        for (i, build) in builds.iter().enumerate() {
            let _ = std::fs::remove_dir_all(&build.target);
            let mut args: Vec<String> =
                vec!["build".into(), "--offline".into(), "--target-dir".into()];
            args.push(build.target.display().to_string());
            args.extend(build.args.iter().cloned());
            if run == runs {
                args.push("--timings".into());
            }
            let start = Instant::now();
            cargo(root, &args)?;
            let took = start.elapsed();
            crate::say!(
                "run {run}/{runs}: {} built cold in {:.1} s",
                build.name,
                took.as_secs_f64()
            );
            best[i] = best[i].min(took);
        }
    }
    let ratio = best[0].as_secs_f64() / best[1].as_secs_f64();
    println!(
        "cold build, best of {runs}: xtask {:.1} s, baseline {:.1} s, ratio {ratio:.2} (goal <= {GOAL:.1}: {})",
        best[0].as_secs_f64(),
        best[1].as_secs_f64(),
        if ratio <= GOAL { "met" } else { "NOT met" }
    );
    let timings = builds[0].target.join("cargo-timings/cargo-timing.html");
    let units = slowest_units(
        &std::fs::read_to_string(&timings)
            .with_context(|| format!("reading {}", timings.display()))?,
    )?;
    println!("xtask's slowest units (cargo --timings, last run):");
    for (unit, seconds) in units.iter().take(12) {
        println!("  {seconds:6.1} s  {unit}");
    }
    Ok(())
}

/// `cargo fetch` takes the manifest but not `-p`.
fn fetch_args(build_args: &[String]) -> Vec<String> {
    match build_args.first().map(String::as_str) {
        Some("--manifest-path") => build_args.to_vec(),
        _ => Vec::new(),
    }
}

fn cargo(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(&cargo)
        .args(args)
        .current_dir(root)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "cargo {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Units and their durations, slowest first, from the `UNIT_DATA` array cargo's timing report
/// embeds.
fn slowest_units(html: &str) -> anyhow::Result<Vec<(String, f64)>> {
    #[derive(serde::Deserialize)]
    struct Unit {
        name: String,
        version: String,
        #[serde(default)]
        target: String,
        duration: f64,
    }
    let start = html
        .find("UNIT_DATA = ")
        .context("the timing report has no UNIT_DATA")?;
    let json = &html[start + "UNIT_DATA = ".len()..];
    let units: Vec<Unit> = serde_json::Deserializer::from_str(json)
        .into_iter()
        .next()
        .context("the timing report's UNIT_DATA is empty")?
        .context("the timing report's UNIT_DATA is not JSON")?;
    let mut units: Vec<(String, f64)> = units
        .into_iter()
        .map(|u| (format!("{} v{}{}", u.name, u.version, u.target), u.duration))
        .collect();
    units.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_units_come_from_the_timing_report_slowest_first() {
        let html = r#"<script>
const UNIT_DATA = [{"i":0,"name":"ureq","version":"3.5.2","mode":"todo","target":"","start":1.0,"duration":11.1,"rmeta_time":8.0,"unlocked_units":[],"unlocked_rmeta_units":[]},
{"i":1,"name":"xtask","version":"0.1.0","mode":"todo","target":" xtask \"bin\"","start":80.0,"duration":8.7,"rmeta_time":null,"unlocked_units":[],"unlocked_rmeta_units":[]},
{"i":2,"name":"jsonschema","version":"0.61.2","mode":"todo","target":"","start":2.0,"duration":15.0,"rmeta_time":9.0,"unlocked_units":[],"unlocked_rmeta_units":[]}];
const CONCURRENCY_DATA = [];
</script>"#;
        let units = slowest_units(html).unwrap();
        let names: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "jsonschema v0.61.2",
                "ureq v3.5.2",
                "xtask v0.1.0 xtask \"bin\""
            ]
        );
        assert!(slowest_units("<html>no data</html>").is_err());
    }
}
