//! The release manifest, `ee/appliance/releases/<releaseVersion>.json`: the record of one
//! release's artifact pair. Built in one place from the plan and the facts a run resolved,
//! checked against the JSON Schema and for internal consistency, then written atomically.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::talos::{self, FactoryUrl, TalosVersion};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub release_version: String,
    pub generated_at: String,
    pub channel: String,
    pub talos: Talos,
    pub kubernetes: Kubernetes,
    pub os: Os,
    pub app: App,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Talos {
    pub version: String,
    pub schematic_id: String,
    pub schematic_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<Extension>>,
}

/// One official extension as the factory's catalogue listed it for this Talos version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub digest: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Kubernetes {
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Os {
    pub platform: String,
    pub architecture: String,
    pub iso: Iso,
    pub installer: Installer,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Iso {
    /// The factory's address (stable), never a CDN redirect target.
    pub url: String,
    pub local_path: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Installer {
    pub image: String,
    /// `sha256:<hex>`, present only when the registry answered with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub version: String,
    pub values_profile: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub commit: String,
}

/// What a real run learned that the plan could not know.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub generated_at: String,
    pub iso_sha256: String,
    pub iso_size: u64,
    pub installer_digest: Option<String>,
    pub extensions: Vec<Extension>,
    pub source_commit: Option<String>,
}

impl Manifest {
    /// The one place a manifest is assembled.
    pub fn record(plan: &Plan, resolved: &Resolved) -> Manifest {
        Manifest {
            release_version: plan.release_version.clone(),
            generated_at: resolved.generated_at.clone(),
            channel: plan.channel.clone(),
            talos: Talos {
                version: plan.talos_version.to_string(),
                schematic_id: plan.schematic_id.clone(),
                schematic_path: plan.schematic_path.clone(),
                factory_url: Some(plan.factory.base.clone()),
                extensions: Some(resolved.extensions.clone()),
            },
            kubernetes: Kubernetes {
                version: plan.kubernetes_version.clone(),
            },
            os: Os {
                platform: plan.platform.clone(),
                architecture: plan.architecture.clone(),
                iso: Iso {
                    url: plan.iso_url.clone(),
                    local_path: plan.iso_path.clone(),
                    sha256: resolved.iso_sha256.clone(),
                    size: Some(resolved.iso_size),
                },
                installer: Installer {
                    image: plan.installer_image.clone(),
                    digest: resolved.installer_digest.clone(),
                },
            },
            app: App {
                version: plan.app_version.clone(),
                values_profile: plan.values_profile.clone(),
            },
            source: resolved
                .source_commit
                .clone()
                .map(|commit| Source { commit }),
        }
    }

    /// The manifest a run would write, as `--dry-run --json` shows it: what only a real run
    /// can know is null.
    pub fn planned_json(plan: &Plan, source_commit: Option<String>) -> serde_json::Value {
        let mut value = serde_json::to_value(Manifest::record(
            plan,
            &Resolved {
                source_commit,
                ..Resolved::default()
            },
        ))
        .expect("a manifest serialises");
        value["generatedAt"] = serde_json::Value::Null;
        value["talos"]["extensions"] = serde_json::Value::Null;
        value["os"]["iso"]["sha256"] = serde_json::Value::Null;
        value["os"]["iso"]["size"] = serde_json::Value::Null;
        value["os"]["installer"]["digest"] = serde_json::Value::Null;
        value
    }

    /// Pretty JSON with a final newline, as committed.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        text.push('\n');
        text
    }

    /// Rules the schema cannot express: the ISO URL and installer image carry this manifest's
    /// own schematic ID and Talos version and follow the naming rules; the file is named after
    /// the release. `file_stem` is the manifest's file name without `.json`.
    pub fn consistency_problems(&self, file_stem: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if file_stem != self.release_version {
            problems.push(format!(
                "file name says release {file_stem} but releaseVersion is {}",
                self.release_version
            ));
        }
        let version = match TalosVersion::parse(&self.talos.version) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("/talos/version: {e:#}"));
                return problems;
            }
        };
        let id = &self.talos.schematic_id;
        let os = &self.os;
        let iso_suffix = format!(
            "/image/{id}/{version}/{}-{}.iso",
            os.platform, os.architecture
        );
        match os.iso.url.strip_suffix(&iso_suffix) {
            None => problems.push(format!(
                "/os/iso/url: {} does not end in {iso_suffix} (this manifest's schematic ID, Talos version, platform and architecture)",
                os.iso.url
            )),
            Some(base) => match FactoryUrl::parse(base) {
                Err(e) => problems.push(format!("/os/iso/url: {e:#}")),
                Ok(factory) => {
                    let expected = talos::installer_image(&factory, id, &version, &os.platform);
                    if os.installer.image != expected {
                        problems.push(format!(
                            "/os/installer/image: expected {expected} (same factory, schematic ID and Talos version as the ISO; `{}installer` naming for Talos {version}), found {}",
                            if version.has_platform_installers() { format!("{}-", os.platform) } else { String::new() },
                            os.installer.image
                        ));
                    }
                    if let Some(recorded) = &self.talos.factory_url
                        && FactoryUrl::parse(recorded).ok().map(|f| f.base) != Some(factory.base.clone())
                    {
                        problems.push(format!(
                            "/talos/factoryUrl: {recorded} is not the factory of /os/iso/url ({})",
                            factory.base
                        ));
                    }
                }
            },
        }
        let expected_path =
            crate::project::iso_path(&self.release_version, &os.platform, &os.architecture);
        if os.iso.local_path != expected_path {
            problems.push(format!(
                "/os/iso/localPath: expected {expected_path}, found {}",
                os.iso.local_path
            ));
        }
        if let Err(e) = crate::talos::kubernetes_supported(&version, &self.kubernetes.version) {
            problems.push(format!("/kubernetes/version: {e:#}"));
        }
        problems
    }
}

/// A compiled JSON Schema with format checks on.
pub struct Schema {
    validator: jsonschema::Validator,
}

impl Schema {
    pub fn load(path: &Path, display: &str) -> anyhow::Result<Schema> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {display}"))?;
        let schema: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{display} is not JSON"))?;
        jsonschema::draft202012::meta::validate(&schema).map_err(|e| {
            anyhow::anyhow!("{display} is not a valid draft 2020-12 JSON Schema: {e}")
        })?;
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| anyhow::anyhow!("{display}: cannot compile the schema: {e}"))?;
        Ok(Schema { validator })
    }

    /// Every violation as `<JSON pointer>: <message>`.
    pub fn problems(&self, instance: &serde_json::Value) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let pointer = if pointer.is_empty() {
                    "/".to_string()
                } else {
                    pointer
                };
                format!("{pointer}: {e}")
            })
            .collect()
    }
}
