//! A recorded release planned again from its record, for the steps that ask the factory for it
//! anew: `image --check` (compare) and `fetch` (restore its media). Every input comes from the
//! manifest; the schematic from the factory's stored copy of the recorded ID, or else from the
//! commit the release was cut from (the resolve stage registers it again).

use anyhow::{Context, bail};

use crate::cli::Pins;
use crate::host::http::Client;
use crate::host::progress::Progress;
use crate::image::factory::Factory;
use crate::image::image_ref::ImageRef;
use crate::image::intent::Intent;
use crate::image::manifest::Manifest;
use crate::image::plan::{AirGapPlan, Plan, factory_url_given, registry_mirrors};
use crate::image::version::ReleaseVersion;
use crate::{image::trust, project};

/// A recorded release and the plan that asks the factory for the same things again.
pub struct Replay {
    pub recorded: Manifest,
    pub plan: Plan,
}

/// Plans `version` again from its record; the signature policy and registry mirrors are
/// today's (`intent`, `pins`), as is the factory URL when one is given.
pub fn replay(
    root: &std::path::Path,
    intent: &Intent,
    pins: &Pins,
    version: &ReleaseVersion,
    client: &Client,
    progress: &Progress,
) -> anyhow::Result<Replay> {
    let recorded = Manifest::load_recorded(root, version)?;
    let policy = intent
        .installer_signature
        .clone()
        .map(|policy| trust::load_policy(root, policy))
        .transpose()?;
    let (schematic_text, source) = recorded_schematic(root, &recorded, pins, client, progress)?;
    let air_gap = recorded_air_gap(&recorded, intent, pins)?;
    let plan = Plan::from_record(
        root,
        &recorded,
        schematic_text,
        &source,
        factory_url_given(pins.factory_url.as_ref()).as_ref(),
        policy,
        air_gap,
    )?;
    Ok(Replay { recorded, plan })
}

/// The bundle a recorded release has, to resolve its images again: every image but the
/// installer, fetched through today's mirrors (site infrastructure, not release content).
fn recorded_air_gap(
    recorded: &Manifest,
    intent: &Intent,
    pins: &Pins,
) -> anyhow::Result<Option<AirGapPlan>> {
    let Some(air_gap) = &recorded.air_gap else {
        return Ok(None);
    };
    let file = project::manifest_path(&recorded.release_version);
    let images = air_gap
        .others()
        .map(|(i, image)| {
            ImageRef::parse(&image.reference)
                .with_context(|| format!("{file}: /airGap/images/{i}/ref"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(AirGapPlan {
        file: project::file_name(&air_gap.path).to_string(),
        path: air_gap.path.clone(),
        images,
        mirrors: registry_mirrors(&intent.registry_mirrors, &pins.registry_mirror)?,
    }))
}

/// The schematic the release was cut from: the factory's stored copy of the recorded ID, or,
/// when the factory no longer has it, the file at the recorded commit (the resolve stage
/// registers it again). Returns its text and where it came from.
fn recorded_schematic(
    root: &std::path::Path,
    recorded: &Manifest,
    pins: &Pins,
    client: &Client,
    progress: &Progress,
) -> anyhow::Result<(String, String)> {
    let id = &recorded.talos.schematic_id;
    let factory_url = crate::image::plan::recorded_factory(
        recorded,
        factory_url_given(pins.factory_url.as_ref()).as_ref(),
    )
    .context("the factory of the recorded release")?;
    if let Some(stored) = Factory::new(client, &factory_url).stored_schematic(id)? {
        let text = String::from_utf8(stored)
            .with_context(|| format!("{}/schematics/{id} is not UTF-8", factory_url.base))?;
        return Ok((text, format!("{}/schematics/{id}", factory_url.base)));
    }
    let path = &recorded.talos.schematic_path;
    if let Some(source) = recorded.source.as_ref().filter(|s| s.dirty) {
        let inputs: Vec<&str> = source.inputs.iter().map(|i| i.path.as_str()).collect();
        bail!(
            "the factory no longer has schematic {id}, and {} was cut from a dirty tree ({} differed from {}), so git cannot give the schematic it used; register it again by hand, or record the release anew",
            project::manifest_path(&recorded.release_version),
            inputs.join(", "),
            source.describe()
        );
    }
    let Some(commit) = recorded.source.as_ref().and_then(|s| s.commit.clone()) else {
        bail!(
            "the factory no longer has schematic {id}, and {} names no source.commit to take {path} from; register the schematic again by hand, or record the release anew",
            project::manifest_path(&recorded.release_version)
        );
    };
    // `recorded` was checked against the schema (`load_recorded`: a commit is 40 or 64 hex
    // digits), and git is told where its options end.
    let spec = format!("{commit}:{path}");
    let bytes = super::provenance::committed(root, &commit, path).with_context(|| {
        format!(
            "the factory no longer has schematic {id}, and `git show {spec}` fails (a shallow clone? fetch the history: actions/checkout with fetch-depth: 0)"
        )
    })?;
    let text = String::from_utf8(bytes).with_context(|| format!("{spec} is not UTF-8"))?;
    progress.println(&format!(
        "the factory no longer has schematic {id}: taking it from {path} at {commit}, to register it again"
    ));
    Ok((text, format!("{path} at {commit}")))
}
