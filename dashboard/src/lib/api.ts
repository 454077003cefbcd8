// The one door to the PiCloud admin API (docs/api.md). Every request goes
// through `request`, so credentials, the CSRF header and the error shape are
// handled in exactly one place.

import type { components, operations } from './api-schema';

const ADMIN = '/api/v1/admin';

// ---- Types ----
//
// Aliases of the types `npm run gen:api` generates into api-schema.d.ts from
// the server's OpenAPI document (openapi.json, the server's
// GET /api/v1/openapi.json), so a field the server renames, drops or makes
// nullable fails `npm run check` instead of showing up blank in the browser.
// The names are the dashboard's own (`KvItem` is the server's `KvEntry`).
//
// Hand-written is only what the document does not describe: it declares an
// app's `limits` and `cors` (and an update's `users`) as bare JSON objects,
// the documents query takes `where` as JSON text while callers pass an
// object, /version is not part of the admin API, and script versions
// (below) are not in the copy of the document yet. `scripts:check` is not in
// it yet either: its types (below) are the document's once it has them, and
// hand-written until then.

type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];
/** The document's schema `Name` when it has one, `Fallback` until then. */
type SchemaOr<Name extends string, Fallback> = Name extends keyof components['schemas']
	? components['schemas'][Name]
	: Fallback;
type QueryOf<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;

export type User = Schema<'User'>;
export type SignedIn = Schema<'SignedIn'>;
export type Me = Schema<'Me'>;

/**
 * What a user or token may do on one app (docs/api.md, "Roles"): `viewer`
 * reads, `developer` also changes scripts, data and the rest of the app's
 * code, `owner` also its settings, domains and roles.
 */
export type Role = Schema<'Role'>;
/** An app the caller has a role on, as `/auth/me` lists it. */
export type AppRole = Schema<'AppRole'>;
/** A user's role on an app, as `GET /apps/{app}/roles` lists it. */
export type Grant = Schema<'Grant'>;
export type RoleList = Schema<'RoleList'>;

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

/** An app's CORS policy (docs/apps.md#cors); the server fills in the defaults. */
export interface CorsPolicy {
	allow_origins: string[];
	allow_methods?: string[];
	allow_headers?: string[];
	expose_headers?: string[];
	allow_credentials?: boolean;
	max_age?: number | null;
}

/** An app's request rate limit (docs/apps.md#rate-limits). */
export interface RateLimit {
	requests_per_second: number;
	/** The bucket's size; the server's default is one second's worth. */
	burst?: number;
	/** One bucket per client address instead of one for the whole app. */
	per_client_ip?: boolean;
}

/**
 * An app's settings for its end users (docs/scripting.md#users); a missing
 * key is the default.
 */
export type UsersSettings = Schema<'UsersSettings'>;

/** The document's `limits`, `cors`, `rate_limit` and `users` (bare objects there) with their fields. */
type WithPolicies<T> = Omit<T, 'limits' | 'cors' | 'rate_limit' | 'users'> & {
	limits?: Limits | null;
	/** Absent or null when CORS is off (docs/apps.md#cors). */
	cors?: CorsPolicy | null;
	/** Absent or null when the app has no rate limit. */
	rate_limit?: RateLimit | null;
	/** Absent or null when all are the defaults; null in an update resets them. */
	users?: UsersSettings | null;
};

export type Domain = Schema<'Domain'>;
export type App = WithPolicies<Schema<'App'>>;
export type AppList = Omit<Schema<'AppList'>, 'apps'> & { apps: App[] };
export type CreateApp = Schema<'CreateApp'>;
export type UpdateApp = WithPolicies<Schema<'UpdateApp'>>;
export type SlugVerdict = Schema<'SlugVerdict'>;
export type RetiredSlug = Schema<'RetiredSlug'>;
export type StatsBucket = Schema<'StatsBucket'>;
export type AppStats = Schema<'AppStats'>;
export type StatsQuery = QueryOf<'executions_stats'>;

/**
 * The script's current version: the one it runs, 1 for a new script and one
 * more for each change of source (a rollback included).
 */
type WithScriptVersion<T> = T & { version: number };
export type Script = WithScriptVersion<Schema<'Script'>>;
export type ScriptList = Omit<Schema<'ScriptList'>, 'scripts'> & { scripts: Script[] };
export type CreateScript = Schema<'CreateScript'>;
export type UpdateScript = Schema<'UpdateScript'>;

