//! JSON Schema (draft 2020-12) validation of release manifests and channels, for the keywords
//! the appliance's schemas use. A schema is compiled once; a keyword, format or reference this
//! module does not implement is refused when the schema is loaded, so no part of a schema is
//! ever silently left unchecked. docs/dependencies.md says why this replaced the jsonschema crate.

mod format;
#[cfg(test)]
mod suite;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Number, Value};

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Rendered instances are cut here: a message names the value, it does not reprint the file.
const MAX_RENDERED: usize = 200;

/// Keywords that only annotate, with the JSON type their value must have.
const ANNOTATIONS: &[(&str, JsonType)] = &[
    ("$comment", JsonType::String),
    ("title", JsonType::String),
    ("description", JsonType::String),
    ("examples", JsonType::Array),
    ("deprecated", JsonType::Boolean),
    ("readOnly", JsonType::Boolean),
    ("writeOnly", JsonType::Boolean),
];

/// A compiled schema.
#[derive(Debug)]
pub struct Validator {
    nodes: Vec<Node>,
}

/// One violation: where in the instance (a JSON pointer, "" for the root) and what is wrong.
#[derive(Debug, PartialEq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug)]
enum Node {
    Always(bool),
    Checks(Vec<Check>),
}

#[derive(Debug)]
enum Check {
    Ref(usize),
    Type(Vec<JsonType>),
    Const(Value),
    Enum(Vec<Value>),
    Pattern {
        source: String,
        regex: regex_lite::Regex,
    },
    Format(format::Format),
    MinLength(u64),
    MaxLength(u64),
    Minimum(Number),
    Maximum(Number),
    ExclusiveMinimum(Number),
    ExclusiveMaximum(Number),
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    Required(Vec<String>),
    Properties(Vec<(String, usize)>),
    /// The schema for members not named by the sibling `properties`.
    AdditionalProperties {
        named: Vec<String>,
        schema: usize,
    },
    Items(usize),
    AllOf(Vec<usize>),
    AnyOf(Vec<usize>),
    OneOf(Vec<usize>),
    Not(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    Integer,
    String,
}

impl JsonType {
    const ALL: [JsonType; 7] = [
        JsonType::Array,
        JsonType::Boolean,
        JsonType::Integer,
        JsonType::Null,
        JsonType::Number,
        JsonType::Object,
        JsonType::String,
    ];

    fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::String => "string",
        }
    }

    fn named(name: &str) -> Option<JsonType> {
        JsonType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether `value` is of this type; 1.0 is an integer, as draft 2020-12 says.
    fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (JsonType::Null, Value::Null)
            | (JsonType::Boolean, Value::Bool(_))
            | (JsonType::Object, Value::Object(_))
            | (JsonType::Array, Value::Array(_))
            | (JsonType::Number, Value::Number(_))
            | (JsonType::String, Value::String(_)) => true,
            (JsonType::Integer, Value::Number(n)) => is_integer(n),
            _ => false,
        }
    }
}

impl Validator {
    /// Compiles `schema`; every keyword that is malformed or not implemented here is a problem,
    /// with the JSON pointer of the schema object it sits in.
    pub fn compile(schema: &Value) -> Result<Validator, Vec<Problem>> {
        let mut compiler = Compiler {
            document: schema,
            nodes: Vec::new(),
            compiled: HashMap::new(),
            problems: Vec::new(),
        };
        compiler.subschema(schema, String::new());
        compiler.refuse_loops();
        if compiler.problems.is_empty() {
            Ok(Validator {
                nodes: compiler.nodes,
            })
        } else {
            Err(compiler.problems)
        }
    }

    /// Every violation of the schema by `instance`, in the order the schema states its rules.
    pub fn problems(&self, instance: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.check(0, instance, &mut String::new(), &mut problems);
        problems
    }

    fn is_valid(&self, node: usize, instance: &Value, at: &mut String) -> bool {
        let mut problems = Vec::new();
        self.check(node, instance, at, &mut problems);
        problems.is_empty()
    }

    fn check(&self, node: usize, value: &Value, at: &mut String, out: &mut Vec<Problem>) {
        let checks = match &self.nodes[node] {
            Node::Always(true) => return,
            Node::Always(false) => {
                return problem(
                    out,
                    at,
                    format!("False schema does not allow {}", show(value)),
                );
            }
            Node::Checks(checks) => checks,
        };
        for check in checks {
            match value_problem(check, value) {
                Some(message) => problem(out, at, message),
                None => self.check_within(check, value, at, out),
            }
        }
    }

