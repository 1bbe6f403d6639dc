use serde_json::{Value, json};

use super::format::Format;
use super::*;

fn validator(schema: Value) -> Validator {
    Validator::compile(&schema).unwrap_or_else(|problems| panic!("{problems:?}"))
}

/// Each problem as `<pointer>: <message>`.
fn problems(schema: Value, instance: Value) -> Vec<String> {
    validator(schema)
        .problems(&instance)
        .into_iter()
        .map(|p| format!("{}: {}", p.pointer, p.message))
        .collect()
}

fn refused(schema: Value) -> Vec<String> {
    match Validator::compile(&schema) {
        Ok(_) => panic!("compiled: {schema}"),
        Err(problems) => problems
            .into_iter()
            .map(|p| format!("{}: {}", p.pointer, p.message))
            .collect(),
    }
}

#[test]
fn types_admit_what_draft_2020_12_says() {
    let schema = json!({"type": "integer"});
    assert!(problems(schema.clone(), json!(3)).is_empty());
    assert!(
        problems(schema.clone(), json!(3.0)).is_empty(),
        "1.0 is an integer"
    );
    assert_eq!(
        problems(schema.clone(), json!(3.5)),
        [": 3.5 is not of type \"integer\""]
    );
    assert_eq!(
        problems(schema, json!("3")),
        [": \"3\" is not of type \"integer\""]
    );
    let either = json!({"type": ["null", "string"]});
    assert!(problems(either.clone(), Value::Null).is_empty());
    assert_eq!(
        problems(either, json!(1)),
        [": 1 is not of types \"null\", \"string\""]
    );
    assert!(problems(json!({"type": "number"}), json!(1)).is_empty());
    assert_eq!(
        problems(json!({"type": "object"}), json!([1, 2])),
        [": [1,2] is not of type \"object\""]
    );
}

#[test]
fn const_and_enum_compare_as_json_values() {
    assert!(problems(json!({"const": 1}), json!(1.0)).is_empty());
    assert!(
        problems(
            json!({"const": {"a": 1, "b": [2]}}),
            json!({"b": [2.0], "a": 1})
        )
        .is_empty()
    );
    assert_eq!(
        problems(json!({"const": "keyless"}), json!("publicKey")),
        [": \"keyless\" was expected"]
    );
    let architectures = json!({"enum": ["amd64", "arm64"]});
    assert!(problems(architectures.clone(), json!("arm64")).is_empty());
    assert_eq!(
        problems(architectures, json!("riscv")),
        [": \"riscv\" is not one of \"amd64\" or \"arm64\""]
    );
    assert_eq!(
        problems(json!({"enum": [1, "a", null]}), json!(false)),
        [": false is not one of 1, \"a\" or null"]
    );
}

#[test]
fn pattern_searches_strings_and_ignores_other_types() {
    let iso = json!({"pattern": "\\.iso$"});
    assert!(
        problems(iso.clone(), json!("a/b.iso")).is_empty(),
        "unanchored"
    );
    assert!(problems(iso.clone(), json!(7)).is_empty());
    assert_eq!(
        problems(iso, json!("a.raw.zst")),
        [": \"a.raw.zst\" does not match \"\\.iso$\""]
    );
}

#[test]
fn lengths_count_code_points_and_bounds_compare_numbers_exactly() {
    assert!(problems(json!({"maxLength": 2}), json!("ää")).is_empty());
    assert_eq!(
        problems(json!({"minLength": 1}), json!("")),
        [": \"\" is shorter than 1 character"]
    );
    assert_eq!(
        problems(json!({"maxLength": 2}), json!("abc")),
        [": \"abc\" is longer than 2 characters"]
    );
    assert_eq!(
        problems(json!({"minimum": 32774}), json!(-1)),
        [": -1 is less than the minimum of 32774"]
    );
    assert!(problems(json!({"minimum": 4}), json!(4)).is_empty());
    assert_eq!(
        problems(json!({"exclusiveMinimum": 4}), json!(4.0)),
        [": 4.0 is less than or equal to the minimum of 4"]
    );
    assert_eq!(
        problems(json!({"maximum": 1.5}), json!(2)),
        [": 2 is greater than the maximum of 1.5"]
    );
    assert_eq!(
        problems(json!({"exclusiveMaximum": 2}), json!(2)),
        [": 2 is greater than or equal to the maximum of 2"]
    );
    // Beyond 2^53, where f64 would call these equal.
    assert_eq!(
        problems(
            json!({"maximum": 9007199254740992u64}),
            json!(9007199254740993u64)
        ),
        [": 9007199254740993 is greater than the maximum of 9007199254740992"]
    );
    assert!(problems(json!({"minimum": u64::MAX}), json!(u64::MAX)).is_empty());
    assert_eq!(
        problems(json!({"minimum": 0.5}), json!(i64::MIN)),
        [": -9223372036854775808 is less than the minimum of 0.5"]
    );
}

