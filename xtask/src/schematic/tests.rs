use super::*;

fn canonical(input: &str) -> String {
    Schematic::parse(input)
        .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
        .canonical_yaml()
}

fn problems(input: &str) -> Vec<Problem> {
    match Schematic::parse(input) {
        Ok(s) => panic!("{input:?} should be refused, got {s:?}"),
        Err(ParseError(problems)) => problems,
    }
}

/// Every vector the factory's own code computed (tests/data/schematic-ids.json, a copy of
/// shared/vectors): the canonical bytes and the ID must match exactly.
#[test]
fn factory_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/schematic-ids.json");
    let text = std::fs::read_to_string(path).expect("vector file");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
    let vectors = vectors["vectors"].as_array().expect("vectors array");
    assert!(vectors.len() >= 18, "the vector file lost entries");
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let schematic = Schematic::parse(v["input"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            schematic.canonical_yaml(),
            v["canonical"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(schematic.id(), v["id"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn empty_forms_are_the_empty_schematic() {
    for input in [
        "",
        "# nothing\n",
        "null",
        "~",
        "{}",
        "customization: {}",
        "customization:",
        "customization: {systemExtensions: {}}",
        "overlay: {}\ncustomization: null",
        "customization: {meta: []}",
        "---\n{}\n---\nfoo: bar\n",
    ] {
        assert_eq!(canonical(input), "customization: {}\n", "{input:?}");
    }
}

#[test]
fn scalars_are_coerced_like_go() {
    assert_eq!(
        canonical("customization: {extraKernelArgs: [1, true, 0x10, 1.50, ~, 2024-01-02, 'x']}"),
        "customization:\n    extraKernelArgs:\n        - \"1\"\n        - \"true\"\n        - \"0x10\"\n        - \"1.50\"\n        - \"2024-01-02\"\n        - x\n",
        "numbers keep their text, null items are dropped"
    );
    assert_eq!(
        canonical(
            "customization: {meta: [{key: 0xa, value: 123}, {key: 012, value: ''}, {key: 7.9}]}"
        ),
        "customization:\n    meta:\n        - key: 10\n          value: \"123\"\n        - key: 10\n          value: \"\"\n        - key: 7\n          value: \"\"\n"
    );
    assert_eq!(
        canonical("customization: {secureboot: {includeWellKnownCertificates: yes}}"),
        canonical("customization: {secureboot: {includeWellKnownCertificates: true}}"),
        "YAML 1.1 words are accepted by typed bools"
    );
    assert_eq!(
        canonical("customization: {secureboot: {includeWellKnownCertificates: false}}"),
        "customization: {}\n"
    );
    assert_eq!(
        canonical("customization: {diskImage: {sectorSize: 0}, bootloader: None}"),
        "customization: {}\n",
        "zero values are omitted"
    );
}

#[test]
fn anchors_and_aliases_decode_as_their_target() {
    assert_eq!(
        canonical(
            "customization:\n  extraKernelArgs: &args [a, b]\n  systemExtensions:\n    officialExtensions: *args\n"
        ),
        "customization:\n    extraKernelArgs:\n        - a\n        - b\n    systemExtensions:\n        officialExtensions:\n            - a\n            - b\n"
    );
}

#[test]
fn extension_order_and_duplicates_are_kept() {
    let ids: Vec<String> = ["[a, b]", "[b, a]", "[a, a, b]"]
        .iter()
        .map(|list| {
            let s = format!("customization: {{systemExtensions: {{officialExtensions: {list}}}}}");
            Schematic::parse(&s).unwrap().id()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[test]
fn overlay_is_written_whole_once_any_field_is_set() {
    assert_eq!(
        canonical("overlay: {name: x}"),
        "overlay:\n    image: \"\"\n    name: x\ncustomization: {}\n"
    );
    assert_eq!(canonical("overlay: {options: {}}"), "customization: {}\n");
}

#[test]
fn overlay_option_values_keep_their_types() {
    assert_eq!(
        canonical(
            "overlay:\n  name: o\n  options:\n    f: 1.0\n    g: 1e6\n    h: 0.00001\n    i: 0x1F\n    t: 2024-01-02\n    s: 'yes'\n    e: {}\n    l: []\n    n: [1, ~]\n    q: \"12\"\n"
        ),
        "overlay:\n    image: \"\"\n    name: o\n    options:\n        e: {}\n        f: 1\n        g: 1e+06\n        h: 1e-05\n        i: 31\n        l: []\n        'n':\n            - 1\n            - null\n        q: \"12\"\n        s: 'yes'\n        t: \"2024-01-02\"\ncustomization: {}\n"
    );
}

#[test]
fn nested_option_keys_of_mixed_types_sort_like_go() {
    assert_eq!(
        canonical(
            "overlay:\n  name: o\n  options:\n    m: {b: 1, 10: x, 2: w, true: z, a10: 1, a9: 2, ~: 0}\n"
        ),
        "overlay:\n    image: \"\"\n    name: o\n    options:\n        m:\n            true: z\n            2: w\n            10: x\n            null: 0\n            a9: 2\n            a10: 1\n            b: 1\ncustomization: {}\n"
    );
}

#[test]
fn problems_name_line_and_field() {
    let p = problems("customization:\n  extraKernelArg: [a]\n");
    assert_eq!(
        (p[0].line, p[0].field.as_str()),
        (2, "customization.extraKernelArg")
    );
    assert!(
        p[0].message.contains("did you mean `extraKernelArgs`"),
        "{}",
        p[0].message
    );

    let p = problems("customization:\n  meta:\n    - key: 256\n      value: x\n");
    assert_eq!(
        (p[0].line, p[0].field.as_str()),
        (3, "customization.meta[0].key")
    );
    assert!(p[0].message.contains("0 to 255"), "{}", p[0].message);

    let p = problems("customization:\n  meta:\n    - {key: \"10\", value: x}\n");
    assert_eq!(
        p[0].field, "customization.meta[0].key",
        "a quoted number is a string"
    );

    let p = problems("customization:\n  bootloader: auto\n");
    assert!(p[0].message.contains("dual-boot"), "{}", p[0].message);

    let p = problems("customization: {}\ncustomization: {}\n");
    assert_eq!(p[0].line, 2);
    assert!(p[0].message.contains("duplicate key"), "{}", p[0].message);

    let p = problems("customization: {secureboot: {includeWellKnownCertificates: \"true\"}}");
    assert!(p[0].message.contains("true or false"), "{}", p[0].message);

    let p = problems("customization: {diskImage: {sectorSize: -1}}");
    assert_eq!(p[0].field, "customization.diskImage.sectorSize");

    let p = problems("customization: [a]");
    assert!(
        p[0].message.contains("expected a mapping"),
        "{}",
        p[0].message
    );

    let p = problems("customization: {extraKernelArgs: [[a]]}");
    assert_eq!(p[0].field, "customization.extraKernelArgs[0]");

    let p = problems("customization:\n  extraKernelArgs: [a\n");
    assert!(p[0].message.starts_with("invalid YAML"), "{}", p[0].message);

    let p = problems("foo: 1\nbar: 2\n");
    assert_eq!(p.len(), 2, "every problem is reported, not just the first");
}

#[test]
fn go_float_formatting() {
    for (f, s) in [
        (1.0, "1"),
        (1.5, "1.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e100, "1e+100"),
        (-2.5e-7, "-2.5e-07"),
        (-0.0, "-0"),
    ] {
        assert_eq!(go_float(f), s, "{f}");
    }
}

#[test]
fn natural_order() {
    assert!(natural_less("b9", "b10"));
    assert!(natural_less("k2", "k10"));
    assert!(natural_less("Z", "b"));
    assert!(natural_less("a", "ab"));
    assert!(natural_less("a1", "a01"));
}
