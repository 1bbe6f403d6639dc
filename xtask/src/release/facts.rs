//! Every field a release manifest holds, said once, by its JSON pointer: the inputs a release is
//! cut from (the intent's fields: what `--check` lists as unreleased when the committed intent
//! changes them, and what `--force` refuses to re-cut from), the facts the factory gives (what
//! the check compares), what is derived from the inputs, and what describes the record itself.
//! `unreleased` is the diff of a record against the manifest the committed intent plans, over
//! every input row; a unit test holds the release schema's fields against these tables, so a new
//! field cannot be left out.

use serde_json::Value;

use crate::cluster_images::cluster_images;
use crate::project;
use crate::talos::{MEDIA, TalosVersion};

/// Where the committed intent (with flags) differs from a record: the next release in
/// preparation, not drift.
#[derive(Debug, PartialEq)]
pub struct Unreleased {
    pub field: String,
    pub recorded: String,
    pub intent: String,
    pub message: String,
}

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
        pointers: &["/os/iso", "/os/diskImage"],
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

/// What the factory gives for the inputs, recorded and compared by `--check` (`check.rs`), or
/// why not. (Read by the schema test; `check.rs` compares them one by one for now.)
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "read by the test that holds the schema to these tables"
    )
)]
const FACTORY_FACTS: &[(&str, &str)] = &[
    (
        "/talos/extensions/*/name",
        "compared: the catalogue's entry for each extension",
    ),
    (
        "/talos/extensions/*/ref",
        "a notice when it moves alone (catalogue metadata)",
    ),
    ("/talos/extensions/*/digest", "compared"),
    ("/os/iso/size", "compared"),
    ("/os/iso/sha256", "compared with --hashes"),
    ("/os/diskImage/size", "compared"),
    ("/os/diskImage/sha256", "compared with --hashes"),
    ("/os/installer/digest", "compared"),
    (
        "/os/installer/signature/policy",
        "verified again under today's policy",
    ),
    (
        "/os/installer/signature/issuer",
        "verified again under today's policy",
    ),
    (
        "/os/installer/signature/identity",
        "verified again under today's policy",
    ),
    (
        "/os/installer/signature/publicKeySha256",
        "verified again under today's policy",
    ),
    (
        "/os/installer/signature/signature",
        "verified again under today's policy",
    ),
    ("/os/secureBootCertificate/sha256", "compared"),
    (
        "/airGap/images/*/digest",
        "compared: each tag resolved again",
    ),
    ("/airGap/images/*/platformDigest", "compared with --hashes"),
    ("/airGap/sha256", "compared with --hashes"),
    (
        "/airGap/size",
        "compared with --hashes, through the SHA-256",
    ),
];

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
        "/os/iso/url",
        "factory, schematic ID, Talos version, architecture, SecureBoot",
    ),
    (
        "/os/iso/localPath",
        "releaseVersion and the medium's file name",
    ),
    (
        "/os/diskImage/url",
        "factory, schematic ID, Talos version, architecture, SecureBoot",
    ),
    (
        "/os/diskImage/localPath",
        "releaseVersion and the medium's file name",
    ),
    (
        "/os/installer/image",
        "factory, schematic ID, Talos version, SecureBoot",
    ),
    ("/os/secureBootCertificate/url", "factory"),
    ("/airGap/path", "releaseVersion and architecture"),
];