    /// The keywords that look into the value (its members, its items) or at other schemas.
    fn check_within(&self, check: &Check, value: &Value, at: &mut String, out: &mut Vec<Problem>) {
        match check {
            Check::Ref(target) => self.check(*target, value, at, out),
            Check::Required(names) => {
                if let Value::Object(members) = value {
                    for name in names.iter().filter(|name| !members.contains_key(*name)) {
                        problem(out, at, format!("\"{name}\" is a required property"));
                    }
                }
            }
            Check::Properties(properties) => {
                if let Value::Object(members) = value {
                    for (name, schema) in properties {
                        if let Some(member) = members.get(name) {
                            let len = push_pointer(at, name);
                            self.check(*schema, member, at, out);
                            at.truncate(len);
                        }
                    }
                }
            }
            Check::AdditionalProperties { named, schema } => {
                if let Value::Object(members) = value {
                    self.additional_properties(members, named, *schema, at, out);
                }
            }
            Check::Items(schema) => {
                if let Value::Array(items) = value {
                    for (i, item) in items.iter().enumerate() {
                        let len = push_pointer(at, &i.to_string());
                        self.check(*schema, item, at, out);
                        at.truncate(len);
                    }
                }
            }
            Check::AllOf(schemas) => {
                for schema in schemas {
                    self.check(*schema, value, at, out);
                }
            }
            Check::AnyOf(schemas) if !schemas.iter().any(|s| self.is_valid(*s, value, at)) => {
                problem(
                    out,
                    at,
                    format!(
                        "{} is not valid under any of the schemas listed in the 'anyOf' keyword",
                        show(value)
                    ),
                );
            }
            Check::OneOf(schemas) => {
                let valid = schemas
                    .iter()
                    .filter(|s| self.is_valid(**s, value, at))
                    .count();
                let wrong = match valid {
                    1 => return,
                    0 => "is not valid under any",
                    _ => "is valid under more than one",
                };
                problem(
                    out,
                    at,
                    format!(
                        "{} {wrong} of the schemas listed in the 'oneOf' keyword",
                        show(value)
                    ),
                );
            }
            Check::Not(schema) if self.is_valid(*schema, value, at) => {
                problem(
                    out,
                    at,
                    format!(
                        "{} is valid under the schema in the 'not' keyword",
                        show(value)
                    ),
                );
            }
            // The value's own keywords: `value_problem`.
            _ => {}
        }
    }

    fn additional_properties(
        &self,
        members: &Map<String, Value>,
        named: &[String],
        schema: usize,
        at: &mut String,
        out: &mut Vec<Problem>,
    ) {
        let extra = members.iter().filter(|(name, _)| !named.contains(name));
        if let Node::Always(false) = self.nodes[schema] {
            let names: Vec<String> = extra.map(|(name, _)| format!("'{name}'")).collect();
            if !names.is_empty() {
                let verb = if names.len() == 1 { "was" } else { "were" };
                problem(
                    out,
                    at,
                    format!(
                        "Additional properties are not allowed ({} {verb} unexpected)",
                        names.join(", ")
                    ),
                );
            }
            return;
        }
        for (name, member) in extra {
            let len = push_pointer(at, name);
            self.check(schema, member, at, out);
            at.truncate(len);
        }
    }
}

/// Turns schema JSON into nodes. Each subschema is compiled once, keyed by its JSON pointer in
/// the document, so `$ref`s to the same place share a node and recursive references terminate.
struct Compiler<'a> {
    document: &'a Value,
    nodes: Vec<Node>,
    compiled: HashMap<String, usize>,
    problems: Vec<Problem>,
}

