//! Decoding a YAML tree into a schematic exactly as the Image Factory does: Go's YAML library
//! with unknown fields refused. That means its coercions too — a plain `123` is the string
//! `"123"` in a string field, `0xa` is 10 in a uint8, a null list item is dropped — and its
//! refusals: a quoted number for an integer, duplicate keys, a key above 255.

use super::resolve::{ScalarType, is_old_bool, resolve_plain};
use super::yaml_tree::{Kind, Mark, Node, Style};
use crate::util::closest;

use super::{Bootloader, Customization, Dynamic, MetaValue, Overlay, Problem, Schematic};

pub fn decode(root: Option<&Node>) -> Result<Schematic, Vec<Problem>> {
    let mut decoder = Decoder::default();
    let mut schematic = Schematic::default();
    if let Some(root) = root {
        decoder.schematic(root, &mut schematic);
    }
    if decoder.problems.is_empty() {
        Ok(schematic)
    } else {
        Err(decoder.problems)
    }
}

/// A scalar as the library resolves it for decoding.
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// A date or time written plain: decoded as its text.
    Timestamp,
    /// A string: quoted, tagged, or plain text that is no other type.
    Str(String),
}

#[derive(Default)]
struct Decoder {
    problems: Vec<Problem>,
}

impl Decoder {
    fn problem(&mut self, mark: Mark, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            line: mark.line,
            column: mark.column,
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn schematic(&mut self, node: &Node, out: &mut Schematic) {
        const FIELDS: &[&str] = &["owner", "overlay", "customization"];
        self.structure(node, "", FIELDS, |d, name, value, path| match name {
            "owner" => d.string_into(value, path, &mut out.owner),
            "overlay" => d.overlay(value, path, &mut out.overlay),
            _ => d.customization(value, path, &mut out.customization),
        });
    }

    fn overlay(&mut self, node: &Node, path: &str, out: &mut Overlay) {
        const FIELDS: &[&str] = &["image", "name", "options"];
        self.structure(node, path, FIELDS, |d, name, value, path| match name {
            "image" => d.string_into(value, path, &mut out.image),
            "name" => d.string_into(value, path, &mut out.name),
            _ => d.options(value, path, &mut out.options),
        });
    }

    fn customization(&mut self, node: &Node, path: &str, out: &mut Customization) {
        const FIELDS: &[&str] = &[
            "embeddedMachineConfiguration",
            "extraKernelArgs",
            "meta",
            "systemExtensions",
            "bootloader",
            "secureboot",
            "diskImage",
        ];
        self.structure(node, path, FIELDS, |d, name, value, path| match name {
            "embeddedMachineConfiguration" => {
                d.string_into(value, path, &mut out.embedded_machine_configuration)
            }
            "extraKernelArgs" => d.string_list(value, path, &mut out.extra_kernel_args),
            "meta" => d.meta_list(value, path, &mut out.meta),
            "systemExtensions" => {
                let extensions = &mut out.official_extensions;
                d.structure(value, path, &["officialExtensions"], |d, _, value, path| {
                    d.string_list(value, path, extensions)
                });
            }
            "bootloader" => d.bootloader(value, path, &mut out.bootloader),
            "secureboot" => {
                const SECUREBOOT: &[&str] = &["enrollKeys", "includeWellKnownCertificates"];
                let secureboot = &mut out.secureboot;
                d.structure(value, path, SECUREBOOT, |d, name, value, path| match name {
                    "enrollKeys" => d.string_into(value, path, &mut secureboot.enroll_keys),
                    _ => d.bool_into(value, path, &mut secureboot.include_well_known_certificates),
                });
            }
            _ => {
                let sector_size = &mut out.sector_size;
                d.structure(value, path, &["sectorSize"], |d, _, value, path| {
                    d.uint_into(value, path, u64::MAX, sector_size)
                });
            }
        });
    }

    fn meta_list(&mut self, node: &Node, path: &str, out: &mut Vec<MetaValue>) {
        let Some(items) = self.sequence(node, path, out) else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            // A null item decodes to nothing and is dropped, as in Go; `structure` reports
            // any other non-mapping item.
            let is_mapping = matches!(item.resolved().kind, Kind::Mapping(_));
            let mut meta = MetaValue::default();
            let item_path = format!("{path}[{i}]");
            self.structure(
                item,
                &item_path,
                &["key", "value"],
                |d, name, value, path| match name {
                    "key" => {
                        let mut key = 0;
                        d.uint_into(value, path, u64::from(u8::MAX), &mut key);
                        meta.key = u8::try_from(key).unwrap_or(u8::MAX);
                    }
                    _ => d.string_into(value, path, &mut meta.value),
                },
            );
            if is_mapping {
                out.push(meta);
            }
        }
    }

