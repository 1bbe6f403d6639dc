//! The Talos Image Factory schematic: strict parsing as the factory decodes it, the canonical
//! YAML it writes back, and the content-addressed ID (SHA-256 of that YAML). The offline ID is
//! a prediction of the factory's answer, so every rule here mirrors the factory's code.

mod decode;
mod emit;
mod resolve;
mod yaml_tree;

use std::fmt;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use emit::Yaml;

use crate::util::hex;

/// Refuses a YAML text nested deeper than the factory's decoder allows, or with excessive
/// aliasing, naming the line: the same limits a schematic has, for other YAML the tool reads
/// (`release.yaml`). Other syntax errors are left to that file's own reader.
pub fn check_yaml_limits(text: &str, display: &str) -> anyhow::Result<()> {
    match yaml_tree::parse_first_document(text.as_bytes()) {
        Err(e) if e.message.contains("max depth") || e.message.contains("aliasing") => {
            anyhow::bail!("{display}:{}:{}: {}", e.mark.line, e.mark.column, e.message)
        }
        _ => Ok(()),
    }
}

/// A decoded schematic. Field names follow the factory's YAML keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schematic {
    /// Enterprise factories only; the public factory answers 400 to it.
    pub owner: String,
    pub overlay: Overlay,
    pub customization: Customization,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overlay {
    pub image: String,
    pub name: String,
    /// A free-form map; keys are unique.
    pub options: Vec<(String, Dynamic)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Customization {
    pub embedded_machine_configuration: String,
    pub extra_kernel_args: Vec<String>,
    pub meta: Vec<MetaValue>,
    /// `systemExtensions.officialExtensions`, in the order written (the ID depends on it).
    pub official_extensions: Vec<String>,
    pub bootloader: Bootloader,
    pub secureboot: SecureBoot,
    /// `diskImage.sectorSize`.
    pub sector_size: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaValue {
    pub key: u8,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecureBoot {
    pub enroll_keys: String,
    pub include_well_known_certificates: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bootloader {
    #[default]
    None,
    DualBoot,
    SdBoot,
    Grub,
}

impl Bootloader {
    /// The factory's text form, case-insensitive.
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(Bootloader::None),
            "dual-boot" => Some(Bootloader::DualBoot),
            "sd-boot" => Some(Bootloader::SdBoot),
            "grub" => Some(Bootloader::Grub),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Bootloader::None => "none",
            Bootloader::DualBoot => "dual-boot",
            Bootloader::SdBoot => "sd-boot",
            Bootloader::Grub => "grub",
        }
    }
}

/// A value of Go type `any`, as found in `overlay.options`.
#[derive(Clone, Debug, PartialEq)]
pub enum Dynamic {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Dynamic>),
    Map(Vec<(Dynamic, Dynamic)>),
}

/// Dropped iteratively, as `yaml_tree::Node`: options may nest as deep as the YAML cap.
impl Drop for Dynamic {
    fn drop(&mut self) {
        let mut pending: Vec<Dynamic> = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut value) = pending.pop() {
            value.take_children(&mut pending);
        }
    }
}

impl Dynamic {
    fn take_children(&mut self, into: &mut Vec<Dynamic>) {
        match self {
            Dynamic::Seq(items) => into.append(items),
            Dynamic::Map(pairs) => {
                for (key, value) in pairs.drain(..) {
                    into.push(key);
                    into.push(value);
                }
            }
            _ => {}
        }
    }

    /// Go map-key equality: same type and value (so `1` and `1.0` are different keys, and a
    /// NaN key equals nothing).
    fn same_key(&self, other: &Dynamic) -> bool {
        match (self, other) {
            (Dynamic::Float(a), Dynamic::Float(b)) => a == b,
            _ => self == other,
        }
    }

    fn to_yaml(&self) -> Yaml {
        match self {
            Dynamic::Null => Yaml::Plain("null".into()),
            Dynamic::Bool(b) => Yaml::Plain(b.to_string()),
            Dynamic::Int(i) => Yaml::Plain(i.to_string()),
            Dynamic::Uint(u) => Yaml::Plain(u.to_string()),
            Dynamic::Float(f) => Yaml::Plain(go_float(*f)),
            Dynamic::Str(s) => Yaml::Str(s.clone()),
            Dynamic::Seq(items) => Yaml::Seq(items.iter().map(Dynamic::to_yaml).collect()),
            Dynamic::Map(pairs) => {
                let mut sorted: Vec<&(Dynamic, Dynamic)> = pairs.iter().collect();
                insertion_sort(&mut sorted, |a, b| key_less(&a.0, &b.0));
                Yaml::Map(
                    sorted
                        .iter()
                        .map(|(k, v)| (k.to_yaml(), v.to_yaml()))
                        .collect(),
                )
            }
        }
    }
}

