// The app's Logs tab: its filters as typed, as the API's query, and the list
// that the history pages and the live stream (server-sent events) fill
// together.

import type { AppExecutionFilter, ExecutionSummary } from './api';

/** The filters as the form holds them; empty means "any". */
export interface LogFilters {
	/** Text in the log lines or the error message. */
	q: string;
	/** A script id. */
	script: string;
	/** `ok`, `error`, `2xx` … `5xx` or a status such as `404`. */
	status: string;
	trigger: string;
	host: string;
	/** An exact path, or a prefix ending in `*`. */
	path: string;
}

export const NO_FILTERS: LogFilters = {
	q: '',
	script: '',
	status: '',
	trigger: '',
	host: '',
	path: ''
};

export const TRIGGERS = [
	'http',
	'direct',
	'test',
	'cron',
	'queue',
	'email',
	'invoke',
	'interceptor'
] as const;

const KEYS = Object.keys(NO_FILTERS) as (keyof LogFilters)[];
const STATUS = /^(ok|error|[1-5]xx|[1-5][0-9][0-9])$/;

/** The filters in an address's query (`?status=error&q=timeout`); unknown values are dropped. */
export function filtersFromParams(params: URLSearchParams): LogFilters {
	const filters = { ...NO_FILTERS };
	for (const key of KEYS) filters[key] = (params.get(key) ?? '').trim();
	if (!STATUS.test(filters.status)) filters.status = '';
	if (!(TRIGGERS as readonly string[]).includes(filters.trigger)) filters.trigger = '';
	return filters;
}

/** The filters as an address's query, without the empty ones: `?status=error`, or ''. */
export function filtersToSearch(filters: LogFilters): string {
	const params = new URLSearchParams();
	for (const key of KEYS) {
		const value = filters[key].trim();
		if (value) params.set(key, value);
	}
	const text = params.toString();
	return text ? `?${text}` : '';
}

/**
 * The API's query for the filters, or the reason it cannot be sent (a
 * status the API would refuse). A path gets its leading `/` if it lacks one.
 */
export function filterQuery(
	filters: LogFilters
): { query: AppExecutionFilter } | { error: string } {
	const query: AppExecutionFilter = {};
	const status = filters.status.trim().toLowerCase();
	if (status) {
		if (!STATUS.test(status)) {
			return { error: 'Status: ok, error, a class such as 5xx, or a code such as 404.' };
		}
		query.status = status;
	}
	if (filters.trigger) query.trigger = filters.trigger;
	const q = filters.q.trim();
	if (q) query.q = q;
	if (filters.script) query.script = filters.script;
	const host = filters.host.trim();
	if (host) query.host = host;
	const path = filters.path.trim();
	if (path) query.path = path.startsWith('/') ? path : `/${path}`;
	return { query };
}

/** Whether any filter is set. */
export function filtering(filters: LogFilters): boolean {
	return KEYS.some((key) => filters[key].trim() !== '');
}

/** The highest `seq` in a list: where the live stream resumes. 0 for an empty list. */
export function lastSeq(items: readonly Pick<ExecutionSummary, 'seq'>[]): number {
	let max = 0;
	for (const item of items) if (item.seq > max) max = item.seq;
	return max;
}

/** What an execution's record has beyond its summary: the stream sends them, the list drops them. */
const DETAIL_FIELDS = [
	'logs',
	'logs_dropped',
	'request_headers',
	'modules',
	'interceptors',
	'descendants',
	'emails'
] as const;

/**
 * An `execution` event's data as a summary, or null when it is not one
 * (the stream's records carry the detail fields too; they are not kept).
 */
export function parseExecutionEvent(data: string): ExecutionSummary | null {
	let value: unknown;
	try {
		value = JSON.parse(data);
	} catch {
		return null;
	}
	if (typeof value !== 'object' || value === null) return null;
	const record = value as Record<string, unknown>;
	if (typeof record.id !== 'string' || typeof record.seq !== 'number') return null;
	if (typeof record.started_at !== 'string') return null;
	// Dropped: a list row needs none of them.
	const summary = { ...record };
	for (const key of DETAIL_FIELDS) delete summary[key];
	return summary as unknown as ExecutionSummary;
}

/**
 * The list with live records added: newest first by start time, each record
 * once (the stream resumes after the history, and a record can come both
 * ways), at most `max` of them.
 */
export function mergeExecutions(
	list: readonly ExecutionSummary[],
	incoming: readonly ExecutionSummary[],
	max: number
): ExecutionSummary[] {
	const byId = new Map(list.map((e) => [e.id, e]));
	for (const e of incoming) byId.set(e.id, e);
	return [...byId.values()]
		.sort((a, b) => {
			const order = Date.parse(b.started_at) - Date.parse(a.started_at);
			return order !== 0 ? order : b.seq - a.seq;
		})
		.slice(0, max);
}
