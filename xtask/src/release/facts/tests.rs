use serde_json::Value;

use super::*;
use crate::project;

/// Every leaf field of the release schema, as a pointer (`*` for an array's items).
fn schema_fields() -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!(
        "../../../../ee/appliance/schemas/release.schema.json"
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

/// A recorded manifest with every optional part (the bundle, extensions, the upgrade path).
fn full_manifest() -> Manifest {
    // The golden's placeholder for the bundle's hash (a test substitutes the real one).
    let text = include_str!("../../../tests/data/golden/manifest-air-gap.json");
    serde_json::from_str(&text.replace("BUNDLE_SHA256", &"b".repeat(64))).unwrap()
}

/// Every pointer the tables name, with the table.
/// (`{medium}` stands for each medium of `talos::MEDIA`.)
fn named() -> Vec<(String, &'static str)> {
    let inputs: Vec<(&str, &str)> = inputs(&full_manifest())
        .iter()
        .map(|i| (i.pointer, "inputs"))
        .collect();
    let facts = FACTS.iter().map(|f| (*f, "FACTS"));
    let derived = DERIVED.iter().map(|(p, _)| (*p, "DERIVED"));
    let record = RECORD.iter().map(|(p, _)| (*p, "RECORD"));
    inputs
        .into_iter()
        .chain(facts)
        .chain(derived)
        .chain(record)
        .flat_map(|(pattern, table)| expand(pattern).into_iter().map(move |p| (p, table)))
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
        // A fact may be compared whole (the installer's signature, whichever kind it is), or
        // derived whole (the upgrade path); an input names a whole object only to say it
        // decides whether the object is there.
        let tables: Vec<&str> = named
            .iter()
            .filter(|(p, t)| p == field || (*t != "inputs" && field.starts_with(&format!("{p}/"))))
            .map(|(_, t)| *t)
            .collect();
        assert!(
            tables.len() == 1,
            "{field} is named by {tables:?} in release/facts/mod.rs: name it in exactly one of inputs (so unreleased lists it), FACTS (and compare it in compare.rs), DERIVED or RECORD"
        );
    }
    // No table names a field the schema does not have (an input may decide a whole object:
    // a medium, the bundle).
    for (pointer, table) in &named {
        let known = fields
            .iter()
            .any(|f| f == pointer || f.starts_with(&format!("{pointer}/")));
        assert!(
            known,
            "{table} names {pointer}, which the schema does not have"
        );
    }
}

/// Every leaf a manifest with every optional part writes is named by the tables: the types
/// `inputs` and `compare` destructure and the pointers the schema test reads are one list.
#[test]
fn every_field_a_manifest_writes_is_named_by_the_tables() {
    fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    leaves(child, format!("{path}/{key}"), out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    leaves(item, format!("{path}/*"), out);
                }
            }
            _ => out.push(path),
        }
    }
    let mut manifest = full_manifest();
    manifest.source = Some(crate::image::manifest::Source {
        commit: Some("a".repeat(40)),
        unknown: None,
        dirty: false,
        inputs: Vec::new(),
    });
    let mut written = Vec::new();
    leaves(
        &serde_json::to_value(&manifest).unwrap(),
        String::new(),
        &mut written,
    );
    assert!(written.len() > 30, "{written:?}");
    let named = named();
    for leaf in written {
        assert!(
            named
                .iter()
                .any(|(p, t)| leaf == *p || (*t != "inputs" && leaf.starts_with(&format!("{p}/")))),
            "{leaf} is written by a manifest but named by no table in release/facts/mod.rs"
        );
    }
}

/// The manifest the fixture's intent, with `field` set to `value` (YAML), would plan (the
/// factory's facts unknown); in a scratch copy of the appliance tree at `root`.
fn planned_with(root: &std::path::Path, edits: &[(&str, &str)]) -> Manifest {
    use serde_yaml::Value as Yaml;
    let intent = root.join(project::INTENT);
    let mut yaml: Yaml = serde_yaml::from_str(&std::fs::read_to_string(&intent).unwrap()).unwrap();
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
    let intent = crate::image::intent::Intent::from_text(&text, project::INTENT).unwrap();
    let plan = crate::image::plan::Plan::from_intent(
        root,
        intent,
        &Default::default(),
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("{edits:?}: {e:#}"));
    crate::release::assemble::manifest(&plan, &Default::default(), None)
}

#[test]
fn each_input_changed_alone_is_listed_alone() {
    // The tests' appliance fixture with the committed schemas, never the committed tree's
    // values: those move with every release.
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = std::env::temp_dir().join(format!("xtask-facts-{}", std::process::id()));
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for entry in walk_files(from) {
            let target = to.join(entry.strip_prefix(from).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&entry, target).unwrap();
        }
    };
    copy(
        &crate_dir.join("tests/data/appliance"),
        &root.join("ee/appliance"),
    );
    copy(
        &crate_dir.join("../ee/appliance/schemas"),
        &root.join("ee/appliance/schemas"),
    );
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

/// The pointers a `gathered` list names, `<medium>` read back as `{medium}`.
fn ungathered(text: &str) -> Vec<String> {
    let (mut out, mut depth, mut item) = (Vec::new(), 0, String::new());
    for c in text.replace("<medium>", "\u{0}").chars().chain([',']) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            let item = std::mem::take(&mut item).trim().to_string();
            match item.split_once("/{") {
                Some((top, rest)) => out.extend(
                    (rest.trim_end_matches('}').split(", ")).map(|part| format!("{top}/{part}")),
                ),
                None => out.push(item),
            }
        } else {
            item.push(c);
        }
    }
    out.iter().map(|p| p.replace('\u{0}', "{medium}")).collect()
}

#[test]
fn what_a_check_does_not_compare_is_every_input_and_derived_field() {
    let manifest = full_manifest();
    let (path, why) = not_compared_inputs(&manifest);
    assert_eq!(path, "inputs");
    let (list, reason) = why.split_once(": ").unwrap();
    assert!(reason.starts_with("taken from the record"), "{why}");
    let mut said = ungathered(list);
    let mut expected: Vec<String> = (inputs(&manifest).iter())
        .map(|input| input.pointer.to_string())
        .chain(DERIVED.iter().map(|(p, _)| p.to_string()))
        .collect();
    said.sort();
    expected.sort();
    assert_eq!(said, expected, "{list}");
    for missed in ["/airGap/images/*/ref", "/airGap/path", "/upgradeFrom"] {
        assert!(said.iter().any(|p| p == missed), "{missed} in {list}");
    }
    assert!(!said.iter().any(|p| FACTS.contains(&p.as_str())), "{list}");
}

#[test]
fn pointers_are_gathered_under_their_top_level_field_in_the_order_named() {
    let pointers = ["/a", "/b/x", "/c/{medium}", "/b/y", "/c", "/c/{medium}/url"];
    assert_eq!(
        gathered(pointers.into_iter()),
        "/a, /b/{x, y}, /c, /c/{<medium>, <medium>/url}"
    );
}
