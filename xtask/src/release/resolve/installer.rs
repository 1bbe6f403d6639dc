//! The installer: its digest from the registry (whose `HEAD` builds it), then its signature
//! under the plan's policy. Here an outcome becomes a warning or an error: "warn, or fail under
//! `--require-*`", and for a check, what the record had.

use anyhow::{Context, bail};

use crate::cli::Requirements;
use crate::host::http::Client;
use crate::host::progress::{Line, Progress};
use crate::image::build::InstallerRef;
use crate::image::digest::Digest;
use crate::image::manifest::Signature;
use crate::image::trust::Policy;
use crate::{image::registry, image::signature};

use super::registration::Registration;
use super::{Event, Purpose, Run};

/// What the installer's worker reports: its digest and the signature that verified it.
pub(super) type Outcome = anyhow::Result<(Option<Digest>, Option<Signature>)>;

/// The installer's digest and signature, on a worker of its own.
pub(super) fn start(run: &mut Run, requirements: Requirements, purpose: &Purpose) {
    let shared = run.shared.clone();
    let (reference, policy) = (run.plan.build.installer.clone(), run.plan.trust.clone());
    let (purpose, line, out) = (
        purpose.clone(),
        run.progress.line("installer"),
        run.progress.clone(),
    );
    run.workers.spawn(move || {
        let wanted = Wanted {
            installer: &reference,
            policy: policy.as_ref(),
            requirements,
        };
        let outcome = installer(
            &wanted,
            &shared.client,
            &shared.registration,
            &purpose,
            &line,
            &out,
        );
        Event::Installer(outcome)
    });
}

/// The installer's outcome into what the stage resolved; a failure ends the stage.
pub(super) fn absorb(outcome: Outcome, run: &mut Run) -> anyhow::Result<()> {
    (
        run.resolved.installer_digest,
        run.resolved.installer_signature,
    ) = outcome?;
    Ok(())
}

/// What the installer must be: its reference, the policy its signature must verify under
/// (`None`: not verified) and what the run insists on.
struct Wanted<'a> {
    pub installer: &'a InstallerRef,
    pub policy: Option<&'a Policy>,
    pub requirements: Requirements,
}

/// The installer's digest, then its signature under the plan's policy; what is missing is a
/// warning or an error as the requirements (and, for a check, the record) say.
fn installer(
    wanted: &Wanted,
    client: &Client,
    registration: &Registration,
    purpose: &Purpose,
    line: &Line,
    out: &Progress,
) -> Outcome {
    let Wanted {
        installer,
        requirements,
        ..
    } = *wanted;
    let image = &installer.image;
    line.status(&format!(
        "building… (the factory names the digest once the installer is built; this can take minutes): {image}"
    ));
    let what = format!("resolving the digest of {image}");
    let resolved = registration.repairing(&what, || registry::installer_digest(client, installer));
    let digest = match (resolved, purpose) {
        (Ok(digest), _) => {
            // The digest itself is said once, when the line finishes (a piped log shows every
            // status).
            line.status("digest resolved; verifying its signature");
            Some(digest)
        }
        (Err(error), Purpose::Release) if !requirements.require_digest => {
            out.println(&format!(
                "warning: installer digest of {image} not resolved, so the manifest omits it: {error:#} (pass --require-digest to make this an error)"
            ));
            None
        }
        (Err(error), Purpose::Release) => {
            return Err(error.context(format!(
                "resolving the digest of {image} (--require-digest)"
            )));
        }
        (
            Err(error),
            Purpose::Check {
                manifest_path,
                recorded_digest,
                ..
            },
        ) => {
            if requirements.require_digest || *recorded_digest {
                return Err(error.context(format!(
                    "the installer digest of {image} cannot be resolved, so the check cannot tell whether it moved"
                )));
            }
            out.println(&format!(
                "warning: installer digest of {image} not resolved ({error:#}); {manifest_path} records none either"
            ));
            None
        }
        (Err(error), Purpose::Fetch { manifest_path }) => {
            out.println(&format!(
                "warning: installer digest of {image} not resolved ({error:#}); fetch restores the media {manifest_path} records and does not need it (`cargo xtask image --check` tells whether the installer moved)"
            ));
            None
        }
    };
    let signature = installer_signature(wanted, client, digest.as_ref(), purpose, out);
    let signature = match purpose {
        Purpose::Check { .. } => signature
            .context("the check cannot tell whether the installer is still the signed one")?,
        Purpose::Release => signature?,
        Purpose::Fetch { .. } => signature.unwrap_or_else(|error| {
            out.println(&format!(
                "warning: {error:#}; fetch restores the media and does not need it (`cargo xtask image --check` tells whether the installer moved)"
            ));
            None
        }),
    };
    line.finish(&match (&digest, &signature) {
        (Some(digest), Some(_)) => format!("digest {digest}, signature verified"),
        (Some(digest), None) => format!("digest {digest}, signature not verified"),
        (None, _) => "digest not resolved".to_string(),
    });
    Ok((digest, signature))
}

