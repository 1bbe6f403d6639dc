//! The concurrent resolve stage against a factory that builds every asset on its first
//! request: builds asked for at once, a schematic the factory loses, media kept provisional
//! until the record step (so a failed `--force` leaves a recorded release as it was), and
//! signals, cut connections and failures while two media download.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::support::*;

const MANIFEST: &str = "ee/appliance/releases/0.1.0.json";
const DIST: &str = "ee/appliance/dist/0.1.0";
const BOTH: &[&str] = &["--boot-media", "iso,disk-image"];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = BOTH.to_vec();
    args.extend(extra);
    args
}

/// When each asset was first asked for: the ISO, the disk image, the installer manifest.
fn first_requests(factory: &Factory) -> [Instant; 3] {
    let seen = factory.seen();
    let first = |part: &str| {
        seen.iter()
            .find(|s| s.line.contains(part))
            .unwrap_or_else(|| panic!("no request for {part}"))
            .at
    };
    [
        first("/metal-amd64.iso"),
        first("/metal-amd64.raw.zst"),
        first("/manifests/"),
    ]
}

fn spread(times: [Instant; 3]) -> Duration {
    let earliest = *times.iter().min().unwrap();
    let latest = *times.iter().max().unwrap();
    latest - earliest
}

#[test]
fn every_build_is_asked_for_at_once_by_a_release_and_by_a_check() {
    let delay = Duration::from_secs(3);
    let factory = Factory::start(Behaviour {
        build_delay: Some(delay),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let started = Instant::now();
    let output = tree.image(&factory, BOTH);
    let took = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    // Three builds of `delay` each, one after the other, would take 3 delays.
    assert!(took >= delay, "the builds were not waited for: {took:?}");
    assert!(took < 2 * delay, "the builds were not overlapped: {took:?}");
    let asked = first_requests(&factory);
    assert!(
        spread(asked) < Duration::from_secs(1),
        "ISO, disk image and installer were first asked for {:?} apart",
        spread(asked)
    );

    factory.cool_down();
    let before = factory.seen().len();
    let started = Instant::now();
    let check = tree.image(&factory, &with(&["--check"]));
    let took = started.elapsed();
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        took >= delay && took < 2 * delay,
        "--check took {took:?} for three builds of {delay:?}"
    );
    let seen = factory.seen();
    let again = &seen[before..];
    let first = |part: &str| again.iter().find(|s| s.line.contains(part)).unwrap().at;
    let asked = [
        first("/metal-amd64.iso"),
        first("/metal-amd64.raw.zst"),
        first("/manifests/"),
    ];
    assert!(
        spread(asked) < Duration::from_secs(1),
        "{:?}",
        spread(asked)
    );
}

#[test]
fn a_schematic_the_factory_loses_is_registered_again_once() {
    // Lost right after the 201 (read back as 404), and lost at the first asset request.
    for behaviour in [
        Behaviour::default().with_first(1, "POST /schematics", Fault::Unkept),
        Behaviour::default().with_first(1, ASSET_REQUESTS, Fault::Forget),
    ] {
        let factory = Factory::start(behaviour.clone());
        let tree = Tree::copy();
        let output = tree.image(&factory, BOTH);
        let err = stderr(&output);
        assert!(output.status.success(), "{behaviour:?}: {err}");
        assert!(err.contains("registering it again"), "{err}");
        assert_eq!(factory.posts(), 2, "{behaviour:?}: one second POST");
        assert!(factory.saw(&format!("GET /schematics/{APPLIANCE_ID}")));
        let manifest: serde_json::Value = tree.json(MANIFEST);
        assert_eq!(manifest["os"]["iso"]["sha256"], factory.iso_sha256());
    }

    // A factory that never keeps it: the release stops, naming the schematic, nothing left.
    let factory = Factory::start(Behaviour::default().with("POST /schematics", Fault::Unkept));
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &[]);
    assert!(
        stderr(&output).contains(&format!("does not keep schematic {APPLIANCE_ID}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(factory.posts(), 2);
    assert!(
        !factory.saw("GET /image/"),
        "nothing is built for a lost schematic"
    );
}

#[test]
fn a_schematic_read_back_with_other_bytes_stops_the_release() {
    let factory = Factory::start(Behaviour {
        // The 201 names the committed ID, but the factory stores another canonical form.
        register_answer: Some(format!(
            r#"{{"id":"{APPLIANCE_ID}","schematic":"customization: {{}}\n"}}"#
        )),
        ..Behaviour::default()
    });
    let tree = Tree::copy();
    let output = fails_cleanly(&tree, &factory, &[]);
    assert!(
        stderr(&output).contains("canonical YAML differs"),
        "{}",
        stderr(&output)
    );
}

/// A factory that serves other bytes than `Factory::start` for every medium, so a medium
/// renamed over a recorded one would show.
fn other_bytes(behaviour: Behaviour) -> Factory {
    Factory::with_iso(
        Behaviour {
            disk_image_size: 200 * 1024 + 3,
            ..behaviour
        },
        500 * 1024 + 11,
    )
}

#[test]
fn a_failed_force_leaves_the_recorded_release_byte_for_byte() {
    let first = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&first, BOTH);
    let before = tree.contents();

    // The installer is built last; its digest cannot be resolved, which --require-digest
    // makes fatal after both media arrived.
    let factory = other_bytes(
        Behaviour::default()
            .with(INSTALLER_HEADS, Fault::Delay(Duration::from_millis(1500)))
            .with(INSTALLER_HEADS, Fault::NOT_FOUND),
    );
    let output = tree.image(
        &factory,
        &with(&["--force", "--allow-changed-inputs", "--require-digest"]),
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.matches("downloaded ").count() >= 2 && err.contains("(--require-digest)"),
        "both media arrived before the failure: {err}"
    );
    assert_unchanged(&tree, &before);
}

#[test]
fn a_sigterm_after_the_media_arrived_leaves_the_recorded_release_byte_for_byte() {
    let first = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&first, BOTH);
    let before = tree.contents();
    let factory = other_bytes(
        Behaviour::default().with(INSTALLER_HEADS, Fault::Delay(Duration::from_secs(20))),
    );
    let mut child = spawn(
        &tree,
        &factory,
        &with(&["--force", "--allow-changed-inputs"]),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut downloaded = 0;
    let mut log = String::new();
    while downloaded < 2 {
        let line = lines
            .next()
            .expect("the run ended before both media arrived")
            .unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains(": downloaded ") {
            downloaded += 1;
        }
    }
    signal(&child, "TERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{log}{}", rest.join("\n"));
    assert!(
        rest.join("\n").contains("nothing was recorded"),
        "{}",
        rest.join("\n")
    );
    assert_unchanged(&tree, &before);
}

#[test]
fn a_successful_force_replaces_every_file_of_the_release() {
    let first = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&first, BOTH);
    let (old_manifest, old_sums) = (
        tree.read(MANIFEST),
        tree.read(&format!("{DIST}/SHA256SUMS")),
    );
    let factory = other_bytes(Behaviour::default());
    let output = tree.image(&factory, &with(&["--force", "--allow-changed-inputs"]));
    assert!(output.status.success(), "{}", stderr(&output));
    for file in ["metal-amd64.iso", "metal-amd64.raw.zst"] {
        let bytes = std::fs::read(tree.path(&format!("{DIST}/{file}"))).unwrap();
        assert!(
            bytes == factory.served(file).unwrap(),
            "{file} is the new one"
        );
    }
    let sums = tree.read(&format!("{DIST}/SHA256SUMS"));
    assert_ne!(sums, old_sums);
    assert!(sums.contains(&factory.iso_sha256()), "{sums}");
    assert_ne!(tree.read(MANIFEST), old_manifest);
    assert!(partials(&tree).is_empty(), "{:?}", partials(&tree));
    assert!(
        !tree
            .files()
            .iter()
            .any(|f| f.contains(".previous") || f.contains(".journal")),
        "{:?}",
        tree.files()
    );
}

#[test]
fn a_forced_release_whose_channel_cannot_move_puts_back_media_sums_and_manifest() {
    let first = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&first, BOTH);
    const BETA: &str = "ee/appliance/releases/channels/beta.json";
    let keep: Vec<(String, Vec<u8>)> = tree
        .contents()
        .into_iter()
        .filter(|(f, _)| f != BETA)
        .collect();
    // Between the network and the record step, the channel becomes a folder no rename replaces.
    let channel = tree.path(BETA);
    let factory =
        other_bytes(Behaviour::default().with(REGISTRY_REQUESTS, becomes_a_folder(channel)));
    let output = tree.image(&factory, &with(&["--force", "--allow-changed-inputs"]));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("moving channel") && err.contains("was taken back"),
        "{err}"
    );
    let after: Vec<(String, Vec<u8>)> = tree
        .contents()
        .into_iter()
        .filter(|(f, _)| !f.starts_with(BETA))
        .collect();
    assert_eq!(after.len(), keep.len(), "{:?}", tree.files());
    for ((file, now), (_, was)) in after.iter().zip(&keep) {
        assert!(now == was, "{file} is not as it was");
    }
}