impl Compiler<'_> {
    fn subschema(&mut self, schema: &Value, pointer: String) -> usize {
        if let Some(&index) = self.compiled.get(&pointer) {
            return index;
        }
        let index = self.nodes.len();
        self.nodes.push(Node::Always(true));
        self.compiled.insert(pointer.clone(), index);
        let node = match schema {
            Value::Bool(b) => Node::Always(*b),
            Value::Object(keywords) => Node::Checks(self.checks(keywords, &pointer)),
            other => {
                self.problem(
                    &pointer,
                    format!("a schema is an object or a boolean, not {}", show(other)),
                );
                Node::Always(true)
            }
        };
        self.nodes[index] = node;
        index
    }

    fn checks(&mut self, keywords: &Map<String, Value>, pointer: &str) -> Vec<Check> {
        let mut checks = Vec::new();
        for (keyword, value) in keywords {
            let at = child_pointer(pointer, keyword);
            match self.check(keywords, keyword, value, pointer, &at) {
                Ok(Some(check)) => checks.push(check),
                Ok(None) => {}
                Err(message) => self.problem(&at, message),
            }
        }
        checks
    }

    /// The check one keyword makes, `None` for one that only annotates or structures.
    fn check(
        &mut self,
        siblings: &Map<String, Value>,
        keyword: &str,
        value: &Value,
        pointer: &str,
        at: &str,
    ) -> Result<Option<Check>, String> {
        if let Some((_, expected)) = ANNOTATIONS.iter().find(|(name, _)| *name == keyword) {
            return if expected.admits(value) {
                Ok(None)
            } else {
                Err(format!("must be of type \"{}\"", expected.name()))
            };
        }
        let check = match keyword {
            "$schema" => {
                if value.as_str() != Some(DRAFT_2020_12) {
                    return Err(format!(
                        "only draft 2020-12 schemas are checked: \"$schema\": \"{DRAFT_2020_12}\""
                    ));
                }
                return Ok(None);
            }
            "$id" => {
                if !pointer.is_empty() {
                    return Err(
                        "an $id below the root changes the base URI, which is not supported; \
                         put the schema under $defs and $ref it"
                            .to_string(),
                    );
                }
                value.as_str().ok_or("must be of type \"string\"")?;
                return Ok(None);
            }
            "default" => return Ok(None),
            "$defs" => {
                for (name, schema) in object(value)? {
                    self.subschema(schema, child_pointer(at, name));
                }
                return Ok(None);
            }
            "$ref" => Check::Ref(self.reference(string(value)?)?),
            "type" => Check::Type(types(value)?),
            "const" => Check::Const(value.clone()),
            "enum" => Check::Enum(array(value)?.clone()),
            "pattern" => {
                let source = string(value)?;
                let regex = regex_lite::Regex::new(source)
                    .map_err(|e| format!("{} is not a regular expression: {e}", show(value)))?;
                Check::Pattern {
                    source: source.to_string(),
                    regex,
                }
            }
            "format" => Check::Format(format::Format::named(string(value)?)?),
            "minLength" => Check::MinLength(count(value)?),
            "maxLength" => Check::MaxLength(count(value)?),
            "minimum" => Check::Minimum(number(value)?),
            "maximum" => Check::Maximum(number(value)?),
            "exclusiveMinimum" => Check::ExclusiveMinimum(number(value)?),
            "exclusiveMaximum" => Check::ExclusiveMaximum(number(value)?),
            "minItems" => Check::MinItems(count(value)?),
            "maxItems" => Check::MaxItems(count(value)?),
            "uniqueItems" => match value {
                Value::Bool(true) => Check::UniqueItems,
                Value::Bool(false) => return Ok(None),
                _ => return Err("must be of type \"boolean\"".to_string()),
            },
            "required" => Check::Required(unique_strings(value)?),
            "properties" => Check::Properties(
                object(value)?
                    .iter()
                    .map(|(name, schema)| {
                        (
                            name.clone(),
                            self.subschema(schema, child_pointer(at, name)),
                        )
                    })
                    .collect(),
            ),
            "additionalProperties" => {
                let named = match siblings.get("properties") {
                    Some(Value::Object(properties)) => properties.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                Check::AdditionalProperties {
                    named,
                    schema: self.subschema(value, at.to_string()),
                }
            }
            "items" => Check::Items(self.subschema(value, at.to_string())),
            "allOf" => Check::AllOf(self.subschemas(value, at)?),
            "anyOf" => Check::AnyOf(self.subschemas(value, at)?),
            "oneOf" => Check::OneOf(self.subschemas(value, at)?),
            "not" => Check::Not(self.subschema(value, at.to_string())),
            _ => {
                return Err(format!(
                    "\"{keyword}\" is not a keyword xtask's schema validator implements; use \
                     the ones docs/dependencies.md lists, or extend xtask/src/json_schema"
                ));
            }
        };
        Ok(Some(check))
    }

    fn subschemas(&mut self, value: &Value, at: &str) -> Result<Vec<usize>, String> {
        let schemas = array(value)?;
        if schemas.is_empty() {
            return Err("must list at least one schema".to_string());
        }
        Ok(schemas
            .iter()
            .enumerate()
            .map(|(i, schema)| self.subschema(schema, child_pointer(at, &i.to_string())))
            .collect())
    }

    /// A `$ref` within this document (`#` and a JSON pointer), compiled where it points.
    fn reference(&mut self, reference: &str) -> Result<usize, String> {
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(format!(
                "\"{reference}\": only references within the schema (\"#/...\") are supported"
            ));
        };
        let pointer = percent_decode(fragment)
            .ok_or_else(|| format!("\"{reference}\" is not a percent-encoded JSON pointer"))?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "\"{reference}\": anchors are not supported, only JSON pointers (\"#/$defs/...\")"
            ));
        }
        let target = self
            .document
            .pointer(&pointer)
            .ok_or_else(|| format!("\"{reference}\" points at nothing in this schema"))?;
        Ok(self.subschema(target, pointer))
    }

    /// A cycle of `$ref`s (through allOf, anyOf, oneOf or not) that comes back to a schema
    /// without descending into the instance would never end: refused, naming a schema on it.
    fn refuse_loops(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        let mut looping = Vec::new();
        for start in 0..self.nodes.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // Depth-first with an explicit stack of (node, next edge to follow).
            marks[start] = Mark::OnPath;
            let mut stack = vec![(start, 0)];
            while let Some(top) = stack.last_mut() {
                let (node, next) = *top;
                match same_location(&self.nodes[node]).get(next) {
                    Some(&target) => {
                        top.1 += 1;
                        match marks[target] {
                            Mark::New => {
                                marks[target] = Mark::OnPath;
                                stack.push((target, 0));
                            }
                            Mark::OnPath => looping.push(target),
                            Mark::Done => {}
                        }
                    }
                    None => {
                        marks[node] = Mark::Done;
                        stack.pop();
                    }
                }
            }
        }
        for node in looping {
            let pointer = self
                .compiled
                .iter()
                .find(|(_, index)| **index == node)
                .map(|(pointer, _)| pointer.clone())
                .unwrap_or_default();
            self.problem(
                &pointer,
                "this schema refers back to itself without descending into the instance (a $ref loop)"
                    .to_string(),
            );
        }
    }

    fn problem(&mut self, pointer: &str, message: String) {
        self.problems.push(Problem {
            pointer: pointer.to_string(),
            message,
        });
    }
}

