//! `cargo xtask image --check`: is a recorded release still what the committed intent gives
//! today? Runs the real run's resolve stage — asking each medium's size instead of downloading
//! it, writing nothing — and compares the manifest it assembles with the recorded one field by
//! field. Intended for CI on every push and nightly.

use std::fmt;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::Requirements;
use crate::http::Client;
use crate::plan::Plan;
use crate::progress::Progress;

use super::assemble;
use super::resolve::{self, Media, Purpose};

/// Fields `--check` cannot or should not compare, and why.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("/generatedAt", "when the manifest was written"),
    (
        "/os/iso/sha256",
        "needs the ISO's bytes, which a check does not download; its size and URL are compared instead",
    ),
    (
        "/os/diskImage/sha256",
        "needs the disk image's bytes, which a check does not download; its size and URL are compared instead",
    ),
    (
        "/source/commit",
        "the commit the release was cut from; the checkout being checked is a later one",
    ),
];

/// The error `--check` ends with when the release has drifted; `main` maps it to exit code 3
/// so CI can tell drift from a check that could not run.
#[derive(Debug)]
pub struct Drift {
    release: String,
    manifest: String,
    fields: usize,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "release {} has drifted from {}: {} field(s) differ; record a new release for the change, or restore the schematic and pins it was cut from",
            self.release, self.manifest, self.fields
        )
    }
}

impl std::error::Error for Drift {}

/// The outcome of comparing a recorded manifest with the one a run would write now.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// Leaves that differ; `None` where one side lacks the field.
    pub differences: Vec<Difference>,
    /// Fields a run writes now that the recorded manifest lacks (written by an older tool).
    pub not_recorded: Vec<String>,
    /// Leaves compared, equal or not.
    pub compared: usize,
}

#[derive(Debug, PartialEq)]
pub struct Difference {
    /// JSON pointer.
    pub path: String,
    pub recorded: Option<Value>,
    pub now: Option<Value>,
}

/// Checks the release the plan names: the same resolve stage as a real run, which asks each
/// medium's size instead of downloading it, then a comparison instead of the record step.
pub fn run(
    plan: &Plan,
    client: &Arc<Client>,
    requirements: Requirements,
    json: bool,
) -> anyhow::Result<()> {
    let recorded = read_recorded(plan)?;
    let purpose = Purpose::Check {
        manifest_path: plan.manifest_path.clone(),
        recorded_digest: recorded.pointer("/os/installer/digest").is_some(),
        recorded_signature: recorded.pointer("/os/installer/signature").is_some(),
    };
    let progress = Progress::new();
    let resolved = resolve::resolve(
        plan,
        client,
        requirements,
        Media::Sizes,
        &purpose,
        &progress,
    )?;
    let now = assemble::manifest(plan, &resolved, None);
    let report = compare(&recorded, &serde_json::to_value(now)?);

    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json(plan))?);
    } else {
        print!("{}", report.to_text(plan));
    }
    if report.differences.is_empty() {
        Ok(())
    } else {
        Err(Drift {
            release: plan.release_version.clone(),
            manifest: plan.manifest_path.clone(),
            fields: report.differences.len(),
        }
        .into())
    }
}

fn read_recorded(plan: &Plan) -> anyhow::Result<Value> {
    let text = match std::fs::read_to_string(plan.path(&plan.manifest_path)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "release {} is not recorded: {} does not exist; name a recorded release with --release-version",
            plan.release_version,
            plan.manifest_path
        ),
        other => other.with_context(|| format!("reading {}", plan.manifest_path))?,
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (`cargo xtask validate` says more)",
            plan.manifest_path
        )
    })
}

/// Compares every leaf of the two manifests but those in `NOT_COMPARED`. A field missing from
/// the recorded manifest's object is "not recorded", not drift; a missing array element or a
/// field missing from `now` is drift.
pub fn compare(recorded: &Value, now: &Value) -> Report {
    let mut report = Report::default();
    walk("", Some(recorded), Some(now), false, &mut report);
    report
}

