//! Every field a release manifest holds, said once, by its JSON pointer: the inputs a release is
//! cut from (the intent's fields: what `--check` lists as unreleased when the committed intent
//! changes them, and what `--force` refuses to re-cut from), the facts the factory gives (what
//! the check compares, and what a dry run cannot know), what is derived from the inputs, and
//! what describes the record itself. The comparison (`compare.rs`), its "not recorded" and
//! "not compared" lists, the dry run's unknowns and `unreleased` are read off these tables; a
//! unit test holds the release schema's fields against them, so a new field cannot be left
//! out.

mod compare;
mod unreleased;

use serde_json::Value;

use crate::image::catalog;
use crate::image::talos::MEDIA;
use crate::image::version::TalosVersion;
use crate::util::mib;

pub use compare::{Comparison, Notice, compare};
pub use unreleased::{Unreleased, changes_between, unreleased};

/// One field of `release.yaml` (or a flag) that a release is cut from.
struct Input {
    /// The intent's field, as the messages name it.
    field: &'static str,
    /// The manifest fields it decides.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "read by the test that holds the schema to these tables"
        )
    )]
    pointers: &'static [&'static str],
    /// Its value in a manifest, recorded or planned, as a person reads it.
    read: fn(&Value) -> String,
    words: Words,
}

/// How a changed input is said.
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

/// A fact the factory gives, at its pointer.
struct Fact {
    pointer: &'static str,
    compared: Compared,
    /// Whether a run records it always or only when there is one (a verified signature).
    presence: Presence,
    /// The change, said for a person (a notice's whole line).
    words: fn(&Change) -> String,
}

enum Presence {
    /// Recorded by every run: a dry run shows it as null.
    Always,
    /// Recorded only when there is one: a dry run leaves it out.
    WhenThereIsOne,
}

/// Whether and when `--check` compares a fact.
enum Compared {
    /// Whenever the check has it now.
    Yes,
    /// Only with `--hashes`; else listed as not compared, with why.
    WithHashes(&'static str),
    /// Only when no fact before it in its item moved: it follows them.
    Alone,
    /// A notice, not drift, when it moved and no fact before it in its item did.
    NoticeAlone,
    /// What an item is found again by (`ITEMS`), not compared itself.
    Key,
    /// Compared as part of another fact of its item (the row's comment says which).
    Through,
}

/// An array of items that facts are about: an item recorded is the item now with the same
/// `key`; one whose key equals the manifest's value at `except` is another fact's.
struct Items {
    array: &'static str,
    key: &'static str,
    except: Option<&'static str>,
}

/// A field about the record itself.
pub struct Record {
    pub pointer: &'static str,
    /// Why a check does not compare it.
    pub why: &'static str,
    /// A dry run shows it as null.
    unknown_until_run: bool,
}

/// One fact, recorded and now, with the item it belongs to (a medium, an image, the bundle,
/// an extension), for its words.
struct Change<'a> {
    was: &'a Value,
    now: &'a Value,
    item: &'a Value,
    item_now: &'a Value,
    manifest_now: &'a Value,
}

impl Change<'_> {
    /// The file name of the item's `localPath` (a medium).
    fn file(&self) -> &str {
        crate::project::file_name(shown(&self.item["localPath"]))
    }
}

/// A fact as a person reads it: its text, or "unknown".
fn shown(value: &Value) -> &str {
    value.as_str().unwrap_or("unknown")
}

/// A size as a person reads it: `1.0 MiB (1048576 bytes)`.
fn bytes(value: &Value) -> String {
    match value.as_u64() {
        Some(bytes) => format!("{} ({bytes} bytes)", mib(bytes)),
        None => "unknown".into(),
    }
}

