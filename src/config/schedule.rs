//! `schedule` windows of a scheduled container server (`Mon-Fri 09:00-18:00 Europe/Paris`):
//! parsed, whether an instant falls inside one, and when that next changes. Pure: it knows no
//! clock and no engine; zones come from the IANA database jiff reads (`/usr/share/zoneinfo`).
//!
//! Semantics, decided here and stated in the README:
//! - A window's hours are the **local wall-clock time of its zone**, read at each instant: a
//!   window follows daylight saving time. Nothing is shifted: when the clock springs forward
//!   over part of a window (02:00→03:00), the window opens at the first instant whose wall clock
//!   is inside it (`02:30-04:00` opens at 03:00 that day; `02:00-03:00` does not open at all);
//!   when it falls back (03:00→02:00), a window whose hours are passed twice is open both times.
//! - Days name the day a window **starts**; `22:00-06:00` is an overnight window (`Fri
//!   22:00-06:00` runs from Friday 22:00 to Saturday 06:00). `00:00-24:00` is the whole day; a
//!   window that starts and ends at the same minute is refused (say `00:00-24:00`).
//! - A window without a zone is in the container's `time_zone` (UTC when it names none).

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// A weekly window: days (0 = Monday) on which it starts, minutes of the day, its zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub days: [bool; 7],
    pub from_minute: u32,
    /// Exclusive; at or before `from_minute`: the window ends the next day.
    pub to_minute: u32,
    pub zone: TimeZone,
}

/// Why a window or a zone was refused (the caller adds the key path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is not a window")]
    Shape(String),
    #[error("`{0}` is not a day")]
    Day(String),
    #[error("`{0}` is not a time range")]
    Hours(String),
    #[error("`{0}` is an empty window")]
    Empty(String),
    #[error("`{name}` is not a time zone ({why})")]
    Zone { name: String, why: String },
}

impl ScheduleError {
    /// How to fix it, for `mcp-hub check`.
    pub fn hint(&self) -> &'static str {
        match self {
            ScheduleError::Zone { .. } => "use an IANA name like `Europe/Paris` or `America/New_York`, `UTC`, or a fixed offset like `UTC+01:00`",
            ScheduleError::Empty(_) => "a window starts and ends at different minutes; the whole day is `00:00-24:00`",
            _ => "write days, hours and an optional zone, e.g. `Mon-Fri 09:00-18:00 Europe/Paris`, `Sat,Sun 10:00-12:00` or `daily 22:00-06:00 UTC+01:00`",
        }
    }
}

impl Window {
    /// Whether the window is open at `unix_secs` (seconds since the epoch), on its zone's wall clock.
    pub fn contains(&self, unix_secs: i64) -> bool {
        let Ok(t) = Timestamp::from_second(unix_secs) else {
            return false;
        };
        let local = self.zone.to_datetime(t);
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        if self.from_minute < self.to_minute {
            self.days[day] && (self.from_minute..self.to_minute).contains(&minute)
        } else {
            (self.days[day] && minute >= self.from_minute)
                || (self.days[(day + 6) % 7] && minute < self.to_minute)
        }
    }

    /// The next instant after `t` where this window may open or close: its next start, end or
    /// local midnight on the wall clock, or the zone's next offset change, whichever is first.
    fn next_step(&self, t: Timestamp) -> Option<Timestamp> {
        let local = self.zone.to_datetime(t);
        let now = i64::from(local.hour()) * 3600
            + i64::from(local.minute()) * 60
            + i64::from(local.second());
        let boundary = [
            i64::from(self.from_minute) * 60,
            i64::from(self.to_minute) * 60,
            86_400,
        ]
        .into_iter()
        .filter(|b| *b > now)
        .min()?;
        let by_clock = Timestamp::from_second(t.as_second() + (boundary - now)).ok()?;
        let by_zone = self.zone.following(t).next().map(|tr| tr.timestamp());
        Some(by_zone.map_or(by_clock, |z| z.min(by_clock)))
    }
}

/// Whether any window of `schedule` is open at `unix_secs`.
pub fn open_at(schedule: &[Window], unix_secs: i64) -> bool {
    schedule.iter().any(|w| w.contains(unix_secs))
}

/// The first second after `unix_secs` at which `schedule` opens (when closed then) or closes
/// (when open); `None` when it never changes (`daily 00:00-24:00`) within eight days.
pub fn next_change(schedule: &[Window], unix_secs: i64) -> Option<i64> {
    let open = open_at(schedule, unix_secs);
    let mut t = Timestamp::from_second(unix_secs).ok()?;
    // Each day a window has at most three clock boundaries, and a zone a few transitions.
    let steps = 8 * (3 * schedule.len() + 4);
    for _ in 0..steps {
        t = schedule.iter().filter_map(|w| w.next_step(t)).min()?;
        if open_at(schedule, t.as_second()) != open {
            return Some(t.as_second());
        }
    }
    None
}