/// `absent_is_drift`: whether a field missing from the recorded side counts as drift (inside
/// an array element, or below a field only one side has) or as "not recorded" (a field of a
/// recorded object, which an older manifest may lack).
fn walk(
    path: &str,
    recorded: Option<&Value>,
    now: Option<&Value>,
    absent_is_drift: bool,
    report: &mut Report,
) {
    if NOT_COMPARED.iter().any(|(skipped, _)| *skipped == path) {
        return;
    }
    match (recorded, now) {
        (None, Some(_)) if !absent_is_drift => report.not_recorded.push(path.to_string()),
        (Some(Value::Object(_)) | None, Some(Value::Object(_)) | None)
        | (Some(Value::Array(_)) | None, Some(Value::Array(_)) | None)
            if recorded.is_some_and(is_container) || now.is_some_and(is_container) =>
        {
            // Field by field, so one changed digest is one row and skipped fields stay skipped.
            for (key, r, n) in children(recorded, now) {
                let drift = absent_is_drift || matches!(key, Key::Index(_));
                walk(&key.extend(path), r, n, drift, report);
            }
        }
        (None, None) => {}
        (r, n) => {
            if r.is_some() && n.is_some() {
                report.compared += 1;
            }
            if r != n {
                report.differences.push(Difference {
                    path: path.to_string(),
                    recorded: r.cloned(),
                    now: n.cloned(),
                });
            }
        }
    }
}

fn is_container(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

enum Key<'v> {
    Field(&'v str),
    Index(usize),
}

impl Key<'_> {
    /// `path` extended by this key, escaped as RFC 6901 says.
    fn extend(&self, path: &str) -> String {
        match self {
            Key::Field(key) => format!("{path}/{}", key.replace('~', "~0").replace('/', "~1")),
            Key::Index(i) => format!("{path}/{i}"),
        }
    }
}

/// The children of two containers of the same kind (either may be absent): `now`'s keys in
/// order, then those only `recorded` has; array elements up to the longer length.
fn children<'v>(
    recorded: Option<&'v Value>,
    now: Option<&'v Value>,
) -> Vec<(Key<'v>, Option<&'v Value>, Option<&'v Value>)> {
    match (recorded, now) {
        (Some(Value::Array(_)), _) | (_, Some(Value::Array(_))) => {
            let element = |v: Option<&'v Value>, i| v.and_then(|v| v.as_array()?.get(i));
            let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
            (0..len(recorded).max(len(now)))
                .map(|i| (Key::Index(i), element(recorded, i), element(now, i)))
                .collect()
        }
        _ => {
            let field = |v: Option<&'v Value>, k: &str| v.and_then(|v| v.as_object()?.get(k));
            let keys = |v: Option<&'v Value>| {
                v.and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|o| o.keys())
            };
            let recorded_only = keys(recorded).filter(|k| field(now, k).is_none());
            keys(now)
                .chain(recorded_only)
                .map(|k| (Key::Field(k), field(recorded, k), field(now, k)))
                .collect()
        }
    }
}

impl Report {
    fn to_text(&self, plan: &Plan) -> String {
        let mut out = String::new();
        if self.differences.is_empty() {
            out.push_str(&format!(
                "release {} matches {}: {} field(s) compared, no drift\n",
                plan.release_version, plan.manifest_path, self.compared
            ));
        } else {
            out.push_str(&format!(
                "release {} differs from {} in {} field(s):\n\n",
                plan.release_version,
                plan.manifest_path,
                self.differences.len()
            ));
            let rows: Vec<[String; 3]> = self
                .differences
                .iter()
                .map(|d| {
                    [
                        d.path.clone(),
                        show(d.recorded.as_ref()),
                        show(d.now.as_ref()),
                    ]
                })
                .collect();
            let header = ["JSON path".to_string(), "recorded".into(), "now".into()];
            let width = |column: usize| {
                rows.iter()
                    .chain([&header])
                    .map(|row| row[column].chars().count())
                    .max()
                    .unwrap_or(0)
            };
            let (path_width, recorded_width) = (width(0), width(1));
            for row in [&header].into_iter().chain(&rows) {
                out.push_str(&format!(
                    "  {:<path_width$}  {:<recorded_width$}  {}\n",
                    row[0], row[1], row[2]
                ));
            }
        }
        if !self.not_recorded.is_empty() {
            out.push_str(&format!(
                "\nnot recorded (the manifest predates these fields; not drift): {}\n",
                self.not_recorded.join(", ")
            ));
        }
        out.push_str("\nnot compared:\n");
        for (path, why) in NOT_COMPARED {
            out.push_str(&format!("  {path}: {why}\n"));
        }
        out
    }

