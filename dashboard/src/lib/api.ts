// The one door to the PiCloud admin API (docs/api.md). Every request goes
// through `request`, so credentials, the CSRF header and the error shape are
// handled in exactly one place.

const ADMIN = '/api/v1/admin';

// ---- Types (the schemas of /api/v1/openapi.json) ----

export interface User {
	id: string;
	username: string;
	created_at: string;
	updated_at: string;
}

export interface SignedIn {
	csrf_token: string;
	expires_at: string;
	user: User;
}

export interface Me {
	kind: 'session' | 'token';
	csrf_token?: string | null;
	expires_at?: string | null;
	token_id?: string | null;
	user: User | null;
}

/** Per-app overrides (docs/scripting.md#limits); a missing key is the default. */
export interface Limits {
	fuel?: number;
	memory_bytes?: number;
	deadline_ms?: number;
	max_response_bytes?: number;
	max_log_lines?: number;
	max_log_bytes?: number;
	max_request_bytes?: number;
}

export type LimitKey = keyof Limits;

export interface Domain {
	id: string;
	pattern: string;
	shape_key: string;
	created_at: string;
}

export interface App {
	id: string;
	slug: string;
	name: string;
	description: string;
	limits: Limits | null;
	/** Absent when CORS is off (docs/apps.md#cors). */
	cors?: CorsPolicy;
	domains: Domain[];
	created_at: string;
	updated_at: string;
}

export interface CorsPolicy {
	allow_origins: string[];
	allow_methods?: string[];
	allow_headers?: string[];
	expose_headers?: string[];
	allow_credentials?: boolean;
	max_age?: number | null;
}

export interface Page {
	next_cursor?: string | null;
}

export interface AppList extends Page {
	apps: App[];
}

export interface CreateApp {
	slug: string;
	name?: string;
	description?: string;
}

export interface UpdateApp {
	name?: string;
	description?: string;
	limits?: Limits | null;
	cors?: CorsPolicy | null;
	slug?: string;
	force?: boolean;
}

export type SlugStatus = 'available' | 'current' | 'taken' | 'history';

export interface SlugVerdict {
	slug: string;
	status: SlugStatus;
	available: boolean;
	holder?: string | null;
	message: string;
}

export interface StatsBucket {
	start: string;
	total: number;
	errors: number;
}

export interface AppStats {
	since: string;
	until: string;
	bucket_seconds: number;
	total: number;
	errors: number;
	error_rate: number;
	p50_ms: number | null;
	p95_ms: number | null;
	script_count: number;
	buckets: StatsBucket[];
}

export interface Script {
	id: string;
	app_id: string;
	name: string;
	description: string;
	source: string;
	created_at: string;
	updated_at: string;
}

export interface ScriptList extends Page {
	scripts: Script[];
}

export interface CreateScript {
	app_id: string;
	name: string;
	description?: string;
	source: string;
}

export interface UpdateScript {
	name?: string;
	description?: string;
	source?: string;
}

export interface Route {
	id: string;
	app_id: string;
	script_id: string;
	method: string;
	path: string;
	host?: string | null;
	created_at: string;
	/** URL patterns the route answers at; empty: only through execute-by-id. */
	reachable_at?: string[];
	/** Why it does not answer where one might expect, if it does not. */
	warnings?: string[];
}

export interface NewRoute {
	method: string;
	path: string;
	host?: string | null;
}

export interface RouteCheck {
	ok: boolean;
	conflict?: Route | null;
	message?: string | null;
}

export interface LogLine {
	level: string;
	message: string;
}

export interface ExecutionFailure {
	code: string;
	message: string;
	line?: number | null;
	column?: number | null;
}

export interface ExecutionSummary {
	id: string;
	app_id: string;
	script_id: string;
	route_id?: string | null;
	trigger: string;
	method: string;
	path: string;
	status: number;
	outcome: 'ok' | 'error';
	error: ExecutionFailure | null;
	fuel_used: number;
	duration_ms: number;
	started_at: string;
}

export interface Execution extends ExecutionSummary {
	logs: LogLine[];
	logs_dropped: number;
}

export interface ExecutionList extends Page {
	executions: ExecutionSummary[];
}