/**
 * `POST /scripts:check`: a source to compile without saving it. With
 * `app_id` its `import`s are checked against the app's scripts; `name` is
 * the script's own, so that an import leading back to it is a cycle.
 */
export type CheckScript = SchemaOr<
	'CheckScript',
	{
		/** Rhai source (at most 256 KiB). */
		source: string;
		/** App id or slug; without it only the syntax is checked. */
		app_id?: string | null;
		name?: string | null;
	}
>;
/** One problem `scripts:check` found; `line` and `column` from 1, when known. */
export type ScriptDiagnostic = SchemaOr<
	'Diagnostic',
	{
		/** Always `error` for now. */
		severity: string;
		message: string;
		line?: number | null;
		column?: number | null;
	}
>;
/** What `scripts:check` found: `ok` with no diagnostics, or the problems. */
export type ScriptCheck = SchemaOr<
	'CheckResult',
	{
		ok: boolean;
		diagnostics: ScriptDiagnostic[];
		/** The scripts it imports, when it compiles. */
		imports: string[];
	}
>;

export type Route = Schema<'Route'>;
export type NewRoute = Schema<'CreateRoute'>;
export type CheckRoute = Schema<'CheckRoute'>;
export type RouteCheck = Schema<'RouteCheck'>;

export type LogLine = Schema<'LogLineSchema'>;
export type ExecutionFailure = Schema<'ExecutionFailure'>;
/** The version of the script's source that ran; null (or absent, from an older server) when unknown. */
type WithRanVersion<T> = T & { script_version?: number | null };
export type ExecutionSummary = WithRanVersion<Schema<'ExecutionSummary'>>;
export type Execution = WithRanVersion<Schema<'Execution'>>;
export type ExecutionList = Omit<Schema<'ExecutionList'>, 'executions'> & {
	executions: ExecutionSummary[];
};
export type ExecutionFilter = QueryOf<'executions_list'>;
/** The search of one app's executions (`GET /apps/{app}/executions`): more filters. */
export type AppExecutionFilter = QueryOf<'executions_list_for_app'>;
/** The live stream's filters (the search's, without time and paging) and where it resumes. */
export type ExecutionStreamQuery = QueryOf<'executions_stream'>;
/** The same, for one script's executions (`app` and `script` are the script's). */
export type ScriptExecutionFilter = Omit<ExecutionFilter, 'app' | 'script'>;
export type RunRequest = Schema<'RunRequest'>;
export type RunResult = Schema<'RunResult'>;

/** One key of an app's key-value store (`kv::set` in scripts). */
export type KvItem = Schema<'KvEntry'>;
export type KvUsage = Schema<'KvUsage'>;
export type KvQuota = Schema<'KvQuota'>;
export type KvList = Schema<'KvList'>;
export type KvQuery = QueryOf<'kv_list'>;
export type PutKv = Schema<'PutEntry'>;

/** A JSON object: what a document is. */
export type JsonObject = Schema<'DocRecord'>['document'];
/** One of an app's document collections (`docs::insert` in scripts); it exists while it holds documents. */
export type Collection = Schema<'Collection'>;
export type DocsUsage = Schema<'DocsUsage'>;
export type DocsQuota = Schema<'DocsQuota'>;
export type CollectionList = Schema<'CollectionList'>;
/** A stored document with its id (the id is not a field of the document). */
export type DocumentItem = Schema<'DocRecord'>;
export type DocumentList = Schema<'DocList'>;
/** `docs_list`'s query, with `where` as an object: `request` sends it as JSON text. */
export type DocumentQuery = Omit<QueryOf<'docs_list'>, 'where'> & {
	/** In the shape scripts use: `{"status": "paid", "total": {"gt": 10}}`. */
	where?: JsonObject;
};

/** A variable or secret of an app (`env::get` in scripts). */
export type Variable = Schema<'Variable'>;
export type VariableList = Schema<'VariableList'>;
export type PutVariable = Schema<'PutVariable'>;

