//! Schedule windows: days, hours, zones (fixed offsets and IANA names), daylight saving time in
//! Europe/Paris and America/New_York, overnight windows and the next open or close instant.

use crate::config::schedule::{next_change, open_at, parse_window, parse_zone, ScheduleError};
use jiff::tz::TimeZone;

/// Seconds since the epoch of an RFC 3339 instant, `2026-03-27T08:00:00Z`.
fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn window(s: &str) -> Vec<crate::config::Window> {
    vec![parse_window(s, &TimeZone::UTC).unwrap_or_else(|e| panic!("{s}: {e}"))]
}

/// The window opens exactly at `open` and closes exactly at `close` (UTC instants).
fn opens_and_closes(w: &[crate::config::Window], open: &str, close: &str) {
    let (o, c) = (at(open), at(close));
    assert!(!open_at(w, o - 1), "closed one second before {open}");
    assert!(open_at(w, o), "open at {open}");
    assert!(open_at(w, c - 1), "open one second before {close}");
    assert!(!open_at(w, c), "closed at {close}");
    assert_eq!(
        next_change(w, o - 3600),
        Some(o),
        "an hour before, it opens at {open}"
    );
    assert_eq!(
        next_change(w, o),
        Some(c),
        "once open, it closes at {close}"
    );
}

