//! The Windows build under wine, against the loopback factory: a real release, recorded with
//! the same bytes as the Linux build records. Ignored unless asked: `.ci/other-platforms` builds the
//! binary for x86_64-pc-windows-gnu, prepares a wine prefix and runs these with
//! `XTASK_WINDOWS_EXE` set; a run without them reports them as ignored.

use crate::support::*;

/// The Windows build of xtask, from `.ci/other-platforms`.
fn windows_exe() -> String {
    std::env::var("XTASK_WINDOWS_EXE")
        .expect("XTASK_WINDOWS_EXE: the Windows build of xtask (.ci/other-platforms builds it)")
}

#[test]
#[ignore = "needs the Windows build and wine: .ci/other-platforms builds them and runs this"]
fn the_windows_build_records_the_release_the_linux_build_records() {
    let factory = Factory::start(Behaviour::default());
    let (linux, windows) = (Tree::copy(), Tree::copy());
    let output = linux.image(&factory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = windows
        .wine_command(&windows_exe(), &windows.image_args(&factory, &[]))
        .output()
        .expect("run wine");
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    // The same records, byte for byte: manifest, channel, sums; and the served ISO's bytes.
    for file in [
        "ee/appliance/releases/0.1.0.json",
        "ee/appliance/releases/channels/beta.json",
        "ee/appliance/dist/0.1.0/SHA256SUMS",
        "ee/appliance/dist/0.1.0/metal-amd64.iso",
    ] {
        assert_eq!(
            std::fs::read(windows.path(file)).unwrap(),
            std::fs::read(linux.path(file)).unwrap(),
            "{file}"
        );
    }
    assert_eq!(
        std::fs::read(windows.path("ee/appliance/dist/0.1.0/metal-amd64.iso")).unwrap(),
        factory.served("metal-amd64.iso").unwrap()
    );
    // Nothing else was left: no partial file, no journal, no lock.
    assert_eq!(windows.files(), linux.files());
    // And the Windows build finds the tree valid, as the Linux one does.
    let output = windows
        .wine_command(&windows_exe(), &["validate".to_string()])
        .output()
        .expect("run wine");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
#[ignore = "needs the Windows build and wine: .ci/other-platforms builds them and runs this"]
fn the_windows_build_plans_what_the_linux_build_plans() {
    let tree = Tree::copy();
    for args in [
        &["image", "--dry-run"][..],
        &["image", "--dry-run", "--json"],
    ] {
        let linux = tree.xtask(args);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let windows = tree
            .wine_command(&windows_exe(), &args)
            .output()
            .expect("run wine");
        assert!(windows.status.success(), "{}", stderr(&windows));
        assert_eq!(
            String::from_utf8_lossy(&windows.stdout),
            String::from_utf8_lossy(&linux.stdout),
            "{args:?}"
        );
        // And the same on stderr, but for the tree's path (`Z:\…` under wine).
        let without_tree = |output: &std::process::Output| -> Vec<String> {
            stderr(output)
                .lines()
                .filter(|l| !l.starts_with("tree: "))
                .map(String::from)
                .collect()
        };
        assert_eq!(without_tree(&windows), without_tree(&linux), "{args:?}");
        assert!(
            stderr(&windows).contains("tree: Z:\\"),
            "{}",
            stderr(&windows)
        );
    }
}

#[test]
#[ignore = "needs the Windows build and wine: .ci/other-platforms builds them and runs this"]
fn a_crlf_checkout_plans_and_validates_as_the_linux_checkout_does() {
    // What Git for Windows checks out (core.autocrlf=true): every text file with CRLF.
    let (lf, crlf) = (Tree::copy(), Tree::copy());
    for file in crlf.files() {
        if [".yaml", ".json", ".pub"].iter().any(|e| file.ends_with(e)) {
            let text = crlf.read(&file);
            crlf.write(&file, &text.replace("\r\n", "\n").replace('\n', "\r\n"));
        }
    }
    let validate = crlf
        .wine_command(&windows_exe(), &["validate".to_string()])
        .output()
        .expect("run wine");
    assert!(validate.status.success(), "{}", stderr(&validate));
    let args = ["image", "--dry-run", "--json"];
    let windows = crlf
        .wine_command(&windows_exe(), &args.map(String::from))
        .output()
        .expect("run wine");
    assert!(windows.status.success(), "{}", stderr(&windows));
    let linux = lf.xtask(&args);
    // The same plan: the schematic ID, every name and the upgrade path.
    assert_eq!(
        String::from_utf8_lossy(&windows.stdout),
        String::from_utf8_lossy(&linux.stdout)
    );
}
