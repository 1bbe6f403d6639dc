//! Hostile input through the binary: what a malicious or broken file can make `validate` (the
//! pre-commit hook) and `image --dry-run` do. Each ends with exit 1 and a message naming the
//! file, the line and the limit, quickly and in bounded memory; never a panic, an abort or a
//! stack overflow.

use std::time::{Duration, Instant};

use crate::support::*;

const SCHEMATIC: &str = "ee/appliance/schematics/metal-amd64.yaml";
const INTENT: &str = "ee/appliance/release.yaml";

/// Nine levels of ten aliases each: a billion nodes once expanded.
fn billion_laughs() -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text
}

/// Runs `args` on `tree`, which must end with exit 1 naming `expected`, within a bound that a
/// hang or an exponential blow-up would exceed on a loaded machine.
fn refused(tree: &Tree, args: &[&str], expected: &[&str]) {
    let started = Instant::now();
    let output = tree.xtask(args);
    let took = started.elapsed();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
    for part in expected {
        assert!(err.contains(part), "{args:?}: expected {part:?} in {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
}

#[test]
fn deeply_nested_or_aliased_schematics_are_refused_with_the_line_and_the_limit() {
    let deep_flow = format!(
        "customization:\n  extraKernelArgs: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_block: String = (0..20_000)
        .map(|depth| format!("{}k{depth}:\n", " ".repeat(depth)))
        .collect();
    let laughs = format!("{}customization: {{}}\n", billion_laughs());
    for (text, expected) in [
        (deep_flow, "exceeded max depth of 10000"),
        (deep_block, "exceeded max depth of 10000"),
        (laughs, "excessive aliasing"),
    ] {
        let tree = Tree::copy();
        tree.write(SCHEMATIC, &text);
        for args in [&["validate"][..], &["image", "--dry-run"]] {
            refused(&tree, args, &[SCHEMATIC, expected]);
        }
    }
}

#[test]
fn nesting_up_to_the_limit_is_a_schematic_like_any_other() {
    // overlay.options is a free map: the factory accepts nesting there up to its limit.
    let depth = 9_990;
    let text = format!(
        "overlay:\n  name: x\n  image: y\n  options:\n    a: {}1{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let tree = Tree::copy();
    tree.write(SCHEMATIC, &text);
    let output = tree.xtask(&["image", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("(computed offline)"));
}

#[test]
fn a_hostile_release_intent_is_refused_with_the_line_and_the_limit() {
    let committed = Tree::copy().read(INTENT);
    let deep = committed.replace(
        "channel: beta ",
        &format!("channel: {}{} ", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let laughs = format!("{}{committed}", billion_laughs());
    for (text, expected) in [(deep, "release.yaml:4:"), (laughs, "excessive aliasing")] {
        let tree = Tree::copy();
        tree.write(INTENT, &text);
        for args in [&["validate"][..], &["image", "--dry-run"]] {
            refused(&tree, args, &[INTENT, expected]);
        }
    }
}

#[test]
fn a_large_well_formed_schematic_does_not_crash() {
    // About 30 MB: a million kernel arguments.
    let mut text = String::from("customization:\n  extraKernelArgs:\n");
    for i in 0..1_000_000 {
        text.push_str(&format!("    - console=ttyS{i},115200n8\n"));
    }
    assert!(text.len() > 30_000_000);
    let tree = Tree::copy();
    tree.write(SCHEMATIC, &text);
    let output = tree.xtask(&["image", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_huge_answer_from_the_factory_is_refused_at_its_cap_in_bounded_memory() {
    for request in ["GET /versions", "POST /schematics"] {
        let factory = Factory::start(Behaviour::default().with(request, Fault::Huge));
        let tree = Tree::copy();
        let before = tree.contents();
        let args = tree.image_args(&factory, &[]);
        let command = tree.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let (code, err, peak_kib) = run_measured(command);
        assert_eq!(code, Some(1), "{request}: {err}");
        let path = request.split(' ').nth(1).unwrap();
        assert!(
            err.contains(&format!(
                "{}{path}: the answer is larger than 4194304 bytes",
                factory.url()
            )),
            "{request}: {err}"
        );
        assert!(peak_kib < 64 * 1024, "{request}: peak RSS {peak_kib} KiB");
        assert_unchanged(&tree, &before);
    }
}

/// Seeded byte-level mutations of the committed schematic and intent, written as files
/// (invalid UTF-8 and NUL included): `validate` and `--dry-run` end with exit 0, or 1 and a
/// message, never a panic, an abort or a hang. The in-process property tests
/// (`xtask/src/mutate.rs`) run thousands of text-level cases.
#[test]
fn mutated_files_end_in_a_verdict_through_the_binary() {
    let committed = Tree::copy();
    let bases = [
        (SCHEMATIC, committed.read(SCHEMATIC).into_bytes()),
        (INTENT, committed.read(INTENT).into_bytes()),
    ];
    let mut state: u64 = 0x5eed;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let tree = Tree::copy();
    for case in 0..120 {
        let (file, base) = &bases[case % 2];
        let mut bytes = base.clone();
        for _ in 0..1 + next(3) {
            let at = next(bytes.len() + 1);
            match next(4) {
                0 => bytes.truncate(at),
                1 if !bytes.is_empty() => {
                    let (i, byte) = (at.min(bytes.len() - 1), [0xff, 0xc3, 0x00, 0x80][next(4)]);
                    bytes[i] = byte;
                }
                2 => bytes
                    .splice(at..at, b"\0\xfe[{&a *a".iter().copied().take(1 + next(9)))
                    .for_each(drop),
                _ => bytes
                    .splice(at..at, std::iter::repeat_n(b'[', next(30_000)))
                    .for_each(drop),
            }
        }
        for (other, original) in &bases {
            std::fs::write(tree.path(other), original).unwrap();
        }
        std::fs::write(tree.path(file), &bytes).unwrap();
        for args in [&["validate"][..], &["image", "--dry-run"]] {
            let started = Instant::now();
            let output = tree.xtask(args);
            let err = stderr(&output);
            let code = output.status.code();
            assert!(
                matches!(code, Some(0 | 1)),
                "case {case}, {args:?}: exit {code:?}: {err}"
            );
            assert!(
                code == Some(0) || err.contains("error"),
                "case {case}: {err}"
            );
            assert!(!err.contains("panicked"), "case {case}, {args:?}: {err}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "case {case}, {args:?} took {:?}",
                started.elapsed()
            );
        }
    }
}