/** A trigger of any kind, told apart by `kind`. */
export type Trigger = Schema<'Trigger'>;
/** A cron trigger: one of the app's scripts run on a schedule. */
export type CronTrigger = Extract<Trigger, { kind: 'cron' }>;
/** A queue trigger: one of the app's scripts run for each message of a queue. */
export type QueueTrigger = Extract<Trigger, { kind: 'queue' }>;
/**
 * An email trigger: one of the app's scripts run for each inbound mail to
 * `<email>@` any of the app's domains (`email` a local part such as `support`,
 * or `*`: every address without a trigger of its own).
 */
export type EmailTrigger = Extract<Trigger, { kind: 'email' }>;
/** Cron triggers first, then queue and email triggers. */
export type TriggerList = Schema<'TriggerList'>;
export type CreateTrigger = Schema<'CreateTrigger'>;
export type UpdateTrigger = Schema<'UpdateTrigger'>;
/** A cron trigger fired by hand ("Run now"). */
export type TriggerRun = Schema<'TriggerRun'>;

/** One queue of an app (`queue::send` in scripts): its counts and its trigger, if any. */
export type QueueStats = Schema<'QueueStats'>;
export type QueueList = Schema<'QueueList'>;
/** A message that used up its attempts. */
export type DeadLetter = Schema<'DeadLetter'>;
export type DeadLetterList = Schema<'DeadLetterList'>;
export type DeadLetterQuery = QueryOf<'queues_list_dead'>;
/** What "Retry all" put back on the queue (the document says only `object`). */
export interface RetriedDeadLetters {
	retried: number;
}
/** What "Discard all" removed (the document says only `object`). */
export interface DiscardedDeadLetters {
	discarded: number;
}

/**
 * One message a script sent with `email::send` (never its body): recipients,
 * subject, `status` (`queued`, `sent`, `failed`), attempts and the relay's last reply.
 */
export type SentEmail = Schema<'EmailSend'>;
export type SentEmailList = Schema<'EmailList'>;
/** `status` (`queued`, `sent`, `failed`) and `limit` (1-500, default 100). */
export type SentEmailQuery = QueryOf<'email_list'>;

/** An interceptor: one of the app's scripts run before the route's script, for a path prefix. */
export type Interceptor = Schema<'Interceptor'>;
export type InterceptorList = Schema<'InterceptorList'>;
export type CreateInterceptor = Schema<'CreateInterceptor'>;
export type UpdateInterceptor = Schema<'UpdateInterceptor'>;
/** A module (another script of the app) an execution imported, with the version that ran. */
export type ModuleUse = Schema<'ModuleUse'>;
/** One interceptor that ran before a request's handler, and what it did. */
export type InterceptorRun = Schema<'InterceptorRun'>;

/**
 * One of an app's end-user accounts (`users::signup` in scripts), with its
 * count of live sessions: the API never sends a password hash or a token.
 */
export type AppUser = Schema<'UserAccount'>;
export type AppUserList = Schema<'AppUserList'>;
/** `q` searches emails (case-insensitive, any part); by email, in pages. */
export type AppUserQuery = QueryOf<'app-users_list_app_users'>;
/** What "sign out everywhere" ended. */
export type RevokedSessions = Schema<'Revoked'>;

/** One entry of an app's outbound HTTP allow-list. */
export type HttpAllowEntry = Schema<'HttpAllowEntry'>;
export type HttpAllowList = Schema<'AllowList'>;

export type UserList = Schema<'UserList'>;
export type Token = Schema<'Token'>;
export type CreatedToken = Schema<'CreatedToken'>;
export type TokenList = Schema<'TokenList'>;

/** One version of a script's source (`GET /scripts/{id}/versions`), newest first. */
export interface ScriptVersion {
	/** 1, 2, … in the order they were made; old ones may have been pruned. */
	version: number;
	/** SHA-256 of the source, hex: equal sources, equal hashes. */
	sha256: string;
	/** The source's size in bytes. */
	size: number;
	/** A username, `token:<name>`, or empty when unknown. */
	author: string;
	/** The message given with the change. */
	message?: string | null;
	/** RFC 3339. */
	created_at: string;
	/** Whether the script runs this version now. */
	current: boolean;
}

/** `GET /scripts/{id}/versions/{n}`: the version with its source. */
export interface ScriptVersionSource extends ScriptVersion {
	source: string;
}

export interface ScriptVersionList {
	versions: ScriptVersion[];
	next_cursor?: string | null;
}

