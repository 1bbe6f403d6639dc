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
