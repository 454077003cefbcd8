//! Encodings for the types that cross the network in cluster mode, where
//! executions, their outcomes and routing snapshots travel as JSON between
//! processes.

/// Request and response bodies as base64 strings: JSON has no bytes type,
/// and serde's default (an array of numbers) is four to five times larger
/// and slow to parse.
pub mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as one base64 string.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads a base64 string back into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::{ExecutionError, ScriptFailure, ScriptResponse};

    /// A body with every byte value survives the trip, as a string.
    #[test]
    fn bodies_travel_as_base64() {
        let response = ScriptResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: (0..=255).collect(),
        };
        let json = serde_json::to_value(&response).unwrap();
        assert!(json["body"].is_string());
        let back: ScriptResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, response);
    }

    /// Errors keep their variant and details, so a remote executor's caller
    /// reports the same code and message as a local one.
    #[test]
    fn execution_errors_round_trip() {
        let errors = [
            ExecutionError::Runtime(ScriptFailure {
                message: "boom".into(),
                position: None,
            }),
            ExecutionError::FuelExhausted { budget: 7 },
            ExecutionError::Unavailable,
        ];
        for error in errors {
            let json = serde_json::to_string(&error).unwrap();
            let back: ExecutionError = serde_json::from_str(&json).unwrap();
            assert_eq!(back, error);
            assert_eq!(back.code(), error.code());
        }
    }
}
