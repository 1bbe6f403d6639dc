//! The next release in preparation: where the manifest the committed intent plans differs from
//! a record, over every input row of the table.

use serde_json::Value;

use crate::project;

use super::{INPUTS, Words, text};

/// Where the committed intent (with flags) differs from a record: the next release in
/// preparation, not drift.
#[derive(Debug, PartialEq)]
pub struct Unreleased {
    pub field: String,
    pub recorded: String,
    pub intent: String,
    pub message: String,
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

/// What moved between two recorded releases, in words, for the notes' "Changes since": every
/// input row of the table that differs (the release version and the channel aside: they name
/// the releases), then the extensions each schematic added or removed.
pub fn changes_between(previous: &Value, this: &Value) -> Vec<String> {
    let mut changes: Vec<String> = INPUTS
        .iter()
        .filter(|input| !matches!(input.field, "releaseVersion" | "channel"))
        .filter_map(|input| {
            let (was, is) = ((input.read)(previous), (input.read)(this));
            (was != is && !(was.is_empty() && matches!(input.words, Words::ArrowIfRecorded)))
                .then(|| format!("{} {was} → {is}", input.field))
        })
        .collect();
    let names = |m: &Value| -> Vec<String> {
        m.pointer("/talos/extensions")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(|e| text(e, "/name")).collect())
            .unwrap_or_default()
    };
    let (was, is) = (names(previous), names(this));
    changes.extend(
        is.iter()
            .filter(|name| !was.contains(name))
            .map(|name| format!("adds extension {name}")),
    );
    changes.extend(
        was.iter()
            .filter(|name| !is.contains(name))
            .map(|name| format!("removes extension {name}")),
    );
    changes
}
