//! Every field a release manifest holds, said once: the inputs a release is cut from (the
//! intent's fields: what `--check` lists as unreleased when the committed intent changes them,
//! and what `--force` refuses to re-cut from), the facts the factory gives (what the check
//! compares, `compare.rs`, and what a dry run cannot know), what is derived from the inputs,
//! and what describes the record itself. `inputs` and `compare` destructure every field of the
//! manifest's types without `..`, so a field added to `Manifest` does not compile until it is
//! placed; a unit test holds the release schema's fields to the pointers here, so the schema
//! cannot gain one either.

mod compare;
mod unreleased;

use crate::image::catalog;
use crate::image::manifest::{App, Kubernetes, Manifest, Os, Talos};
use crate::image::talos::MEDIA;

pub use compare::{Comparison, Notice, compare};
pub use unreleased::{Unreleased, changes_between, unreleased};

/// One field of `release.yaml` (or a flag) that a release is cut from, as a manifest holds it.
pub struct Input {
    /// The intent's field, as the messages name it.
    pub field: &'static str,
    /// The manifest field it decides.
    pointer: &'static str,
    /// Its value, as a person reads it.
    pub value: String,
    words: Words,
}

/// How a changed input is said.
#[derive(Clone, Copy)]
enum Words {
    /// `field was → is`.
    Arrow,
    /// The next release: `release.yaml prepares 1.1.0: releaseVersion 1.0.0 → 1.1.0`.
    Prepares,
    /// `field was → is`, but only when the record has the field (an older tool left it out).
    ArrowIfRecorded,
    /// The schematic's ID, naming the file it now comes from.
    SchematicId,
}

/// The inputs of `m`, in the order changes are listed. Every field of the manifest is named
/// here: an input, or why not.
fn inputs(m: &Manifest) -> Vec<Input> {
    let Manifest {
        release_version,
        generated_at: _, // RECORD
        channel,
        talos,
        kubernetes: Kubernetes {
            version: kubernetes,
        },
        os,
        app: App {
            version: app_version,
            values_profile,
        },
        upgrade_from: _, // DERIVED
        air_gap,
        source: _, // RECORD
    } = m;
    let Talos {
        version: talos_version,
        schematic_id,
        schematic_path,
        factory_url,
        extensions: _, // a fact (compare.rs)
    } = talos;
    let Os {
        platform,
        architecture,
        secure_boot,
        media,
        installer: _,               // the image DERIVED; digest and signature facts
        secure_boot_certificate: _, // the URL DERIVED; its sha256 a fact
    } = os;
    let present = MEDIA.iter().filter(|k| media.get(k.medium).is_some());
    let boot_media: Vec<&str> = present.map(|k| k.name).collect();
    let boot_media = format!("[{}]", boot_media.join(", "));
    // Older manifests lack secureBoot (meaning false) and the factory (left empty, and not
    // said as a change: ArrowIfRecorded).
    let secure_boot = secure_boot.unwrap_or(false).to_string();
    let factory_url = factory_url.clone().unwrap_or_default();
    use Words::*;
    let inputs: [(_, _, String, _); 15] = [
        (
            "releaseVersion",
            "/releaseVersion",
            release_version.to_string(),
            Prepares,
        ),
        ("app.version", "/app/version", app_version.clone(), Arrow),
        (
            "app.valuesProfile",
            "/app/valuesProfile",
            values_profile.clone(),
            Arrow,
        ),
        ("channel", "/channel", channel.clone(), Arrow),
        (
            "talos.version",
            "/talos/version",
            talos_version.to_string(),
            Arrow,
        ),
        (
            "kubernetes.version",
            "/kubernetes/version",
            kubernetes.to_string(),
            Arrow,
        ),
        (
            "os.architecture",
            "/os/architecture",
            architecture.to_string(),
            Arrow,
        ),
        ("os.secureBoot", "/os/secureBoot", secure_boot, Arrow),
        ("os.bootMedia", "/os/{medium}", boot_media, Arrow),
        ("factory", "/talos/factoryUrl", factory_url, ArrowIfRecorded),
        (
            "talos.schematicId",
            "/talos/schematicId",
            schematic_id.clone(),
            SchematicId,
        ),
        (
            "talos.schematic",
            "/talos/schematicPath",
            schematic_path.clone(),
            Arrow,
        ),
        ("os.platform", "/os/platform", platform.clone(), Arrow),
        ("os.airGap", "/airGap", air_gap.is_some().to_string(), Arrow),
        (
            "airGap.extraImages",
            "/airGap/images/*/ref",
            extra_images(m),
            Arrow,
        ),
    ];
    let input = |(field, pointer, value, words)| Input {
        field,
        pointer,
        value,
        words,
    };
    inputs.into_iter().map(input).collect()
}

