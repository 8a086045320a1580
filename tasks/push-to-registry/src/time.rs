//! The little calendar arithmetic tag templates need: parse an image's `created` / `build-date`
//! and format seconds since the epoch with a strftime subset, always in UTC (a tag must not
//! depend on the machine's time zone).

/// Seconds since the epoch of an RFC 3339-like time: `2024-05-01`, `2024-05-01T12:00:00`,
/// `2024-05-01 12:00:00.123Z`, `2024-05-01T12:00:00+02:00`. No zone means UTC. Also plain
/// digits (already seconds since the epoch).
pub fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut rest = &text[10..];
    if rest.is_empty() {
        return Some(seconds);
    }
    if !(rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' ')) || rest.len() < 9
    {
        return None;
    }
    let time = &rest[1..];
    let tb = time.as_bytes();
    if tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    let field = |s: &str| -> Option<i64> {
        if s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (h, m, s) = (
        field(&time[0..2])?,
        field(&time[3..5])?,
        field(&time[6..8])?,
    );
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    seconds += h * 3600 + m * 60 + s;
    rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    match rest {
        "" | "Z" | "z" => Some(seconds),
        zone if zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && &zone[3..4] == ":" =>
        {
            let offset = field(&zone[1..3])? * 3600 + field(&zone[4..6])? * 60;
            Some(if zone.starts_with('+') {
                seconds - offset
            } else {
                seconds + offset
            })
        }
        _ => None,
    }
}

/// Formats `seconds` (UTC) with `%Y %m %d %H %M %S %s %%`; any other `%x` is an error.
pub fn format(seconds: i64, pattern: &str) -> Result<String, String> {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('m') => out.push_str(&format!("{mo:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('s') => out.push_str(&seconds.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                return Err(format!(
                    "timestamp format `{pattern}` uses `%{other}`; supported: %Y %m %d %H %M %S %s %%"
                ));
            }
            None => return Err(format!("timestamp format `{pattern}` ends with a lone `%`")),
        }
    }
    Ok(out)
}

/// Checks a format without a time to format.
pub fn check_format(pattern: &str) -> Result<(), String> {
    format(0, pattern).map(drop)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_images_use() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2024-05-01T12:34:56Z"), Some(1_714_566_896));
        assert_eq!(parse("2024-05-01T12:34:56.123456789Z"), Some(1_714_566_896));
        assert_eq!(parse("2024-05-01 12:34:56"), Some(1_714_566_896));
        assert_eq!(parse("2024-05-01T14:34:56+02:00"), Some(1_714_566_896));
        assert_eq!(parse("2024-05-01T10:34:56-02:00"), Some(1_714_566_896));
        assert_eq!(parse("2024-05-01"), Some(1_714_521_600));
        assert_eq!(parse("1714566896"), Some(1_714_566_896));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01T12:34",
            "2024-05-01T12:34:56+0200",
            "2024-05-01T25:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_in_utc() {
        let t = 1_714_566_896;
        assert_eq!(format(t, "%s").unwrap(), "1714566896");
        assert_eq!(format(t, "%Y-%m-%d").unwrap(), "2024-05-01");
        assert_eq!(format(t, "%Y%m%d%H%M%S").unwrap(), "20240501123456");
        assert_eq!(format(t, "v%Y.%m.%d-100%%").unwrap(), "v2024.05.01-100%");
        assert_eq!(
            format(-1, "%Y-%m-%dT%H:%M:%S").unwrap(),
            "1969-12-31T23:59:59"
        );
        assert!(format(t, "%j").unwrap_err().contains("`%j`"));
        assert!(check_format("%Y%").is_err());
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 60, 365, 11_016, 19_844, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
