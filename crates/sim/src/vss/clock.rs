//! VSS renders times in Toronto local time with the zone abbreviation
//! (`2017-11-17 13:51:31 EST`). US/Canada DST rules since 2007: EDT from the
//! second Sunday of March, 02:00 local, to the first Sunday of November, 02:00.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};

const EST: i64 = -5;
const EDT: i64 = -4;

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default())
}

/// Whether a UTC instant falls in Toronto's daylight time.
fn is_dst(t: DateTime<Utc>) -> bool {
    // Compare in standard time, where both transitions are at fixed clock times.
    let std_local = (t + Duration::hours(EST)).naive_utc();
    let year = std_local.year();
    let start = nth_sunday(year, 3, 2)
        .and_hms_opt(2, 0, 0)
        .unwrap_or_default();
    let end = nth_sunday(year, 11, 1)
        .and_hms_opt(1, 0, 0)
        .unwrap_or_default();
    std_local >= start && std_local < end
}

/// `YYYY-MM-DD HH:MM:SS EST|EDT`.
pub(crate) fn render(t: DateTime<Utc>) -> String {
    let (off, abbr) = if is_dst(t) {
        (EDT, "EDT")
    } else {
        (EST, "EST")
    };
    format!(
        "{} {abbr}",
        (t + Duration::hours(off)).format("%Y-%m-%d %H:%M:%S")
    )
}

/// A local time with an explicit abbreviation.
pub(crate) fn from_zone(naive: NaiveDateTime, zone: &str) -> Option<DateTime<Utc>> {
    let hours = match zone.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" => 0,
        "EST" => EST,
        "EDT" => EDT,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        _ => return None,
    };
    Some((naive - Duration::hours(hours)).and_utc())
}

/// A naive Toronto local time.
pub(crate) fn from_toronto(naive: NaiveDateTime) -> DateTime<Utc> {
    let as_std = (naive - Duration::hours(EST)).and_utc();
    if is_dst(as_std) {
        (naive - Duration::hours(EDT)).and_utc()
    } else {
        as_std
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_the_right_abbreviation() {
        let winter = DateTime::parse_from_rfc3339("2017-11-17T18:51:31Z")
            .unwrap()
            .to_utc();
        assert_eq!(render(winter), "2017-11-17 13:51:31 EST");
        let summer = DateTime::parse_from_rfc3339("2017-07-01T17:51:31Z")
            .unwrap()
            .to_utc();
        assert_eq!(render(summer), "2017-07-01 13:51:31 EDT");
    }
}
