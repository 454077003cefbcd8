//! Upload-time checks of `import` statements: modules are scripts of the
//! same app, by name (docs/scripting.md, "Modules"). Whatever passes here
//! resolves at run time, because the routing cache hands every execution
//! exactly the modules its imports name (ADR 010).

use shared::{ImportRef, ScriptFailure};

/// Checks the imports of the script to be saved as `name`: each must name
/// a script of the app (`lookup` gives a script's own imports, `None` when
/// the app has no script of that name), and no chain of imports may lead
/// back to `name`. Returns the imported names, each once, in source order.
pub(crate) fn check_imports(
    name: &str,
    imports: &[ImportRef],
    lookup: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<Vec<String>, ScriptFailure> {
    let mut names: Vec<String> = Vec::new();
    for import in imports {
        let fail = |message: String| ScriptFailure {
            message,
            position: import.position,
        };
        if import.name == name {
            return Err(fail(format!("import cycle: \"{name}\" imports itself")));
        }
        let Some(next) = lookup(&import.name) else {
            return Err(fail(format!(
                "module \"{}\" not found in this app: an import names one of the app's scripts",
                import.name
            )));
        };
        if let Some(path) = path_back(name, &import.name, next, &lookup) {
            return Err(fail(format!("import cycle: {name} → {}", path.join(" → "))));
        }
        if !names.contains(&import.name) {
            names.push(import.name.clone());
        }
    }
    Ok(names)
}

/// The chain of imports from `start` (whose imports are `imports`) back to
/// `target`, if there is one (depth-first; each module visited once).
fn path_back(
    target: &str,
    start: &str,
    imports: Vec<String>,
    lookup: &impl Fn(&str) -> Option<Vec<String>>,
) -> Option<Vec<String>> {
    let mut visited = vec![start.to_owned()];
    // Each entry: the path so far and the imports still to follow from its end.
    let mut stack: Vec<(Vec<String>, Vec<String>)> = vec![(vec![start.to_owned()], imports)];
    while let Some((path, mut pending)) = stack.pop() {
        let Some(next) = pending.pop() else {
            continue;
        };
        stack.push((path.clone(), pending));
        let mut longer = path;
        longer.push(next.clone());
        if next == target {
            return Some(longer);
        }
        if visited.contains(&next) {
            continue;
        }
        visited.push(next.clone());
        // A name without a script cannot lead anywhere (its importer was
        // checked when it was saved).
        if let Some(further) = lookup(&next) {
            stack.push((longer, further));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Position;

    fn import(name: &str, line: u32) -> ImportRef {
        ImportRef {
            name: name.into(),
            position: Some(Position { line, column: 1 }),
        }
    }

    fn graph(edges: &[(&str, &[&str])]) -> impl Fn(&str) -> Option<Vec<String>> {
        let edges: Vec<(String, Vec<String>)> = edges
            .iter()
            .map(|(n, i)| (n.to_string(), i.iter().map(|s| s.to_string()).collect()))
            .collect();
        move |name| {
            edges
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| i.clone())
        }
    }

    #[test]
    fn known_modules_pass_once_each() {
        let lookup = graph(&[("utils", &["strings"]), ("strings", &[])]);
        let names = check_imports(
            "api",
            &[import("utils", 1), import("strings", 2), import("utils", 3)],
            lookup,
        )
        .unwrap();
        assert_eq!(names, ["utils", "strings"]);
    }

    #[test]
    fn a_missing_module_names_itself_and_the_line() {
        let err = check_imports("api", &[import("nope", 4)], graph(&[])).unwrap_err();
        assert!(err.message.contains("module \"nope\" not found"), "{err:?}");
        assert_eq!(err.position.unwrap().line, 4);
    }

    #[test]
    fn cycles_are_refused_with_their_path() {
        let lookup = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["main"])]);
        let err = check_imports("main", &[import("a", 2)], lookup).unwrap_err();
        assert_eq!(err.message, "import cycle: main → a → b → c → main");
        let err = check_imports("main", &[import("main", 1)], graph(&[])).unwrap_err();
        assert!(err.message.contains("imports itself"), "{err:?}");
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        let lookup = graph(&[("a", &["c"]), ("b", &["c"]), ("c", &[])]);
        check_imports("main", &[import("a", 1), import("b", 2)], lookup).unwrap();
    }
}