#[test]
fn objects_name_each_missing_and_unexpected_member() {
    let schema = json!({
        "type": "object",
        "required": ["a", "b"],
        "properties": {"a": {"type": "string"}, "b": true, "x/y~z": {"type": "string"}},
        "additionalProperties": false
    });
    assert_eq!(
        problems(schema.clone(), json!({"a": 1, "x/y~z": 2, "c": 3, "d": 4})),
        [
            ": \"b\" is a required property",
            "/a: 1 is not of type \"string\"",
            "/x~1y~0z: 2 is not of type \"string\"",
            ": Additional properties are not allowed ('c', 'd' were unexpected)",
        ]
    );
    assert_eq!(
        problems(schema, json!({"a": "", "b": 1, "c": 3})),
        [": Additional properties are not allowed ('c' was unexpected)"]
    );
    let typed_rest =
        json!({"properties": {"a": true}, "additionalProperties": {"type": "integer"}});
    assert_eq!(
        problems(typed_rest, json!({"a": "x", "b": "y"})),
        ["/b: \"y\" is not of type \"integer\""]
    );
}

#[test]
fn arrays_check_each_item_their_count_and_uniqueness() {
    let schema =
        json!({"items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": true});
    assert_eq!(
        problems(schema.clone(), json!([])),
        [": [] has less than 1 item"]
    );
    assert_eq!(
        problems(schema.clone(), json!(["a", 2, "c"])),
        [
            "/1: 2 is not of type \"string\"",
            ": [\"a\",2,\"c\"] has more than 2 items",
        ]
    );
    assert_eq!(
        problems(schema, json!(["a", "a"])),
        [": [\"a\",\"a\"] has non-unique elements"]
    );
    assert_eq!(
        problems(json!({"uniqueItems": true}), json!([1, 1.0])),
        [": [1,1.0] has non-unique elements"]
    );
}

#[test]
fn combinators_apply_to_the_same_value() {
    let all = json!({"allOf": [{"minimum": 4}, {"minimum": 32774}]});
    assert_eq!(
        problems(all, json!(-1)),
        [
            ": -1 is less than the minimum of 4",
            ": -1 is less than the minimum of 32774",
        ]
    );
    let null_or_version =
        json!({"oneOf": [{"type": "null"}, {"type": "string", "pattern": "^[0-9]+$"}]});
    assert!(problems(null_or_version.clone(), Value::Null).is_empty());
    assert!(problems(null_or_version.clone(), json!("12")).is_empty());
    assert_eq!(
        problems(null_or_version, json!("1.x")),
        [": \"1.x\" is not valid under any of the schemas listed in the 'oneOf' keyword"]
    );
    assert_eq!(
        problems(
            json!({"oneOf": [{"type": "integer"}, {"minimum": 0}]}),
            json!(1)
        ),
        [": 1 is valid under more than one of the schemas listed in the 'oneOf' keyword"]
    );
    let any = json!({"anyOf": [{"type": "integer"}, {"minimum": 0}]});
    assert!(problems(any.clone(), json!(1)).is_empty());
    assert_eq!(
        problems(any, json!(-0.5)),
        [": -0.5 is not valid under any of the schemas listed in the 'anyOf' keyword"]
    );
    assert_eq!(
        problems(json!({"not": {"type": "string"}}), json!("a")),
        [": \"a\" is valid under the schema in the 'not' keyword"]
    );
    assert_eq!(
        problems(json!({"properties": {"a": false}}), json!({"a": 1})),
        ["/a: False schema does not allow 1"]
    );
}

