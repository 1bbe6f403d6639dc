//! The factory's facts, recorded against now, read off `FACTORY_FACTS`: what moved (drift),
//! what moved and is only metadata (a notice), what the record lacks (an older tool wrote it)
//! and what this check does not compare.

use serde_json::Value;

use super::{Change, Compared, FACTORY_FACTS, Fact, ITEMS, NOT_COMPARED_INPUTS, RECORD, expand};

/// One fact the factory gives, recorded one way and now another.
#[derive(Debug, PartialEq)]
pub struct Finding {
    /// JSON pointer into the manifest.
    pub path: String,
    pub recorded: Value,
    pub now: Value,
    /// What it means, in words.
    pub meaning: String,
}

/// Worth knowing, not drift.
#[derive(Debug, PartialEq)]
pub struct Notice {
    pub path: Option<String>,
    pub message: String,
}

/// A record compared with what the factory gives now.
#[derive(Debug, Default)]
pub struct Comparison {
    /// The factory moved: exit 3.
    pub differences: Vec<Finding>,
    /// Catalogue metadata that moved alone.
    pub notices: Vec<Notice>,
    /// Facts the record lacks (an older tool wrote it); not drift.
    pub not_recorded: Vec<String>,
    pub compared: usize,
    /// What was not compared, and why.
    pub not_compared: Vec<(String, &'static str)>,
}

/// One item the facts are about (a medium, the installer, an image, the bundle, an
/// extension), at its pointer in the record and in the manifest made now.
struct Item {
    recorded: String,
    now: String,
}

/// Every fact of `FACTORY_FACTS` in `recorded` against `now` (both manifests as JSON); media
/// and bundle hashes only with `hashes`. What `now` does not have (the check did not fetch it)
/// is not compared.
pub fn compare(recorded: &Value, now: &Value, hashes: bool) -> Comparison {
    let mut out = Comparison::default();
    // Rows of one item, in the table's order; items in the order the table first names them.
    let mut groups: Vec<(&str, Vec<&Fact>)> = Vec::new();
    for fact in FACTORY_FACTS {
        let (parent, _) = fact.pointer.rsplit_once('/').unwrap_or_default();
        match groups.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, facts)) => facts.push(fact),
            None => groups.push((parent, vec![fact])),
        }
    }
    for (parent, facts) in groups {
        for item in items(parent, recorded, now, &mut out.not_recorded) {
            compare_item(&item, &facts, recorded, now, hashes, &mut out);
        }
        // What only --hashes compares is listed as not compared where the record has it.
        if !hashes && !items(parent, recorded, recorded, &mut Vec::new()).is_empty() {
            for fact in &facts {
                if let Compared::WithHashes(why) = fact.compared {
                    let (_, field) = fact.pointer.rsplit_once('/').unwrap_or_default();
                    let shown = format!("{}/{field}", parent.replace("{medium}", "*"));
                    if !out.not_compared.iter().any(|(p, _)| *p == shown) {
                        out.not_compared.push((shown, why));
                    }
                }
            }
        }
    }
    let record = RECORD.iter().map(|r| (r.pointer.to_string(), r.why));
    out.not_compared = std::iter::once((NOT_COMPARED_INPUTS.0.to_string(), NOT_COMPARED_INPUTS.1))
        .chain(record)
        .chain(out.not_compared)
        .collect();
    out
}

/// The items `parent` (a pattern) stands for that both manifests have; one `recorded` lacks
/// and `now` has is not recorded.
fn items(parent: &str, recorded: &Value, now: &Value, not_recorded: &mut Vec<String>) -> Vec<Item> {
    let present =
        |manifest: &Value, pointer: &str| manifest.pointer(pointer).is_some_and(|v| !v.is_null());
    if let Some(array) = parent.strip_suffix("/*") {
        if !present(recorded, array) {
            if present(now, array) {
                not_recorded.push(array.to_string());
            }
            return Vec::new();
        }
        let rule = ITEMS
            .iter()
            .find(|i| i.array == array)
            .expect("an ITEMS row for each array");
        let except = rule.except.and_then(|pointer| recorded.pointer(pointer));
        let list = |manifest: &Value| {
            manifest
                .pointer(array)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let now_items = list(now);
        return list(recorded)
            .iter()
            .enumerate()
            .filter(|(_, item)| except.is_none_or(|except| item[rule.key] != *except))
            .filter_map(|(index, item)| {
                let found = now_items
                    .iter()
                    .position(|n| n[rule.key] == item[rule.key])?;
                Some(Item {
                    recorded: format!("{array}/{index}"),
                    now: format!("{array}/{found}"),
                })
            })
            .collect();
    }
    let mut found = Vec::new();
    for pointer in expand(parent) {
        match (present(recorded, &pointer), present(now, &pointer)) {
            (true, true) => found.push(Item {
                recorded: pointer.clone(),
                now: pointer,
            }),
            (false, true) => not_recorded.push(pointer),
            _ => {}
        }
    }
    found
}

fn compare_item(
    item: &Item,
    facts: &[&Fact],
    recorded: &Value,
    now: &Value,
    hashes: bool,
    out: &mut Comparison,
) {
    let mut moved = false;
    for fact in facts {
        let (_, field) = fact.pointer.rsplit_once('/').unwrap_or_default();
        let counted = match fact.compared {
            Compared::Yes => true,
            Compared::WithHashes(_) => hashes,
            Compared::Alone => !moved,
            Compared::NoticeAlone => false,
            Compared::Key | Compared::Through => continue,
        };
        if !counted && !matches!(fact.compared, Compared::NoticeAlone) {
            continue;
        }
        let path = format!("{}/{field}", item.recorded);
        let null = Value::Null;
        let was = recorded.pointer(&path).unwrap_or(&null);
        let is = now
            .pointer(&format!("{}/{field}", item.now))
            .unwrap_or(&null);
        if is.is_null() {
            // The check did not fetch it.
            continue;
        }
        if was.is_null() {
            out.not_recorded.push(path);
            continue;
        }
        if counted {
            out.compared += 1;
        }
        if was == is {
            continue;
        }
        let change = Change {
            was,
            now: is,
            item: recorded.pointer(&item.recorded).unwrap_or(&null),
            item_now: now.pointer(&item.now).unwrap_or(&null),
            manifest_now: now,
        };
        if matches!(fact.compared, Compared::NoticeAlone) {
            if !moved {
                out.notices.push(Notice {
                    path: Some(path),
                    message: (fact.words)(&change),
                });
            }
            continue;
        }
        moved = true;
        out.differences.push(Finding {
            path,
            recorded: was.clone(),
            now: is.clone(),
            meaning: (fact.words)(&change),
        });
    }
}
