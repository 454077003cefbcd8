//! Building the Rhai engine (once, at pre-initialization) and running a script.

use std::cell::OnceCell;

use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, Module, ParseError, Position, Scope};

use crate::convert;
use crate::limits;
use crate::picloud::platform::log::{self, Level};
use crate::picloud::platform::types::{
    Failure, HttpRequest, HttpResponse, ImportRef, InterceptOutcome, LimitKind, ModuleSource,
    ScriptError,
};

thread_local! {
    // The component is single-threaded; a thread-local lets the engine live in
    // linear memory, where wizer's snapshot captures it fully built.
    static ENGINE: OnceCell<Engine> = const { OnceCell::new() };
}

/// Runs `f` with the engine, building it on first use (normally during `init`).
pub(crate) fn with_engine<R>(f: impl FnOnce(&Engine) -> R) -> R {
    ENGINE.with(|cell| f(cell.get_or_init(build)))
}

fn build() -> Engine {
    std::panic::set_hook(Box::new(report_oversized_allocation));
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits::MAX_OPERATIONS)
        .set_max_call_levels(limits::MAX_CALL_LEVELS)
        .set_max_expr_depths(limits::MAX_EXPR_DEPTH, limits::MAX_FN_EXPR_DEPTH)
        // No string, array or map size limits: with any of them set, Rhai
        // measures the whole value after every operation that can grow it,
        // which makes building a collection cost quadratic fuel. The host's
        // memory cap stops runaway growth instead (ADR 003).
        .set_max_variables(limits::MAX_VARIABLES)
        .set_max_functions(limits::MAX_FUNCTIONS)
        .set_max_modules(crate::modules::MAX_MODULES)
        // Rhai's string interner bounds its table by scanning all of it on
        // each insertion once full: about 19,000 fuel per new short string,
        // five times what building the string costs. Executions are short
        // and start from a fresh snapshot, so sharing strings saves nothing.
        .set_max_strings_interned(0)
        // Modules are the app's own scripts, passed with the call (no files);
        // no `eval` of strings built at run time (it would hide code from the
        // upload-time compile check).
        .set_module_resolver(crate::modules::AppModules)
        .disable_symbol("eval")
        .on_print(|text| log::write(Level::Info, text))
        .on_debug(|text, _source, _pos| log::write(Level::Debug, text));

    engine.register_static_module("log", log_module().into());
    engine.register_static_module("kv", crate::services::kv_module().into());
    engine.register_static_module("docs", crate::services::docs_module().into());
    engine.register_static_module("http", crate::services::http_module().into());
    engine.register_static_module("env", crate::services::env_module().into());
    engine.register_static_module("users", crate::users::users_module().into());
    engine.register_static_module("queue", crate::services::queue_module().into());
    engine.register_static_module("email", crate::email::email_module().into());
    engine.register_static_module("crypto", crate::crypto::crypto_module().into());
    engine.register_static_module("time", crate::time::clock_module().into());
    crate::services::register_invoke(&mut engine);
    convert::register(&mut engine);
    crate::time::register(&mut engine);
    engine
}

/// A request for more memory than a 32-bit address space holds
/// (`[].pad(2000000000, 0)`: 2e9 elements of 16 bytes) panics with "capacity
/// overflow" before the allocator is asked, so the host's memory cap never
/// sees it and the abort that follows would look like a crash of the guest.
/// Asking the host for all of the address space makes the cap refuse, and
/// record that it did, so the execution ends as `memory_limit`, which is
/// what it is. Any other panic stays an internal error.
fn report_oversized_allocation(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    if message.contains("capacity overflow") {
        #[cfg(target_arch = "wasm32")]
        {
            const PAGES_IN_4_GIB: usize = 1 << 16;
            let current = core::arch::wasm32::memory_size(0);
            // Fails (the cap refuses); only the refusal matters.
            let _ = core::arch::wasm32::memory_grow(0, PAGES_IN_4_GIB - current);
        }
    }
}

