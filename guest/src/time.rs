//! `timestamp()` and its arithmetic, as Rhai's own time package defines them,
//! on the host's execution clock (`context::elapsed-ms`).
//!
//! The guest is built for `wasm32-unknown-unknown` so that it imports nothing
//! but PiCloud's own interfaces (docs/adr/005-a-guest-without-wasi.md). That
//! target has no clock, so Rhai is built with `no_time` and this module puts
//! the same functions back: `timestamp()`, `.elapsed`, `ts1 - ts2`, `ts ± n`
//! (integer seconds or fractional seconds to the millisecond), `+=`/`-=` and
//! the comparisons. Times are whole milliseconds since the execution started,
//! the coarse clock the host grants (docs/scripting.md, "What is disabled,
//! and why").

use rhai::{
    Dynamic, Engine, EvalAltResult, FLOAT, FuncRegistration, INT, ImmutableString, Module, Position,
};

use crate::picloud::platform::context;

/// A point in time: milliseconds since the execution started. Signed, so a
/// script may subtract from an early timestamp as it could from Rhai's
/// `Instant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(i64);

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn arithmetic(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorArithmetic(message, Position::NONE).into()
}

fn now() -> Timestamp {
    Timestamp(i64::try_from(context::elapsed_ms()).unwrap_or(i64::MAX))
}

fn seconds_between(later: Timestamp, earlier: Timestamp) -> FLOAT {
    // Differences are at most i64::MAX ms; as seconds they fit a float.
    #[allow(clippy::cast_precision_loss, reason = "milliseconds as float seconds")]
    let ms = later.0.saturating_sub(earlier.0) as FLOAT;
    ms / 1000.0
}

fn shift_ms(
    ts: Timestamp,
    ms: i64,
    what: &str,
    amount: &dyn std::fmt::Display,
) -> Result<Timestamp> {
    ts.0.checked_add(ms)
        .map(Timestamp)
        .ok_or_else(|| arithmetic(format!("Timestamp overflow when {what} {amount} second(s)")))
}

fn shift_seconds(ts: Timestamp, seconds: INT, sign: i64, what: &str) -> Result<Timestamp> {
    let ms = seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_mul(sign))
        .ok_or_else(|| {
            arithmetic(format!(
                "Timestamp overflow when {what} {seconds} second(s)"
            ))
        })?;
    shift_ms(ts, ms, what, &seconds)
}

fn shift_float(ts: Timestamp, seconds: FLOAT, sign: FLOAT, what: &str) -> Result<Timestamp> {
    let ms = (seconds * 1000.0 * sign).trunc();
    #[allow(clippy::cast_precision_loss, reason = "a range check")]
    if !ms.is_finite() || ms.abs() > i64::MAX as FLOAT {
        return Err(arithmetic(format!(
            "Integer overflow for timestamp {what}: {seconds}"
        )));
    }
    #[allow(clippy::cast_possible_truncation, reason = "range-checked above")]
    shift_ms(ts, ms as i64, what, &seconds)
}

