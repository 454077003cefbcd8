//! `import "name" as m;`: modules are other scripts of the same app, which
//! the host passes with each call (the script's imports, transitively). The
//! guest never asks for code: what it may import is exactly what it was
//! given, so no script name can reach another app's code (ADR 010).
//!
//! A module is compiled and evaluated the first time an execution imports
//! it; later imports in the same execution reuse it.

use std::cell::RefCell;
use std::collections::HashMap;

use rhai::{
    ASTNode, Engine, EvalAltResult, Expr, Module, ModuleResolver, Position, Scope, Shared, Stmt,
};

use crate::picloud::platform::types::{Failure, ImportRef, ModuleSource};

/// Modules one execution may import. `import` beyond this is the
/// interpreter's "too many modules" error.
pub(crate) const MAX_MODULES: usize = 16;

enum Entry {
    Source(String),
    /// Being evaluated: an import of it now would be a cycle (the host
    /// refuses cycles at upload; this keeps a bad host from recursing).
    Loading,
    Loaded(Shared<Module>),
}

thread_local! {
    static MODULES: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
}

/// Makes `modules` the ones this execution may import.
pub(crate) fn provide(modules: Vec<ModuleSource>) {
    MODULES.with(|m| {
        let mut map = m.borrow_mut();
        map.clear();
        map.extend(
            modules
                .into_iter()
                .map(|module| (module.name, Entry::Source(module.source))),
        );
    });
}

/// Resolves `import` paths from the modules of the running execution.
pub(crate) struct AppModules;

impl ModuleResolver for AppModules {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let taken = MODULES.with(|m| {
            let mut map = m.borrow_mut();
            let Some(entry) = map.get_mut(path) else {
                return Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                    format!("{path} (no script of this app has that name)"),
                    pos,
                )));
            };
            match std::mem::replace(entry, Entry::Loading) {
                Entry::Source(source) => Ok(Ok(source)),
                Entry::Loaded(module) => {
                    *entry = Entry::Loaded(module.clone());
                    Ok(Err(module))
                }
                Entry::Loading => Err(Box::new(EvalAltResult::ErrorRuntime(
                    format!("import cycle through module \"{path}\"").into(),
                    pos,
                ))),
            }
        })?;
        let source = match taken {
            Ok(source) => source,
            Err(loaded) => return Ok(loaded),
        };
        // Compiled and run outside the borrow: the module's own imports
        // come back here.
        let result = engine
            .compile(&source)
            .map_err(|err| {
                Box::new(EvalAltResult::ErrorInModule(
                    path.into(),
                    Box::new(EvalAltResult::ErrorParsing(err.0.as_ref().clone(), err.1)),
                    pos,
                ))
            })
            .and_then(|mut ast| {
                ast.set_source(path);
                Module::eval_ast_as_new(Scope::new(), &ast, engine)
                    .map_err(|err| Box::new(EvalAltResult::ErrorInModule(path.into(), err, pos)))
            });
        MODULES.with(|m| {
            let mut map = m.borrow_mut();
            match result {
                Ok(module) => {
                    let module: Shared<Module> = module.into();
                    map.insert(path.to_owned(), Entry::Loaded(module.clone()));
                    Ok(module)
                }
                Err(err) => {
                    map.insert(path.to_owned(), Entry::Source(source));
                    Err(err)
                }
            }
        })
    }
}

/// The `import` statements of a compiled script, for the host to resolve
/// against the app's scripts. Paths must be string literals: the host
/// checks imports at upload, which it can only do for paths it can read.
pub(crate) fn imports(ast: &rhai::AST) -> Result<Vec<ImportRef>, Failure> {
    let mut found = Vec::new();
    let mut dynamic = None;
    ast.walk(&mut |path: &[ASTNode<'_>]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, pos))) = path.last() {
            match &import.0 {
                Expr::StringConstant(name, _) => found.push(ImportRef {
                    name: name.to_string(),
                    position: crate::engine::position(*pos),
                }),
                _ => dynamic = dynamic.or(Some(*pos)),
            }
        }
        true
    });
    if let Some(pos) = dynamic {
        return Err(Failure {
            message: "the path of an `import` must be a string literal naming one of the app's \
                      scripts, e.g. import \"utils\" as u;"
                .into(),
            position: crate::engine::position(pos),
        });
    }
    Ok(found)
}