/// The signature a release records: verified under the plan's policy, or `None` with a
/// warning when nothing can be verified and it is not required. A signature that does not
/// verify is always an error.
fn installer_signature(
    wanted: &Wanted,
    client: &Client,
    digest: Option<&Digest>,
    purpose: &Purpose,
    out: &Progress,
) -> anyhow::Result<Option<Signature>> {
    let Wanted {
        installer,
        policy,
        requirements,
    } = *wanted;
    let image = &installer.image;
    let intent = crate::project::INTENT;
    let Some(policy) = policy else {
        let why = format!("{intent} has no installerSignature policy");
        if requirements.require_signature {
            bail!("the signature of {image} is not verified: {why} (--require-signature)");
        }
        out.println(&format!(
            "warning: the signature of {image} is not verified: {why}; the manifest records no signature"
        ));
        return Ok(None);
    };
    // A pinned policy binds a release; a check requires what the record has.
    let bound = match purpose {
        Purpose::Release => !requirements.allow_unsigned,
        Purpose::Check {
            recorded_signature, ..
        } => *recorded_signature || requirements.require_signature,
        Purpose::Fetch { .. } => false,
    };
    let not_verified = |why: String| -> anyhow::Result<Option<Signature>> {
        match purpose {
            Purpose::Release if bound => bail!(
                "the signature of {image} is not verified: {why}, and {intent} pins the {} policy, which a release must meet; nothing is recorded. If the factory really serves unsigned installers, --allow-unsigned records the digest without a signature",
                policy.describe()
            ),
            Purpose::Release => out.println(&format!(
                "WARNING: recording {image} WITHOUT A VERIFIED SIGNATURE (--allow-unsigned): {why}, although {intent} pins the {} policy; the manifest records no signature",
                policy.describe()
            )),
            Purpose::Check { .. } if bound => {
                bail!("the signature of {image} is not verified: {why}")
            }
            Purpose::Check { .. } => out.println(&format!(
                "warning: the signature of {image} is not verified: {why}; the record has none either"
            )),
            Purpose::Fetch { .. } => out.println(&format!(
                "warning: the signature of {image} is not verified: {why}; fetch restores the media and does not need it"
            )),
        }
        Ok(None)
    };
    let Some(digest) = digest else {
        return not_verified("its digest was not resolved".into());
    };
    let outcome = signature::verify(client, installer, policy, digest).with_context(|| {
        format!(
            "verifying the signature of {image}@{digest} under the {} policy of {}",
            policy.describe(),
            crate::project::INTENT
        )
    })?;
    match outcome {
        signature::Outcome::Verified(signature) => {
            out.println(&format!(
                "verified the signature of {image}@{digest} under the {} policy",
                policy.describe()
            ));
            Ok(Some(signature))
        }
        signature::Outcome::Unsigned(looked) => {
            not_verified(format!("no signature found ({looked})"))
        }
    }
}
