//! The next release in preparation: where the manifest the committed intent plans differs from
//! a record, over every input (`inputs`).

use crate::image::manifest::Manifest;
use crate::project;

use super::{Words, inputs};

/// Where the committed intent (with flags) differs from a record: the next release in
/// preparation, not drift.
#[derive(Debug, PartialEq)]
pub struct Unreleased {
    pub field: String,
    pub recorded: String,
    pub intent: String,
    pub message: String,
}

/// Each input whose value differs between `a` and `b`, with both values, in the table's order.
fn changed(a: &Manifest, b: &Manifest) -> Vec<(super::Input, String)> {
    inputs(a)
        .into_iter()
        .zip(inputs(b))
        .filter(|(was, is)| was.value != is.value)
        .map(|(was, is)| (was, is.value))
        .collect()
}

/// Every input where `planned` (the manifest the committed intent would produce) differs from
/// `recorded`, in words.
pub fn unreleased(recorded: &Manifest, planned: &Manifest) -> Vec<Unreleased> {
    changed(recorded, planned)
        .into_iter()
        .filter_map(|(input, is)| {
            let (field, was) = (input.field, input.value);
            let message = match input.words {
                Words::Arrow => format!("{field} {was} → {is}"),
                Words::ArrowIfRecorded if was.is_empty() => return None,
                Words::ArrowIfRecorded => format!("{field} {was} → {is}"),
                Words::Prepares => {
                    format!("{} prepares {is}: {field} {was} → {is}", project::INTENT)
                }
                Words::SchematicId => format!(
                    "schematic changed: {} has ID {is}, the release has {was} (not released)",
                    planned.talos.schematic_path
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
/// input that differs (the release version and the channel aside: they name the releases),
/// then the extensions each schematic added or removed.
pub fn changes_between(previous: &Manifest, this: &Manifest) -> Vec<String> {
    let mut changes: Vec<String> = changed(previous, this)
        .into_iter()
        .filter(|(input, _)| !matches!(input.field, "releaseVersion" | "channel"))
        .filter(|(input, _)| {
            !(input.value.is_empty() && matches!(input.words, Words::ArrowIfRecorded))
        })
        .map(|(input, is)| format!("{} {} → {is}", input.field, input.value))
        .collect();
    let names = |m: &Manifest| -> Vec<String> {
        (m.talos.extensions.iter().flatten())
            .map(|e| e.name.clone())
            .collect()
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
