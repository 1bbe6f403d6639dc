//! The first YAML document of a text as a tree of nodes that keep what the Image Factory's
//! decoder looks at: each scalar's raw text, style and explicit tag, anchors and aliases, and
//! the line and column it came from (for error messages). Parsing is libyaml's, the same
//! scanner and parser the factory's Go YAML library is a port of.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::ptr::{NonNull, addr_of_mut};
use std::rc::Rc;

use libyaml_rs as sys;

/// How a scalar was written in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A position in the source, 1-based as editors show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Scalar {
        value: String,
        style: Style,
    },
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
    /// `*name`: decoded as the anchored node; kept distinct because the duplicate-key check
    /// compares aliases by name, not by what they point at.
    Alias {
        name: String,
        target: Rc<Node>,
    },
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    /// The explicit tag in its short form (`!!str`, `!!int`, `!foo`); `None` when there was no
    /// tag or only the non-specific `!`.
    pub tag: Option<String>,
    pub mark: Mark,
}

/// A YAML syntax error with the position libyaml reported.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

/// Deepest nesting of collections accepted, as the factory's Go YAML library allows
/// ("exceeded max depth of 10000"); counted explicitly, so the input never decides how deep the
/// tool recurses beyond it.
pub const MAX_DEPTH: usize = 10_000;

/// Upper bound on nodes reachable through aliases, so that a "billion laughs" document is an
/// error instead of an exhausted machine. Real schematics have a few dozen nodes.
const MAX_EXPANDED_NODES: usize = 100_000;

/// Parses the first document of `text`. `Ok(None)` for a text with no document at all.
pub fn parse_first_document(text: &[u8]) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new(text);
    let mut builder = Builder {
        parser: &mut parser,
        anchors: HashMap::new(),
        expanded: 0,
    };
    builder.document()
}

struct Builder<'p, 'i> {
    parser: &'p mut Parser<'i>,
    anchors: HashMap<String, Rc<Node>>,
    expanded: usize,
}

impl Builder<'_, '_> {
    fn document(&mut self) -> Result<Option<Node>, SyntaxError> {
        loop {
            let event = self.parser.next()?;
            match event.kind {
                EventKind::StreamStart => continue,
                EventKind::StreamEnd => return Ok(None),
                EventKind::DocumentStart => break,
                _ => return Err(internal(event.mark, "expected a document")),
            }
        }
        let first = self.parser.next()?;
        let root = self.node(first)?;
        Ok(Some(root))
    }

    /// The node `first` starts, read iteratively: open collections wait on an explicit stack,
    /// whose height is the nesting depth and is capped at `MAX_DEPTH`.
    fn node(&mut self, first: Event) -> Result<Node, SyntaxError> {
        let mut open: Vec<Open> = Vec::new();
        let mut event = first;
        loop {
            let mark = event.mark;
            let done = match event.kind {
                EventKind::Scalar {
                    anchor,
                    tag,
                    value,
                    style,
                } => self.anchored(
                    anchor,
                    Node {
                        kind: Kind::Scalar { value, style },
                        tag,
                        mark,
                    },
                ),
                EventKind::SequenceStart { anchor, tag }
                | EventKind::MappingStart { anchor, tag }
                    if open.len() >= MAX_DEPTH =>
                {
                    let _ = (anchor, tag);
                    return Err(SyntaxError {
                        mark,
                        message: format!(
                            "exceeded max depth of {MAX_DEPTH} nested collections (the limit of the Image Factory's YAML decoder)"
                        ),
                    });
                }
                EventKind::SequenceStart { anchor, tag } => {
                    open.push(Open {
                        anchor,
                        tag,
                        mark,
                        body: Body::Sequence(Vec::new()),
                    });
                    event = self.parser.next()?;
                    continue;
                }
                EventKind::MappingStart { anchor, tag } => {
                    open.push(Open {
                        anchor,
                        tag,
                        mark,
                        body: Body::Mapping(Vec::new(), None),
                    });
                    event = self.parser.next()?;
                    continue;
                }
                EventKind::SequenceEnd | EventKind::MappingEnd => {
                    let Some(Open {
                        anchor,
                        tag,
                        mark,
                        body,
                    }) = open.pop()
                    else {
                        return Err(internal(mark, "a collection ends that never started"));
                    };
                    let kind = match body {
                        Body::Sequence(items) => Kind::Sequence(items),
                        Body::Mapping(pairs, None) => Kind::Mapping(pairs),
                        Body::Mapping(_, Some(_)) => {
                            return Err(internal(mark, "a mapping key without a value"));
                        }
                    };
                    self.anchored(anchor, Node { kind, tag, mark })
                }
                EventKind::Alias { name } => self.alias(name, mark)?,
                _ => return Err(internal(mark, "unexpected event")),
            };
            match open.last_mut().map(|o| &mut o.body) {
                None => return Ok(done),
                Some(Body::Sequence(items)) => items.push(done),
                Some(Body::Mapping(pairs, key)) => match key.take() {
                    None => *key = Some(done),
                    Some(key) => pairs.push((key, done)),
                },
            }
            event = self.parser.next()?;
        }
    }

