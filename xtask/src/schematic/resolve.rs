//! What an untagged plain scalar means to the factory's YAML library: null, bool, int, float,
//! timestamp or string. Decoding uses it to coerce values; the canonical writer uses it to
//! decide which strings must be quoted so they read back as strings.

/// The type a plain scalar resolves to (one of YAML 1.1's, as Go's library reads them).
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarType {
    Null,
    Bool(bool),
    Int(i64),
    /// A positive integer above `i64::MAX` (Go's `uint64`).
    Uint(u64),
    Float(f64),
    /// A plain `2024-01-02`-style date or time: decodes as its text, but must be quoted.
    Timestamp,
    /// The merge key `<<`.
    Merge,
    Str,
}

/// Resolves an untagged plain scalar, as Go's YAML library does in `resolve("", s)`.
pub fn resolve_plain(s: &str) -> ScalarType {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarType::Null,
        "true" | "True" | "TRUE" => return ScalarType::Bool(true),
        "false" | "False" | "FALSE" => return ScalarType::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return ScalarType::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return ScalarType::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return ScalarType::Float(f64::NEG_INFINITY),
        "<<" => return ScalarType::Merge,
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => match parse_go_float_after_dot(s) {
            Some(f) => ScalarType::Float(f),
            None => ScalarType::Str,
        },
        b'0'..=b'9' | b'+' | b'-' => resolve_number(s),
        _ => ScalarType::Str,
    }
}

fn resolve_number(s: &str) -> ScalarType {
    if is_timestamp(s) {
        return ScalarType::Timestamp;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(n) = parse_go_int(&plain) {
        return n;
    }
    if is_yaml_style_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return ScalarType::Float(f);
    }
    ScalarType::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: an optional sign, a base
/// prefix (`0x`, `0o`, `0b`, or a leading `0` for octal) and digits of that base.
fn parse_go_int(s: &str) -> Option<ScalarType> {
    let (negative, unsigned) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match unsigned.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &unsigned[2..]),
        [b'0', b'o' | b'O', ..] => (8, &unsigned[2..]),
        [b'0', b'b' | b'B', ..] => (2, &unsigned[2..]),
        [b'0', _, ..] => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i128::try_from(magnitude).ok().map(|m| -m)?;
        i64::try_from(value).ok().map(ScalarType::Int)
    } else if let Ok(v) = i64::try_from(magnitude) {
        Some(ScalarType::Int(v))
    } else if s.starts_with('+') {
        // ParseUint takes no sign: `+` beyond i64 is left to the float rule.
        None
    } else {
        u64::try_from(magnitude).ok().map(ScalarType::Uint)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, the library's float pattern.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat` for text starting with `.`: digits with `_` only between digits,
/// an optional exponent; out of range (infinite) is an error there, so `None` here.
fn parse_go_float_after_dot(s: &str) -> Option<f64> {
    let body = &s[1..];
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    if !digits_with_separators(mantissa) {
        return None;
    }
    if let Some(exp) = exponent {
        let unsigned = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if !digits_with_separators(unsigned) {
            return None;
        }
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let value: f64 = cleaned.parse().ok()?;
    value.is_finite().then_some(value)
}

fn digits_with_separators(s: &str) -> bool {
    !s.is_empty()
        && s.split('_').all(|run| !run.is_empty())
        && s.bytes().all(|c| c.is_ascii_digit() || c == b'_')
}

/// YAML 1.1 booleans that YAML 1.2 reads as strings; written quoted for YAML 1.1 readers.
pub fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// YAML 1.1 base-60 numbers such as `1:20`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]: one digit, or two with the first in 0..=5.
        match (b.get(i), b.get(i + 1)) {
            (Some(d1 @ b'0'..=b'5'), Some(d2)) if d2.is_ascii_digit() => {
                let _ = d1;
                i += 2;
            }
            (Some(d), _) if d.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Go's `time.Parse` with the layouts the library tries for plain scalars:
/// `2006-1-2T15:4:5.999999999Z07:00` (also with `t`), `2006-1-2 15:4:5.999999999`, `2006-1-2`.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let Some((year, month, day, rest)) = parse_date(b) else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    match rest[0] {
        b'T' | b't' => parse_clock(&rest[1..], true),
        b' ' => {
            let trimmed = rest.iter().position(|&c| c != b' ').map(|at| &rest[at..]);
            trimmed.is_some_and(|r| parse_clock(r, false))
        }
        _ => false,
    }
}

/// `2006-1-2`: four-digit year, then one- or two-digit month and day.
fn parse_date(b: &[u8]) -> Option<(u32, u32, u32, &[u8])> {
    let year = std::str::from_utf8(&b[..4]).ok()?.parse().ok()?;
    let (month, rest) = go_getnum(&b[5..])?;
    let rest = rest.strip_prefix(b"-")?;
    let (day, rest) = go_getnum(rest)?;
    Some((year, month, day, rest))
}

/// `15:4:5`, optional fraction, then (with a `T`) `Z` or `±hh:mm`.
fn parse_clock(b: &[u8], zone: bool) -> bool {
    let parse = || -> Option<&[u8]> {
        let (hour, rest) = go_getnum(b)?;
        let (minute, rest) = go_getnum(rest.strip_prefix(b":")?)?;
        let (second, mut rest) = go_getnum(rest.strip_prefix(b":")?)?;
        if hour >= 24 || minute >= 60 || second >= 60 {
            return None;
        }
        if rest.len() >= 2 && matches!(rest[0], b'.' | b',') && rest[1].is_ascii_digit() {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            rest = &rest[1 + digits..];
        }
        if zone {
            rest = parse_zone(rest)?;
        }
        Some(rest)
    };
    parse().is_some_and(<[u8]>::is_empty)
}

fn parse_zone(b: &[u8]) -> Option<&[u8]> {
    if let Some(rest) = b.strip_prefix(b"Z") {
        return Some(rest);
    }
    if b.len() < 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
        return None;
    }
    let two = |d: &[u8]| {
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| (d[0] - b'0') * 10 + (d[1] - b'0'))
    };
    let (hours, minutes) = (two(&b[1..3])?, two(&b[4..6])?);
    (hours <= 24 && minutes <= 60).then_some(&b[6..])
}

