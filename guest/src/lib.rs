//! PiCloud's script runtime: the Rhai interpreter compiled to `wasm32-unknown-unknown`,
//! made a component that implements the `picloud:platform/script` world.
//!
//! The host instantiates this component once per execution (from a snapshot taken
//! after [`init`](Component::init), so the interpreter is already built) and calls
//! `run(source, request)`. Everything the script can touch is either plain Rhai or
//! one of the world's imports; the interpreter's own safety limits are set in
//! [`limits`] and stay on.
//!
//! This crate is meant for `wasm32-unknown-unknown`: the host's build script
//! compiles it with its own target directory, turns the module into a
//! component with `wit-component` and embeds the result. Without WASI the
//! component imports only PiCloud's interfaces (ADR 005).

mod api;
mod convert;
mod crypto;
mod email;
mod engine;
mod limits;
mod modules;
mod services;
mod time;
mod users;

#[allow(
    unsafe_code,
    clippy::too_many_arguments,
    reason = "wit-bindgen's generated ABI glue"
)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "script",
    });
    use super::Component;
    export!(Component with_types_in self);
}

pub(crate) use bindings::picloud;
use bindings::{
    Failure, Guest, HttpRequest, HttpResponse, ImportRef, InterceptOutcome, ModuleSource,
    ScriptError,
};

/// The component's exports (wired up by `export!` in [`bindings`]); all state lives in [`engine`]'s thread-local.
struct Component;

impl Guest for Component {
    fn init() {
        engine::with_engine(|_| ());
    }

    fn run(
        source: String,
        request: HttpRequest,
        modules: Vec<ModuleSource>,
    ) -> Result<HttpResponse, ScriptError> {
        engine::with_engine(|engine| engine::run(engine, &source, request, modules))
    }

    fn intercept(
        source: String,
        request: HttpRequest,
        modules: Vec<ModuleSource>,
    ) -> Result<InterceptOutcome, ScriptError> {
        engine::with_engine(|engine| engine::intercept(engine, &source, request, modules))
    }

    fn check(source: String) -> Result<Vec<ImportRef>, Failure> {
        engine::with_engine(|engine| engine::check(engine, &source))
    }
}