#[test]
fn a_run_killed_inside_the_record_step_is_rolled_back_by_the_next() {
    let first = Factory::start(Behaviour::default());
    let tree = Tree::recorded(&first, BOTH);
    let before = tree.contents();
    let factory = other_bytes(Behaviour::default());
    let args = tree.image_args(&factory, &with(&["--force", "--allow-changed-inputs"]));
    let mut child = spawn_inside_record_step(&tree, &args);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    let iso = format!("{DIST}/metal-amd64.iso");
    assert!(
        std::fs::read(tree.path(&iso)).unwrap() == factory.served("metal-amd64.iso").unwrap(),
        "the kill landed after the new media were renamed into place"
    );

    // The next real run, whatever it is for, first puts the recorded release back.
    let again = tree.image(&factory, BOTH);
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rolled back the record step") && err.contains("already recorded"),
        "{err}"
    );
    assert_unchanged(&tree, &before);
}

#[test]
fn a_cut_connection_on_one_medium_resumes_while_the_other_continues() {
    let factory = Factory::start(
        Behaviour {
            ranges: Ranges::Offered,
            ..Behaviour::default()
        }
        .with_first(1, ISO_GETS, Fault::Cut),
    );
    let tree = Tree::copy();
    let output = tree.image(&factory, BOTH);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("resuming at"), "{err}");
    // The ISO resumed once; the disk image was not restarted.
    assert_eq!(factory.iso_requests().len(), 2, "{err}");
    assert_eq!(factory.downloads(".raw.zst").len(), 1, "{err}");
    for file in ["metal-amd64.iso", "metal-amd64.raw.zst"] {
        let bytes = std::fs::read(tree.path(&format!("{DIST}/{file}"))).unwrap();
        assert!(bytes == factory.served(file).unwrap(), "{file}");
    }
}

#[test]
fn one_medium_failing_for_good_removes_the_other_at_once() {
    // The ISO trickles in (about 4 s in all); the disk image is refused at once.
    let factory = Factory::start(
        Behaviour::default()
            .with(DISK_IMAGE_GETS, Fault::NOT_FOUND)
            .with(MEDIA_GETS, Fault::Slow(Duration::from_millis(100))),
    );
    let tree = Tree::copy();
    let started = Instant::now();
    let output = fails_cleanly(&tree, &factory, BOTH);
    assert!(
        stderr(&output).contains("metal-amd64.raw.zst"),
        "{}",
        stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the run waited for the ISO: {:?}",
        started.elapsed()
    );
}