/// Fields about the record itself, never an input nor a fact of the factory: `--check` says
/// it does not compare them, and why.
pub const RECORD: &[(&str, &str)] = &[
    ("/generatedAt", "when the manifest was written"),
    ("/source/commit", "the commit the release was cut from"),
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
        .and_then(|talos| cluster_images(&talos, &text(manifest, "/kubernetes/version")).ok())
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

/// Every input where `planned` (the manifest the committed intent would produce, as
/// `--dry-run --json` shows it) differs from `recorded`, in words.
pub fn unreleased(recorded: &Value, planned: &Value) -> Vec<Unreleased> {
    INPUTS
        .iter()
        .filter_map(|input| {
            let (was, is) = ((input.read)(recorded), (input.read)(planned));
            if was == is {
                return None;
            }
            let field = input.field;
            let message = match input.words {
                Words::Arrow => format!("{field} {was} → {is}"),
                Words::ArrowIfRecorded if was.is_empty() => return None,
                Words::ArrowIfRecorded => format!("{field} {was} → {is}"),
                Words::Prepares => {
                    format!("{} prepares {is}: {field} {was} → {is}", project::INTENT)
                }
                Words::SchematicId => format!(
                    "schematic changed: {} has ID {is}, the release has {was} (not released)",
                    text(planned, "/talos/schematicPath")
                ),
            };
            Some(Unreleased {
                field: field.into(),
                recorded: was,
                intent: is,
                message,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf field of the release schema, as a pointer (`*` for an array's items).
    fn schema_fields() -> Vec<String> {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../ee/appliance/schemas/release.schema.json"
        ))
        .unwrap();
        fn walk(schema: &Value, node: &Value, path: String, out: &mut Vec<String>) {
            let node = match node.get("$ref").and_then(Value::as_str) {
                Some(reference) => schema
                    .pointer(reference.trim_start_matches('#'))
                    .expect("a local $ref"),
                None => node,
            };
            let mut leaf = true;
            for (key, child) in node
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                leaf = false;
                walk(schema, child, format!("{path}/{key}"), out);
            }
            if let Some(items) = node.get("items") {
                leaf = false;
                walk(schema, items, format!("{path}/*"), out);
            }
            for key in ["allOf", "anyOf", "oneOf"] {
                for sub in node
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if sub.get("properties").is_some() || sub.get("$ref").is_some() {
                        leaf = false;
                        walk(schema, sub, path.clone(), out);
                    }
                }
            }
            if leaf && !out.contains(&path) {
                out.push(path);
            }
        }
        let mut out = Vec::new();
        walk(&schema, &schema, String::new(), &mut out);
        out
    }

    /// Every pointer the tables name, with the table.
    fn named() -> Vec<(&'static str, &'static str)> {
        let inputs = INPUTS
            .iter()
            .flat_map(|i| i.pointers.iter().map(|p| (*p, "INPUTS")));
        let table = |name: &'static str, rows: &'static [(&'static str, &'static str)]| {
            rows.iter().map(move |(p, _)| (*p, name))
        };
        inputs
            .chain(table("FACTORY_FACTS", FACTORY_FACTS))
            .chain(table("DERIVED", DERIVED))
            .chain(table("RECORD", RECORD))
            .collect()
    }

    #[test]
    fn every_field_of_the_release_schema_is_an_input_a_fact_derived_or_about_the_record() {
        let fields = schema_fields();
        // The walk reaches through $ref and allOf: the media fields come from $defs/medium.
        assert!(
            fields.len() >= 40 && fields.contains(&"/os/diskImage/sha256".to_string()),
            "{fields:?}"
        );
        let named = named();
        for field in &fields {
            let tables: Vec<&str> = named
                .iter()
                .filter(|(p, _)| p == field)
                .map(|(_, t)| *t)
                .collect();
            assert!(
                tables.len() == 1,
                "{field} is named by {tables:?} in release/facts.rs: name it in exactly one of INPUTS (so unreleased lists it), FACTORY_FACTS, DERIVED or RECORD"
            );
        }
        // No table names a field the schema does not have (an input may decide a whole object:
        // a medium, the bundle).
        for (pointer, table) in named {
            let known = fields
                .iter()
                .any(|f| f == pointer || f.starts_with(&format!("{pointer}/")));
            assert!(
                known,
                "{table} names {pointer}, which the schema does not have"
            );
        }
    }

    /// The manifest the committed intent, with `field` set to `value` (YAML), would plan, as
    /// `--dry-run --json` shows it; in a scratch copy of the appliance tree at `root`.
    fn planned_with(root: &std::path::Path, edits: &[(&str, &str)]) -> Value {
        use serde_yaml::Value as Yaml;
        let intent = root.join(project::INTENT);
        let mut yaml: Yaml =
            serde_yaml::from_str(&std::fs::read_to_string(&intent).unwrap()).unwrap();
        for (field, value) in edits {
            let mut node = &mut yaml;
            for key in field.split('.') {
                let map = node.as_mapping_mut().expect("a mapping");
                node = map
                    .entry(Yaml::String(key.into()))
                    .or_insert(Yaml::Mapping(Default::default()));
            }
            *node = serde_yaml::from_str(value).unwrap();
        }
        let text = serde_yaml::to_string(&yaml).unwrap();
        let intent = crate::intent::Intent::from_text(&text, project::INTENT).unwrap();
        let plan = crate::plan::Plan::from_intent(root, intent, &Default::default())
            .unwrap_or_else(|e| panic!("{edits:?}: {e:#}"));
        super::super::assemble::planned(&plan, None)
    }

    #[test]
    fn each_input_changed_alone_is_listed_alone() {
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ee/appliance");
        let root = std::env::temp_dir().join(format!("xtask-facts-{}", std::process::id()));
        let copy = |from: &std::path::Path, to: &std::path::Path| {
            // dist/ (downloaded media, git-ignored) is no part of the intent.
            for entry in walk_files(from)
                .into_iter()
                .filter(|f| !f.starts_with(from.join("dist")))
            {
                let target = to.join(entry.strip_prefix(from).unwrap());
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(&entry, target).unwrap();
            }
        };
        copy(&source, &root.join("ee/appliance"));
        // The same schematic under another name, and another schematic.
        let schematics = root.join("ee/appliance/schematics");
        std::fs::copy(
            schematics.join("metal-amd64.yaml"),
            schematics.join("same.yaml"),
        )
        .unwrap();
        std::fs::write(
            schematics.join("other.yaml"),
            "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools]\n",
        )
        .unwrap();

        // (the record's edits, the intent's edits, the field listed)
        type Edits = &'static [(&'static str, &'static str)];
        let cases: &[(Edits, Edits, &str)] = &[
            (&[], &[("releaseVersion", "0.2.0")], "releaseVersion"),
            (&[], &[("app.version", "9.9.9")], "app.version"),
            (&[], &[("app.valuesProfile", "lab")], "app.valuesProfile"),
            (&[], &[("channel", "stable")], "channel"),
            (&[], &[("talos.version", "v1.12.10")], "talos.version"),
            (
                &[],
                &[("kubernetes.version", "v1.35.3")],
                "kubernetes.version",
            ),
            (&[], &[("os.architecture", "arm64")], "os.architecture"),
            (&[], &[("os.secureBoot", "true")], "os.secureBoot"),
            (
                &[],
                &[("os.bootMedia", "[iso, disk-image]")],
                "os.bootMedia",
            ),
            (
                &[],
                &[("factory", "https://factory.example.com")],
                "factory",
            ),
            (
                &[],
                &[("talos.schematic", "ee/appliance/schematics/same.yaml")],
                "talos.schematic",
            ),
            (&[], &[("os.platform", "aws")], "os.platform"),
            (&[], &[("os.airGap", "true")], "os.airGap"),
            (
                &[("os.airGap", "true")],
                &[
                    ("os.airGap", "true"),
                    ("airGap.extraImages", "[docker.io/library/nginx:1.27]"),
                ],
                "airGap.extraImages",
            ),
        ];
        for (base, edits, field) in cases {
            let recorded = planned_with(&root, base);
            let planned = planned_with(&root, edits);
            let listed: Vec<String> = unreleased(&recorded, &planned)
                .into_iter()
                .map(|u| u.field)
                .collect();
            assert_eq!(listed, [*field], "{edits:?}");
        }
        // Another schematic changes its ID and its path: both are said.
        let recorded = planned_with(&root, &[]);
        let planned = planned_with(
            &root,
            &[("talos.schematic", "ee/appliance/schematics/other.yaml")],
        );
        let changes = unreleased(&recorded, &planned);
        let fields: Vec<&str> = changes.iter().map(|u| u.field.as_str()).collect();
        assert_eq!(fields, ["talos.schematicId", "talos.schematic"]);
        assert!(
            changes[0]
                .message
                .starts_with("schematic changed: ee/appliance/schematics/other.yaml has ID "),
            "{}",
            changes[0].message
        );
        // Nothing changed: nothing listed.
        assert_eq!(unreleased(&recorded, &recorded), vec![]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk_files(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