/// One problem found while decoding, with its position in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `customization.meta[0].key`; empty for the document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// All the problems of one schematic text.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub Vec<Problem>);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(Problem::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ParseError {}

impl Schematic {
    /// Parses a schematic (YAML or JSON) as the factory does: the first document only, unknown
    /// or repeated keys and values of the wrong type refused.
    pub fn parse(text: &str) -> Result<Schematic, ParseError> {
        crate::util::on_deep_stack(|| Schematic::parse_here(text))
    }

    fn parse_here(text: &str) -> Result<Schematic, ParseError> {
        let root = yaml_tree::parse_first_document(text.as_bytes()).map_err(|e| {
            ParseError(vec![Problem {
                line: e.mark.line,
                column: e.mark.column,
                field: String::new(),
                message: format!("invalid YAML: {}", e.message),
            }])
        })?;
        decode::decode(root.as_ref()).map_err(ParseError)
    }

    /// Reads and parses the schematic file `relative` of the tree at `root`; errors name the
    /// file, line and field.
    pub fn load(root: &Path, relative: &str) -> anyhow::Result<Schematic> {
        let text = crate::project::read_input(root, relative, crate::project::INPUT_CAP)
            .with_context(|| format!("reading schematic {relative}"))?;
        Schematic::from_text(&text, relative)
    }

    /// Parses schematic text read from `display`; errors name the file, line and field.
    pub fn from_text(text: &str, display: &str) -> anyhow::Result<Schematic> {
        Schematic::parse(text).map_err(|ParseError(problems)| {
            let lines: Vec<String> = problems.iter().map(|p| format!("{display}:{p}")).collect();
            anyhow::anyhow!(
                "schematic {display} is not one the Image Factory accepts:\n{}",
                lines.join("\n")
            )
        })
    }

    /// The canonical YAML: the exact bytes the factory hashes.
    pub fn canonical_yaml(&self) -> String {
        crate::util::on_deep_stack(|| emit::to_canonical_yaml(&self.to_yaml()))
    }

    /// The schematic ID: lowercase hex SHA-256 of the canonical YAML.
    pub fn id(&self) -> String {
        hex(&Sha256::digest(self.canonical_yaml().as_bytes()))
    }

    /// The tree the factory's encoder walks: struct fields in declaration order, empty ones
    /// omitted where the field says `omitempty` (all but `customization` and overlay's
    /// `image`/`name`).
    fn to_yaml(&self) -> Yaml {
        let mut root = Fields::default();
        root.string("owner", &self.owner);
        let overlay = &self.overlay;
        if !(overlay.image.is_empty() && overlay.name.is_empty() && overlay.options.is_empty()) {
            let mut fields = Fields::default();
            fields.always("image", Yaml::Str(overlay.image.clone()));
            fields.always("name", Yaml::Str(overlay.name.clone()));
            if !overlay.options.is_empty() {
                let options = overlay.options.iter();
                let map = options.map(|(k, v)| (Dynamic::Str(k.clone()), v.clone()));
                fields.always("options", Dynamic::Map(map.collect()).to_yaml());
            }
            root.always("overlay", fields.into_yaml());
        }
        let c = &self.customization;
        let mut custom = Fields::default();
        custom.string(
            "embeddedMachineConfiguration",
            &c.embedded_machine_configuration,
        );
        custom.strings("extraKernelArgs", &c.extra_kernel_args);
        if !c.meta.is_empty() {
            let entries = c.meta.iter().map(|m| {
                Yaml::Map(vec![
                    (Yaml::Str("key".into()), Yaml::Plain(m.key.to_string())),
                    (Yaml::Str("value".into()), Yaml::Str(m.value.clone())),
                ])
            });
            custom.always("meta", Yaml::Seq(entries.collect()));
        }
        let mut extensions = Fields::default();
        extensions.strings("officialExtensions", &c.official_extensions);
        custom.nested("systemExtensions", extensions);
        if c.bootloader != Bootloader::None {
            custom.always("bootloader", Yaml::Str(c.bootloader.as_str().into()));
        }
        let mut secureboot = Fields::default();
        secureboot.string("enrollKeys", &c.secureboot.enroll_keys);
        if c.secureboot.include_well_known_certificates {
            secureboot.always("includeWellKnownCertificates", Yaml::Plain("true".into()));
        }
        custom.nested("secureboot", secureboot);
        let mut disk = Fields::default();
        if c.sector_size != 0 {
            disk.always("sectorSize", Yaml::Plain(c.sector_size.to_string()));
        }
        custom.nested("diskImage", disk);
        root.always("customization", custom.into_yaml());
        root.into_yaml()
    }
}

