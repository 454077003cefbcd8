//! Cron schedules: a five-field cron expression read in an IANA time zone,
//! and the rule for the next time it fires.
//!
//! Parsing and the calendar walk are [croner]'s (POSIX/Vixie syntax plus its
//! `L`, `W`, `#` and `+` extensions and the `@daily`-style nicknames); time
//! zones are [chrono_tz]'s compiled-in IANA database. Only five fields are
//! accepted: a seconds field would let one trigger fire 60 times a minute,
//! more than a scheduler that wakes once a second and a per-execution sandbox
//! are meant for.
//!
//! Daylight-saving time follows croner's rules:
//! - a wall-clock time that does not exist on the day the clocks go forward
//!   (02:30 in Europe/Oslo on the last Sunday of March) fires at the first
//!   instant after the gap (03:00 local time) for a fixed-time schedule;
//!   interval schedules (`*/15 * * * *`) simply have no ticks inside the gap;
//! - a wall-clock time that happens twice on the day the clocks go back fires
//!   once, at its first occurrence, for a fixed-time schedule; interval
//!   schedules fire in both halves of the repeated hour (they follow real
//!   time, not the wall clock).
//!
//! ```
//! use manager_core::Schedule;
//! let daily = Schedule::parse("30 2 * * *", "Europe/Oslo").unwrap();
//! // 2026-01-10T12:00Z → 2026-01-11T02:30 in Oslo, which is 01:30Z.
//! assert_eq!(daily.next_after(1_768_046_400_000), Some(1_768_095_000_000));
//! ```

use crate::ErrorCode;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::store::{Result, StoreError as Error};

/// Longest schedule text accepted, in bytes; real expressions are far shorter.
pub const MAX_SCHEDULE_BYTES: usize = 200;

/// The time zone of a trigger that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A validated schedule: the cron expression and the zone it is read in.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    expression: String,
}

impl Schedule {
    /// Parses and checks `expression` in `timezone`: 400 `invalid_schedule`
    /// or `invalid_timezone` naming the problem. A schedule that never fires
    /// (`0 0 30 2 *`) is refused too, so no trigger sits silently idle.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule> {
        let schedule = Schedule::stored(expression, timezone)?;
        if schedule.next_after(crate::db::now_ms()).is_none() {
            return Err(Error::bad_request(
                ErrorCode::InvalidSchedule,
                format!("'{}' never fires: no date matches it", schedule.expression),
            ));
        }
        Ok(schedule)
    }

    /// Parses a schedule read back from the database, without the
    /// never-fires check (which walks the calendar up to the year 5000).
    pub(crate) fn stored(expression: &str, timezone: &str) -> Result<Schedule> {
        let tz = parse_timezone(timezone)?;
        let expression = normalize(expression);
        let invalid = |message: String| Error::bad_request(ErrorCode::InvalidSchedule, message);
        if expression.is_empty() {
            return Err(invalid(
                "the schedule is empty; write five fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *'".into(),
            ));
        }
        if expression.len() > MAX_SCHEDULE_BYTES {
            return Err(invalid(format!(
                "the schedule is {} bytes long; the most is {MAX_SCHEDULE_BYTES}",
                expression.len()
            )));
        }
        let fields = expression.split(' ').count();
        if !expression.starts_with('@') && fields != 5 {
            return Err(invalid(format!(
                "'{expression}' has {fields} fields; a schedule has exactly five: minute hour day-of-month month day-of-week (no seconds or year field)"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expression)
            .map_err(|err| invalid(format!("'{expression}' is not a valid schedule: {err}")))?;
        Ok(Schedule {
            cron,
            tz,
            expression,
        })
    }

    /// The expression as stored: trimmed, fields separated by one space.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone's IANA name.
    pub fn timezone(&self) -> &'static str {
        self.tz.name()
    }

    /// The first time the schedule fires strictly after `after_ms` (ms
    /// since the epoch), in ms since the epoch; `None` when it never fires
    /// again (croner searches up to the year 5000).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = DateTime::<Utc>::from_timestamp_millis(after_ms)?.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|next| next.timestamp_millis())
    }
}

