//! Per-execution resource limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one execution may consume. The executor enforces every field; the
/// defaults are documented in docs/scripting.md ("Limits") and are what a new
/// app gets until per-app limits are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wasm fuel (roughly one unit per guest instruction). Stops busy loops.
    pub fuel: u64,
    /// Linear-memory cap of the guest instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline for the whole execution, in milliseconds.
    pub deadline_ms: u64,
    /// Largest response body the script may return, in bytes.
    pub max_response_bytes: u64,
    /// Log lines kept per execution; later lines are counted but dropped.
    pub max_log_lines: u32,
    /// Bytes of log text kept per execution.
    pub max_log_bytes: u32,
    /// Largest request body passed to the app's scripts (413 above it, before
    /// any script runs); the server's own maximum caps it.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: u64,
}

fn default_max_request_bytes() -> u64 {
    Limits::default().max_request_bytes
}

impl Limits {
    /// The most an app may set (docs/scripting.md): larger overrides are
    /// refused with `invalid_limits`, and executors cap at these by default.
    pub const MAX: Limits = Limits {
        fuel: 10_000_000_000,
        memory_bytes: 256 << 20,
        deadline_ms: 60_000,
        max_response_bytes: 32 << 20,
        max_log_lines: 10_000,
        max_log_bytes: 1 << 20,
        max_request_bytes: 32 << 20,
    };

    /// The wall-clock deadline as a [`Duration`].
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Each field capped at the corresponding field of `max` (operator maxima).
    pub fn capped_by(&self, max: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(max.fuel),
            memory_bytes: self.memory_bytes.min(max.memory_bytes),
            deadline_ms: self.deadline_ms.min(max.deadline_ms),
            max_response_bytes: self.max_response_bytes.min(max.max_response_bytes),
            max_log_lines: self.max_log_lines.min(max.max_log_lines),
            max_log_bytes: self.max_log_bytes.min(max.max_log_bytes),
            max_request_bytes: self.max_request_bytes.min(max.max_request_bytes),
        }
    }
}

impl Default for Limits {
    /// Safe defaults for a small board: about a quarter second of CPU, 64 MiB,
    /// five seconds of wall time, 4 MiB responses.
    fn default() -> Self {
        Limits {
            fuel: 400_000_000,
            memory_bytes: 64 << 20,
            deadline_ms: 5_000,
            max_response_bytes: 4 << 20,
            max_log_lines: 200,
            max_log_bytes: 64 << 10,
            max_request_bytes: 4 << 20,
        }
    }
}
