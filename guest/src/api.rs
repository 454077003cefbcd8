//! Keeps `docs/script-api.json` (the description of the script API that the
//! editor's completion and docs/scripting.md's reference tables are
//! generated from) identical to what the engine registers: a function the
//! guest registers and the description lacks fails the test below, and so
//! does one the description names that the engine does not have.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    /// Functions as `(name, arity)` and property getters as `(type, name)`.
    type Api = (BTreeSet<(String, usize)>, BTreeSet<(String, String)>);

    /// The description, as the dashboard's generator reads it.
    const DESCRIPTION: &str = include_str!("../../docs/script-api.json");

    /// What the engine registers: functions as `(name, arity)` (a method's
    /// receiver counts), and property getters as `(type, name)`. Operators
    /// are left out: the description explains them in prose.
    fn registered() -> Api {
        let signatures = crate::engine::with_engine(|engine| engine.gen_fn_signatures(false));
        let (mut functions, mut properties) = (BTreeSet::new(), BTreeSet::new());
        for signature in signatures {
            let (name, rest) = signature
                .split_once('(')
                .expect("a signature has parameters");
            let params = &rest[..rest.find(')').expect("parameters end")];
            if let Some(property) = name.strip_prefix("get$") {
                let receiver = params.trim_start_matches("_: &mut ").trim();
                properties.insert((receiver.to_owned(), property.to_owned()));
            } else if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                let arity = if params.trim().is_empty() {
                    0
                } else {
                    params.split(", ").count()
                };
                functions.insert((name.to_owned(), arity));
            }
        }
        (functions, properties)
    }

    /// The same sets out of the description.
    fn described() -> Api {
        let description: Value = serde_json::from_str(DESCRIPTION).expect("valid JSON");
        let text = |value: &Value, field: &str| -> String {
            value[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field} of {value}"))
                .to_owned()
        };
        let mut functions = BTreeSet::new();
        for function in description["functions"].as_array().expect("functions") {
            let name = text(function, "name");
            let signatures = function["signatures"].as_array().expect("signatures");
            assert!(!signatures.is_empty(), "{name} has no signature");
            for field in ["summary", "example", "docs"] {
                assert!(!text(function, field).is_empty(), "{name} has no {field}");
            }
            for signature in signatures {
                let arity = signature["params"].as_array().expect("params").len();
                assert!(
                    functions.insert((name.clone(), arity)),
                    "{name} with {arity} parameters is described twice"
                );
            }
        }
        let properties = description["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .map(|p| (text(p, "type"), text(p, "name")))
            .collect();
        (functions, properties)
    }

    #[test]
    fn the_description_names_every_function_the_engine_registers_and_no_other() {
        let (engine_functions, engine_properties) = registered();
        let (described_functions, described_properties) = described();
        let undescribed: Vec<_> = engine_functions.difference(&described_functions).collect();
        let unregistered: Vec<_> = described_functions.difference(&engine_functions).collect();
        assert!(
            undescribed.is_empty() && unregistered.is_empty(),
            "docs/script-api.json is out of step with the engine (name, parameters):\n  \
             registered but not described: {undescribed:?}\n  \
             described but not registered: {unregistered:?}\n\
             Edit docs/script-api.json, then `cd dashboard && npm run gen:script-api`."
        );
        assert_eq!(
            engine_properties, described_properties,
            "properties (type, name) in docs/script-api.json differ from the engine's getters"
        );
    }
}
