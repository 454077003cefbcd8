//! An app's request rate limit: a token bucket per app, or per app and
//! client address (docs/apps.md, "Rate limits").

use serde::{Deserialize, Serialize};

/// The `rate_limit` setting of an app. Off (`None` on the app) by default.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second (the bucket's refill rate).
    pub requests_per_second: f64,
    /// Requests that may come at once (the bucket's size); default: one
    /// second's worth, at least 1.
    #[serde(default)]
    pub burst: Option<u32>,
    /// One bucket per client address (`request.client_ip`) instead of one
    /// for the whole app.
    #[serde(default)]
    pub per_client_ip: bool,
}

/// The fastest rate a limit may name.
pub const MAX_RATE: f64 = 100_000.0;

impl RateLimit {
    /// Checks the fields, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.requests_per_second > 0.0 && self.requests_per_second <= MAX_RATE) {
            return Err(format!(
                "rate_limit.requests_per_second must be above 0 and at most {MAX_RATE}"
            ));
        }
        if self.burst.is_some_and(|b| b == 0 || b > 1_000_000) {
            return Err("rate_limit.burst must be 1 to 1000000".into());
        }
        Ok(())
    }

    /// The bucket's size.
    pub fn capacity(&self) -> f64 {
        self.burst
            .map_or(self.requests_per_second.ceil().max(1.0), f64::from)
    }
}