/// The inputs, in the order the changes are listed.
const INPUTS: &[Input] = &[
    Input {
        field: "releaseVersion",
        pointers: &["/releaseVersion"],
        read: |m| text(m, "/releaseVersion"),
        words: Words::Prepares,
    },
    Input {
        field: "app.version",
        pointers: &["/app/version"],
        read: |m| text(m, "/app/version"),
        words: Words::Arrow,
    },
    Input {
        field: "app.valuesProfile",
        pointers: &["/app/valuesProfile"],
        read: |m| text(m, "/app/valuesProfile"),
        words: Words::Arrow,
    },
    Input {
        field: "channel",
        pointers: &["/channel"],
        read: |m| text(m, "/channel"),
        words: Words::Arrow,
    },
    Input {
        field: "talos.version",
        pointers: &["/talos/version"],
        read: |m| text(m, "/talos/version"),
        words: Words::Arrow,
    },
    Input {
        field: "kubernetes.version",
        pointers: &["/kubernetes/version"],
        read: |m| text(m, "/kubernetes/version"),
        words: Words::Arrow,
    },
    Input {
        field: "os.architecture",
        pointers: &["/os/architecture"],
        read: |m| text(m, "/os/architecture"),
        words: Words::Arrow,
    },
    Input {
        field: "os.secureBoot",
        pointers: &["/os/secureBoot"],
        // Absent in older manifests, meaning false.
        read: |m| {
            let on = m.pointer("/os/secureBoot").and_then(Value::as_bool);
            on.unwrap_or(false).to_string()
        },
        words: Words::Arrow,
    },
    Input {
        field: "os.bootMedia",
        pointers: &["/os/{medium}"],
        read: |m| {
            let present = MEDIA
                .iter()
                .filter(|k| m["os"].get(k.field).is_some_and(|v| !v.is_null()))
                .map(|k| k.name);
            format!("[{}]", present.collect::<Vec<_>>().join(", "))
        },
        words: Words::Arrow,
    },
    Input {
        field: "factory",
        pointers: &["/talos/factoryUrl"],
        read: |m| text(m, "/talos/factoryUrl"),
        words: Words::ArrowIfRecorded,
    },
    Input {
        field: "talos.schematicId",
        pointers: &["/talos/schematicId"],
        read: |m| text(m, "/talos/schematicId"),
        words: Words::SchematicId,
    },
    Input {
        field: "talos.schematic",
        pointers: &["/talos/schematicPath"],
        read: |m| text(m, "/talos/schematicPath"),
        words: Words::Arrow,
    },
    Input {
        field: "os.platform",
        pointers: &["/os/platform"],
        read: |m| text(m, "/os/platform"),
        words: Words::Arrow,
    },
    Input {
        field: "os.airGap",
        pointers: &["/airGap"],
        read: |m| m.get("airGap").is_some_and(|v| !v.is_null()).to_string(),
        words: Words::Arrow,
    },
    Input {
        field: "airGap.extraImages",
        pointers: &["/airGap/images/*/ref"],
        read: extra_images,
        words: Words::Arrow,
    },
];

