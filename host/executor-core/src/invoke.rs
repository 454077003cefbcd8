//! The host side of `invoke("name", #{…})`: run another script of the
//! calling app in an instance of its own, inside the caller's slot (ADR 010).
//!
//! The callee is found through the [`ScriptsService`](shared::ScriptsService)
//! with the app from the caller's execution context, never from the guest,
//! so no name reaches another app's scripts. It cannot outlive the caller's
//! deadline; the nesting depth, cycles and the number of calls per execution
//! are bounded here. Each callee's outcome comes back in the caller's
//! outcome ([`shared::ExecutionOutcome::children`]) and is recorded as a
//! child of the caller's record.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use shared::{
    ChildExecution, ExecutionId, ExecutionKind, ExecutionOutcome, ExecutionRequest, ScriptId,
    ScriptRequest, Trigger, require_service,
};

use crate::Executor;
use crate::bindings::picloud::platform::invoke::{self, InvokeError, InvokeRequest};
use crate::bindings::picloud::platform::types::HttpResponse;
use crate::host::HostState;

/// The scripts from the request's own down to the running one: `invoke`
/// refuses a script already on it (a cycle) and one more level than the
/// executor allows.
#[derive(Debug, Clone)]
pub(crate) struct Chain(Arc<[(ScriptId, String)]>);

impl Chain {
    /// The chain of a request's own script.
    pub(crate) fn root(script: ScriptId, name: &str) -> Chain {
        Chain(Arc::from([(script, name.to_owned())]))
    }

    fn then(&self, script: ScriptId, name: &str) -> Chain {
        let mut scripts = self.0.to_vec();
        scripts.push((script, name.to_owned()));
        Chain(scripts.into())
    }

    /// Levels of `invoke` below the request's script.
    fn depth(&self) -> usize {
        self.0.len() - 1
    }

    fn describe(&self, last: &str) -> String {
        let mut names: Vec<String> = self
            .0
            .iter()
            .map(|(id, name)| {
                if name.is_empty() {
                    id.to_string()
                } else {
                    name.clone()
                }
            })
            .collect();
        names.push(last.to_owned());
        names.join(" → ")
    }
}

/// One execution's `invoke` state.
pub(crate) struct Invokes {
    executor: Executor,
    chain: Chain,
    /// The request id the whole chain shares.
    request_id: String,
    children: Vec<ChildExecution>,
}

impl Invokes {
    pub(crate) fn new(executor: Executor, chain: Chain, request_id: String) -> Invokes {
        Invokes {
            executor,
            chain,
            request_id,
            children: Vec::new(),
        }
    }

    pub(crate) fn into_children(self) -> Vec<ChildExecution> {
        self.children
    }
}

/// The callee's failure for the caller: the interpreter's message and
/// where in the callee it happened (the code travels beside it).
fn describe(error: &shared::ExecutionError, script: &str) -> String {
    use shared::ExecutionError::{Compile, Runtime, ScriptLimit};
    match error {
        Compile(failure) | Runtime(failure) | ScriptLimit { failure, .. } => {
            match failure.position {
                Some(p) => format!(
                    "{} (line {}, column {} of '{script}')",
                    failure.message, p.line, p.column
                ),
                None => format!("{} (in '{script}')", failure.message),
            }
        }
        other => other.to_string(),
    }
}

fn refuse(code: &str, message: String) -> Result<HttpResponse, InvokeError> {
    Err(InvokeError {
        code: code.to_owned(),
        message,
    })
}