    /// Decodes a mapping into a struct whose fields are `fields`: unknown and repeated keys
    /// are problems; a null keeps the struct as it is.
    fn structure(
        &mut self,
        node: &Node,
        path: &str,
        fields: &[&str],
        mut field: impl FnMut(&mut Self, &str, &Node, &str),
    ) {
        let resolved = node.resolved();
        let pairs = match &resolved.kind {
            Kind::Mapping(pairs) => pairs,
            Kind::Scalar { .. } => {
                if !matches!(self.scalar(resolved, path), Some(Scalar::Null) | None) {
                    let found = describe(resolved);
                    self.problem(
                        resolved.mark,
                        path,
                        format!(
                            "expected a mapping with keys {}, found {found}",
                            fields.join(", ")
                        ),
                    );
                }
                return;
            }
            _ => {
                let found = describe(resolved);
                self.problem(
                    resolved.mark,
                    path,
                    format!("expected a mapping, found {found}"),
                );
                return;
            }
        };
        if !self.unique_keys(pairs, path) {
            return;
        }
        let mut done = vec![false; fields.len()];
        for (key, value) in pairs {
            if is_merge_key(key) {
                self.problem(
                    key.mark,
                    path,
                    "merge keys (<<) are not supported in schematics; write the fields out",
                );
                continue;
            }
            let Some(name) = self.key_string(key, path) else {
                continue;
            };
            let field_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match fields.iter().position(|f| *f == name) {
                Some(index) if done[index] => {
                    self.problem(
                        key.mark,
                        &field_path,
                        "field already set earlier in this mapping",
                    );
                }
                Some(index) => {
                    done[index] = true;
                    field(self, fields[index], value, &field_path);
                }
                None => {
                    let hint = match closest(&name, fields) {
                        Some(close) => format!(" (did you mean `{close}`?)"),
                        None => String::new(),
                    };
                    self.problem(
                        key.mark,
                        &field_path,
                        format!(
                            "unknown field `{name}`{hint}; accepted here: {}",
                            fields.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// Go's duplicate check: two keys of the same node kind with the same text.
    fn unique_keys(&mut self, pairs: &[(Node, Node)], path: &str) -> bool {
        let mut unique = true;
        for (i, (a, _)) in pairs.iter().enumerate() {
            for (b, _) in &pairs[i + 1..] {
                if key_identity(a) == key_identity(b) {
                    let text = key_identity(b).1;
                    self.problem(
                        b.mark,
                        path,
                        format!(
                            "duplicate key `{text}`, first defined at line {}",
                            a.mark.line
                        ),
                    );
                    unique = false;
                }
            }
        }
        unique
    }

    /// A mapping key decoded into a Go string: `None` for a null key (silently skipped by the
    /// factory) or a collection (a problem).
    fn key_string(&mut self, key: &Node, path: &str) -> Option<String> {
        let mut name = None;
        self.string(key, path, &mut |s| name = Some(s));
        name
    }

    fn string_into(&mut self, node: &Node, path: &str, out: &mut String) {
        self.string(node, path, &mut |s| *out = s);
    }

    /// A Go string field: any scalar's text (the decoded bytes for `!!binary`); null leaves
    /// the field unset.
    fn string(&mut self, node: &Node, path: &str, set: &mut dyn FnMut(String)) {
        let resolved = node.resolved();
        let Kind::Scalar { value, .. } = &resolved.kind else {
            let found = describe(resolved);
            self.problem(
                resolved.mark,
                path,
                format!("expected a string, found {found}"),
            );
            return;
        };
        match self.scalar(resolved, path) {
            None | Some(Scalar::Null) => {}
            Some(Scalar::Str(s)) => set(s),
            Some(_) => set(value.clone()),
        }
    }

    fn string_list(&mut self, node: &Node, path: &str, out: &mut Vec<String>) {
        let Some(items) = self.sequence(node, path, out) else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.string(item, &format!("{path}[{i}]"), &mut |s| out.push(s));
        }
    }

    /// The items of a sequence field; a null resets the field, anything else is a problem.
    fn sequence<'n, T>(
        &mut self,
        node: &'n Node,
        path: &str,
        out: &mut Vec<T>,
    ) -> Option<&'n [Node]> {
        let resolved = node.resolved();
        match &resolved.kind {
            Kind::Sequence(items) => {
                out.clear();
                Some(items)
            }
            Kind::Scalar { .. } if matches!(self.scalar(resolved, path), Some(Scalar::Null)) => {
                out.clear();
                None
            }
            _ => {
                let found = describe(resolved);
                self.problem(
                    resolved.mark,
                    path,
                    format!("expected a list, found {found}"),
                );
                None
            }
        }
    }

    fn uint_into(&mut self, node: &Node, path: &str, max: u64, out: &mut u64) {
        let resolved = node.resolved();
        let expected = format!("expected an integer from 0 to {max}");
        if !matches!(resolved.kind, Kind::Scalar { .. }) {
            let found = describe(resolved);
            self.problem(resolved.mark, path, format!("{expected}, found {found}"));
            return;
        }
        let value = match self.scalar(resolved, path) {
            None | Some(Scalar::Null) => return,
            Some(Scalar::Int(i)) => u64::try_from(i).ok(),
            Some(Scalar::Uint(u)) => Some(u),
            Some(Scalar::Float(f)) if f > -1.0 && f < 18_446_744_073_709_551_616.0 => {
                // Go converts the float with truncation toward zero.
                Some(f.trunc() as u64)
            }
            Some(_) => None,
        };
        match value.filter(|v| *v <= max) {
            Some(v) => *out = v,
            None => {
                let found = describe(resolved);
                self.problem(resolved.mark, path, format!("{expected}, found {found}"));
            }
        }
    }

    fn bool_into(&mut self, node: &Node, path: &str, out: &mut bool) {
        let resolved = node.resolved();
        let value = match &resolved.kind {
            Kind::Scalar { .. } => match self.scalar(resolved, path) {
                None | Some(Scalar::Null) => return,
                Some(Scalar::Bool(b)) => Some(b),
                // Go's YAML 1.1 compatibility for typed bools.
                Some(Scalar::Str(s)) if is_old_bool(&s) => Some(matches!(
                    s.as_str(),
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
                )),
                Some(_) => None,
            },
            _ => None,
        };
        match value {
            Some(b) => *out = b,
            None => {
                let found = describe(resolved);
                self.problem(
                    resolved.mark,
                    path,
                    format!("expected true or false, found {found}"),
                );
            }
        }
    }

    fn bootloader(&mut self, node: &Node, path: &str, out: &mut Bootloader) {
        let resolved = node.resolved();
        let mut text = None;
        if let Kind::Scalar { value, .. } = &resolved.kind {
            match self.scalar(resolved, path) {
                None | Some(Scalar::Null) => return,
                Some(Scalar::Str(s)) => text = Some(s),
                Some(_) => text = Some(value.clone()),
            }
        }
        match text.as_deref().and_then(Bootloader::parse) {
            Some(b) => *out = b,
            None => {
                let found = describe(resolved);
                self.problem(
                    resolved.mark,
                    path,
                    format!(
                        "expected one of none, dual-boot, sd-boot, grub (any case), found {found}"
                    ),
                );
            }
        }
    }

    fn options(&mut self, node: &Node, path: &str, out: &mut Vec<(String, Dynamic)>) {
        let resolved = node.resolved();
        let pairs = match &resolved.kind {
            Kind::Mapping(pairs) => pairs,
            Kind::Scalar { .. } if matches!(self.scalar(resolved, path), Some(Scalar::Null)) => {
                out.clear();
                return;
            }
            _ => {
                let found = describe(resolved);
                self.problem(
                    resolved.mark,
                    path,
                    format!("expected a mapping, found {found}"),
                );
                return;
            }
        };
        if !self.unique_keys(pairs, path) {
            return;
        }
        for (key, value) in pairs {
            if is_merge_key(key) {
                self.problem(
                    key.mark,
                    path,
                    "merge keys (<<) are not supported in schematics",
                );
                continue;
            }
            let Some(name) = self.key_string(key, path) else {
                continue;
            };
            let field_path = format!("{path}.{name}");
            let Some(value) = self.dynamic(value, &field_path) else {
                continue;
            };
            match out.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => out.push((name, value)),
            }
        }
    }

    /// A value decoded into Go's `any`.
    fn dynamic(&mut self, node: &Node, path: &str) -> Option<Dynamic> {
        let resolved = node.resolved();
        match &resolved.kind {
            Kind::Scalar { value, .. } => Some(match self.scalar(resolved, path)? {
                Scalar::Null => Dynamic::Null,
                Scalar::Bool(b) => Dynamic::Bool(b),
                Scalar::Int(i) => Dynamic::Int(i),
                Scalar::Uint(u) => Dynamic::Uint(u),
                Scalar::Float(f) => Dynamic::Float(f),
                Scalar::Timestamp => Dynamic::Str(value.clone()),
                Scalar::Str(s) => Dynamic::Str(s),
            }),
            Kind::Sequence(items) => {
                let items = items.iter().enumerate();
                let decoded =
                    items.filter_map(|(i, item)| self.dynamic(item, &format!("{path}[{i}]")));
                Some(Dynamic::Seq(decoded.collect()))
            }
            Kind::Mapping(pairs) => {
                if !self.unique_keys(pairs, path) {
                    return None;
                }
                let mut map: Vec<(Dynamic, Dynamic)> = Vec::new();
                for (key, value) in pairs {
                    if is_merge_key(key) {
                        self.problem(
                            key.mark,
                            path,
                            "merge keys (<<) are not supported in schematics",
                        );
                        continue;
                    }
                    let Some(k) = self.dynamic(key, path) else {
                        continue;
                    };
                    if matches!(k, Dynamic::Seq(_) | Dynamic::Map(_)) {
                        self.problem(key.mark, path, "a list or mapping cannot be a mapping key");
                        continue;
                    }
                    let Some(v) = self.dynamic(value, path) else {
                        continue;
                    };
                    match map.iter_mut().find(|(existing, _)| existing.same_key(&k)) {
                        Some(slot) => slot.1 = v,
                        None => map.push((k, v)),
                    }
                }
                Some(Dynamic::Map(map))
            }
            Kind::Alias { .. } => unreachable!("resolved() looks through aliases"),
        }
    }

    /// Resolves a scalar node as Go's decoder does before looking at the target type.
    fn scalar(&mut self, node: &Node, path: &str) -> Option<Scalar> {
        let Kind::Scalar { value, style } = &node.kind else {
            return None;
        };
        let tag = node.tag.as_deref();
        let quoted = *style != Style::Plain;
        let fail = |d: &mut Self, wanted: &str| {
            d.problem(
                node.mark,
                path,
                format!(
                    "`{value}` cannot be decoded as {wanted} (tag {})",
                    tag.unwrap_or("")
                ),
            );
            None
        };
        match tag {
            Some("!!str") => Some(Scalar::Str(value.clone())),
            None if quoted => Some(Scalar::Str(value.clone())),
            Some("!!binary") => match decode_base64(value) {
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => Some(Scalar::Str(s)),
                    Err(_) => fail(
                        self,
                        "text (binary data that is not UTF-8 is not supported)",
                    ),
                },
                None => fail(self, "base64 data"),
            },
            None | Some("!!int" | "!!float" | "!!bool" | "!!timestamp") => {
                let resolved = if quoted {
                    ScalarType::Str
                } else {
                    resolve_plain(value)
                };
                let scalar = match resolved {
                    ScalarType::Null => Scalar::Null,
                    ScalarType::Bool(b) => Scalar::Bool(b),
                    ScalarType::Int(i) => Scalar::Int(i),
                    ScalarType::Uint(u) => Scalar::Uint(u),
                    ScalarType::Float(f) => Scalar::Float(f),
                    ScalarType::Timestamp => Scalar::Timestamp,
                    ScalarType::Merge | ScalarType::Str => Scalar::Str(value.clone()),
                };
                match (tag, scalar) {
                    (None, scalar) => Some(scalar),
                    (Some("!!int"), s @ (Scalar::Int(_) | Scalar::Uint(_))) => Some(s),
                    (Some("!!float"), s @ Scalar::Float(_)) => Some(s),
                    (Some("!!float"), Scalar::Int(i)) => Some(Scalar::Float(i as f64)),
                    (Some("!!float"), Scalar::Uint(u)) => Some(Scalar::Float(u as f64)),
                    (Some("!!bool"), s @ Scalar::Bool(_)) => Some(s),
                    (Some("!!timestamp"), s @ Scalar::Timestamp) => Some(s),
                    (Some(wanted), _) => fail(self, wanted),
                }
            }
            // Tags the library does not resolve (`!!null`, `!local`, …) leave the text as is.
            Some(_) => Some(Scalar::Str(value.clone())),
        }
    }
}

/// Go's `isMerge`: a plain `<<` (or one tagged `!!merge`).
fn is_merge_key(key: &Node) -> bool {
    match &key.kind {
        Kind::Scalar { value, style } => {
            value == "<<"
                && (key.tag.as_deref() == Some("!!merge")
                    || (key.tag.is_none() && *style == Style::Plain))
        }
        _ => false,
    }
}

fn key_identity(node: &Node) -> (u8, &str) {
    match &node.kind {
        Kind::Scalar { value, .. } => (0, value),
        Kind::Sequence(_) => (1, ""),
        Kind::Mapping(_) => (2, ""),
        Kind::Alias { name, .. } => (3, name),
    }
}

fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar { value, style } => {
            let what = if *style == Style::Plain && node.tag.is_none() {
                match resolve_plain(value) {
                    ScalarType::Null => "null",
                    ScalarType::Bool(_) => "the boolean",
                    ScalarType::Int(_) | ScalarType::Uint(_) => "the integer",
                    ScalarType::Float(_) => "the number",
                    _ => "the string",
                }
            } else {
                "the string"
            };
            if what == "null" {
                what.to_string()
            } else {
                format!("{what} {value:?}")
            }
        }
        Kind::Sequence(_) => "a list".to_string(),
        Kind::Mapping(_) => "a mapping".to_string(),
        Kind::Alias { target, .. } => describe(target),
    }
}

/// Go's `base64.StdEncoding.DecodeString`: padded standard alphabet; line breaks are ignored.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    let chunks = symbols.chunks(4).count();
    for (index, chunk) in symbols.chunks(4).enumerate() {
        let padding = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != chunks) {
            return None;
        }
        let mut bits = 0u32;
        for &c in &chunk[..4 - padding] {
            bits = (bits << 6) | value(c)?;
        }
        bits <<= 6 * padding as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - padding]);
    }
    Some(out)
}