/// `log::info/warn/error(message)`: any value, formatted as `print` would.
/// There is no `log::debug`: `debug` is a reserved keyword in Rhai, so the
/// path cannot be written; Rhai's own `debug(value)` logs at debug level.
fn log_module() -> Module {
    let mut module = Module::new();
    for (name, level) in [
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
    ] {
        FuncRegistration::new(name).set_into_module(&mut module, move |message: Dynamic| {
            log::write(level, &message.to_string())
        });
    }
    module
}

pub(crate) fn check(engine: &Engine, source: &str) -> Result<Vec<ImportRef>, Failure> {
    let ast = engine.compile(source).map_err(|err| parse_failure(&err))?;
    crate::modules::imports(&ast)
}

/// Runs a route's script: its value is the response.
pub(crate) fn run(
    engine: &Engine,
    source: &str,
    request: HttpRequest,
    modules: Vec<ModuleSource>,
) -> Result<HttpResponse, ScriptError> {
    match evaluate(engine, source, request, modules)? {
        Evaluated::Value(value, _) => convert::to_response(value).map_err(ScriptError::BadResponse),
        Evaluated::Answered(response) => Ok(response),
    }
}

/// Runs an interceptor: `()` goes on with `request.locals` as the script
/// left it, any other value is the response.
pub(crate) fn intercept(
    engine: &Engine,
    source: &str,
    request: HttpRequest,
    modules: Vec<ModuleSource>,
) -> Result<InterceptOutcome, ScriptError> {
    let (value, mut scope) = match evaluate(engine, source, request, modules)? {
        Evaluated::Value(value, scope) => (value, scope),
        Evaluated::Answered(response) => return Ok(InterceptOutcome::Respond(response)),
    };
    if !value.is_unit() {
        return convert::to_response(value)
            .map(InterceptOutcome::Respond)
            .map_err(ScriptError::BadResponse);
    }
    let request = scope.remove::<Dynamic>("request").unwrap_or(Dynamic::UNIT);
    let locals = request
        .read_lock::<rhai::Map>()
        .and_then(|map| map.get("locals").cloned())
        .unwrap_or_else(|| rhai::Map::new().into());
    if !locals.is_map() {
        return Err(ScriptError::BadResponse(format!(
            "request.locals must stay a map; the interceptor made it a {}",
            locals.type_name()
        )));
    }
    let json = crate::services::to_json(&locals)
        .map_err(|e| ScriptError::BadResponse(format!("request.locals: {e}")))?;
    Ok(InterceptOutcome::Next(json.to_string()))
}

/// How a script ended without a script error.
enum Evaluated {
    /// It returned this value (with the scope it left).
    Value(Dynamic, Scope<'static>),
    /// An uncaught `users::` error that answers the request by itself
    /// (`users::uncaught_response`).
    Answered(crate::picloud::platform::types::HttpResponse),
}

/// The value a script threw, however deep in function calls.
fn thrown(err: &EvalAltResult) -> Option<&Dynamic> {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => thrown(inner),
        EvalAltResult::ErrorRuntime(value, _) => Some(value),
        _ => None,
    }
}

fn evaluate(
    engine: &Engine,
    source: &str,
    request: HttpRequest,
    modules: Vec<ModuleSource>,
) -> Result<Evaluated, ScriptError> {
    crate::modules::provide(modules);
    let ast = engine.compile(source).map_err(|err| match *err.0 {
        rhai::ParseErrorType::ExprTooDeep => {
            ScriptError::Limit((LimitKind::ExpressionDepth, parse_failure(&err)))
        }
        _ => ScriptError::Compile(parse_failure(&err)),
    })?;
    let mut scope = Scope::new();
    let mut request = convert::request_to_map(request);
    if let Some(mut map) = request.write_lock::<rhai::Map>() {
        let trigger = crate::picloud::platform::context::trigger();
        match trigger.as_str() {
            "queue" => add_message(&mut map, true),
            // Inbound mail comes through an internal queue: the same
            // message fields, and the parsed message instead of a payload.
            "email" => {
                add_message(&mut map, false);
                let body = map.get("body").map(|b| b.to_string()).unwrap_or_default();
                map.insert("email".into(), crate::email::inbound(&body));
            }
            _ => {}
        }
        map.insert("trigger".into(), trigger.into());
    }
    scope.push("request", request);
    match engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast) {
        Ok(value) => Ok(Evaluated::Value(value, scope)),
        Err(err) => match thrown(&err).and_then(crate::users::uncaught_response) {
            Some(response) => {
                // The log says why the script answered what it did not return.
                let why = crate::users::describe_users_error(thrown(&err).expect("matched"));
                log::write(
                    Level::Warn,
                    &format!("uncaught {why} (answered {})", response.status),
                );
                Ok(Evaluated::Answered(response))
            }
            None => Err(eval_error(*err)),
        },
    }
}

