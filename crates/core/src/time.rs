//! Timestamps as the upstreams send them, parsed to UTC.
//!
//! Accepted shapes (whitespace around the value is ignored):
//! - RFC 3339 / ISO 8601 with an offset: `2020-11-10T20:33:32.609434Z`
//! - CloudMC's 12-hour clock with a zone: `2017-12-21 4:41:33 PM Z`
//! - VSS's 24-hour clock with a zone abbreviation, with the weekday current
//!   VSS puts after the date (`2020-04-21 Tue 02:10:03 EDT`, vss-cli's
//!   docs/use.rst) or without it as 2017-era VSS did (`2017-11-17 13:51:31 EST`).
//!   The weekday is checked against the date; a mismatch is `None`.
//! - A naive date-time: `2024-01-15 10:30:00` or `2024-01-15T10:30:00`,
//!   **assumed to be UTC** (the action module documents its other timestamps in
//!   UTC with `Z`, so its naive history times are read the same way).
//!
//! Zone abbreviations understood: UTC, GMT, Z, UT and North America's
//! (NST/NDT, AST/ADT, EST/EDT, CST/CDT, MST/MDT, PST/PDT, AKST/AKDT, HST/HDT), plus
//! numeric offsets like `+0100` or `-05:00`. Anything else yields `None`; this
//! module never panics and never errors a whole listing.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, TimeZone, Utc, Weekday};

/// Parses any upstream timestamp shape to UTC; `None` when it cannot.
pub fn parse_timestamp(input: &str) -> Option<DateTime<Utc>> {
    let s = input.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // A trailing zone token (abbreviation or numeric offset) after a space.
    if let Some((body, zone)) = s.rsplit_once(' ')
        && let Some(offset) = zone_offset(zone)
    {
        return parse_dated(body).and_then(|naive| {
            offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        });
    }
    parse_dated(s).map(|naive| naive.and_utc())
}

/// A naive date-time, with or without a weekday token after the date
/// (`2020-04-21 Tue 02:10:03`); the weekday must be the date's.
fn parse_dated(s: &str) -> Option<NaiveDateTime> {
    if let Some((date, rest)) = s.split_once(' ')
        && let Some((day, time)) = rest.split_once(' ')
        && day.bytes().all(|b| b.is_ascii_alphabetic())
    {
        let weekday: Weekday = day.parse().ok()?;
        let naive = parse_naive(&format!("{date} {time}"))?;
        return (naive.weekday() == weekday).then_some(naive);
    }
    parse_naive(s)
}

/// DESIGN's rule for one upstream timestamp: parsed to UTC, or, when it
/// cannot be, `None` with the raw text (at most 64 characters) kept under
/// `label`, so one odd value never fails a listing. Blank input is `None`
/// with no label.
pub fn parse_or_label(
    raw: Option<&str>,
    label: &str,
    labels: &mut crate::Labels,
) -> Option<DateTime<Utc>> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    let parsed = parse_timestamp(raw);
    if parsed.is_none() {
        labels.insert(label.to_owned(), raw.chars().take(64).collect());
    }
    parsed
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 6] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %I:%M:%S %p",
        "%Y-%m-%d %I:%M %p",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// The UTC offset of a zone abbreviation or numeric offset.
pub fn zone_offset(zone: &str) -> Option<FixedOffset> {
    let hours = |h: i32, m: i32| FixedOffset::east_opt(h * 3600 + h.signum() * m * 60);
    match zone.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "GMT" | "UT" => hours(0, 0),
        "NST" => FixedOffset::east_opt(-(3 * 3600 + 30 * 60)),
        "NDT" => FixedOffset::east_opt(-(2 * 3600 + 30 * 60)),
        "AST" => hours(-4, 0),
        "ADT" => hours(-3, 0),
        "EST" => hours(-5, 0),
        "EDT" => hours(-4, 0),
        "CST" => hours(-6, 0),
        "CDT" => hours(-5, 0),
        "MST" => hours(-7, 0),
        "MDT" => hours(-6, 0),
        "PST" => hours(-8, 0),
        "PDT" => hours(-7, 0),
        "AKST" => hours(-9, 0),
        "AKDT" => hours(-8, 0),
        "HST" => hours(-10, 0),
        "HDT" => hours(-9, 0),
        other => numeric_offset(other),
    }
}