/// The schemas a node applies to the same instance location as itself.
fn same_location(node: &Node) -> Vec<usize> {
    let Node::Checks(checks) = node else {
        return Vec::new();
    };
    let mut targets = Vec::new();
    for check in checks {
        match check {
            Check::Ref(target) | Check::Not(target) => targets.push(*target),
            Check::AllOf(schemas) | Check::AnyOf(schemas) | Check::OneOf(schemas) => {
                targets.extend(schemas)
            }
            _ => {}
        }
    }
    targets
}

fn object(value: &Value) -> Result<&Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| "must be of type \"object\"".to_string())
}

fn array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| "must be of type \"array\"".to_string())
}

fn string(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| "must be of type \"string\"".to_string())
}

fn number(value: &Value) -> Result<Number, String> {
    match value {
        Value::Number(n) => Ok(n.clone()),
        _ => Err("must be of type \"number\"".to_string()),
    }
}

/// A non-negative integer (minLength, maxItems, …); 2.0 counts, as it is an integer.
fn count(value: &Value) -> Result<u64, String> {
    let n = value.as_number().filter(|n| is_integer(n));
    n.and_then(|n| {
        n.as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    })
    .ok_or_else(|| "must be a non-negative integer".to_string())
}

fn types(value: &Value) -> Result<Vec<JsonType>, String> {
    let names: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(names) if !names.is_empty() => names.iter().collect(),
        _ => return Err("must be a type name or a non-empty array of them".to_string()),
    };
    let mut types = Vec::new();
    for name in names {
        let t = name.as_str().and_then(JsonType::named).ok_or_else(|| {
            let all: Vec<&str> = JsonType::ALL.iter().map(|t| t.name()).collect();
            format!("{} is not a JSON type ({})", show(name), all.join(", "))
        })?;
        if types.contains(&t) {
            return Err(format!("\"{}\" is listed twice", t.name()));
        }
        types.push(t);
    }
    Ok(types)
}

