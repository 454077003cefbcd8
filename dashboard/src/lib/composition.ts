// Scripts built from scripts (docs/scripting.md): interceptors that run before
// a route's script, and the tree of executions one request made with
// `invoke()`. Pure helpers for the Settings tab and the execution page.

import type {
	CreateInterceptor,
	ExecutionSummary,
	Interceptor,
	InterceptorRun,
	UpdateInterceptor
} from './api';

/** The prefixes the server reads as "every route" (it stores them as `/`). */
const EVERY_ROUTE = new Set(['', '/', '*', '/*']);

/** Whether an interceptor with this prefix runs for every route of the app. */
export function isEveryRoute(prefix: string): boolean {
	return EVERY_ROUTE.has(prefix.trim());
}

/** An interceptor's prefix as the table shows it: "every route" for `/`. */
export function prefixLabel(prefix: string): string {
	return isEveryRoute(prefix) ? 'every route' : prefix;
}

/**
 * A position typed in a form: `undefined` when empty (the server's default,
 * after the last), a whole number, or `null` when it is not one.
 */
export function parsePosition(text: string): number | undefined | null {
	const raw = text.trim();
	if (raw === '') return undefined;
	if (!/^-?\d+$/.test(raw)) return null;
	const n = Number(raw);
	return Number.isSafeInteger(n) ? n : null;
}

/**
 * The body of a `POST …/interceptors` from the form's fields, or why it cannot
 * be sent. An empty prefix is left out (every route); anything else goes to
 * the server as typed (trimmed), which names what is wrong with it.
 */
export function interceptorBody(
	script: string,
	prefix: string,
	position: string
): { body: CreateInterceptor } | { error: string } {
	if (!script) return { error: 'Pick the script to run.' };
	const at = parsePosition(position);
	if (at === null) return { error: 'The position must be a whole number, or empty for the last.' };
	const body: CreateInterceptor = { script };
	const p = prefix.trim();
	if (p !== '') body.prefix = p;
	if (at !== undefined) body.position = at;
	return { body };
}

/** A node of the tree of executions below one execution. */
export interface ExecutionNode {
	execution: ExecutionSummary;
	children: ExecutionNode[];
}

/**
 * The executions below `rootId` (a record's `descendants`, oldest first) as a
 * tree, from each one's `parent_id`: the root's children at the top, each
 * list in the order given. One whose parent is not in the list (it was
 * pruned from the log) is shown at the top rather than lost.
 */
export function executionTree(
	rootId: string,
	descendants: readonly ExecutionSummary[]
): ExecutionNode[] {
	const nodes = new Map<string, ExecutionNode>();
	for (const execution of descendants) {
		if (execution.id !== rootId && !nodes.has(execution.id)) {
			nodes.set(execution.id, { execution, children: [] });
		}
	}
	const top: ExecutionNode[] = [];
	for (const node of nodes.values()) {
		const parentId = node.execution.parent_id;
		const parent = parentId && parentId !== rootId ? nodes.get(parentId) : undefined;
		if (parent && !isBelow(parent, node, nodes)) parent.children.push(node);
		else top.push(node);
	}
	return top;
}

/** Whether `candidate` is `node` or one of its ancestors (a cycle in bad data). */
function isBelow(
	candidate: ExecutionNode,
	node: ExecutionNode,
	nodes: Map<string, ExecutionNode>
): boolean {
	const seen = new Set<string>();
	for (
		let at: ExecutionNode | undefined = candidate;
		at && !seen.has(at.execution.id);
		at = at.execution.parent_id ? nodes.get(at.execution.parent_id) : undefined
	) {
		if (at === node) return true;
		seen.add(at.execution.id);
	}
	return false;
}

/** How many executions a tree holds. */
export function treeSize(nodes: readonly ExecutionNode[]): number {
	return nodes.reduce((n, node) => n + 1 + treeSize(node.children), 0);
}

/** What an interceptor run did, in words. */
export function interceptorResultLabel(run: Pick<InterceptorRun, 'result'>): string {
	switch (run.result) {
		case 'continued':
			return 'continued';
		case 'answered':
			return 'answered the request';
		case 'failed':
			return 'failed';
		default:
			return run.result;
	}
}

/** The interceptor run that ended the request (answered or failed), if one did. */
export function decidingInterceptor(runs: readonly InterceptorRun[]): InterceptorRun | undefined {
	return runs.find((r) => r.result === 'answered' || r.result === 'failed');
}

/**
 * The body of a `PATCH …/interceptors/{id}`: only what the edit form changed
 * (`null` when nothing did), or why it cannot be sent. An emptied prefix is
 * every route (`/`).
 */
export function interceptorChanges(
	current: Pick<Interceptor, 'script_id' | 'prefix' | 'position'>,
	script: string,
	prefix: string,
	position: string
): { body: UpdateInterceptor | null } | { error: string } {
	if (!script) return { error: 'Pick the script to run.' };
	const at = parsePosition(position);
	if (at === null) return { error: 'The position must be a whole number.' };
	const body: UpdateInterceptor = {};
	if (script !== current.script_id) body.script = script;
	const p = prefix.trim() === '' ? '/' : prefix.trim();
	if (p !== current.prefix) body.prefix = p;
	if (at !== undefined && at !== current.position) body.position = at;
	return { body: Object.keys(body).length ? body : null };
}