/** `POST /scripts/{id}/rollback`. */
export interface Rollback {
	/** The version whose source becomes current again, as a new version. */
	version: number;
	/** Recorded with the new version (the server's default: "rollback to version N"). */
	message?: string;
}

/** `GET /version`: outside the admin API, so not in its document. */
export interface Version {
	api: string;
	picloud: string;
	public_base_url: string;
	schema: number;
	wit: string;
}

/** What every page of a list carries besides its items. */
export interface Page {
	next_cursor?: string | null;
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

// Not the document's ErrorBody: this reads whatever came back (a proxy's
// error page too), so every field is checked before it is used.
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
	options: { body?: unknown; query?: Query; base?: string; signal?: AbortSignal } = {}
): Promise<T> {
	const headers: Record<string, string> = { accept: 'application/json' };
	const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (options.signal) init.signal = options.signal;
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
		if (options.signal?.aborted) throw new ApiError(0, 'aborted', 'The request was cancelled.');
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

/**
 * A queue's name as one path segment, with RFC 3986's reserved characters
 * that `encodeURIComponent` leaves alone encoded too: an email trigger's
 * queue `email:*` is `email%3A%2A`.
 */
function queuePath(app: string, queue: string): string {
	const name = segment(queue, 'queue').replace(
		/[!'()*]/g,
		(c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`
	);
	return `/apps/${enc(app)}/queues/${name}`;
}

// ---- Endpoints ----

export const api = {
	version: () => request<Version>('GET', '/version', { base: '' }),

	login: (username: string, password: string) =>
		request<SignedIn>('POST', '/auth/login', {
			body: { username, password } satisfies Schema<'Login'>
		}),
	me: () => request<Me>('GET', '/auth/me'),
	logout: () => request<void>('POST', '/auth/logout'),

	listApps: (cursor?: string | null, limit = 100) =>
		request<AppList>('GET', '/apps', { query: { limit, cursor } }),
	createApp: (body: CreateApp) => request<App>('POST', '/apps', { body }),
	getApp: (app: string) => request<App>('GET', `/apps/${enc(app)}`),
	updateApp: (app: string, body: UpdateApp) => request<App>('PATCH', `/apps/${enc(app)}`, { body }),
	deleteApp: (app: string) => request<void>('DELETE', `/apps/${enc(app)}`),
	checkSlug: (app: string, slug: string) =>
		request<SlugVerdict>('POST', `/apps/${enc(app)}/slug:check`, {
			body: { slug } satisfies Schema<'SlugCheck'>
		}),
	/** The slugs the app had before, newest first (each still redirects here). */
	slugHistory: (app: string) =>
		request<{ slugs: RetiredSlug[] }>('GET', `/apps/${enc(app)}/slugs`).then((r) => r.slugs),
	appStats: (app: string, query: StatsQuery = {}) =>
		request<AppStats>('GET', `/apps/${enc(app)}/stats`, { query }),
	appRoutes: (app: string) => allPages<'routes', Route>(`/apps/${enc(app)}/routes`, 'routes'),
	/** Every app the caller has a role on (all of them for a server admin). */
	allApps: () => allPages<'apps', App>('/apps', 'apps'),

	/** Who has which role on the app (its owners only); server admins are not listed. */
	listRoles: (app: string) => request<RoleList>('GET', `/apps/${enc(app)}/roles`),
	/** `user`: a user id or username. Replaces the role the user had. */
	setRole: async (app: string, user: string, role: Role) =>
		request<Grant>('PUT', `/apps/${enc(app)}/roles/${segment(user, 'username')}`, {
			body: { role } satisfies Schema<'SetRole'>
		}),
	removeRole: async (app: string, user: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/roles/${segment(user, 'username')}`),

	listDomains: (app: string) => allPages<'domains', Domain>(`/apps/${enc(app)}/domains`, 'domains'),
	addDomain: (app: string, pattern: string) =>
		request<Domain>('POST', `/apps/${enc(app)}/domains`, {
			body: { pattern } satisfies Schema<'AddDomain'>
		}),
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
	/** A cron trigger (`schedule`), a queue trigger (`queue`) or an email trigger (`email`). */
	createTrigger: (app: string, body: CreateTrigger) =>
		request<Trigger>('POST', `/apps/${enc(app)}/triggers`, { body }),
	updateTrigger: (app: string, id: string, body: UpdateTrigger) =>
		request<Trigger>('PATCH', `/apps/${enc(app)}/triggers/${enc(id)}`, { body }),
	deleteTrigger: (app: string, id: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/triggers/${enc(id)}`),
	/** Cron triggers only (a queue or email trigger answers 400 `invalid_trigger`). */
	runTrigger: (app: string, id: string) =>
		request<TriggerRun>('POST', `/apps/${enc(app)}/triggers/${enc(id)}/run`),

	/** The mail the app's scripts sent, newest first. */
	listEmails: (app: string, query: SentEmailQuery = {}) =>
		request<SentEmailList>('GET', `/apps/${enc(app)}/emails`, { query: { ...query } }),

	listQueues: (app: string) => request<QueueList>('GET', `/apps/${enc(app)}/queues`),
	/** Oldest first. */
	listDeadLetters: async (app: string, queue: string, query: DeadLetterQuery = {}) =>
		request<DeadLetterList>('GET', `${queuePath(app, queue)}/dead`, { query: { ...query } }),
	/** Back on the queue, with its attempts counted afresh. */
	retryDeadLetter: async (app: string, queue: string, id: string) =>
		request<void>('POST', `${queuePath(app, queue)}/dead/${segment(id, 'id')}/retry`),
	discardDeadLetter: async (app: string, queue: string, id: string) =>
		request<void>('DELETE', `${queuePath(app, queue)}/dead/${segment(id, 'id')}`),
	retryAllDeadLetters: async (app: string, queue: string) =>
		request<RetriedDeadLetters>('POST', `${queuePath(app, queue)}/dead:retry`),
	discardAllDeadLetters: async (app: string, queue: string) =>
		request<DiscardedDeadLetters>('DELETE', `${queuePath(app, queue)}/dead`),

	/** In run order. */
	listInterceptors: (app: string) =>
		request<InterceptorList>('GET', `/apps/${enc(app)}/interceptors`),
	createInterceptor: (app: string, body: CreateInterceptor) =>
		request<Interceptor>('POST', `/apps/${enc(app)}/interceptors`, { body }),
	updateInterceptor: (app: string, id: string, body: UpdateInterceptor) =>
		request<Interceptor>('PATCH', `/apps/${enc(app)}/interceptors/${enc(id)}`, { body }),
	deleteInterceptor: (app: string, id: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/interceptors/${enc(id)}`),

	/** One page of the app's end-user accounts, by email. */
	listAppUsers: (app: string, query: AppUserQuery = {}) =>
		request<AppUserList>('GET', `/apps/${enc(app)}/users`, { query: { ...query } }),
	getAppUser: (app: string, id: string) =>
		request<AppUser>('GET', `/apps/${enc(app)}/users/${enc(id)}`),
	/** Disabling also ends the account's sessions. */
	setAppUserDisabled: (app: string, id: string, disabled: boolean) =>
		request<AppUser>('PATCH', `/apps/${enc(app)}/users/${enc(id)}`, {
			body: { disabled } satisfies Schema<'UpdateAppUser'>
		}),
	deleteAppUser: (app: string, id: string) =>
		request<void>('DELETE', `/apps/${enc(app)}/users/${enc(id)}`),
	/** "Sign out everywhere": ends every live session of the account. */
	revokeAppUserSessions: (app: string, id: string) =>
		request<RevokedSessions>('DELETE', `/apps/${enc(app)}/users/${enc(id)}/sessions`),

	listHttpAllow: (app: string) => request<HttpAllowList>('GET', `/apps/${enc(app)}/http-allow`),
	addHttpAllow: (app: string, pattern: string) =>
		request<HttpAllowEntry>('POST', `/apps/${enc(app)}/http-allow`, {
			body: { pattern } satisfies Schema<'AddEntry'>
		}),
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
	/**
	 * Compiles a source without saving it (diagnostics while typing): 200
	 * with `ok` and the diagnostics either way. A 400 `source_too_large`, a
	 * 404 or a 503 `executor_unavailable` means it could not be checked, not
	 * that the script is wrong. `signal` cancels a check that is no longer wanted.
	 */
	checkScript: (body: CheckScript, signal?: AbortSignal) =>
		request<ScriptCheck>('POST', '/scripts:check', { body, signal }),

	/** A script's versions, newest first, without their sources. */
	listVersions: (scriptId: string, cursor?: string | null, limit = 20) =>
		request<ScriptVersionList>('GET', `/scripts/${enc(scriptId)}/versions`, {
			query: { limit, cursor }
		}),
	/** Version `n` of a script, with its source (not `api.version`, the server's). */
	getVersion: (scriptId: string, n: number) =>
		request<ScriptVersionSource>('GET', `/scripts/${enc(scriptId)}/versions/${enc(String(n))}`),
	/** Makes version `version`'s source current again (as a new version, unless it already runs). */
	rollback: (scriptId: string, version: number, message?: string) =>
		request<Script>('POST', `/scripts/${enc(scriptId)}/rollback`, {
			body: (message === undefined ? { version } : { version, message }) satisfies Rollback
		}),

	scriptRoutes: (id: string) => allPages<'routes', Route>(`/scripts/${enc(id)}/routes`, 'routes'),
	createRoute: (scriptId: string, body: NewRoute) =>
		request<Route>('POST', `/scripts/${enc(scriptId)}/routes`, { body }),
	deleteRoute: (scriptId: string, routeId: string) =>
		request<void>('DELETE', `/scripts/${enc(scriptId)}/routes/${enc(routeId)}`),
	checkRoute: (body: CheckRoute) => request<RouteCheck>('POST', '/routes:check', { body }),

	listExecutions: (filter: ExecutionFilter) =>
		request<ExecutionList>('GET', '/executions', { query: { ...filter } }),
	scriptExecutions: (id: string, filter: ScriptExecutionFilter) =>
		request<ExecutionList>('GET', `/scripts/${enc(id)}/executions`, { query: { ...filter } }),
	getExecution: (id: string) => request<Execution>('GET', `/executions/${enc(id)}`),
	/** One page of an app's executions, newest first, searched and filtered. */
	appExecutions: (app: string, filter: AppExecutionFilter) =>
		request<ExecutionList>('GET', `/apps/${enc(app)}/executions`, { query: { ...filter } }),
	/**
	 * The URL of an app's live execution stream, for an `EventSource`: a GET
	 * on the same origin, so the session cookie goes with it and no CSRF
	 * token is needed (an EventSource cannot send headers).
	 */
	executionStreamUrl: (app: string, query: ExecutionStreamQuery = {}) =>
		withQuery(`${ADMIN}/apps/${enc(app)}/executions/stream`, { ...query }),

	listUsers: () => allPages<'users', User>('/users', 'users'),
	/** `serverAdmin`: false makes a user who can do only what their roles on apps allow. */
	createUser: (username: string, password: string, serverAdmin = true) =>
		request<User>('POST', '/users', {
			body: { username, password, server_admin: serverAdmin } satisfies Schema<'NewUser'>
		}),
	/** 409 `last_server_admin` when it would leave the server without one. */
	setServerAdmin: (id: string, serverAdmin: boolean) =>
		request<User>('PATCH', `/users/${enc(id)}`, {
			body: { server_admin: serverAdmin } satisfies Schema<'UserChanges'>
		}),
	deleteUser: (id: string) => request<void>('DELETE', `/users/${enc(id)}`),
	setPassword: (id: string, password: string, currentPassword?: string) =>
		request<void>('PUT', `/users/${enc(id)}/password`, {
			body: (currentPassword === undefined
				? { password }
				: { password, current_password: currentPassword }) satisfies Schema<'NewPassword'>
		}),

	listTokens: () => allPages<'tokens', Token>('/tokens', 'tokens'),
	/**
	 * `limit`: the one app (id or slug) the token may use, with at most this
	 * role there; anyone but a server admin must give one.
	 */
	createToken: (
		name: string,
		scope: 'admin' | 'metrics' = 'admin',
		limit?: { app: string; role: Role }
	) =>
		request<CreatedToken>('POST', '/tokens', {
			body: (limit
				? { name, scope, app: limit.app, role: limit.role }
				: { name, scope }) satisfies Schema<'NewToken'>
		}),
	revokeToken: (id: string) => request<void>('DELETE', `/tokens/${enc(id)}`)
};