/// Go's `getnum(s, false)`: one digit, or two if the second is a digit too.
fn go_getnum(b: &[u8]) -> Option<(u32, &[u8])> {
    let first = b.first().filter(|c| c.is_ascii_digit())?;
    match b.get(1).filter(|c| c.is_ascii_digit()) {
        Some(second) => Some((
            u32::from(first - b'0') * 10 + u32::from(second - b'0'),
            &b[2..],
        )),
        None => Some((u32::from(first - b'0'), &b[1..])),
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_special_values() {
        assert_eq!(resolve_plain(""), ScalarType::Null);
        assert_eq!(resolve_plain("~"), ScalarType::Null);
        assert_eq!(resolve_plain("NULL"), ScalarType::Null);
        assert_eq!(resolve_plain("nULL"), ScalarType::Str);
        assert_eq!(resolve_plain("True"), ScalarType::Bool(true));
        assert_eq!(
            resolve_plain("yes"),
            ScalarType::Str,
            "YAML 1.1 words are strings"
        );
        assert_eq!(resolve_plain("-.Inf"), ScalarType::Float(f64::NEG_INFINITY));
        assert_eq!(resolve_plain("<<"), ScalarType::Merge);
    }

    #[test]
    fn integers_follow_go_base_prefixes() {
        assert_eq!(resolve_plain("0x1F"), ScalarType::Int(31));
        assert_eq!(resolve_plain("0o17"), ScalarType::Int(15));
        assert_eq!(resolve_plain("0b101"), ScalarType::Int(5));
        assert_eq!(resolve_plain("010"), ScalarType::Int(8), "legacy octal");
        assert_eq!(
            resolve_plain("08"),
            ScalarType::Float(8.0),
            "not octal, but a float"
        );
        assert_eq!(resolve_plain("1_000"), ScalarType::Int(1000));
        assert_eq!(resolve_plain("-0"), ScalarType::Int(0));
        assert_eq!(resolve_plain("+12"), ScalarType::Int(12));
        assert_eq!(resolve_plain("0x"), ScalarType::Str);
        assert_eq!(resolve_plain("_1"), ScalarType::Str);
        assert_eq!(
            resolve_plain("18446744073709551615"),
            ScalarType::Uint(u64::MAX)
        );
        assert_eq!(
            resolve_plain("18446744073709551616"),
            ScalarType::Float(18446744073709551616.0)
        );
    }

    #[test]
    fn floats_follow_the_yaml_pattern_and_go_range() {
        assert_eq!(resolve_plain("1e3"), ScalarType::Float(1000.0));
        assert_eq!(resolve_plain(".5"), ScalarType::Float(0.5));
        assert_eq!(resolve_plain("1."), ScalarType::Float(1.0));
        assert_eq!(resolve_plain(".5_5"), ScalarType::Float(0.55));
        assert_eq!(resolve_plain("._5"), ScalarType::Str);
        assert_eq!(
            resolve_plain("1e999"),
            ScalarType::Str,
            "out of range is not a float"
        );
        assert_eq!(resolve_plain("1e"), ScalarType::Str);
        assert_eq!(resolve_plain("1.2.3"), ScalarType::Str);
    }

    #[test]
    fn timestamps_are_real_dates() {
        for ts in [
            "2024-01-02",
            "2024-1-2",
            "2024-02-29",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14T21:59:43Z",
            "2001-12-14 21:59:43.10",
            "2001-12-14   21:59:43",
        ] {
            assert!(is_timestamp(ts), "{ts}");
        }
        for not in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-32",
            "2024-01-02T25:00:00Z",
            "2024-01-02T10:00:00",
            "2024-01-02 ",
            "12024-01-02",
        ] {
            assert!(!is_timestamp(not), "{not}");
        }
    }

    #[test]
    fn base60_and_old_bools() {
        assert!(is_base60_float("1:20"));
        assert!(is_base60_float("-190:20:30.15"));
        assert!(!is_base60_float("1:60"));
        assert!(!is_base60_float("a:1"));
        assert!(is_old_bool("On") && !is_old_bool("oN"));
    }
}