fn numeric_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        parse_timestamp(s)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    }

    #[test]
    fn every_upstream_shape_parses_to_utc() {
        assert_eq!(utc("2017-12-21 4:41:33 PM Z"), "2017-12-21T16:41:33+00:00");
        assert_eq!(utc("2017-12-21 4:41:33 AM Z"), "2017-12-21T04:41:33+00:00");
        assert_eq!(utc("2017-12-21 12:05:00 AM Z"), "2017-12-21T00:05:00+00:00");
        assert_eq!(utc("2017-11-17 13:51:31 EST"), "2017-11-17T18:51:31+00:00");
        assert_eq!(utc("2017-07-01 13:51:31 EDT"), "2017-07-01T17:51:31+00:00");
        assert_eq!(utc("2017-07-01 13:51:31 PDT"), "2017-07-01T20:51:31+00:00");
        assert_eq!(utc("2017-07-01 13:51:31 NST"), "2017-07-01T17:21:31+00:00");
        assert_eq!(utc("2024-01-15 10:30:00"), "2024-01-15T10:30:00+00:00");
        assert_eq!(utc("2024-01-15T10:30:00"), "2024-01-15T10:30:00+00:00");
        assert_eq!(
            utc("2024-01-15 10:30:00 +0100"),
            "2024-01-15T09:30:00+00:00"
        );
        assert_eq!(
            utc("2020-11-10T20:33:32.609434Z"),
            "2020-11-10T20:33:32.609434+00:00"
        );
        assert_eq!(
            utc("2024-01-15T10:30:00-05:00"),
            "2024-01-15T15:30:00+00:00"
        );
    }

    #[test]
    fn vss_timestamps_parse_with_and_without_the_weekday_in_every_zone() {
        // Current VSS (vss-cli docs/use.rst) and the 2017-era form.
        assert_eq!(
            utc("2020-04-21 Tue 02:10:03 EDT"),
            "2020-04-21T06:10:03+00:00"
        );
        assert_eq!(utc("2017-03-13 15:24:44 EDT"), "2017-03-13T19:24:44+00:00");
        assert_eq!(
            utc("2020-04-21 tue 02:10:03 edt"),
            "2020-04-21T06:10:03+00:00"
        );
        assert_eq!(
            utc("2020-04-21 Tuesday 02:10:03 EDT"),
            "2020-04-21T06:10:03+00:00"
        );
        assert_eq!(utc("2020-04-21 Tue 02:10:03"), "2020-04-21T02:10:03+00:00");
        for (zone, hours_behind) in [
            ("UTC", 0.0),
            ("GMT", 0.0),
            ("Z", 0.0),
            ("NST", 3.5),
            ("NDT", 2.5),
            ("AST", 4.0),
            ("ADT", 3.0),
            ("EST", 5.0),
            ("EDT", 4.0),
            ("CST", 6.0),
            ("CDT", 5.0),
            ("MST", 7.0),
            ("MDT", 6.0),
            ("PST", 8.0),
            ("PDT", 7.0),
            ("AKST", 9.0),
            ("AKDT", 8.0),
            ("HST", 10.0),
            ("HDT", 9.0),
        ] {
            let local = chrono::NaiveDate::from_ymd_opt(2020, 4, 21)
                .unwrap()
                .and_hms_opt(2, 10, 3)
                .unwrap();
            let want = (local + chrono::Duration::minutes((hours_behind * 60.0) as i64)).and_utc();
            for s in [
                format!("2020-04-21 Tue 02:10:03 {zone}"),
                format!("2020-04-21 02:10:03 {zone}"),
            ] {
                assert_eq!(parse_timestamp(&s), Some(want), "{s}");
            }
        }
        // A weekday that is not the date's, or not a weekday: not guessed.
        for s in [
            "2020-04-21 Wed 02:10:03 EDT",
            "2020-04-21 Xyz 02:10:03 EDT",
            "2020-04-21 Tue Tue 02:10:03 EDT",
        ] {
            assert!(parse_timestamp(s).is_none(), "{s}");
        }
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        for s in [
            "",
            " ",
            "yesterday",
            "2017-13-45 99:99:99",
            "2017-11-17 13:51:31 XYZ",
            "2017-11-17 13:51:31 +99:99",
            "2017-11-17 13:51:31 +",
            "\u{0}",
            "٢٠١٧-١١-١٧",
            "2017-12-21 13:41:33 PM Z",
        ] {
            assert!(parse_timestamp(s).is_none(), "{s:?}");
        }
    }

    #[test]
    fn unparseable_values_become_a_label_and_blanks_nothing() {
        let mut labels = crate::Labels::new();
        assert!(parse_or_label(Some("2024-01-15 10:30:00"), "created_raw", &mut labels).is_some());
        assert!(parse_or_label(Some("  "), "created_raw", &mut labels).is_none());
        assert!(parse_or_label(None, "created_raw", &mut labels).is_none());
        assert!(labels.is_empty());
        assert!(parse_or_label(Some("soon"), "created_raw", &mut labels).is_none());
        assert_eq!(labels["created_raw"], "soon");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = parse_timestamp(&s);
        }
    }
}
