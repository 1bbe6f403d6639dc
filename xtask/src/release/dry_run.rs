//! `cargo xtask image --dry-run`: the plan as a table (or the planned manifest as JSON),
//! offline: no network, nothing written.

use std::fmt::Write;

use crate::image::manifest::Source;
use crate::image::plan::Plan;
use crate::project;
use crate::util::print_out;

use super::assemble;

pub fn show(plan: &Plan, source: Option<Source>, json: bool) -> anyhow::Result<()> {
    if json {
        let planned = assemble::planned(plan, source);
        return print_out(&format!("{}\n", serde_json::to_string_pretty(&planned)?));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Release {} on channel {} (dry run: offline, nothing written)\n",
        plan.release.version, plan.release.channel
    );
    let rows = [inputs(plan), media(plan), outputs(plan)].concat();
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<16} {value}");
    }
    let _ = writeln!(
        out,
        "\nNot consulted offline: the factory's version list and extension catalogue, the media, the installer digest and its signature{}{}.",
        if plan.build.secure_boot {
            ", the SecureBoot certificate"
        } else {
            ""
        },
        if plan.air_gap.is_some() {
            ", the images' digests and blobs"
        } else {
            ""
        }
    );
    print_out(&out)
}

/// A row of the table: its label and its value.
type Row = (&'static str, String);

/// What the release is built from.
fn inputs(plan: &Plan) -> Vec<Row> {
    let extensions = &plan.schematic.parsed.customization.official_extensions;
    vec![
        ("schematic", plan.schematic.path.clone()),
        (
            "schematic ID",
            format!("{} (computed offline)", plan.schematic.id),
        ),
        (
            "extensions",
            if extensions.is_empty() {
                "none".into()
            } else {
                extensions.join(", ")
            },
        ),
        ("Talos", plan.build.talos_version.to_string()),
        ("Kubernetes", plan.build.kubernetes_version.to_string()),
        ("factory", plan.build.factory.base.clone()),
        (
            "SecureBoot",
            match &plan.build.certificate_url {
                Some(url) => format!("yes: signing certificate {url}"),
                None => "no (plain media and installer)".into(),
            },
        ),
    ]
}

/// Each medium with where it is saved, and the air-gap bundle with its images.
fn media(plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    for medium in &plan.build.media {
        rows.push((medium.medium.kind().label, medium.url.clone()));
        rows.push(("  saved as", medium.path.clone()));
    }
    if let Some(air_gap) = &plan.air_gap {
        rows.push(("air-gap bundle", air_gap.path.clone()));
        rows.push((
            "  with",
            format!("the installer for {}", plan.build.architecture),
        ));
        for image in &air_gap.images {
            let host = &image.host;
            let from = match air_gap.mirrors.get(host) {
                Some(base) => format!(" (from {base})"),
                None => String::new(),
            };
            rows.push(("", format!("{}{from}", image.name())));
        }
    }
    rows
}

/// What a real run would record, and where the channel would point.
fn outputs(plan: &Plan) -> Vec<Row> {
    let manifest_state = if plan.path(&plan.outputs.manifest_path).exists() {
        "exists: a real run refuses to overwrite it without --force"
    } else {
        "new"
    };
    let mut rows = vec![
        ("checksums", plan.outputs.sums_path.clone()),
        ("installer image", plan.build.installer.image.clone()),
        (
            "installer signature",
            match &plan.trust {
                Some(policy) => format!("must verify under {}", policy.describe()),
                None => format!(
                    "not verified (no installerSignature in {})",
                    project::INTENT
                ),
            },
        ),
        (
            "manifest",
            format!("{} ({manifest_state})", plan.outputs.manifest_path),
        ),
        (
            "channel",
            format!(
                "{} would point at {}",
                plan.outputs.channel_path, plan.release.version
            ),
        ),
    ];
    if let Some(upgrade) = &plan.upgrade_from {
        rows.push(("upgrade from", upgrade.describe()));
    }
    rows
}
