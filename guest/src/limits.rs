//! The interpreter's own safety limits. They are a second fence behind the host's
//! fuel, memory cap and deadline: they stop runaway scripts with a precise error
//! ("call depth", "expression depth") before the coarser host limits trap the instance.
//! docs/scripting.md lists them; change both together.

/// Interpreter operations per execution. Deliberately higher than what the host's
/// default fuel budget allows, so that a busy loop reports `fuel_exhausted` (the
/// limit operators tune per app) and this only catches an operator who raised
/// fuel to something absurd.
pub(crate) const MAX_OPERATIONS: u64 = 50_000_000;
/// Nested function calls; deep enough for real recursion, shallow enough that
/// the guest's stack never overflows.
pub(crate) const MAX_CALL_LEVELS: usize = 64;
/// Expression nesting at global level and inside functions.
pub(crate) const MAX_EXPR_DEPTH: usize = 64;
pub(crate) const MAX_FN_EXPR_DEPTH: usize = 32;
/// Variables in scope at once.
pub(crate) const MAX_VARIABLES: usize = 1_000;
/// Functions a script may define.
pub(crate) const MAX_FUNCTIONS: usize = 256;