/// A queue run's message, as fields of `request`: `queue`, `message_id`,
/// `attempt` (1 for the first run) and `payload` (the value sent, parsed
/// from the JSON body; `()` if the body is not JSON) unless `payload` is
/// false.
fn add_message(map: &mut rhai::Map, payload: bool) {
    let header = |name: &str| -> Option<String> {
        map.get("headers")?
            .read_lock::<rhai::Map>()?
            .get(name)
            .map(|v| v.to_string())
    };
    let queue = header("x-picloud-queue").unwrap_or_default();
    let id = header("x-picloud-message-id").unwrap_or_default();
    let attempt = header("x-picloud-attempt")
        .and_then(|a| a.parse::<rhai::INT>().ok())
        .unwrap_or(1);
    map.insert("queue".into(), queue.into());
    map.insert("message_id".into(), id.into());
    map.insert("attempt".into(), attempt.into());
    if payload {
        let payload = map
            .get("body")
            .and_then(|body| crate::convert::parse_json(&body.to_string()).ok())
            .unwrap_or(Dynamic::UNIT);
        map.insert("payload".into(), payload);
    }
}

pub(crate) fn position(pos: Position) -> Option<crate::picloud::platform::types::Position> {
    Some(crate::picloud::platform::types::Position {
        line: u32::try_from(pos.line()?).unwrap_or(u32::MAX),
        // Rhai reports column 0 for "start of line" positions; the API counts from 1.
        column: u32::try_from(pos.position().unwrap_or(1).max(1)).unwrap_or(u32::MAX),
    })
}

fn parse_failure(err: &ParseError) -> Failure {
    Failure {
        message: err.0.to_string(),
        position: position(err.1),
    }
}

/// Maps a Rhai error to the WIT error, classifying the interpreter's limits.
fn eval_error(err: EvalAltResult) -> ScriptError {
    // Errors raised inside functions arrive wrapped once per call level; the
    // innermost one says what happened, the outermost where the script called in.
    let outer_pos = err.position();
    let mut inner = innermost(err);
    let kind = match &inner {
        EvalAltResult::ErrorTooManyOperations(..) => Some(LimitKind::Operations),
        EvalAltResult::ErrorStackOverflow(..) => Some(LimitKind::CallDepth),
        EvalAltResult::ErrorParsing(rhai::ParseErrorType::ExprTooDeep, ..) => {
            Some(LimitKind::ExpressionDepth)
        }
        _ => None,
    };
    let pos = match inner.position() {
        p if p.is_none() => outer_pos,
        p => p,
    };
    let message = match &inner {
        // A failed `invoke` throws `#{ code, message, script }` so that a
        // caller can catch it and read `e.code`; uncaught, it reads as a
        // sentence.
        EvalAltResult::ErrorRuntime(value, _) if crate::services::is_invoke_error(value) => {
            crate::services::describe_invoke_error(value)
        }
        EvalAltResult::ErrorRuntime(value, _) if crate::users::is_users_error(value) => {
            crate::users::describe_users_error(value)
        }
        // `throw value` surfaces the thrown value itself, not Rhai's wrapper text.
        EvalAltResult::ErrorRuntime(value, _) if !value.is_unit() => value.to_string(),
        _ => inner.set_position(Position::NONE).to_string(),
    };
    let failure = Failure {
        message,
        position: position(pos),
    };
    match kind {
        Some(kind) => ScriptError::Limit((kind, failure)),
        None => ScriptError::Runtime(failure),
    }
}

fn innermost(err: EvalAltResult) -> EvalAltResult {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => innermost(*inner),
        other => other,
    }
}