/// Builds a struct's mapping in field order.
#[derive(Default)]
struct Fields(Vec<(Yaml, Yaml)>);

impl Fields {
    fn always(&mut self, name: &str, value: Yaml) {
        self.0.push((Yaml::Str(name.to_string()), value));
    }

    fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.always(name, Yaml::Str(value.to_string()));
        }
    }

    fn strings(&mut self, name: &str, values: &[String]) {
        if !values.is_empty() {
            self.always(
                name,
                Yaml::Seq(values.iter().cloned().map(Yaml::Str).collect()),
            );
        }
    }

    /// A nested struct with `omitempty`: left out when all its fields are.
    fn nested(&mut self, name: &str, fields: Fields) {
        if !fields.0.is_empty() {
            self.always(name, fields.into_yaml());
        }
    }

    fn into_yaml(self) -> Yaml {
        Yaml::Map(self.0)
    }
}

/// Go's sort for a handful of keys is an insertion sort; using it keeps the result identical
/// even for comparisons that are not a strict order (NaN keys).
fn insertion_sort<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Go's reflect kinds, which order map keys of different types.
fn kind_rank(value: &Dynamic) -> u8 {
    match value {
        Dynamic::Bool(_) => 1,
        Dynamic::Int(_) => 2,
        Dynamic::Uint(_) => 11,
        Dynamic::Float(_) => 14,
        Dynamic::Null => 20,
        Dynamic::Map(_) => 21,
        Dynamic::Seq(_) => 23,
        Dynamic::Str(_) => 24,
    }
}

fn key_number(value: &Dynamic) -> Option<f64> {
    match value {
        Dynamic::Bool(b) => Some(f64::from(u8::from(*b))),
        Dynamic::Int(i) => Some(*i as f64),
        Dynamic::Uint(u) => Some(*u as f64),
        Dynamic::Float(f) => Some(*f),
        _ => None,
    }
}

/// The Go library's "natural" key order: numbers by value, strings with digit runs compared
/// as numbers (`b9` < `b10`), other types by kind.
fn key_less(a: &Dynamic, b: &Dynamic) -> bool {
    if let (Some(af), Some(bf)) = (key_number(a), key_number(b)) {
        if af != bf {
            return af < bf;
        }
        if kind_rank(a) != kind_rank(b) {
            return kind_rank(a) < kind_rank(b);
        }
        return match (a, b) {
            (Dynamic::Int(x), Dynamic::Int(y)) => x < y,
            (Dynamic::Uint(x), Dynamic::Uint(y)) => x < y,
            (Dynamic::Float(x), Dynamic::Float(y)) => x < y,
            (Dynamic::Bool(x), Dynamic::Bool(y)) => !x && *y,
            _ => false,
        };
    }
    let (Dynamic::Str(a), Dynamic::Str(b)) = (a, b) else {
        return kind_rank(a) < kind_rank(b);
    };
    natural_less(a, b)
}

fn natural_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            digits = is_go_digit(ar[i]);
            continue;
        }
        let (al, bl) = (is_go_letter(ar[i]), is_go_letter(br[i]));
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && is_go_digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && is_go_digit(ar[ai]) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u32) - i64::from(b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_go_digit(br[bi]) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u32) - i64::from(b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Go's `unicode.IsLetter` (category L). Exact for ASCII; beyond it Rust's alphabetic
/// property, less the numeric and combining characters it adds, is the closest std offers.
fn is_go_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.is_alphabetic() && !c.is_numeric()
    }
}

/// Go's `unicode.IsDigit` (category Nd), for ASCII digits; other scripts' digits are not
/// told apart here (std has no category table), which only matters for such option keys.
fn is_go_digit(c: char) -> bool {
    c.is_ascii_digit()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, with YAML's spellings of the special values.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Go's -1 precision does.
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    // With the shortest precision Go switches to %e below 1e-4 and from 1e6 on.
    if !(-4..6).contains(&exponent) {
        return go_exponent_form(sign, &digits, exponent);
    }
    let point = exponent + 1;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

fn go_exponent_form(sign: &str, digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests;