/// An IANA zone name (`Europe/Oslo`, `UTC`); 400 `invalid_timezone` otherwise.
pub(crate) fn parse_timezone(name: &str) -> Result<Tz> {
    Tz::from_str(name).map_err(|_| {
        Error::bad_request(
            ErrorCode::InvalidTimezone,
            format!(
                "'{name}' is not a known time zone: use an IANA name such as 'Europe/Oslo', 'America/New_York' or 'UTC' (names are case-sensitive)"
            ),
        )
    })
}

fn normalize(expression: &str) -> String {
    expression.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ms(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    fn code(err: Error) -> (&'static str, String) {
        (err.code().as_str(), err.to_string())
    }

    #[test]
    fn next_is_strictly_after_and_ignores_milliseconds() {
        let s = Schedule::parse("*/5 * * * *", "UTC").unwrap();
        let noon = ms(Tz::UTC, 2026, 1, 10, 12, 0);
        assert_eq!(s.next_after(noon), Some(noon + 5 * 60_000));
        assert_eq!(s.next_after(noon - 1), Some(noon));
        assert_eq!(s.next_after(noon + 1), Some(noon + 5 * 60_000));
        assert_eq!(s.next_after(noon + 299_999), Some(noon + 5 * 60_000));
    }

    #[test]
    fn expressions_are_normalized_and_nicknames_accepted() {
        let s = Schedule::parse("  0   9 * *  MON-FRI ", "Europe/Oslo").unwrap();
        assert_eq!(s.expression(), "0 9 * * MON-FRI");
        assert_eq!(s.timezone(), "Europe/Oslo");
        let hourly = Schedule::parse("@hourly", "UTC").unwrap();
        let noon = ms(Tz::UTC, 2026, 1, 10, 12, 0);
        assert_eq!(hourly.next_after(noon), Some(noon + 3_600_000));
    }

    #[test]
    fn invalid_schedules_name_the_problem() {
        for (expression, needle) in [
            ("", "empty"),
            ("* * * *", "has 4 fields"),
            ("*/10 * * * * *", "has 6 fields"),
            ("0 0 0 1 1 * 2030", "has 7 fields"),
            ("61 * * * *", "not a valid schedule"),
            ("* * * * FUNDAY", "not a valid schedule"),
            ("0 0 30 2 *", "never fires"),
            (&"1,".repeat(120), "bytes long"),
        ] {
            let (code, message) = code(Schedule::parse(expression, "UTC").unwrap_err());
            assert_eq!(code, "invalid_schedule", "{expression}");
            assert!(message.contains(needle), "{expression}: {message}");
        }
        let (code, message) = code(Schedule::parse("* * * * *", "Mars/Olympus").unwrap_err());
        assert_eq!(code, "invalid_timezone");
        assert!(message.contains("'Mars/Olympus'"), "{message}");
        assert_eq!(
            Schedule::parse("* * * * *", "europe/oslo")
                .unwrap_err()
                .code(),
            "invalid_timezone"
        );
    }

    #[test]
    fn time_zones_shift_the_wall_clock() {
        let s = Schedule::parse("0 9 * * *", "America/New_York").unwrap();
        // 09:00 EST is 14:00 UTC in January.
        let jan = ms(Tz::UTC, 2026, 1, 10, 0, 0);
        assert_eq!(s.next_after(jan), Some(ms(Tz::UTC, 2026, 1, 10, 14, 0)));
    }

    #[test]
    fn daylight_saving_gap_and_overlap() {
        let oslo: Tz = "Europe/Oslo".parse().unwrap();
        let daily = Schedule::parse("30 2 * * *", "Europe/Oslo").unwrap();
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist,
        // so the tick falls on the first instant after the gap, 03:00 CEST
        // (01:00 UTC), and the next day is 02:30 CEST again.
        let before = ms(oslo, 2026, 3, 28, 12, 0);
        let spring = daily.next_after(before).unwrap();
        assert_eq!(spring, ms(Tz::UTC, 2026, 3, 29, 1, 0));
        assert_eq!(
            daily.next_after(spring),
            Some(ms(Tz::UTC, 2026, 3, 30, 0, 30))
        );
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens
        // twice and fires once, at the first (CEST, 00:30 UTC).
        let before = ms(oslo, 2026, 10, 24, 12, 0);
        let autumn = daily.next_after(before).unwrap();
        assert_eq!(autumn, ms(Tz::UTC, 2026, 10, 25, 0, 30));
        assert_eq!(
            daily.next_after(autumn),
            Some(ms(Tz::UTC, 2026, 10, 26, 1, 30))
        );
    }
}