#[test]
fn references_resolve_within_the_document_and_may_recurse() {
    let tree = json!({
        "$defs": {
            "node": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"$ref": "#/$defs/na%6De"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
                }
            },
            "name": {"type": "string", "minLength": 1}
        },
        "$ref": "#/$defs/node"
    });
    assert_eq!(
        problems(
            tree,
            json!({"name": "a", "children": [{"name": "b", "children": [{"name": ""}, {}]}]})
        ),
        [
            "/children/0/children/0/name: \"\" is shorter than 1 character",
            "/children/0/children/1: \"name\" is a required property",
        ]
    );
    let escaped = json!({"$defs": {"a/b": {"type": "null"}}, "$ref": "#/$defs/a~1b"});
    assert_eq!(problems(escaped, json!(1)), [": 1 is not of type \"null\""]);
}

#[test]
fn what_is_not_implemented_is_refused_with_its_pointer() {
    assert_eq!(
        refused(json!({"properties": {"a": {"patternProperties": {}}}})),
        [
            "/properties/a/patternProperties: \"patternProperties\" is not a keyword xtask's schema validator implements; use the ones docs/dependencies.md lists, or extend xtask/src/json_schema"
        ]
    );
    assert_eq!(
        refused(json!({"$schema": "http://json-schema.org/draft-07/schema#"})),
        [
            "/$schema: only draft 2020-12 schemas are checked: \"$schema\": \"https://json-schema.org/draft/2020-12/schema\""
        ]
    );
    assert_eq!(
        refused(json!({"format": "email"})),
        [
            "/format: format \"email\" is not checked by xtask's schema validator (it checks date-time and uri)"
        ]
    );
    assert_eq!(
        refused(json!({"$ref": "other.json#/a"})),
        ["/$ref: \"other.json#/a\": only references within the schema (\"#/...\") are supported"]
    );
    assert_eq!(
        refused(json!({"$ref": "#node"})),
        ["/$ref: \"#node\": anchors are not supported, only JSON pointers (\"#/$defs/...\")"]
    );
    assert_eq!(
        refused(json!({"$ref": "#/$defs/missing"})),
        ["/$ref: \"#/$defs/missing\" points at nothing in this schema"]
    );
    assert!(
        refused(json!({"$defs": {"a": {"$id": "x"}}}))[0]
            .starts_with("/$defs/a/$id: an $id below the root")
    );
    // The regex engine has no look-around; a pattern that needs it is refused, not misread.
    assert!(
        refused(json!({"pattern": "^(?!/)a"}))[0]
            .starts_with("/pattern: \"^(?!/)a\" is not a regular expression")
    );
}

#[test]
fn malformed_keywords_are_refused_each_with_its_pointer() {
    assert_eq!(
        refused(json!({
            "type": "strng",
            "required": ["a", "a"],
            "minLength": -1,
            "properties": {"a": 3},
            "allOf": [],
            "title": 1
        })),
        [
            "/type: \"strng\" is not a JSON type (array, boolean, integer, null, number, object, string)",
            "/required: \"a\" is listed twice",
            "/minLength: must be a non-negative integer",
            "/properties/a: a schema is an object or a boolean, not 3",
            "/allOf: must list at least one schema",
            "/title: must be of type \"string\"",
        ]
    );
}

#[test]
fn a_reference_loop_that_never_descends_is_refused() {
    assert_eq!(
        refused(
            json!({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}})
        ),
        [
            "/$defs/a: this schema refers back to itself without descending into the instance (a $ref loop)"
        ]
    );
    assert_eq!(refused(json!({"$ref": "#"})).len(), 1);
    // Through properties it descends, so it ends: a recursive schema is fine.
    validator(json!({"properties": {"next": {"$ref": "#"}}}));
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = "x".repeat(500);
    let message = &problems(json!({"type": "integer"}), json!(long))[0];
    assert!(message.len() < 260, "{message}");
    assert!(message.contains("…\" is not of type") || message.contains("… is not of type"));
}

