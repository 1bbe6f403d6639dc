//! Small helpers every layer uses: hex, "did you mean" hints, sizes and excerpts for messages,
//! response headers. Nothing here knows about releases, the factory or the disk.

/// Lowercase hex of `bytes`, as sha256sum prints digests.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The accepted name closest to a misspelt one, for "did you mean" hints.
pub fn closest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    accepted
        .iter()
        .map(|candidate| (levenshtein(&lower, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= candidate.len().max(3) / 3)
        .min()
        .map(|(_, candidate)| candidate)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// Stack for work whose recursion follows the input's nesting, which the parsers cap (YAML at
/// 10000 levels, as the factory's decoder does): enough for that cap in a debug build, reserved
/// but only touched as deep as the input goes.
const DEEP_STACK: usize = 512 * 1024 * 1024;

/// Runs `work` on a thread with `DEEP_STACK`, so nesting up to the parsers' caps cannot
/// overflow the stack.
pub fn on_deep_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("deep-stack".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, work)
            .expect("a thread for nested input")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A size for people: `600.1 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `bytes` as one line of text (white space folded), cut at `max_chars` with an ellipsis.
pub fn one_line(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max_chars {
        format!("{}…", line.chars().take(max_chars).collect::<String>())
    } else {
        line
    }
}

/// A response header as text, `None` when absent or not visible ASCII.
pub fn header<B>(response: &ureq::http::Response<B>, name: &str) -> Option<String> {
    Some(response.headers().get(name)?.to_str().ok()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_say_what_messages_need() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(
            closest("iscsi-tool", &["iscsi-tools", "zfs"]),
            Some("iscsi-tools")
        );
        assert_eq!(closest("nothing-like", &["zfs"]), None);
        assert_eq!(mib(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(one_line(b"a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("é".repeat(5).as_bytes(), 3), "ééé…");
    }
}