/// Registers the `timestamp` type and its functions.
pub(crate) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Timestamp>("timestamp")
        .register_fn("to_string", |_: &mut Timestamp| "<timestamp>".to_string())
        .register_fn("to_debug", |_: &mut Timestamp| "<timestamp>".to_string());

    // Volatile: the optimizer must never fold a call to a clock.
    FuncRegistration::new("timestamp")
        .with_volatility(true)
        .register_into_engine(engine, now);
    for name in ["elapsed", "get$elapsed"] {
        FuncRegistration::new(name)
            .with_volatility(true)
            .register_into_engine(engine, |ts: &mut Timestamp| -> Result<FLOAT> {
                let now = now();
                if *ts > now {
                    return Err(arithmetic("Time-stamp is later than now".into()));
                }
                Ok(seconds_between(now, *ts))
            });
    }
    FuncRegistration::new("-").register_into_engine(engine, |a: Timestamp, b: Timestamp| {
        if b > a {
            -seconds_between(b, a)
        } else {
            seconds_between(a, b)
        }
    });
    FuncRegistration::new("+").register_into_engine(engine, |ts: Timestamp, s: INT| {
        shift_seconds(ts, s, 1, "adding")
    });
    FuncRegistration::new("-").register_into_engine(engine, |ts: Timestamp, s: INT| {
        shift_seconds(ts, s, -1, "subtracting")
    });
    FuncRegistration::new("+").register_into_engine(engine, |ts: Timestamp, s: FLOAT| {
        shift_float(ts, s, 1.0, "adding")
    });
    FuncRegistration::new("-").register_into_engine(engine, |ts: Timestamp, s: FLOAT| {
        shift_float(ts, s, -1.0, "subtracting")
    });
    FuncRegistration::new("+=").register_into_engine(engine, |ts: &mut Timestamp, s: INT| {
        *ts = shift_seconds(*ts, s, 1, "adding")?;
        Ok::<_, Box<EvalAltResult>>(())
    });
    FuncRegistration::new("-=").register_into_engine(engine, |ts: &mut Timestamp, s: INT| {
        *ts = shift_seconds(*ts, s, -1, "subtracting")?;
        Ok::<_, Box<EvalAltResult>>(())
    });
    FuncRegistration::new("+=").register_into_engine(engine, |ts: &mut Timestamp, s: FLOAT| {
        *ts = shift_float(*ts, s, 1.0, "adding")?;
        Ok::<_, Box<EvalAltResult>>(())
    });
    FuncRegistration::new("-=").register_into_engine(engine, |ts: &mut Timestamp, s: FLOAT| {
        *ts = shift_float(*ts, s, -1.0, "subtracting")?;
        Ok::<_, Box<EvalAltResult>>(())
    });
    type Compare = fn(&Timestamp, &Timestamp) -> bool;
    let comparisons: [(&str, Compare); 6] = [
        ("==", |a, b| a == b),
        ("!=", |a, b| a != b),
        ("<", |a, b| a < b),
        ("<=", |a, b| a <= b),
        (">", |a, b| a > b),
        (">=", |a, b| a >= b),
    ];
    for (name, compare) in comparisons {
        FuncRegistration::new(name)
            .register_into_engine(engine, move |a: Timestamp, b: Timestamp| compare(&a, &b));
    }
}

/// For `Dynamic` values the response conversion meets: a timestamp is not a body.
pub(crate) fn is_timestamp(value: &Dynamic) -> bool {
    value.is::<Timestamp>()
}

/// `time::now()`: the host's wall clock, in whole milliseconds since the
/// Unix epoch (UTC).
fn wall_clock_ms() -> INT {
    INT::try_from(context::now_ms()).unwrap_or(INT::MAX)
}

/// The UTC date and time of a Unix time in milliseconds; an error that names
/// the function for a time outside years -9999 to 9999.
fn utc(function: &str, ms: INT) -> Result<::time::OffsetDateTime> {
    ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| {
        EvalAltResult::ErrorRuntime(
            format!("time::{function}: {ms} ms since 1970 is outside the years -9999 to 9999")
                .into(),
            Position::NONE,
        )
        .into()
    })
}

/// `2026-12-08T09:30:00.250Z`: RFC 3339 in UTC, always with milliseconds, so
/// the strings sort as the times do.
fn iso(ms: INT) -> Result<ImmutableString> {
    let t = utc("iso", ms)?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
    .into())
}

/// `2026-12-08`: the UTC calendar date, for keys such as `visits:2026-12-08`.
fn date(ms: INT) -> Result<ImmutableString> {
    let t = utc("date", ms)?;
    Ok(format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()).into())
}

/// The `time::` module: the wall clock and two ways to write it.
pub(crate) fn clock_module() -> Module {
    let mut m = Module::new();
    // Volatile: the optimizer must never fold a call to a clock.
    FuncRegistration::new("now")
        .with_volatility(true)
        .set_into_module(&mut m, wall_clock_ms);
    FuncRegistration::new("iso")
        .with_volatility(true)
        .set_into_module(&mut m, || iso(wall_clock_ms()));
    FuncRegistration::new("iso").set_into_module(&mut m, iso);
    FuncRegistration::new("date")
        .with_volatility(true)
        .set_into_module(&mut m, || date(wall_clock_ms()));
    FuncRegistration::new("date").set_into_module(&mut m, date);
    m
}

#[cfg(test)]
mod wall_clock_tests {
    use super::{date, iso};

    #[test]
    fn unix_milliseconds_are_written_in_utc() {
        assert_eq!(iso(0).unwrap().as_str(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso(1_796_720_400_250).unwrap().as_str(),
            "2026-12-08T09:00:00.250Z"
        );
        assert_eq!(date(1_796_720_400_250).unwrap().as_str(), "2026-12-08");
        assert_eq!(date(-86_400_000).unwrap().as_str(), "1969-12-31");
        assert!(iso(i64::MAX).unwrap_err().to_string().contains("time::iso"));
    }
}
