//! The canonical YAML writer: byte for byte what the factory's Go YAML library writes for a
//! decoded schematic (indent 4, sequences indented inside their key, unlimited width, UTF-8
//! raw, LF, no document marker). It follows libyaml's emitter: the writer chooses a style per
//! string (`string_style`), the emitter vetoes what the characters do not allow
//! (`ScalarAnalysis`), and indentation follows the library's rules for nested collections.

use super::resolve::{ScalarType, is_base60_float, is_old_bool, resolve_plain};

/// A value in the shape the writer sees it: the schematic's fields already in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    /// A Go string: its style is chosen from its content.
    Str(String),
    /// A number, bool or null, written as given in plain style.
    Plain(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
}

const BEST_INDENT: i64 = 4;
/// libyaml writes longer keys (or multi-line ones) as explicit `? key` entries.
const MAX_SIMPLE_KEY_LENGTH: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// Writes a document whose root is a mapping.
pub fn to_canonical_yaml(root: &Yaml) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
    };
    emitter.node(root, Parent::Root, false);
    // Document end: a final line break.
    emitter.write_indent();
    emitter.out
}

/// Where a node sits, which decides how far a nested block is indented.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Root,
    SequenceItem,
    MappingKey,
    MappingValue,
}

struct Emitter {
    out: String,
    column: i64,
    indent: i64,
    indents: Vec<i64>,
    /// The last character written was whitespace (or nothing yet on this line).
    whitespace: bool,
    /// Only indentation and indicators like `- ` stand on this line so far.
    indention: bool,
}

impl Emitter {
    fn node(&mut self, node: &Yaml, parent: Parent, simple_key: bool) {
        match node {
            Yaml::Str(s) => {
                let requested = string_style(s);
                self.scalar(s, requested, parent, simple_key);
            }
            Yaml::Plain(s) => self.scalar(s, ScalarStyle::Plain, parent, simple_key),
            Yaml::Seq(items) if items.is_empty() => self.empty_flow("[]"),
            Yaml::Map(pairs) if pairs.is_empty() => self.empty_flow("{}"),
            Yaml::Seq(items) => {
                self.increase_indent(false, parent);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Parent::SequenceItem, false);
                }
                self.pop_indent();
            }
            Yaml::Map(pairs) => {
                self.increase_indent(false, parent);
                for (key, value) in pairs {
                    self.write_indent();
                    if is_simple_key(key) {
                        self.node(key, Parent::MappingKey, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(key, Parent::MappingKey, false);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(value, Parent::MappingValue, false);
                }
                self.pop_indent();
            }
        }
    }

