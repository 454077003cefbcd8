//! Typed ids, so that a script id can never be passed where an app id belongs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        id_type!($(#[$doc])* $name, Uuid::new_v4, "A new random (v4) id.");
    };
    ($(#[$doc:meta])* $name:ident, $make:path, $new_doc:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            #[doc = $new_doc]
            pub fn new() -> Self {
                Self($make())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An app: the isolation boundary for scripts, routes, domains and data.
    AppId
);
id_type!(
    /// A script, unique across all apps.
    ScriptId
);
id_type!(
    /// A route binding a method and path to a script.
    RouteId
);
id_type!(
    /// One record of the execution log.
    ExecutionId,
    // Time-ordered, because the log's primary-key index takes thousands of
    // inserts per second under load: new keys land at the index's right
    // edge instead of on a random page each.
    Uuid::now_v7,
    "A new time-ordered (v7) id: later executions sort after earlier ones."
);

impl AppId {
    /// The `default` app, fixed by the first migration: Hello World's app,
    /// and the one admin hosts serve (sandboxed) outside the admin paths.
    pub const DEFAULT: AppId = AppId(Uuid::from_u128(0x00000000_0000_4000_8000_000000000001));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_app_id_is_the_migrations_one() {
        assert_eq!(
            AppId::DEFAULT.to_string(),
            "00000000-0000-4000-8000-000000000001"
        );
    }
}