#[test]
fn date_time_is_rfc_3339() {
    for valid in [
        "2026-01-01T00:00:00Z",
        "2026-12-31t23:59:59.123456z",
        "2024-02-29T12:00:00+01:00",
        "2000-02-29T12:00:00-00:00",
        "1998-12-31T23:59:60Z",
        "1998-12-31T15:59:60-08:00",
        "1999-01-01T00:29:60+00:30",
    ] {
        assert!(Format::DateTime.admits(valid), "{valid}");
    }
    for invalid in [
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T12:00:60Z",
        "1998-12-31T23:59:60+01:00",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+0100",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:00Z ",
        "٢٠٢٦-01-01T00:00:00Z",
    ] {
        assert!(!Format::DateTime.admits(invalid), "{invalid}");
    }
}

#[test]
fn uri_is_an_absolute_rfc_3986_uri() {
    for valid in [
        "https://factory.talos.dev",
        "https://factory.talos.dev:8443/image/a%2Fb?x=1&y#frag/?",
        "http://user:pa%20ss@127.0.0.1:/x",
        "http://[::1]:8080/",
        "http://[v1.fe:80]/",
        "urn:isbn:0451450523",
        "file:///etc/hosts",
        "mailto:a@b.c",
        "x+y.z-w:",
    ] {
        assert!(Format::Uri.admits(valid), "{valid}");
    }
    for invalid in [
        "factory.talos.dev",
        "/relative/path",
        "1http://a",
        "http://a b/",
        "http://a/%zz",
        "http://a/ä",
        "http://[::1/",
        "http://[fe80::1%25eth0]/",
        "http://a:80x/",
        "http://a#b#c",
        "http://a@b@c/",
        "http://a/\\x",
        "",
    ] {
        assert!(!Format::Uri.admits(invalid), "{invalid}");
    }
}

#[test]
fn format_checks_only_strings() {
    let schema = json!({"format": "date-time"});
    assert!(problems(schema.clone(), json!(12)).is_empty());
    assert_eq!(
        problems(schema, json!("2026-13-01T00:00:00Z")),
        [": \"2026-13-01T00:00:00Z\" is not a \"date-time\""]
    );
}

/// `talos.schematicPath` in the committed release schema says, in two look-around-free
/// patterns: a YAML or JSON file name of `[A-Za-z0-9._/-]`, no leading `/`, no `.` or `..`
/// segment. Every short string over the characters that matter is checked against that rule.
#[test]
fn the_release_schemas_schematic_path_is_exactly_its_rule() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ee/appliance/schemas/release.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = validator(schema);
    let rule = |s: &str| {
        let name = [".yaml", ".yml", ".json"]
            .iter()
            .find_map(|ext| s.strip_suffix(ext));
        name.is_some_and(|name| !name.is_empty())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._/-".contains(&c))
            && !s.starts_with('/')
            && !s
                .split('/')
                .any(|segment| segment == "." || segment == "..")
    };
    let mut checked = 0;
    let alphabet = ["a", ".", "/", "#"];
    let mut prefixes = vec![String::new()];
    for _ in 0..5 {
        let longer: Vec<String> = prefixes
            .iter()
            .filter(|p| p.len() == prefixes.last().unwrap().len())
            .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
            .collect();
        prefixes.extend(longer);
    }
    for prefix in &prefixes {
        for suffix in ["", ".yaml", "yml", ".json", "/.yaml", "..yaml", "/"] {
            let candidate = format!("{prefix}{suffix}");
            let instance = json!({"talos": {"schematicPath": candidate}});
            let accepted = !validator
                .problems(&instance)
                .iter()
                .any(|p| p.pointer == "/talos/schematicPath");
            assert_eq!(accepted, rule(&candidate), "{candidate:?}");
            checked += 1;
        }
    }
    assert!(checked > 9000, "{checked}");
}