#[test]
fn windows_read_days_hours_and_fixed_offsets() {
    let w = parse_window("Mon-Fri 09:00-18:00 UTC+01:00", &TimeZone::UTC).unwrap();
    assert_eq!(w.days, [true, true, true, true, true, false, false]);
    assert_eq!((w.from_minute, w.to_minute), (540, 1080));
    // 2026-12-01 is a Tuesday; 08:30 UTC is 09:30 at UTC+01:00.
    let w = vec![w];
    opens_and_closes(&w, "2026-12-01T08:00:00Z", "2026-12-01T17:00:00Z");
    let india = window("daily 09:00-10:00 UTC+05:30");
    opens_and_closes(&india, "2026-12-01T03:30:00Z", "2026-12-01T04:30:00Z");
    let west = window("daily 09:00-10:00 -05:00");
    opens_and_closes(&west, "2026-12-01T14:00:00Z", "2026-12-01T15:00:00Z");
    let utc = window("Tue 09:00-10:00 UTC");
    opens_and_closes(&utc, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z");
    assert!(window("Sat,Sun 10:00-12:00")[0].days[6]);
    assert!(window("Fri-Mon 10:00-12:00")[0].days[0], "ranges wrap");
}

#[test]
fn a_window_without_a_zone_is_in_the_containers_time_zone() {
    let paris = parse_zone("Europe/Paris").unwrap();
    let w = vec![parse_window("daily 09:00-10:00", &paris).unwrap()];
    opens_and_closes(&w, "2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z");
    // A zone in the window wins over the default.
    let w = vec![parse_window("daily 09:00-10:00 UTC", &paris).unwrap()];
    opens_and_closes(&w, "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z");
}

#[test]
fn paris_office_hours_follow_daylight_saving_time() {
    let w = window("Mon-Fri 09:00-18:00 Europe/Paris");
    // Friday before the change (CET, UTC+1), Monday after it (CEST, UTC+2).
    opens_and_closes(&w, "2026-03-27T08:00:00Z", "2026-03-27T17:00:00Z");
    opens_and_closes(&w, "2026-03-30T07:00:00Z", "2026-03-30T16:00:00Z");
    // Friday evening to Monday morning: closed over the weekend and the change.
    assert_eq!(
        next_change(&w, at("2026-03-27T17:00:00Z")),
        Some(at("2026-03-30T07:00:00Z"))
    );
    // And back in autumn: Friday 23 October in CEST, Monday 26 in CET.
    opens_and_closes(&w, "2026-10-23T07:00:00Z", "2026-10-23T16:00:00Z");
    opens_and_closes(&w, "2026-10-26T08:00:00Z", "2026-10-26T17:00:00Z");
}

#[test]
fn new_york_mornings_follow_daylight_saving_time() {
    let w = window("daily 09:00-10:00 America/New_York");
    // 2026-03-08: EST (UTC-5) becomes EDT (UTC-4).
    opens_and_closes(&w, "2026-03-07T14:00:00Z", "2026-03-07T15:00:00Z");
    opens_and_closes(&w, "2026-03-08T13:00:00Z", "2026-03-08T14:00:00Z");
    // 2026-11-01: back to EST.
    opens_and_closes(&w, "2026-10-31T13:00:00Z", "2026-10-31T14:00:00Z");
    opens_and_closes(&w, "2026-11-01T14:00:00Z", "2026-11-01T15:00:00Z");
}

#[test]
fn the_spring_forward_gap_opens_a_window_when_the_clock_enters_it() {
    // Paris, 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
    let w = window("Sun 02:30-04:00 Europe/Paris");
    opens_and_closes(&w, "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z");
    // A window wholly inside the gap does not open that day; next Sunday it does.
    let gap = window("Sun 02:00-03:00 Europe/Paris");
    assert!(!open_at(&gap, at("2026-03-29T01:00:00Z")));
    assert_eq!(
        next_change(&gap, at("2026-03-28T00:00:00Z")),
        Some(at("2026-04-05T00:00:00Z"))
    );
}

#[test]
fn the_fall_back_hour_keeps_a_window_open_both_times() {
    // Paris, 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice.
    let w = window("Sun 02:00-03:00 Europe/Paris");
    opens_and_closes(&w, "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z");
    assert!(open_at(&w, at("2026-10-25T01:00:00Z")), "across the change");
}

#[test]
fn overnight_windows_end_the_next_day() {
    // 2026-12-04 is a Friday.
    let w = window("Fri 22:00-06:00 UTC");
    opens_and_closes(&w, "2026-12-04T22:00:00Z", "2026-12-05T06:00:00Z");
    assert!(
        !open_at(&w, at("2026-12-04T05:00:00Z")),
        "Friday's early hours belong to Thursday"
    );
    let sunday = window("Sun 23:00-01:00 UTC");
    opens_and_closes(&sunday, "2026-12-06T23:00:00Z", "2026-12-07T01:00:00Z");
}

#[test]
fn weekday_boundaries_skip_the_weekend() {
    let w = window("Mon-Fri 09:00-18:00 UTC");
    assert!(!open_at(&w, at("2026-12-05T10:00:00Z")), "Saturday");
    assert!(!open_at(&w, at("2026-12-06T10:00:00Z")), "Sunday");
    assert_eq!(
        next_change(&w, at("2026-12-04T18:00:00Z")),
        Some(at("2026-12-07T09:00:00Z")),
        "Friday's close to Monday's open"
    );
    let many = vec![
        parse_window("Mon 09:00-10:00", &TimeZone::UTC).unwrap(),
        parse_window("Mon 10:00-11:00", &TimeZone::UTC).unwrap(),
    ];
    assert_eq!(
        next_change(&many, at("2026-12-07T09:00:00Z")),
        Some(at("2026-12-07T11:00:00Z")),
        "back-to-back windows are one opening"
    );
    assert_eq!(
        next_change(&window("daily 00:00-24:00"), 0),
        None,
        "always open"
    );
    assert!(open_at(&window("daily 00:00-24:00"), 0));
}

#[test]
fn bad_windows_and_unknown_zones_say_what_is_wrong() {
    let bad = |s: &str| parse_window(s, &TimeZone::UTC).unwrap_err();
    assert_eq!(bad("Mon 9-10"), ScheduleError::Hours("9-10".into()));
    assert_eq!(
        bad("Funday 09:00-10:00"),
        ScheduleError::Day("Funday".into())
    );
    assert_eq!(
        bad("Mon 10:00-10:00"),
        ScheduleError::Empty("10:00-10:00".into())
    );
    assert_eq!(
        bad("Mon 24:00-06:00"),
        ScheduleError::Hours("24:00-06:00".into())
    );
    assert_eq!(
        bad("09:00-10:00"),
        ScheduleError::Shape("09:00-10:00".into())
    );
    let e = bad("Mon 09:00-10:00 Mars/Olympus");
    assert!(
        e.to_string()
            .starts_with("`Mars/Olympus` is not a time zone"),
        "{e}"
    );
    assert!(e.hint().contains("Europe/Paris"), "{}", e.hint());
    assert!(parse_zone("UTC+15:00").is_err(), "offsets stop at 14 hours");
    assert!(parse_zone("UTC+1").is_err());
    assert!(
        parse_zone("europe/paris").is_ok(),
        "names are matched without case"
    );
}