export interface ExecutionFilter {
	app?: string;
	script?: string;
	status?: 'ok' | 'error';
	since?: string;
	until?: string;
	limit?: number;
	cursor?: string;
}

export interface RunRequest {
	method?: string;
	path?: string;
	params?: Record<string, string>;
	query?: string;
	headers?: Record<string, string>;
	body?: string;
}

export interface RunResult {
	execution_id: string;
	status: number;
	headers: Record<string, string>;
	body: string | null;
	body_base64: string | null;
	duration_ms: number;
	fuel_used: number;
	logs: LogLine[];
	logs_dropped: number;
	error: ExecutionFailure | null;
}

/** One key of an app's key-value store (`kv::set` in scripts). */
export interface KvItem {
	key: string;
	/** Any JSON value, as the script stored it. */
	value: unknown;
	/** Bytes it counts against the app's quota. */
	size: number;
	expires_at: string | null;
	updated_at: string;
}

export interface KvUsage {
	keys: number;
	bytes: number;
}

export interface KvQuota {
	max_key_bytes: number;
	max_value_bytes: number;
	max_keys: number;
	max_total_bytes: number;
}

export interface KvList extends Page {
	items: KvItem[];
	usage: KvUsage;
	quota: KvQuota;
}

export interface KvQuery {
	prefix?: string;
	cursor?: string | null;
	limit?: number;
}

export interface PutKv {
	value: unknown;
	/** Seconds until the key expires; absent: it stays until deleted. */
	ttl_seconds?: number;
}

/** A JSON object: what a document is. */
export type JsonObject = { [field: string]: unknown };

/** One of an app's document collections (`docs::insert` in scripts); it exists while it holds documents. */
export interface Collection {
	name: string;
	documents: number;
	/** Bytes its documents count against the app's quota. */
	bytes: number;
}

export interface DocsUsage {
	documents: number;
	bytes: number;
}

export interface DocsQuota {
	max_document_bytes: number;
	max_documents: number;
	max_total_bytes: number;
}

export interface CollectionList {
	items: Collection[];
	usage: DocsUsage;
	quota: DocsQuota;
}

/** A stored document with its id (the id is not a field of the document). */
export interface DocumentItem {
	id: string;
	document: JsonObject;
	created_at: string;
	updated_at: string;
	size: number;
}

export interface DocumentList extends Page {
	items: DocumentItem[];
}

export interface DocumentQuery {
	/** In the shape scripts use: `{"status": "paid", "total": {"gt": 10}}`. */
	where?: JsonObject;
	/** A top-level field; a leading `-` sorts descending. */
	sort?: string;
	cursor?: string | null;
	limit?: number;
}

/** A variable or secret of an app (`env::get` in scripts). */
export interface Variable {
	name: string;
	secret: boolean;
	/** Absent for secrets: they are write-only. */
	value?: string | null;
	created_at: string;
	updated_at: string;
}

export interface VariableList {
	items: Variable[];
}

export interface PutVariable {
	value: string;
	secret: boolean;
}

/** A cron trigger: one of the app's scripts run on a schedule. */
export interface CronTrigger {
	id: string;
	script_id: string;
	script_name: string;
	/** Five-field cron expression: minute hour day-of-month month day-of-week. */
	schedule: string;
	/** IANA time zone the schedule is read in. */
	timezone: string;
	enabled: boolean;
	/** `null` while disabled. */
	next_run_at: string | null;
	/** The last time the scheduler fired it; `null` = never. */
	last_run_at: string | null;
	created_at: string;
	updated_at: string;
}

export interface TriggerList {
	items: CronTrigger[];
}

export interface CreateTrigger {
	/** Id or name of one of the app's scripts. */
	script: string;
	schedule: string;
	/** Default `UTC`. */
	timezone?: string;
	/** Default `true`. */
	enabled?: boolean;
}

export interface UpdateTrigger {
	script?: string;
	schedule?: string;
	timezone?: string;
	enabled?: boolean;
}

/** A trigger fired by hand ("Run now"). */
export interface TriggerRun {
	execution_id: string;
	status: number;
	duration_ms: number;
	error: ExecutionFailure | null;
}

/** One entry of an app's outbound HTTP allow-list. */
export interface HttpAllowEntry {
	/** Canonical form: `https://api.example.com:443`, `https://*.example.com:443`. */
	pattern: string;
	created_at: string;
}

