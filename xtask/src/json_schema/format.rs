//! The `format`s the schemas assert: `date-time` (RFC 3339 §5.6) and `uri` (RFC 3986 §3, an
//! absolute URI with an optional fragment). Any other format is refused when a schema is loaded.

use std::net::Ipv6Addr;

#[derive(Debug, Clone, Copy)]
pub enum Format {
    DateTime,
    Uri,
}

impl Format {
    pub fn named(name: &str) -> Result<Format, String> {
        match name {
            "date-time" => Ok(Format::DateTime),
            "uri" => Ok(Format::Uri),
            other => Err(format!(
                "format \"{other}\" is not checked by xtask's schema validator (it checks \
                 date-time and uri)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::DateTime => "date-time",
            Format::Uri => "uri",
        }
    }

    pub fn admits(self, text: &str) -> bool {
        match self {
            Format::DateTime => is_date_time(text),
            Format::Uri => is_uri(text),
        }
    }
}

/// `full-date "T" full-time`; `T` and `Z` in either case; a leap second only where the time,
/// moved to UTC, is 23:59:60.
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return false;
    };
    if !(at(4, b'-') && at(7, b'-') && matches!(b.get(10), Some(b'T' | b't'))) {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (digits(11, 2), digits(14, 2), digits(17, 2))
    else {
        return false;
    };
    if !(at(13, b':') && at(16, b':')) {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let fraction = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if fraction == 0 {
            return false;
        }
        i += 1 + fraction;
    }
    // The offset in minutes east of UTC.
    let offset: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let (Some(h), Some(m)) = (digits(i + 1, 2), digits(i + 4, 2)) else {
                return false;
            };
            if !at(i + 3, b':') || h > 23 || m > 59 {
                return false;
            }
            let minutes = i64::from(h * 60 + m);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return false,
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    if second == 60 {
        let utc_minute = (i64::from(hour * 60 + minute) - offset).rem_euclid(24 * 60);
        return utc_minute == 23 * 60 + 59;
    }
    true
}

/// `scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, ASCII only.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.bytes();
    if !scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((hier, query)) => (hier, Some(query)),
        None => (rest, None),
    };
    let path = match hier.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            if !is_authority(&after[..end]) {
                return false;
            }
            &after[end..]
        }
        None => hier,
    };
    let query_chars = |part: &str| is_encoded(part, |c| is_pchar(c) || c == b'/' || c == b'?');
    is_encoded(path, |c| is_pchar(c) || c == b'/')
        && query.is_none_or(query_chars)
        && fragment.is_none_or(query_chars)
}

/// `[ userinfo "@" ] host [ ":" port ]`.
fn is_authority(authority: &str) -> bool {
    let (userinfo, host_port) = match authority.split_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    if !userinfo.is_none_or(|u| is_encoded(u, |c| is_unreserved(c) || is_sub_delim(c) || c == b':'))
    {
        return false;
    }
    let (host_ok, port) = if let Some(literal) = host_port.strip_prefix('[') {
        match literal.split_once(']') {
            Some((inside, port)) => (is_ip_literal(inside), port),
            None => return false,
        }
    } else {
        let (host, port) = match host_port.find(':') {
            Some(colon) => host_port.split_at(colon),
            None => (host_port, ""),
        };
        (
            is_encoded(host, |c| is_unreserved(c) || is_sub_delim(c)),
            port,
        )
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| digits.bytes().all(|c| c.is_ascii_digit())))
}

/// `IPv6address / IPvFuture` between the brackets.
fn is_ip_literal(inside: &str) -> bool {
    if let Some(future) = inside.strip_prefix(['v', 'V']) {
        return future.split_once('.').is_some_and(|(version, rest)| {
            !version.is_empty()
                && version.bytes().all(|c| c.is_ascii_hexdigit())
                && !rest.is_empty()
                && rest
                    .bytes()
                    .all(|c| is_unreserved(c) || is_sub_delim(c) || c == b':')
        });
    }
    inside.parse::<Ipv6Addr>().is_ok()
}

/// Every byte is `allowed` or starts a `%XX` escape.
fn is_encoded(part: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let b = part.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_pchar(c: u8) -> bool {
    is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'@'
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}