impl invoke::Host for HostState {
    async fn call(
        &mut self,
        script: String,
        request: InvokeRequest,
    ) -> wasmtime::Result<Result<HttpResponse, InvokeError>> {
        self.past_deadline()?;
        let Some(invokes) = &self.invokes else {
            return Ok(refuse(
                "invoke_not_found",
                "invoke is not available here".into(),
            ));
        };
        let executor = invokes.executor.clone();
        if invokes.children.len() >= executor.0.max_invokes as usize {
            return Ok(refuse(
                "invoke_limit_exceeded",
                format!(
                    "an execution may invoke at most {} scripts; this one already did",
                    executor.0.max_invokes
                ),
            ));
        }
        if invokes.chain.depth() >= executor.0.max_invoke_depth as usize {
            return Ok(refuse(
                "invoke_depth_exceeded",
                format!(
                    "invoke may nest at most {} levels deep: {}",
                    executor.0.max_invoke_depth,
                    invokes.chain.describe(&script)
                ),
            ));
        }
        let app = self.context.app_id;
        let lookup = tokio::time::timeout_at(self.deadline.into(), async {
            require_service(self.services.scripts(), "invoke")?
                .invocable(app, &script)
                .await
        })
        .await
        .map_err(|_elapsed| wasmtime::Trap::Interrupt)?;
        let callee = match lookup {
            Ok(Some(callee)) => callee,
            Ok(None) => {
                return Ok(refuse(
                    "invoke_not_found",
                    format!("this app has no script named '{script}'"),
                ));
            }
            Err(error) => return Ok(refuse("invoke_unavailable", error.message)),
        };
        let Some(invokes) = &mut self.invokes else {
            unreachable!("checked above");
        };
        if invokes
            .chain
            .0
            .iter()
            .any(|(id, _)| *id == callee.script_id)
        {
            return Ok(refuse(
                "invoke_cycle",
                format!(
                    "'{}' is already running in this chain: {}",
                    callee.name,
                    invokes.chain.describe(&callee.name)
                ),
            ));
        }
        let chain = invokes.chain.then(callee.script_id, &callee.name);
        let callee_name = callee.name.clone();
        let id = ExecutionId::new();
        let started_at = SystemTime::now();
        let headers = request.headers.clone();
        let (method, path) = (request.method.clone(), request.path.clone());
        let child = ExecutionRequest {
            execution_id: id,
            app_id: app,
            script_id: callee.script_id,
            route_id: None,
            source: callee.source,
            request: ScriptRequest {
                method: request.method,
                path: request.path,
                query: request.query,
                headers: request.headers,
                params: Vec::new(),
                host_params: Vec::new(),
                body: request.body,
                url: String::new(),
                // The caller's client: a callee's `users::login` is throttled
                // by the address of whoever made the request.
                client_ip: self
                    .context
                    .client_ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                id: invokes.request_id.clone(),
                locals: String::new(),
            },
            limits: callee.limits,
            trigger: Trigger::Invoke,
            name: callee.name,
            modules: callee.modules.into(),
            kind: ExecutionKind::Handler,
        };
        let modules = child.modules.iter().map(|m| m.usage()).collect();
        let deadline: Instant = self.deadline;
        // An instance for the callee: the pool keeps one per slot for them.
        // Waiting takes at most half of the caller's remaining time, so
        // chains waiting on each other's instances cannot hang, and a
        // refusal leaves the caller time to catch it.
        let patience = deadline.saturating_duration_since(Instant::now()) / 2;
        let Ok(Ok(_instance)) = tokio::time::timeout(
            patience,
            executor.0.callee_instances.clone().acquire_owned(),
        )
        .await
        else {
            return Ok(refuse(
                "executor_overloaded",
                "every instance for invoked scripts is busy; retry shortly".into(),
            ));
        };
        // Boxed: this future is part of the caller's, and a callee may
        // invoke in turn.
        let mut outcome: ExecutionOutcome =
            Box::pin(executor.run(child, chain, Some(deadline))).await;
        let answer = match &mut outcome.outcome {
            Ok(response) => Ok(HttpResponse {
                status: response.status,
                headers: response.headers.clone(),
                body: std::mem::take(&mut response.body),
            }),
            Err(error) => Err(InvokeError {
                code: error.code().to_owned(),
                message: describe(error, &callee_name),
            }),
        };
        let response_bytes = answer.as_ref().map_or(0, |r| r.body.len() as u64);
        invokes.children.push(ChildExecution {
            id,
            script_id: callee.script_id,
            script_version: callee.version,
            modules,
            method,
            path,
            request_headers: headers,
            started_at,
            response_bytes,
            outcome,
        });
        self.past_deadline()?;
        Ok(answer)
    }
}
