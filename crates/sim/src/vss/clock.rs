//! VSS renders times in Toronto local time with the weekday and the zone
//! abbreviation (`2020-04-21 Tue 02:10:03 EDT`, vss-cli's docs/use.rst raw
//! JSON); 2017-era VSS left the weekday out (`2017-11-17 13:51:31 EST`, the
//! seed). US/Canada DST rules since 2007: EDT from the second Sunday of
//! March, 02:00 local, to the first Sunday of November, 02:00.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

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

/// `YYYY-MM-DD Ddd HH:MM:SS EST|EDT`, today's form.
pub(crate) fn render(t: DateTime<Utc>) -> String {
    render_as(t, "%Y-%m-%d %a %H:%M:%S")
}

/// `YYYY-MM-DD HH:MM:SS EST|EDT`, the 2017-era form.
pub(crate) fn render_old(t: DateTime<Utc>) -> String {
    render_as(t, "%Y-%m-%d %H:%M:%S")
}

fn render_as(t: DateTime<Utc>, format: &str) -> String {
    let (off, abbr) = if is_dst(t) {
        (EDT, "EDT")
    } else {
        (EST, "EST")
    };
    format!("{} {abbr}", (t + Duration::hours(off)).format(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_the_right_abbreviation() {
        let winter = DateTime::parse_from_rfc3339("2017-11-17T18:51:31Z")
            .unwrap()
            .to_utc();
        assert_eq!(render_old(winter), "2017-11-17 13:51:31 EST");
        assert_eq!(render(winter), "2017-11-17 Fri 13:51:31 EST");
        let summer = DateTime::parse_from_rfc3339("2017-07-01T17:51:31Z")
            .unwrap()
            .to_utc();
        assert_eq!(render_old(summer), "2017-07-01 13:51:31 EDT");
        let docs = DateTime::parse_from_rfc3339("2020-04-21T06:10:03Z")
            .unwrap()
            .to_utc();
        assert_eq!(render(docs), "2020-04-21 Tue 02:10:03 EDT");
    }
}