    /// An alias of an anchored node; every node reached through aliases counts towards
    /// `MAX_EXPANDED_NODES`, so a "billion laughs" document is refused at once.
    fn alias(&mut self, name: String, mark: Mark) -> Result<Node, SyntaxError> {
        let target = self
            .anchors
            .get(&name)
            .cloned()
            .ok_or_else(|| SyntaxError {
                mark,
                message: format!("unknown anchor '{name}' referenced"),
            })?;
        self.expanded += count_nodes(&target);
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(SyntaxError {
                mark,
                message: format!(
                    "document contains excessive aliasing (more than {MAX_EXPANDED_NODES} nodes through aliases)"
                ),
            });
        }
        Ok(Node {
            kind: Kind::Alias { name, target },
            tag: None,
            mark,
        })
    }

    /// `node`, remembered under its anchor: later aliases decode as it.
    fn anchored(&mut self, anchor: Option<String>, node: Node) -> Node {
        if let Some(name) = anchor {
            self.anchors.insert(name, Rc::new(node.clone()));
        }
        node
    }
}

/// A collection whose end has not been read yet.
struct Open {
    anchor: Option<String>,
    tag: Option<String>,
    mark: Mark,
    body: Body,
}

enum Body {
    Sequence(Vec<Node>),
    /// The pairs so far, and a key waiting for its value.
    Mapping(Vec<(Node, Node)>, Option<Node>),
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar { .. } => 1,
        Kind::Sequence(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Mapping(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
        Kind::Alias { target, .. } => count_nodes(target),
    }
}

/// Dropped iteratively: a tree as deep as `MAX_DEPTH` would otherwise be freed by recursion
/// whose depth the input decides.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending: Vec<Node> = Vec::new();
        take_children(&mut self.kind, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_children(&mut node.kind, &mut pending);
        }
    }
}

fn take_children(kind: &mut Kind, into: &mut Vec<Node>) {
    match kind {
        Kind::Sequence(items) => into.append(items),
        Kind::Mapping(pairs) => {
            for (key, value) in pairs.drain(..) {
                into.push(key);
                into.push(value);
            }
        }
        Kind::Scalar { .. } | Kind::Alias { .. } => {}
    }
}

impl Node {
    /// The node with anchor definitions and aliases looked through.
    pub fn resolved(&self) -> &Node {
        match &self.kind {
            Kind::Alias { target, .. } => target.resolved(),
            _ => self,
        }
    }
}

fn internal(mark: Mark, message: &str) -> SyntaxError {
    SyntaxError {
        mark,
        message: message.to_string(),
    }
}

enum EventKind {
    StreamStart,
    StreamEnd,
    DocumentStart,
    /// A document end, or any event this reader does not expect inside a document.
    DocumentEnd,
    Alias {
        name: String,
    },
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: String,
        style: Style,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    MappingEnd,
}

struct Event {
    kind: EventKind,
    mark: Mark,
}

/// A safe owner of a libyaml parser reading from a borrowed byte slice.
struct Parser<'input> {
    // Boxed so that the parser, which libyaml keeps pointers into, never moves.
    raw: Box<sys::yaml_parser_t>,
    _input: std::marker::PhantomData<&'input [u8]>,
}

impl<'input> Parser<'input> {
    fn new(input: &'input [u8]) -> Self {
        let mut uninit: Box<MaybeUninit<sys::yaml_parser_t>> = Box::new(MaybeUninit::uninit());
        // SAFETY: yaml_parser_initialize fully initialises the struct it is given (it zeroes it
        // first); it fails only on allocation failure, which aborts in Rust anyway. The input
        // slice outlives the parser through the 'input lifetime.
        let raw = unsafe {
            let ptr = uninit.as_mut_ptr();
            if sys::yaml_parser_initialize(ptr).fail {
                panic!("libyaml could not allocate a parser");
            }
            sys::yaml_parser_set_input_string(ptr, input.as_ptr(), input.len() as _);
            Box::from_raw(Box::into_raw(uninit).cast::<sys::yaml_parser_t>())
        };
        Parser {
            raw,
            _input: std::marker::PhantomData,
        }
    }