/// What the factory gives for the inputs: recorded, compared by `--check` (`compare.rs`) and
/// unknown in a dry run (`unknown_until_run`). `{medium}` stands for each boot medium's field
/// (`talos::MEDIA`), `*` for each item of an array (matched by `ITEMS`). Rows of one item are
/// compared together, in this order.
const FACTORY_FACTS: &[Fact] = &[
    Fact {
        pointer: "/os/{medium}/size",
        compared: Compared::Yes,
        presence: Presence::Always,
        words: |c| {
            format!(
                "{} is now {}, was {}: the factory builds it anew",
                c.file(),
                bytes(c.now),
                bytes(c.was)
            )
        },
    },
    Fact {
        pointer: "/os/{medium}/sha256",
        compared: Compared::WithHashes(HASHES_NOT_COMPARED),
        presence: Presence::Always,
        words: |c| {
            let same_size = if c.item["size"] == c.item_now["size"] {
                " at the same size"
            } else {
                ""
            };
            format!(
                "{} now has other bytes{same_size}: sha256 {} → {} (the factory rebuilt it, with newer imager code after an upgrade?)",
                c.file(),
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        pointer: "/os/installer/digest",
        compared: Compared::Yes,
        presence: Presence::Always,
        words: |c| {
            let signed = match c.manifest_now.pointer("/os/installer/signature") {
                Some(_) => "the new one verifies under the policy",
                None => "the new one's signature is not verified",
            };
            format!(
                "the factory rebuilt the installer: digest {} → {} ({signed})",
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        pointer: "/os/installer/signature",
        compared: Compared::Yes,
        presence: Presence::WhenThereIsOne,
        words: |_| {
            "the installer is signed anew (the new signature verifies under the policy)".into()
        },
    },
    Fact {
        pointer: "/airGap/images/*/digest",
        compared: Compared::Yes,
        presence: Presence::Always,
        words: |c| {
            format!(
                "{}: the tag moved: digest {} → {}",
                shown(&c.item["ref"]),
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        // After a moved tag, the platform manifest follows: said once, by the tag.
        pointer: "/airGap/images/*/platformDigest",
        compared: Compared::Alone,
        presence: Presence::Always,
        words: |c| {
            format!(
                "{}: the platform manifest changed: {} → {}",
                shown(&c.item["ref"]),
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        pointer: "/airGap/sha256",
        compared: Compared::WithHashes(BUNDLE_NOT_COMPARED),
        presence: Presence::Always,
        words: |c| {
            format!(
                "{} packed again has other bytes: sha256 {} → {}",
                shown(&c.item["path"]),
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        // The bundle's SHA-256 covers its size.
        pointer: "/airGap/size",
        compared: Compared::Through,
        presence: Presence::Always,
        words: |_| String::new(),
    },
    Fact {
        pointer: "/talos/extensions/*/name",
        compared: Compared::Key,
        presence: Presence::Always,
        words: |_| String::new(),
    },
    Fact {
        pointer: "/talos/extensions/*/digest",
        compared: Compared::Yes,
        presence: Presence::Always,
        words: |c| {
            format!(
                "extension {}: the catalogue's image moved: digest {} → {}",
                shown(&c.item["name"]),
                shown(c.was),
                shown(c.now)
            )
        },
    },
    Fact {
        pointer: "/talos/extensions/*/ref",
        compared: Compared::NoticeAlone,
        presence: Presence::Always,
        words: |c| {
            format!(
                "notice: extension {}: catalogue metadata changed, not the image: ref {} → {}, digest {} unchanged",
                shown(&c.item["name"]),
                shown(c.was),
                shown(c.now),
                shown(&c.item["digest"])
            )
        },
    },
    Fact {
        pointer: "/os/secureBootCertificate/sha256",
        compared: Compared::Yes,
        presence: Presence::Always,
        words: |c| {
            format!(
                "the factory's SecureBoot signing certificate changed: sha256 {} → {}; media built now are signed by another key",
                shown(c.was),
                shown(c.now)
            )
        },
    },
];

/// The arrays whose items the facts are about, and how an item recorded is found again now.
const ITEMS: &[Items] = &[
    Items {
        array: "/talos/extensions",
        key: "name",
        except: None,
    },
    Items {
        // The installer's own entry is `/os/installer/digest`'s fact.
        array: "/airGap/images",
        key: "ref",
        except: Some("/os/installer/image"),
    },
];

/// Why media hashes are not compared without `--hashes`.
const HASHES_NOT_COMPARED: &str = "needs the media's bytes: run the check with --hashes to download them into a temporary folder and compare";

/// Why the bundle's hash is not compared without `--hashes`.
const BUNDLE_NOT_COMPARED: &str = "needs the bundle packed again: run the check with --hashes to pull its images into a temporary folder and compare";

/// What a check takes from the record rather than compares, and why: every `INPUTS` and
/// `DERIVED` row, said as a person reads them.
pub const NOT_COMPARED_INPUTS: (&str, &str) = (
    "inputs",
    "/releaseVersion, /channel, /talos/{version, schematicId, schematicPath, factoryUrl}, /kubernetes, /os/{platform, architecture, secureBoot}, media URLs and paths, /os/installer/image, /app: taken from the record, so they are what it says; changes in the committed intent are listed as unreleased",
);

/// Fields that follow from the inputs by the tool's own rules, so they change only with one.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "read by the test that holds the schema to these tables"
    )
)]
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

/// Fields about the record itself, never an input nor a fact of the factory: `--check` says
/// it does not compare them, and why; a dry run shows the ones a run decides as null.
pub const RECORD: &[Record] = &[
    Record {
        pointer: "/generatedAt",
        why: "when the manifest was written",
        unknown_until_run: true,
    },
    Record {
        pointer: "/source",
        why: "the commit the release was cut from, and whether its inputs were that commit's",
        unknown_until_run: false,
    },
];

fn text(manifest: &Value, pointer: &str) -> String {
    manifest
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `airGap.extraImages` as a manifest holds them: the bundle's images that are neither the
/// installer nor the cluster's for the manifest's Talos and Kubernetes versions.
fn extra_images(manifest: &Value) -> String {
    let cluster: Vec<String> = TalosVersion::parse(&text(manifest, "/talos/version"))
        .ok()
        .and_then(|talos| {
            let patch = catalog::catalog().patch(&talos).ok()?;
            patch
                .images(&text(manifest, "/kubernetes/version").parse().ok()?)
                .ok()
        })
        .into_iter()
        .flatten()
        .map(|image| image.name())
        .collect();
    let installer = text(manifest, "/os/installer/image");
    let images = manifest.pointer("/airGap/images").and_then(Value::as_array);
    let extra: Vec<&str> = images
        .into_iter()
        .flatten()
        .filter_map(|image| image["ref"].as_str())
        .filter(|reference| *reference != installer)
        .filter(|reference| !cluster.iter().any(|c| c == reference))
        .collect();
    format!("[{}]", extra.join(", "))
}

/// The pointers a pattern stands for: `{medium}` for each boot medium of the table.
fn expand(pattern: &str) -> Vec<String> {
    if !pattern.contains("{medium}") {
        return vec![pattern.to_string()];
    }
    MEDIA
        .iter()
        .map(|kind| pattern.replace("{medium}", kind.field))
        .collect()
}

/// Sets to null, in the manifest a plan would write, what only a run can know: every fact of
/// the factory (an array of items the factory names, whole) and the record's own unknowns. A
/// fact a run records only when there is one (a verified signature) stays absent.
pub fn unknown_until_run(planned: &mut Value) {
    let factory = FACTORY_FACTS
        .iter()
        .filter(|fact| matches!(fact.presence, Presence::Always))
        .map(|fact| fact.pointer);
    let record = RECORD
        .iter()
        .filter(|r| r.unknown_until_run)
        .map(|r| r.pointer);
    for pattern in factory.chain(record) {
        let pointer = match pattern.split_once("/*/") {
            // The items' facts; the array itself when the factory names its items.
            Some((array, field)) => {
                let keyed_by_factory = ITEMS.iter().any(|items| {
                    items.array == array
                        && FACTORY_FACTS.iter().any(|f| {
                            matches!(f.compared, Compared::Key)
                                && f.pointer == format!("{array}/*/{}", items.key)
                        })
                });
                if keyed_by_factory {
                    array.to_string()
                } else {
                    let count = planned
                        .pointer(array)
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    for index in 0..count {
                        set_null(planned, &format!("{array}/{index}/{field}"));
                    }
                    continue;
                }
            }
            None => pattern.to_string(),
        };
        for pointer in expand(&pointer) {
            set_null(planned, &pointer);
        }
    }
}

/// `pointer` set to null when its parent object is there.
fn set_null(manifest: &mut Value, pointer: &str) {
    let (parent, field) = pointer.rsplit_once('/').unwrap_or_default();
    let parent = if parent.is_empty() {
        Some(manifest)
    } else {
        manifest.pointer_mut(parent)
    };
    if let Some(Value::Object(object)) = parent {
        object.insert(field.to_string(), Value::Null);
    }
}

#[cfg(test)]
mod tests;