export interface HttpAllowList {
	items: HttpAllowEntry[];
}

export interface UserList extends Page {
	users: User[];
}

export interface Token {
	id: string;
	name: string;
	user_id?: string | null;
	created_at: string;
	last_used_at?: string | null;
}

export interface CreatedToken extends Token {
	token: string;
}

export interface TokenList extends Page {
	tokens: Token[];
}

export interface Version {
	api: string;
	picloud: string;
	public_base_url: string;
	schema: number;
	wit: string;
}

// ---- Errors ----

/** An answer other than 2xx, in the API's one error shape (or made to look like it). */
export class ApiError extends Error {
	readonly status: number;
	readonly code: string;
	readonly line?: number;
	readonly column?: number;
	/** Seconds, from `Retry-After` (429). */
	readonly retryAfter?: number;

	constructor(
		status: number,
		code: string,
		message: string,
		extra: { line?: number; column?: number; retryAfter?: number } = {}
	) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
		this.line = extra.line;
		this.column = extra.column;
		this.retryAfter = extra.retryAfter;
	}
}

interface ErrorBody {
	error?: { code?: unknown; message?: unknown; line?: unknown; column?: unknown };
}

async function toApiError(response: Response): Promise<ApiError> {
	const text = await response.text().catch(() => '');
	const retry = Number(response.headers.get('retry-after'));
	const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
	let body: ErrorBody | undefined;
	try {
		body = JSON.parse(text) as ErrorBody;
	} catch {
		// Some 400s (malformed query parameters) are plain text from the framework.
	}
	const detail = body?.error;
	if (detail && typeof detail.code === 'string') {
		return new ApiError(
			response.status,
			detail.code,
			typeof detail.message === 'string' ? detail.message : detail.code,
			{
				line: typeof detail.line === 'number' ? detail.line : undefined,
				column: typeof detail.column === 'number' ? detail.column : undefined,
				retryAfter
			}
		);
	}
	const message = text.trim() || `${response.status} ${response.statusText}`.trim();
	return new ApiError(response.status, `http_${response.status}`, message, { retryAfter });
}

/** A message for any failure: the API's own words when there are some. */
export function errorMessage(error: unknown): string {
	if (error instanceof ApiError) return error.message;
	if (error instanceof Error) return error.message;
	return String(error);
}

// ---- Transport ----

// The CSRF token lives only here, in memory: it is fetched again from
// /auth/me after a reload, never stored where a script could read it later.
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
	csrfToken = token;
}

let onUnauthorized: (() => void) | null = null;

/** Called on any `401 unauthorized` (the session is gone), before the error is thrown. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
	onUnauthorized = handler;
}

type Query = Record<string, string | number | undefined | null>;

function withQuery(path: string, query?: Query): string {
	if (!query) return path;
	const params = new URLSearchParams();
	for (const [key, value] of Object.entries(query)) {
		if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
	}
	const qs = params.toString();
	return qs ? `${path}?${qs}` : path;
}

/**
 * Every page of a list the UI shows whole (a script's routes, an app's
 * claims, users, tokens): those stay small, but the API pages every list, so a
 * long one must not be cut off silently at the first page.
 */
async function allPages<K extends string, T>(path: string, key: K): Promise<Record<K, T[]>> {
	const items: T[] = [];
	let cursor: string | null | undefined;
	do {
		const page = await request<Record<K, T[]> & Page>('GET', path, {
			query: { limit: 500, cursor }
		});
		items.push(...page[key]);
		cursor = page.next_cursor;
	} while (cursor);
	return { [key]: items } as Record<K, T[]>;
}

async function request<T>(
	method: string,
	path: string,
	options: { body?: unknown; query?: Query; base?: string } = {}
): Promise<T> {
	const headers: Record<string, string> = { accept: 'application/json' };
	const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (options.body !== undefined) {
		headers['content-type'] = 'application/json';
		init.body = JSON.stringify(options.body);
	}
	if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
	let response: Response;
	try {
		// A 308 for an old app slug is followed here, so callers get the app
		// under its current slug and can compare.
		response = await fetch(withQuery((options.base ?? ADMIN) + path, options.query), init);
	} catch {
		throw new ApiError(0, 'network_error', 'Cannot reach the PiCloud server. Is it running?');
	}
	if (!response.ok) {
		const error = await toApiError(response);
		if (error.status === 401 && error.code === 'unauthorized') onUnauthorized?.();
		throw error;
	}
	if (response.status === 204) return undefined as T;
	return (await response.json()) as T;
}