fn unique_strings(value: &Value) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for name in array(value)? {
        let name = name
            .as_str()
            .ok_or_else(|| format!("{} is not a string", show(name)))?;
        if names.iter().any(|n| n == name) {
            return Err(format!("\"{name}\" is listed twice"));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// What is wrong with `value` itself under `check` (its type, its value, its length, its
/// bounds, its items' count and uniqueness), or `None`: it passes, or `check` looks inside it
/// (`check_within`).
fn value_problem(check: &Check, value: &Value) -> Option<String> {
    match check {
        Check::Type(types) => (!types.iter().any(|t| t.admits(value))).then(|| {
            let names: Vec<String> = types.iter().map(|t| format!("\"{}\"", t.name())).collect();
            let noun = if types.len() == 1 { "type" } else { "types" };
            format!("{} is not of {noun} {}", show(value), names.join(", "))
        }),
        Check::Const(expected) => {
            (!json_equal(value, expected)).then(|| format!("{} was expected", show(expected)))
        }
        Check::Enum(options) => (!options.iter().any(|o| json_equal(value, o))).then(|| {
            let shown: Vec<String> = options.iter().map(show).collect();
            format!("{} is not one of {}", show(value), or_list(&shown))
        }),
        Check::Pattern { source, regex } => value
            .as_str()
            .filter(|s| !regex.is_match(s))
            .map(|_| format!("{} does not match \"{source}\"", show(value))),
        Check::Format(format) => value
            .as_str()
            .filter(|s| !format.admits(s))
            .map(|_| format!("{} is not a \"{}\"", show(value), format.name())),
        Check::MinLength(min) => value
            .as_str()
            .filter(|s| (s.chars().count() as u64) < *min)
            .map(|_| {
                format!(
                    "{} is shorter than {min} character{}",
                    show(value),
                    plural(*min)
                )
            }),
        Check::MaxLength(max) => value
            .as_str()
            .filter(|s| (s.chars().count() as u64) > *max)
            .map(|_| {
                format!(
                    "{} is longer than {max} character{}",
                    show(value),
                    plural(*max)
                )
            }),
        Check::Minimum(bound) => bounded(value, bound, Ordering::is_ge, "less than the minimum"),
        Check::Maximum(bound) => bounded(value, bound, Ordering::is_le, "greater than the maximum"),
        Check::ExclusiveMinimum(bound) => bounded(
            value,
            bound,
            Ordering::is_gt,
            "less than or equal to the minimum",
        ),
        Check::ExclusiveMaximum(bound) => bounded(
            value,
            bound,
            Ordering::is_lt,
            "greater than or equal to the maximum",
        ),
        Check::MinItems(min) => value
            .as_array()
            .filter(|items| (items.len() as u64) < *min)
            .map(|_| format!("{} has less than {min} item{}", show(value), plural(*min))),
        Check::MaxItems(max) => value
            .as_array()
            .filter(|items| (items.len() as u64) > *max)
            .map(|_| format!("{} has more than {max} item{}", show(value), plural(*max))),
        Check::UniqueItems => value
            .as_array()
            .filter(|items| {
                items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].iter().any(|b| json_equal(a, b)))
            })
            .map(|_| format!("{} has non-unique elements", show(value))),
        _ => None,
    }
}

fn problem(out: &mut Vec<Problem>, at: &str, message: String) {
    out.push(Problem {
        pointer: at.to_string(),
        message,
    });
}

/// A number whose order against `bound` is not `admitted` is `what` of the bound.
fn bounded(
    value: &Value,
    bound: &Number,
    admitted: fn(Ordering) -> bool,
    what: &str,
) -> Option<String> {
    match value {
        Value::Number(n) if !admitted(compare(n, bound)) => {
            Some(format!("{n} is {what} of {bound}"))
        }
        _ => None,
    }
}

/// Appends `/segment` (escaped as RFC 6901 says) and returns the length to truncate back to.
fn push_pointer(pointer: &mut String, segment: &str) -> usize {
    let len = pointer.len();
    pointer.push('/');
    for c in segment.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
    len
}

fn child_pointer(pointer: &str, segment: &str) -> String {
    let mut child = pointer.to_string();
    push_pointer(&mut child, segment);
    child
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// The mathematical order of two JSON numbers, exact for integers of any size serde_json keeps.
fn compare(a: &Number, b: &Number) -> Ordering {
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(i), None) => compare_integer_float(i, b.as_f64().unwrap_or(0.0)),
        (None, Some(i)) => compare_integer_float(i, a.as_f64().unwrap_or(0.0)).reverse(),
        (None, None) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// A float with a fraction is below 2^52 in magnitude, where i128 → f64 keeps the order; a
/// whole float is compared as the integer it is.
fn compare_integer_float(i: i128, f: f64) -> Ordering {
    if f.fract() == 0.0 && f.abs() < 1e38 {
        i.cmp(&(f as i128))
    } else {
        (i as f64).partial_cmp(&f).unwrap_or(Ordering::Equal)
    }
}

/// JSON Schema's equality: numbers by value (1 equals 1.0), objects regardless of order.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Ordering::Equal,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| json_equal(a, b)))
        }
        _ => a == b,
    }
}

/// Compact JSON, cut at `MAX_RENDERED` characters.
fn show(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_RENDERED) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn or_list(items: &[String]) -> String {
    let mut text = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push_str(if i + 1 == items.len() { " or " } else { ", " });
        }
        text.push_str(item);
    }
    text
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
