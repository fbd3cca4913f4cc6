//! `schedule` windows of a scheduled container server: `Mon-Fri 09:00-18:00 UTC+01:00`, parsed,
//! and whether an instant falls inside one (pure; knows no clock and no engine).

/// A weekly window in a fixed UTC offset: days (0 = Monday) and minutes of the day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub days: [bool; 7],
    pub from_minute: u32,
    pub to_minute: u32,
    pub offset_minutes: i32,
}

impl Window {
    /// Whether the window is open at `unix_secs` (seconds since the epoch, UTC).
    pub fn contains(&self, unix_secs: i64) -> bool {
        let local = unix_secs + i64::from(self.offset_minutes) * 60;
        let days = local.div_euclid(86_400);
        // 1970-01-01 was a Thursday (3, Monday being 0).
        let weekday = (days + 3).rem_euclid(7) as usize;
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        self.days[weekday] && minute >= self.from_minute && minute < self.to_minute
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn offset(s: &str) -> Option<i32> {
    let rest = s.strip_prefix("UTC").unwrap_or(s);
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, hm) = match rest.split_at(1) {
        ("+", r) => (1, r),
        ("-", r) => (-1, r),
        _ => return None,
    };
    let m = hhmm(hm).filter(|m| *m <= 14 * 60)?;
    Some(sign * m as i32)
}

/// `Mon-Fri 09:00-18:00 [UTC+01:00]`: days (a range, a list, or `daily`), a time range, an offset.
pub fn parse_window(s: &str) -> Option<Window> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (days_s, time_s, off_s) = match parts.as_slice() {
        [d, t] => (*d, *t, "UTC"),
        [d, t, o] => (*d, *t, *o),
        _ => return None,
    };
    let mut days = [false; 7];
    let day = |x: &str| DAYS.iter().position(|d| x.eq_ignore_ascii_case(d));
    if days_s.eq_ignore_ascii_case("daily") {
        days = [true; 7];
    } else {
        for part in days_s.split(',') {
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
    }
    let (from, to) = time_s.split_once('-')?;
    let (from_minute, to_minute) = (hhmm(from)?, hhmm(to)?);
    if from_minute >= to_minute {
        return None;
    }
    Some(Window {
        days,
        from_minute,
        to_minute,
        offset_minutes: offset(off_s)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_days_hours_and_offsets() {
        let w = parse_window("Mon-Fri 09:00-18:00 UTC+01:00").unwrap();
        assert_eq!(w.days, [true, true, true, true, true, false, false]);
        assert_eq!(
            (w.from_minute, w.to_minute, w.offset_minutes),
            (540, 1080, 60)
        );
        // 2026-12-01 is a Tuesday; 08:30 UTC is 09:30 at UTC+01:00.
        let tue_0830_utc = 1_796_113_800;
        assert!(w.contains(tue_0830_utc));
        assert!(!w.contains(tue_0830_utc - 3600), "07:30 UTC is 08:30 local");
        assert!(parse_window("daily 00:00-24:00").unwrap().contains(0));
        assert!(parse_window("Sat,Sun 10:00-12:00").unwrap().days[6]);
        assert!(
            parse_window("Fri-Mon 10:00-12:00").unwrap().days[0],
            "ranges wrap"
        );
        for bad in [
            "Mon 18:00-09:00",
            "Funday 09:00-10:00",
            "Mon 9-10",
            "Mon 09:00-10:00 CET",
        ] {
            assert!(parse_window(bad).is_none(), "{bad}");
        }
    }
}