/// `t` on `zone`'s wall clock, for log lines: `2026-12-01 09:00 (Europe/Paris)`.
pub fn local_time(zone: &TimeZone, unix_secs: i64) -> String {
    let Ok(t) = Timestamp::from_second(unix_secs) else {
        return unix_secs.to_string();
    };
    let d = zone.to_datetime(t);
    let name = zone
        .iana_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("UTC{}", zone.to_offset(t)));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} ({name})",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute()
    )
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// A fixed offset, `UTC`, `UTC+01:00`, `UTC-05:30` or `+01:00`.
fn fixed_offset(s: &str) -> Option<Option<i32>> {
    let rest = match s.strip_prefix("UTC") {
        Some("") => return Some(Some(0)),
        Some(r) => r,
        None if s.starts_with(['+', '-']) => s,
        None => return None,
    };
    let (sign, hm) = match rest.split_at(1) {
        ("+", r) => (1, r),
        ("-", r) => (-1, r),
        _ => return Some(None),
    };
    Some(hhmm(hm).filter(|m| *m <= 14 * 60).map(|m| sign * m as i32))
}

/// A zone: `UTC`, a fixed offset (`UTC+01:00`) or an IANA name (`Europe/Paris`).
pub fn parse_zone(s: &str) -> Result<TimeZone, ScheduleError> {
    let err = |why: &str| ScheduleError::Zone {
        name: s.to_string(),
        why: why.to_string(),
    };
    match fixed_offset(s) {
        Some(Some(minutes)) => Offset::from_seconds(minutes * 60)
            .map(TimeZone::fixed)
            .map_err(|e| err(&e.to_string())),
        Some(None) => Err(err("an offset is `UTC+HH:MM`, at most 14 hours")),
        None => TimeZone::get(s).map_err(|_| {
            if jiff::tz::db().is_definitively_empty() {
                err("this machine has no time zone database: install `tzdata`, or set `TZDIR`")
            } else {
                err("not in the IANA time zone database")
            }
        }),
    }
}

fn parse_days(s: &str) -> Result<[bool; 7], ScheduleError> {
    let mut days = [false; 7];
    if s.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    let day = |x: &str| {
        DAYS.iter()
            .position(|d| x.eq_ignore_ascii_case(d))
            .ok_or_else(|| ScheduleError::Day(x.to_string()))
    };
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

/// `Mon-Fri 09:00-18:00 [zone]`: days (a range, a list, or `daily`), a time range, a zone
/// (`default` when it names none: the container's `time_zone`).
pub fn parse_window(s: &str, default: &TimeZone) -> Result<Window, ScheduleError> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (days_s, time_s, zone) = match parts.as_slice() {
        [d, t] => (*d, *t, default.clone()),
        [d, t, z] => (*d, *t, parse_zone(z)?),
        _ => return Err(ScheduleError::Shape(s.to_string())),
    };
    let days = parse_days(days_s)?;
    let hours = || ScheduleError::Hours(time_s.to_string());
    let (from, to) = time_s.split_once('-').ok_or_else(hours)?;
    let (from_minute, to_minute) = (hhmm(from).ok_or_else(hours)?, hhmm(to).ok_or_else(hours)?);
    if from_minute == 24 * 60 {
        return Err(hours());
    }
    if from_minute == to_minute {
        return Err(ScheduleError::Empty(time_s.to_string()));
    }
    Ok(Window {
        days,
        from_minute,
        to_minute,
        zone,
    })
}

/// A container table's `schedule` and `time_zone`, checked: its windows, and the zone of those
/// that name none (UTC unless `time_zone` says otherwise). Both keys need `scheduled`.
pub(super) fn check(
    c: &mut super::validate::Collector,
    path: &str,
    scheduled: bool,
    raw: &[String],
    time_zone: Option<&str>,
) -> (Vec<Window>, TimeZone) {
    let zone = match time_zone.map(parse_zone) {
        None => TimeZone::UTC,
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            c.push(format!("{path}.time_zone"), e.to_string(), Some(e.hint()));
            TimeZone::UTC
        }
    };
    let mut windows = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        match parse_window(w, &zone) {
            Ok(x) => windows.push(x),
            Err(e) => c.push(
                format!("{path}.schedule[{i}]"),
                e.to_string(),
                Some(e.hint()),
            ),
        }
    }
    match (scheduled, raw.is_empty()) {
        (true, true) => c.push(
            format!("{path}.schedule"),
            "is missing",
            Some("a scheduled server needs its windows, e.g. `schedule = [\"Mon-Fri 09:00-18:00 Europe/Paris\"]`"),
        ),
        (false, false) => c.push(
            format!("{path}.schedule"),
            "only applies to `strategy = \"scheduled\"`",
            Some("remove it, or make the server scheduled"),
        ),
        _ => {}
    }
    if time_zone.is_some() && !scheduled {
        c.push(
            format!("{path}.time_zone"),
            "only applies to `strategy = \"scheduled\"`",
            Some("remove it, or make the server scheduled"),
        );
    }
    (windows, zone)
}
