//! Property tests: seeded random mutations of real schematics and release intents —
//! truncations, byte flips, inserted YAML syntax, deep nesting, aliases, huge scalars, NUL and
//! control characters — must each end in a value or an error, never a panic, and quickly.
//! `xtask/tests/it/hostile.rs` does the same through the binary for invalid UTF-8 and exit codes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::image::intent::Intent;
use crate::schematic::Schematic;

/// A small deterministic generator (xorshift64*), so a failing case can be replayed by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that make YAML parsers and decoders work hard.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!!int ",
    "\"",
    "'",
    "|\n",
    ">-\n",
    "\n",
    "\t",
    "\0",
    "\u{7}",
    "#",
    "---\n",
    "...\n",
    "? ",
    "%YAML 1.2\n",
    "é",
    "\u{feff}",
    "0x1F",
    "1e3",
    "~",
    "null",
    "yes",
];

/// One mutation of `base`, chosen by `rng`.
pub fn mutate(base: &str, rng: &mut Rng) -> String {
    let mut text = base.to_string();
    for _ in 0..1 + rng.below(4) {
        let at = floor_char(&text, rng.below(text.len() + 1));
        text = match rng.below(7) {
            0 => text[..at].to_string(),
            1 => {
                let mut bytes = text.into_bytes();
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(7);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            2 => {
                let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
                format!("{}{fragment}{}", &text[..at], &text[at..])
            }
            3 => {
                let depth = 1 + rng.below(20_000);
                let (open, close) = if rng.below(2) == 0 {
                    ("[", "]")
                } else {
                    ("{a: ", "}")
                };
                format!(
                    "{}{}{}{}",
                    &text[..at],
                    open.repeat(depth),
                    close.repeat(depth),
                    &text[at..]
                )
            }
            4 => format!(
                "{}{}{}",
                &text[..at],
                "x".repeat(1 + rng.below(200_000)),
                &text[at..]
            ),
            5 => {
                let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
                for i in 1..=rng.below(9) {
                    let refs = vec![format!("*l{}", i - 1); 10].join(", ");
                    laughs.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
                }
                format!("{laughs}{text}")
            }
            _ => {
                let from = floor_char(&text, rng.below(text.len() + 1));
                let (lo, hi) = (from.min(at), from.max(at));
                format!("{}{}", &text, &text[lo..hi])
            }
        };
    }
    text
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Runs `check` on `cases` mutations of each base, failing with the seed and the input (cut)
/// of the first case that panics or uses more than `bound` of CPU time (this thread's, so a
/// loaded machine does not make a case slow). Returns the most CPU time one case used.
pub fn never_panics(bases: &[&str], cases: u64, bound: Duration, check: impl Fn(&str)) -> Duration {
    let mut slowest = Duration::ZERO;
    for seed in 0..cases {
        let mut rng = Rng::new(seed);
        let base = bases[rng.below(bases.len())];
        let input = mutate(base, &mut rng);
        let started = thread_cpu_time();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let took = thread_cpu_time().saturating_sub(started);
        slowest = slowest.max(took);
        let shown: String = input.chars().take(300).collect();
        assert!(outcome.is_ok(), "seed {seed} panicked on {shown:?}");
        assert!(
            took < bound,
            "seed {seed} used {took:?} of CPU on {shown:?}"
        );
    }
    slowest
}

/// The CPU time this thread has used (unix; elsewhere the wall-clock time since the first
/// call, a looser bound on the same work).
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The CPU time this thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; the clock exists on Linux and macOS.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMATIC: &str = include_str!("../tests/data/appliance/schematics/metal-amd64.yaml");
    const INTENT: &str = include_str!("../tests/data/appliance/release.yaml");
    const OVERLAY: &str = "overlay:\n  name: rpi_generic\n  image: siderolabs/sbc-raspberrypi\n  options:\n    b10: [1, 2.5, {k: v}]\n    b9: null\ncustomization:\n  meta:\n    - key: 0xa\n      value: |\n        multi\n        line\n  extraKernelArgs: [console=ttyS0, '-lockdown']\n";

    /// Per case, a bound in CPU time (this thread's, so a loaded machine does not count): the
    /// slowest of the 3000 schematic cases used about 1.5 ms in the dev profile (measured
    /// 2026-12-03), the slowest intent case about 0.8-1.0 s (an 80 KB mutation: the YAML
    /// limits pass alone is 0.5 s unoptimised). 10 s leaves ten times the slowest.
    #[test]
    fn mutated_schematics_parse_or_are_refused_and_what_parses_reads_back_to_its_id() {
        let slowest = never_panics(&[SCHEMATIC, OVERLAY], 3000, CASE_CPU_BOUND, |text| {
            if let Ok(schematic) = Schematic::from_text(text, "mutated.yaml") {
                // What decodes renders to a canonical form that decodes to the same ID:
                // the factory hashes that form.
                let canonical = schematic.canonical_yaml();
                let back = Schematic::from_text(&canonical, "canonical.yaml").unwrap_or_else(|e| {
                    panic!("the canonical form does not decode: {e:#}\n{canonical}")
                });
                assert_eq!(back.id(), schematic.id(), "{canonical}");
                assert_eq!(back.canonical_yaml(), canonical);
            }
        });
        crate::util::say!("slowest schematic case: {slowest:?} of CPU");
    }

    const CASE_CPU_BOUND: Duration = Duration::from_secs(10);

    #[test]
    fn mutated_intents_are_read_or_refused_never_panic() {
        let slowest = never_panics(&[INTENT], 3000, CASE_CPU_BOUND, |text| {
            let _ = Intent::from_text(text, "release.yaml");
        });
        crate::util::say!("slowest intent case: {slowest:?} of CPU");
    }

    #[test]
    fn the_generator_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(mutate(SCHEMATIC, &mut a), mutate(SCHEMATIC, &mut b));
    }
}