/// `airGap.extraImages` as a manifest holds them: the bundle's images that are neither the
/// installer nor the cluster's for the manifest's Talos and Kubernetes versions.
fn extra_images(m: &Manifest) -> String {
    let cluster: Vec<String> = catalog::catalog()
        .patch(&m.talos.version)
        .and_then(|patch| patch.images(&m.kubernetes.version))
        .unwrap_or_default()
        .iter()
        .map(|image| image.name())
        .collect();
    let extra: Vec<&str> = (m.air_gap.iter().flat_map(|a| &a.images))
        .map(|image| image.reference.as_str())
        .filter(|reference| *reference != m.os.installer.image)
        .filter(|reference| !cluster.iter().any(|c| c == reference))
        .collect();
    format!("[{}]", extra.join(", "))
}

/// The facts the factory gives, by pointer (`{medium}`: each boot medium's field, `*`: each
/// item of an array): what `compare.rs` compares, and what a dry run shows as unknown.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "read by the test that holds the schema to these pointers"
    )
)]
const FACTS: &[&str] = &[
    "/os/{medium}/size",
    "/os/{medium}/sha256",
    "/os/installer/digest",
    "/os/installer/signature",
    "/airGap/images/*/digest",
    "/airGap/images/*/platformDigest",
    "/airGap/sha256",
    "/airGap/size",
    "/talos/extensions/*/name",
    "/talos/extensions/*/digest",
    "/talos/extensions/*/ref",
    "/os/secureBootCertificate/sha256",
];

/// Why media hashes are not compared without `--hashes`.
const HASHES_NOT_COMPARED: &str = "needs the media's bytes: run the check with --hashes to download them into a temporary folder and compare";

/// Why the bundle's hash is not compared without `--hashes`.
const BUNDLE_NOT_COMPARED: &str = "needs the bundle packed again: run the check with --hashes to pull its images into a temporary folder and compare";

/// What a check takes from `m` rather than compares, and why: every input's field and every
/// derived one, read off `inputs` and `DERIVED`.
fn not_compared_inputs(m: &Manifest) -> (String, String) {
    let inputs = inputs(m);
    let pointers = (inputs.iter().map(|input| input.pointer))
        .chain(DERIVED.iter().map(|(pointer, _)| *pointer));
    let why = format!(
        "{}: taken from the record, so they are what it says; changes in the committed intent are listed as unreleased",
        gathered(pointers)
    );
    ("inputs".to_string(), why)
}

/// Pointers as a person reads them: those under one top-level field gathered in braces
/// (`/talos/{version, schematicId}`), in the order first named; `{medium}` (each boot
/// medium's field) written `<medium>`.
fn gathered<'a>(pointers: impl Iterator<Item = &'a str>) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for pointer in pointers {
        let path = pointer.trim_start_matches('/');
        let (top, rest) = path.split_once('/').unwrap_or((path, ""));
        match groups.iter_mut().find(|(name, _)| *name == top) {
            Some((_, rests)) => rests.push(rest),
            None => groups.push((top, vec![rest])),
        }
    }
    let said: Vec<String> = (groups.into_iter())
        .map(|(top, rests)| {
            // The field itself (whether there is one), then what is under it.
            let whole = rests.contains(&"").then(|| format!("/{top}"));
            let parts: Vec<&str> = rests.into_iter().filter(|r| !r.is_empty()).collect();
            let under = match parts.as_slice() {
                [] => None,
                [one] => Some(format!("/{top}/{one}")),
                many => Some(format!("/{top}/{{{}}}", many.join(", "))),
            };
            whole
                .into_iter()
                .chain(under)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    said.join(", ").replace("{medium}", "<medium>")
}

/// Fields that follow from the inputs by the tool's own rules, so they change only with one.
const DERIVED: &[(&str, &str)] = &[
    (
        "/os/{medium}/url",
        "factory, schematic ID, Talos version, architecture, SecureBoot",
    ),
    (
        "/os/{medium}/localPath",
        "releaseVersion and the medium's file name",
    ),
    (
        "/os/installer/image",
        "factory, schematic ID, Talos version, SecureBoot",
    ),
    ("/os/secureBootCertificate/url", "factory"),
    ("/airGap/path", "releaseVersion and architecture"),
    (
        "/upgradeFrom",
        "the channel's release when it was cut, and the catalogue's upgrade rules",
    ),
];

/// Fields about the record itself, never an input nor a fact of the factory: `--check` says it
/// does not compare them, and why.
pub const RECORD: &[(&str, &str)] = &[
    ("/generatedAt", "when the manifest was written"),
    (
        "/source",
        "the commit the release was cut from, and whether its inputs were that commit's",
    ),
];

/// The pointers a pattern stands for: `{medium}` for each boot medium of the table.
#[cfg(test)]
fn expand(pattern: &str) -> Vec<String> {
    if !pattern.contains("{medium}") {
        return vec![pattern.to_string()];
    }
    MEDIA
        .iter()
        .map(|kind| pattern.replace("{medium}", kind.field))
        .collect()
}

#[cfg(test)]
mod tests;
