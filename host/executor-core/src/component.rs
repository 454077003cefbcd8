//! Turning the embedded guest into a ready-to-instantiate `Component`:
//! pre-initialize it with wizer (so the Rhai engine is built once, not per
//! request), compile it, and cache the compiled artifact on disk keyed by the
//! guest's hash and the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};
use wasmtime_wizer::Wizer;

use crate::bindings::Script;
use crate::host::{ExecutionContext, HostState, LogBuffer, MemoryCap};
use crate::{Error, GUEST_SHA256, GUEST_WASM, Result};

/// Loads the compiled guest from the cache, or builds and caches it.
pub(crate) fn load(engine: &Engine, cache_dir: Option<&Path>) -> Result<Component> {
    let Some(dir) = cache_dir else {
        return Ok(Component::new(engine, preinitialize()?)?);
    };
    let path = cache_path(engine, dir);
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this very
        // binary (its name embeds the guest hash and the engine's compatibility
        // hash) into the operator's data directory; wasmtime also checks the
        // header for version and configuration mismatches.
        #[allow(unsafe_code, reason = "deserializing our own compiled-component cache")]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "ignoring unusable component cache")
            }
        }
    }
    let started = std::time::Instant::now();
    let component = Component::new(engine, preinitialize()?)?;
    let bytes = component.serialize()?;
    write_atomically(&path, &bytes)?;
    tracing::info!(path = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "compiled and cached the guest component");
    Ok(component)
}

fn cache_path(engine: &Engine, dir: &Path) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!(
        "guest-{}-{:016x}.cwasm",
        &GUEST_SHA256[..16],
        hasher.finish()
    ))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Cache {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir).map_err(io)?;
    // A uniquely named temporary file, renamed into place: executors starting
    // at the same time (several servers, parallel tests) may all compile, but
    // readers only ever see a complete file.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Runs the guest's `init` export under wizer and returns the snapshot: a
/// component whose memory already holds the built interpreter.
pub(crate) fn preinitialize() -> Result<Vec<u8>> {
    // Wizer drives the component through wasmtime's async API, so it gets its
    // own small async engine and a current-thread runtime on a scoped thread
    // (the caller may itself be inside a runtime).
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Wizer(e.to_string()))?;
                runtime.block_on(wizen())
            })
            .join()
            .map_err(|_| Error::Wizer("the pre-initialization thread panicked".into()))?
    })
}

async fn wizen() -> Result<Vec<u8>> {
    // A plain engine: no fuel or epochs while the snapshot is taken.
    let engine = Engine::new(&Config::new())?;
    let mut linker: Linker<HostState> = Linker::new(&engine);
    Script::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)?;
    // No app runs during pre-initialization; the ids only satisfy the type.
    let context = ExecutionContext {
        execution_id: shared::ExecutionId::new(),
        app_id: shared::AppId::new(),
        script_id: shared::ScriptId::new(),
        trigger: shared::Trigger::Test,
        client_ip: None,
    };
    let mut store = Store::new(
        &engine,
        HostState::new(
            context,
            LogBuffer::new(0, 0),
            MemoryCap::new(u64::MAX),
            std::sync::Arc::new(crate::NoServices),
            std::sync::Arc::new(
                crate::outbound::Outbound::new(crate::OutboundConfig::default())
                    .map_err(|e| Error::Outbound(e.to_string()))?,
            ),
            std::time::Instant::now(),
            None,
        ),
    );
    let mut wizer = Wizer::new();
    // Keep `init` exported: the bindings type-check the world's exports, and a
    // second call is a no-op.
    wizer.init_func("init").keep_init_func(true);
    let (snapshot, _) = wizer
        .run_component(&mut store, GUEST_WASM, async |store, component| {
            linker.instantiate_async(store, component).await
        })
        .await
        .map_err(|e| Error::Wizer(format!("{e:#}")))?;
    Ok(snapshot)
}