    fn to_json(&self, plan: &Plan) -> Value {
        json!({
            "releaseVersion": plan.release_version,
            "manifest": plan.manifest_path,
            "matches": self.differences.is_empty(),
            "compared": self.compared,
            "differences": self.differences.iter().map(|d| json!({
                "path": d.path,
                "recorded": d.recorded,
                "now": d.now,
            })).collect::<Vec<_>>(),
            "notRecorded": self.not_recorded,
            "notCompared": NOT_COMPARED.iter().map(|(path, why)| json!({"path": path, "why": why})).collect::<Vec<_>>(),
        })
    }
}

/// A value as a table cell: strings bare, anything else as compact JSON.
fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Value {
        json!({
            "releaseVersion": "1.0.0",
            "generatedAt": "2026-01-01T00:00:00Z",
            "talos": {"version": "v1.12.11", "extensions": [{"name": "a", "digest": "sha256:1"}]},
            "os": {"iso": {"sha256": "aa", "size": 10}, "installer": {"digest": "sha256:d"}},
            "source": {"commit": "c0ffee"}
        })
    }

    #[test]
    fn equal_manifests_match_and_skipped_fields_are_ignored() {
        let mut now = manifest();
        now["generatedAt"] = json!("2027-01-01T00:00:00Z");
        now["os"]["iso"]["sha256"] = json!("");
        now.as_object_mut().unwrap().remove("source");
        let report = compare(&manifest(), &now);
        assert_eq!(report.differences, vec![]);
        assert_eq!(report.not_recorded, Vec::<String>::new());
        // releaseVersion, talos/version, extension name and digest, size, installer digest.
        assert_eq!(report.compared, 6);
    }

    #[test]
    fn each_changed_leaf_is_one_difference() {
        let mut now = manifest();
        now["talos"]["version"] = json!("v1.12.10");
        now["talos"]["extensions"][0]["digest"] = json!("sha256:2");
        now["os"]["iso"]["size"] = json!(11);
        let report = compare(&manifest(), &now);
        let paths: Vec<&str> = report.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/talos/version",
                "/talos/extensions/0/digest",
                "/os/iso/size"
            ]
        );
        assert_eq!(report.differences[2].recorded, Some(json!(10)));
        assert_eq!(report.differences[2].now, Some(json!(11)));
    }

    #[test]
    fn a_field_missing_from_the_record_is_not_drift_but_a_missing_element_is() {
        let mut recorded = manifest();
        recorded["os"]["iso"]
            .as_object_mut()
            .unwrap()
            .remove("size");
        recorded["talos"]
            .as_object_mut()
            .unwrap()
            .remove("extensions");
        let report = compare(&recorded, &manifest());
        assert_eq!(report.differences, vec![]);
        assert_eq!(report.not_recorded, ["/talos/extensions", "/os/iso/size"]);

        let mut now = manifest();
        now["talos"]["extensions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "b"}));
        let report = compare(&manifest(), &now);
        assert_eq!(report.differences.len(), 1);
        assert_eq!(report.differences[0].path, "/talos/extensions/1/name");
        assert_eq!(report.differences[0].recorded, None);
        assert_eq!(report.not_recorded, Vec::<String>::new());

        let report = compare(&now, &manifest());
        assert_eq!(report.differences.len(), 1, "{report:?}");
        assert_eq!(report.differences[0].now, None);
    }

    #[test]
    fn a_field_the_run_no_longer_produces_is_drift() {
        let mut now = manifest();
        now["os"]["installer"]
            .as_object_mut()
            .unwrap()
            .remove("digest");
        let report = compare(&manifest(), &now);
        assert_eq!(report.differences.len(), 1);
        assert_eq!(report.differences[0].path, "/os/installer/digest");
        assert_eq!(report.differences[0].now, None);
        assert_eq!(show(None), "(absent)");
    }
}