    fn next(&mut self) -> Result<Event, SyntaxError> {
        let mut event = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised and pinned in its box; yaml_parser_parse writes a
        // complete event on success, which is converted into owned data and then freed once.
        unsafe {
            let parser = addr_of_mut!(*self.raw);
            if (&(*parser)).error != sys::YAML_NO_ERROR {
                return Err(parse_error(parser));
            }
            let event_ptr = event.as_mut_ptr();
            if sys::yaml_parser_parse(parser, event_ptr).fail {
                return Err(parse_error(parser));
            }
            let converted = convert_event(&*event_ptr);
            sys::yaml_event_delete(event_ptr);
            Ok(converted)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialised in `new` and is deleted exactly once.
        unsafe { sys::yaml_parser_delete(addr_of_mut!(*self.raw)) }
    }
}

fn mark_of(mark: sys::yaml_mark_t) -> Mark {
    Mark {
        line: mark.line as usize + 1,
        column: mark.column as usize + 1,
    }
}

/// SAFETY: `parser` must point at an initialised parser that reported an error.
unsafe fn parse_error(parser: *const sys::yaml_parser_t) -> SyntaxError {
    unsafe {
        let parser = &*parser;
        let problem = c_string(parser.problem.cast()).unwrap_or_else(|| "syntax error".into());
        let message = match c_string(parser.context.cast()) {
            Some(context) => format!("{context}: {problem}"),
            None => problem,
        };
        SyntaxError {
            mark: mark_of(parser.problem_mark),
            message,
        }
    }
}

/// SAFETY: `ptr` must be null or point at a NUL-terminated string.
unsafe fn c_string(ptr: *const u8) -> Option<String> {
    let ptr = NonNull::new(ptr.cast_mut())?;
    let cstr = unsafe { std::ffi::CStr::from_ptr(ptr.as_ptr().cast()) };
    Some(String::from_utf8_lossy(cstr.to_bytes()).into_owned())
}

/// libyaml reports tags in their long form; the factory's decoder reasons about short ones.
fn short_tag(tag: String) -> Option<String> {
    if tag == "!" {
        return None;
    }
    match tag.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => Some(format!("!!{rest}")),
        None => Some(tag),
    }
}

/// SAFETY: `event` must be an event libyaml produced and has not freed yet.
unsafe fn convert_event(event: &sys::yaml_event_t) -> Event {
    let mark = mark_of(event.start_mark);
    let tag = |ptr: *mut u8| unsafe { c_string(ptr).and_then(short_tag) };
    let kind = unsafe {
        match event.type_ {
            sys::YAML_STREAM_START_EVENT => EventKind::StreamStart,
            sys::YAML_STREAM_END_EVENT => EventKind::StreamEnd,
            sys::YAML_DOCUMENT_START_EVENT => EventKind::DocumentStart,
            sys::YAML_ALIAS_EVENT => EventKind::Alias {
                name: c_string(event.data.alias.anchor).unwrap_or_default(),
            },
            sys::YAML_SCALAR_EVENT => {
                let data = event.data.scalar;
                let bytes = std::slice::from_raw_parts(data.value, data.length as usize);
                EventKind::Scalar {
                    anchor: c_string(data.anchor),
                    tag: tag(data.tag),
                    // libyaml only produces valid UTF-8 from its (validated) input.
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    style: match data.style {
                        sys::YAML_SINGLE_QUOTED_SCALAR_STYLE => Style::SingleQuoted,
                        sys::YAML_DOUBLE_QUOTED_SCALAR_STYLE => Style::DoubleQuoted,
                        sys::YAML_LITERAL_SCALAR_STYLE => Style::Literal,
                        sys::YAML_FOLDED_SCALAR_STYLE => Style::Folded,
                        _ => Style::Plain,
                    },
                }
            }
            sys::YAML_SEQUENCE_START_EVENT => EventKind::SequenceStart {
                anchor: c_string(event.data.sequence_start.anchor),
                tag: tag(event.data.sequence_start.tag),
            },
            sys::YAML_SEQUENCE_END_EVENT => EventKind::SequenceEnd,
            sys::YAML_MAPPING_START_EVENT => EventKind::MappingStart {
                anchor: c_string(event.data.mapping_start.anchor),
                tag: tag(event.data.mapping_start.tag),
            },
            sys::YAML_MAPPING_END_EVENT => EventKind::MappingEnd,
            _ => EventKind::DocumentEnd,
        }
    };
    Event { kind, mark }
}
