//! The validator against the official JSON Schema Test Suite (draft 2020-12), vendored in
//! `tests/data/json-schema-suite` for the keywords it implements and the date-time and uri
//! formats it asserts (SOURCE.md there). Every case group either compiles and agrees on every
//! case's `valid`, or is refused at load as something the validator does not implement: those
//! groups are named in `REFUSED`, with why, and the list is held exact both ways.

use std::path::Path;

use serde_json::Value;

use super::Validator;

/// (file, group description, why the validator refuses it at load).
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "additionalProperties.json",
        "additionalProperties being false does not allow other properties",
        "not implemented: patternProperties",
    ),
    (
        "additionalProperties.json",
        "non-ASCII pattern with additionalProperties",
        "not implemented: patternProperties",
    ),
    (
        "additionalProperties.json",
        "additionalProperties with propertyNames",
        "not implemented: propertyNames",
    ),
    (
        "additionalProperties.json",
        "dependentSchemas with additionalProperties",
        "not implemented: dependentSchemas",
    ),
    (
        "allOf.json",
        "allOf combined with anyOf, oneOf",
        "not implemented: multipleOf",
    ),
    (
        "defs.json",
        "validate definition against metaschema",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "items.json",
        "items and subitems",
        "not implemented: prefixItems",
    ),
    (
        "items.json",
        "prefixItems with no additional items allowed",
        "not implemented: prefixItems",
    ),
    (
        "items.json",
        "items does not look in applicators, valid case",
        "not implemented: prefixItems",
    ),
    (
        "items.json",
        "prefixItems validation adjusts the starting index for items",
        "not implemented: prefixItems",
    ),
    (
        "items.json",
        "items with heterogeneous array",
        "not implemented: prefixItems",
    ),
    (
        "not.json",
        "collect annotations inside a 'not', even if collection is disabled",
        "not implemented: unevaluatedProperties",
    ),
    (
        "pattern.json",
        "pattern with Unicode property escape requires unicode mode",
        "a Unicode property escape, which regex-lite refuses",
    ),
    (
        "properties.json",
        "properties, patternProperties, additionalProperties interaction",
        "not implemented: patternProperties",
    ),
    (
        "ref.json",
        "relative pointer ref to array",
        "not implemented: prefixItems",
    ),
    (
        "ref.json",
        "remote ref, containing refs itself",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "Recursive references between schemas",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "ref creates new scope when adjacent to keywords",
        "not implemented: unevaluatedProperties",
    ),
    (
        "ref.json",
        "refs with relative uris and defs",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "relative refs with absolute uris and defs",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "$id must be resolved against nearest parent, not just immediate parent",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "order of evaluation: $id and $ref",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "order of evaluation: $id and $anchor and $ref",
        "not implemented: $anchor; an $id below the root; an anchor",
    ),
    (
        "ref.json",
        "order of evaluation: $id and $ref on nested schema",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "simple URN base URI with $ref via the URN",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "URN base URI with URN and JSON pointer ref",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "URN base URI with URN and anchor ref",
        "not implemented: $anchor; a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "URN ref with nested pointer ref",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "ref to if",
        "not implemented: if; a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "ref to then",
        "not implemented: then; a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "ref to else",
        "not implemented: else; a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "ref.json",
        "ref with absolute-path-reference",
        "a reference out of the schema (remote, URN or relative URI)",
    ),
    (
        "uniqueItems.json",
        "uniqueItems with an array of items",
        "not implemented: prefixItems",
    ),
    (
        "uniqueItems.json",
        "uniqueItems with an array of items and additionalItems=false",
        "not implemented: prefixItems",
    ),
    (
        "uniqueItems.json",
        "uniqueItems=false with an array of items",
        "not implemented: prefixItems",
    ),
    (
        "uniqueItems.json",
        "uniqueItems=false with an array of items and additionalItems=false",
        "not implemented: prefixItems",
    ),
];

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_case_of_the_suite_agrees_or_its_group_is_refused_at_load_as_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/json-schema-suite");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    paths.sort();
    assert!(paths.len() >= 20, "{paths:?}");
    let (mut disagreements, mut refused, mut agreed) = (Vec::new(), Vec::new(), 0);
    for path in &paths {
        let file = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for group in &groups {
            let description = group["description"].as_str().unwrap();
            let validator = match Validator::compile(&group["schema"]) {
                Ok(validator) => validator,
                Err(problems) => {
                    let why: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
                    refused.push((file.clone(), description.to_string(), why.join("; ")));
                    continue;
                }
            };
            for case in group["tests"].as_array().unwrap() {
                let expected = case["valid"].as_bool().unwrap();
                let valid = validator.problems(&case["data"]).is_empty();
                if valid == expected {
                    agreed += 1;
                } else {
                    disagreements.push(format!(
                        "{file}: {description}: {}: expected valid={expected}",
                        case["description"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{agreed} cases agree; {} groups refused at load",
        refused.len()
    );
    for (file, description, why) in &refused {
        eprintln!("REFUSED {file} | {description} | {why}");
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    let listed: Vec<(&str, &str)> = REFUSED.iter().map(|(f, d, _)| (*f, *d)).collect();
    let found: Vec<(&str, &str)> = refused
        .iter()
        .map(|(f, d, _)| (f.as_str(), d.as_str()))
        .collect();
    for group in &found {
        assert!(
            listed.contains(group),
            "refused but not listed in REFUSED: {group:?}"
        );
    }
    for group in &listed {
        assert!(
            found.contains(group),
            "listed in REFUSED but compiles now: {group:?}"
        );
    }
}
