//! Small helpers every layer uses: hex, "did you mean" hints, sizes and excerpts for messages,
//! response headers, a small file read up to a cap. Nothing here knows about releases, the
//! factory or how the tool writes to disk.

/// `eprintln!` that never panics: with stderr's reader gone (Ctrl-C on `… 2>&1 | tee log`
/// kills `tee` first) the line is lost, never the run. `eprintln!` would panic there, and a
/// panic in the signal handler leaves the run hanging.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

/// Stdout was closed by its reader (`… | head -1`): the run ends quietly, exit 0 (`main`).
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes a task's output to stdout. `print!` panics when the reader has gone; this returns
/// `StdoutClosed` instead, so the run ends quietly.
/// A value deserialised through its parser (`FromStr`), with the parser's whole message as
/// serde's error, so a YAML or JSON error names the field, the line and the rule.
pub fn deserialize_parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = anyhow::Error>,
{
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    text.parse()
        .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))
}

pub fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

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

/// The bytes of a small file (a key, a trusted root, a CA bundle), or `None` when it has more
/// than `cap`: at most `cap` + 1 bytes are read, whatever the file's size.
pub fn read_at_most(path: &std::path::Path, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
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

/// "a differs from" or "a, b differ from": the verb agrees with the list.
pub fn differ_from(items: &[&str]) -> String {
    match items {
        [one] => format!("{one} differs from"),
        many => format!("{} differ from", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_up_to_its_cap_and_refused_past_it() {
        let path = std::env::temp_dir().join(format!("xtask-read-at-most-{}", std::process::id()));
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(
            read_at_most(&path, 5).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
        assert_eq!(read_at_most(&path, 4).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(
            read_at_most(&path, 5).is_err(),
            "a missing file is an error"
        );
    }

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