    fn empty_flow(&mut self, brackets: &str) {
        let (open, close) = brackets.split_at(1);
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, requested: ScalarStyle, parent: Parent, simple_key: bool) {
        let analysis = ScalarAnalysis::of(value);
        let style = select_style(requested, &analysis, value, simple_key);
        self.increase_indent(true, parent);
        match style {
            ScalarStyle::Plain => self.write_plain(value),
            ScalarStyle::SingleQuoted => self.write_single_quoted(value),
            ScalarStyle::DoubleQuoted => self.write_double_quoted(value),
            ScalarStyle::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    /// libyaml's `increase_indent` with the Go library's change: inside a sequence item the
    /// nested block starts right after `- `; everywhere else it aligns to the next multiple of 4.
    fn increase_indent(&mut self, flow: bool, parent: Parent) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if parent == Parent::SequenceItem {
            self.indent += 2;
        } else {
            self.indent = BEST_INDENT * ((self.indent + BEST_INDENT) / BEST_INDENT);
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// A line break inside a scalar. `\n` is written as a line break; the other Unicode breaks
    /// are written as they are and end the line for indentation purposes.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
        self.indention = true;
    }

    fn write_plain(&mut self, value: &str) {
        if !value.is_empty() && !self.whitespace {
            self.put(' ');
        }
        for c in value.chars() {
            self.put(c);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, value: &str) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in value.chars() {
            if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, value: &str) {
        self.write_indicator("\"", true, false, false);
        for c in value.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{07}' => self.put('a'),
                    '\u{08}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{0B}' => self.put('v'),
                    '\u{0C}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1B}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let code = c as u32;
                        let escaped = if code <= 0xFF {
                            format!("x{code:02X}")
                        } else if code <= 0xFFFF {
                            format!("u{code:04X}")
                        } else {
                            format!("U{code:08X}")
                        };
                        for e in escaped.chars() {
                            self.put(e);
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // The indentation indicator is needed when the content starts with a space, which
        // would otherwise be read as indentation.
        if value.starts_with(' ') {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match value.chars().rev().take(2).collect::<Vec<_>>().as_slice() {
            [] => Some("-"),
            [last, ..] if !is_break(*last) => Some("-"),
            [_] => Some("+"),
            [_, before] if is_break(*before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn is_simple_key(key: &Yaml) -> bool {
    match key {
        Yaml::Str(s) | Yaml::Plain(s) => {
            !ScalarAnalysis::of(s).multiline && s.len() <= MAX_SIMPLE_KEY_LENGTH
        }
        Yaml::Seq(items) => items.is_empty(),
        Yaml::Map(pairs) => pairs.is_empty(),
    }
}

/// The style the Go library asks for a string, before the emitter's veto.
fn string_style(s: &str) -> ScalarStyle {
    if s.contains('\n') {
        let literal = s.len() >= 2 && s.chars().any(|c| !c.is_whitespace());
        return if literal {
            ScalarStyle::Literal
        } else {
            ScalarStyle::DoubleQuoted
        };
    }
    match resolve_plain(s) {
        ScalarType::Merge => ScalarStyle::SingleQuoted,
        ScalarType::Str if is_old_bool(s) || is_base60_float(s) => ScalarStyle::SingleQuoted,
        ScalarType::Str => ScalarStyle::Plain,
        _ => ScalarStyle::DoubleQuoted,
    }
}

/// libyaml's `select_scalar_style`, for block context.
fn select_style(
    requested: ScalarStyle,
    analysis: &ScalarAnalysis,
    value: &str,
    simple_key: bool,
) -> ScalarStyle {
    let mut style = requested;
    if simple_key && analysis.multiline {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::Plain
        && (!analysis.block_plain_allowed || (value.is_empty() && simple_key))
    {
        style = ScalarStyle::SingleQuoted;
    }
    if style == ScalarStyle::SingleQuoted && !analysis.single_quoted_allowed {
        style = ScalarStyle::DoubleQuoted;
    }
    if style == ScalarStyle::Literal && (!analysis.block_allowed || simple_key) {
        style = ScalarStyle::DoubleQuoted;
    }
    style
}

/// What a scalar's characters allow (libyaml's `analyze_scalar`, block context only).
struct ScalarAnalysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl ScalarAnalysis {
    fn of(value: &str) -> Self {
        if value.is_empty() {
            return ScalarAnalysis {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let mut block_indicators = value.starts_with("---") || value.starts_with("...");
        let (mut line_breaks, mut special, mut tabs) = (false, false, false);
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;

        let chars: Vec<char> = value.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let next = chars.get(i + 1).copied();
            let followed_by_whitespace = next.is_none_or(|n| n == ' ' || n == '\t');
            let first = i == 0;
            let last = i + 1 == chars.len();
            if first {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if c == '\t' {
                tabs = true;
            } else if !is_printable(c) {
                special = true;
            }
            if c == ' ' {
                leading_space |= first;
                trailing_space |= last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= first;
                trailing_break |= last;
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break(c) || c == '\0';
        }

        let single = !(break_space || space_break || tabs || special);
        let plain = single
            && !(leading_space || leading_break || trailing_space || trailing_break)
            && !(line_breaks || block_indicators);
        ScalarAnalysis {
            multiline: line_breaks,
            block_plain_allowed: plain,
            single_quoted_allowed: single,
            block_allowed: !(trailing_space || space_break || special),
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's printable set: tab and line feed aside, visible ASCII and the BMP outside
/// C1 controls, surrogates, U+FEFF, U+FFFE and U+FFFF. Characters beyond the BMP count as
/// non-printable there, so they are always escaped.
fn is_printable(c: char) -> bool {
    matches!(c as u32,
        0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD)
        && c != '\u{FEFF}'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[&str]) -> String {
        let seq = Yaml::Seq(values.iter().map(|v| Yaml::Str(v.to_string())).collect());
        to_canonical_yaml(&Yaml::Map(vec![(Yaml::Str("a".into()), seq)]))
    }

    #[test]
    fn strings_choose_their_quotes() {
        assert_eq!(
            args(&[
                "on", "1:20", "<<", "123", "", "a b", "#x", "x #y", "-", "--x"
            ]),
            "a:\n    - 'on'\n    - '1:20'\n    - '<<'\n    - \"123\"\n    - \"\"\n    - a b\n    - '#x'\n    - 'x #y'\n    - '-'\n    - --x\n"
        );
    }

    #[test]
    fn non_printable_and_astral_characters_are_escaped() {
        assert_eq!(
            args(&[
                "tab\there",
                "bell\u{7}",
                "smile\u{1F600}",
                "nbsp\u{A0}x",
                "\u{FEFF}"
            ]),
            "a:\n    - \"tab\\there\"\n    - \"bell\\a\"\n    - \"smile\\U0001F600\"\n    - nbsp\u{A0}x\n    - \"\\uFEFF\"\n"
        );
    }

    #[test]
    fn multi_line_strings() {
        assert_eq!(args(&["a\nb"]), "a:\n    - |-\n      a\n      b\n");
        assert_eq!(args(&["a\n\nb\n"]), "a:\n    - |\n      a\n\n      b\n");
        assert_eq!(args(&["a\n\n"]), "a:\n    - |+\n      a\n\n");
        assert_eq!(args(&[" a\nb"]), "a:\n    - |4-\n       a\n      b\n");
        assert_eq!(
            args(&["a \nb"]),
            "a:\n    - \"a \\nb\"\n",
            "space before a break"
        );
        assert_eq!(
            args(&["\n"]),
            "a:\n    - \"\\n\"\n",
            "too short for a block"
        );
        assert_eq!(args(&[" \n "]), "a:\n    - \" \\n \"\n", "all whitespace");
    }

    #[test]
    fn long_and_multi_line_keys_are_explicit() {
        let long = "k".repeat(129);
        let doc = Yaml::Map(vec![(Yaml::Str(long.clone()), Yaml::Str("v".into()))]);
        assert_eq!(to_canonical_yaml(&doc), format!("? {long}\n: v\n"));
        let doc = Yaml::Map(vec![(Yaml::Str("a\nb".into()), Yaml::Str("v".into()))]);
        assert_eq!(to_canonical_yaml(&doc), "? |-\n    a\n    b\n: v\n");
    }

    #[test]
    fn nested_collections_inside_sequences_start_after_the_dash() {
        let inner = Yaml::Seq(vec![Yaml::Str("x".into()), Yaml::Str("y".into())]);
        let doc = Yaml::Map(vec![(
            Yaml::Str("k".into()),
            Yaml::Seq(vec![inner, Yaml::Map(vec![]), Yaml::Seq(vec![])]),
        )]);
        assert_eq!(
            to_canonical_yaml(&doc),
            "k:\n    - - x\n      - 'y'\n    - {}\n    - []\n"
        );
    }
}