const enc = encodeURIComponent;

/**
 * A user-chosen name (a KV key, a variable name) as one path segment. The URL
 * parser treats `.` and `..` as dot segments even when percent-encoded, so
 * `DELETE …/kv/..` would reach `DELETE /apps/{app}`: those are refused here.
 */
function segment(value: string, what: string): string {
	if (value === '' || value === '.' || value === '..') {
		throw new ApiError(
			0,
			'unaddressable',
			value === ''
				? `The ${what} is empty.`
				: `The ${what} "${value}" cannot be addressed in a URL, so the dashboard cannot change it.`
		);
	}
	return enc(value);
}

/** The documents of one collection; throws (so call it inside an async function) for an unaddressable name. */
function documents(app: string, collection: string): string {
	return `/apps/${enc(app)}/collections/${segment(collection, 'collection')}/documents`;
}

// ---- Endpoints ----

export const api = {
	version: () => request<Version>('GET', '/version', { base: '' }),

	login: (username: string, password: string) =>
		request<SignedIn>('POST', '/auth/login', { body: { username, password } }),
	me: () => request<Me>('GET', '/auth/me'),
	logout: () => request<void>('POST', '/auth/logout'),

	listApps: (cursor?: string | null, limit = 100) =>
		request<AppList>('GET', '/apps', { query: { limit, cursor } }),
	createApp: (body: CreateApp) => request<App>('POST', '/apps', { body }),
	getApp: (app: string) => request<App>('GET', `/apps/${enc(app)}`),
	updateApp: (app: string, body: UpdateApp) => request<App>('PATCH', `/apps/${enc(app)}`, { body }),
	deleteApp: (app: string) => request<void>('DELETE', `/apps/${enc(app)}`),
	checkSlug: (app: string, slug: string) =>
		request<SlugVerdict>('POST', `/apps/${enc(app)}/slug:check`, { body: { slug } }),
	appStats: (app: string, query: { since?: string; until?: string; buckets?: number } = {}) =>
		request<AppStats>('GET', `/apps/${enc(app)}/stats`, { query }),
	appRoutes: (app: string) => allPages<'routes', Route>(`/apps/${enc(app)}/routes`, 'routes'),

	listDomains: (app: string) => allPages<'domains', Domain>(`/apps/${enc(app)}/domains`, 'domains'),
	addDomain: (app: string, pattern: string) =>
		request<Domain>('POST', `/apps/${enc(app)}/domains`, { body: { pattern } }),
	deleteDomain: (app: string, id: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/domains/${enc(id)}`),

	listKv: (app: string, query: KvQuery = {}) =>
		request<KvList>('GET', `/apps/${enc(app)}/kv`, { query: { ...query } }),
	getKv: async (app: string, key: string) =>
		request<KvItem>('GET', `/apps/${enc(app)}/kv/${segment(key, 'key')}`),
	putKv: async (app: string, key: string, body: PutKv) =>
		request<KvItem>('PUT', `/apps/${enc(app)}/kv/${segment(key, 'key')}`, { body }),
	deleteKv: async (app: string, key: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/kv/${segment(key, 'key')}`),

	listCollections: (app: string) => request<CollectionList>('GET', `/apps/${enc(app)}/collections`),
	listDocuments: async (app: string, collection: string, query: DocumentQuery = {}) =>
		request<DocumentList>('GET', documents(app, collection), {
			query: {
				limit: query.limit,
				cursor: query.cursor,
				sort: query.sort,
				where: query.where === undefined ? undefined : JSON.stringify(query.where)
			}
		}),
	getDocument: async (app: string, collection: string, id: string) =>
		request<DocumentItem>('GET', `${documents(app, collection)}/${segment(id, 'id')}`),
	insertDocument: async (app: string, collection: string, document: JsonObject) =>
		request<DocumentItem>('POST', documents(app, collection), { body: document }),
	replaceDocument: async (app: string, collection: string, id: string, document: JsonObject) =>
		request<DocumentItem>('PUT', `${documents(app, collection)}/${segment(id, 'id')}`, {
			body: document
		}),
	deleteDocument: async (app: string, collection: string, id: string) =>
		request<void>('DELETE', `${documents(app, collection)}/${segment(id, 'id')}`),

	listVariables: (app: string) => request<VariableList>('GET', `/apps/${enc(app)}/variables`),
	putVariable: async (app: string, name: string, body: PutVariable) =>
		request<Variable>('PUT', `/apps/${enc(app)}/variables/${segment(name, 'name')}`, { body }),
	deleteVariable: async (app: string, name: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/variables/${segment(name, 'name')}`),

	listTriggers: (app: string) => request<TriggerList>('GET', `/apps/${enc(app)}/triggers`),
	createTrigger: (app: string, body: CreateTrigger) =>
		request<CronTrigger>('POST', `/apps/${enc(app)}/triggers`, { body }),
	updateTrigger: (app: string, id: string, body: UpdateTrigger) =>
		request<CronTrigger>('PATCH', `/apps/${enc(app)}/triggers/${enc(id)}`, { body }),
	deleteTrigger: (app: string, id: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/triggers/${enc(id)}`),
	runTrigger: (app: string, id: string) =>
		request<TriggerRun>('POST', `/apps/${enc(app)}/triggers/${enc(id)}/run`),

	listHttpAllow: (app: string) => request<HttpAllowList>('GET', `/apps/${enc(app)}/http-allow`),
	addHttpAllow: (app: string, pattern: string) =>
		request<HttpAllowEntry>('POST', `/apps/${enc(app)}/http-allow`, { body: { pattern } }),
	removeHttpAllow: (app: string, pattern: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/http-allow`, { query: { pattern } }),

	listScripts: (app: string, cursor?: string | null, limit = 200) =>
		request<ScriptList>('GET', '/scripts', { query: { app, limit, cursor } }),
	createScript: (body: CreateScript) => request<Script>('POST', '/scripts', { body }),
	getScript: (id: string) => request<Script>('GET', `/scripts/${enc(id)}`),
	updateScript: (id: string, body: UpdateScript) =>
		request<Script>('PATCH', `/scripts/${enc(id)}`, { body }),
	deleteScript: (id: string) => request<void>('DELETE', `/scripts/${enc(id)}`),
	runScript: (id: string, body: RunRequest) =>
		request<RunResult>('POST', `/scripts/${enc(id)}/run`, { body }),

	scriptRoutes: (id: string) => allPages<'routes', Route>(`/scripts/${enc(id)}/routes`, 'routes'),
	createRoute: (scriptId: string, body: NewRoute) =>
		request<Route>('POST', `/scripts/${enc(scriptId)}/routes`, { body }),
	deleteRoute: (scriptId: string, routeId: string) =>
		request<void>('DELETE', `/scripts/${enc(scriptId)}/routes/${enc(routeId)}`),
	checkRoute: (body: NewRoute & { app_id: string }) =>
		request<RouteCheck>('POST', '/routes:check', { body }),

	listExecutions: (filter: ExecutionFilter) =>
		request<ExecutionList>('GET', '/executions', { query: { ...filter } }),
	scriptExecutions: (id: string, filter: Omit<ExecutionFilter, 'script' | 'app'>) =>
		request<ExecutionList>('GET', `/scripts/${enc(id)}/executions`, { query: { ...filter } }),
	getExecution: (id: string) => request<Execution>('GET', `/executions/${enc(id)}`),

	listUsers: () => allPages<'users', User>('/users', 'users'),
	createUser: (username: string, password: string) =>
		request<User>('POST', '/users', { body: { username, password } }),
	deleteUser: (id: string) => request<void>('DELETE', `/users/${enc(id)}`),
	setPassword: (id: string, password: string, currentPassword?: string) =>
		request<void>('PUT', `/users/${enc(id)}/password`, {
			body:
				currentPassword === undefined
					? { password }
					: { password, current_password: currentPassword }
		}),

	listTokens: () => allPages<'tokens', Token>('/tokens', 'tokens'),
	createToken: (name: string) => request<CreatedToken>('POST', '/tokens', { body: { name } }),
	revokeToken: (id: string) => request<void>('DELETE', `/tokens/${enc(id)}`)
};
