//! The guest grants scripts no ambient authority: every interface the
//! component imports is one of PiCloud's own, on this list. The guest is built
//! without WASI (ADR 005), so there is no filesystem, network, environment,
//! random or clock interface for a script to reach except through the host
//! functions below, each scoped to the calling app. Anything new here must be
//! a deliberate, reviewed change to this list.

use wasmparser::{ComponentTypeRef, Parser, Payload};

const ALLOWED: &[&str] = &[
    "picloud:platform/types",
    "picloud:platform/log",
    "picloud:platform/context",
    "picloud:platform/kv",
    "picloud:platform/docs",
    "picloud:platform/http-client",
    "picloud:platform/env",
    // The calling app's end-user accounts; the host scopes every call to
    // that app, and password hashes never cross it (ADR 011).
    "picloud:platform/users",
    // Sends messages to the calling app's queues (the host takes the app
    // from the execution, ADR 013).
    "picloud:platform/queue",
    // Queues mail from the calling app: the host checks the sender against
    // that app's domains; delivery is the manager's (ADR 014).
    "picloud:platform/email",
    // Runs another script of the calling app (the host looks it up in that
    // app only, ADR 010).
    "picloud:platform/invoke",
];

#[test]
fn guest_imports_only_allowed_interfaces() {
    let mut imports = Vec::new();
    // Only the outermost component's imports matter: nested modules and
    // components can reach nothing their parent was not given.
    let mut depth = 0;
    for payload in Parser::new(0).parse_all(executor_core::GUEST_WASM) {
        match payload.expect("the guest is valid wasm") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import = import.expect("valid import");
                    // World-level `use` imports record types (`http-request`):
                    // shapes of data, which grant nothing.
                    if matches!(import.ty, ComponentTypeRef::Type(_)) {
                        continue;
                    }
                    imports.push(import.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("picloud:platform/log")),
        "{imports:?}"
    );
    for import in &imports {
        let unversioned = import.split('@').next().unwrap();
        assert!(
            ALLOWED.contains(&unversioned),
            "the guest imports {import}, which is not on the allow-list"
        );
    }
}
