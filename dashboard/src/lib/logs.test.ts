import { describe, expect, test } from 'vitest';
import type { ExecutionSummary } from './api';
import {
	filterQuery,
	filtering,
	filtersFromParams,
	filtersToSearch,
	lastSeq,
	mergeExecutions,
	NO_FILTERS,
	parseExecutionEvent
} from './logs';

function record(id: string, seq: number, startedAt: string): ExecutionSummary {
	return {
		id,
		seq,
		app_id: 'app',
		script_id: 'script',
		trigger: 'http',
		method: 'GET',
		path: '/',
		host: 'shop.test',
		request_id: 'r',
		status: 200,
		response_bytes: 2,
		outcome: 'ok',
		fuel_used: 1,
		duration_ms: 0.5,
		started_at: startedAt
	};
}

describe('filters', () => {
	test('read from the address, unknown values dropped', () => {
		const params = new URLSearchParams('status=error&q=%20timeout%20&trigger=cron&path=/api/*');
		expect(filtersFromParams(params)).toEqual({
			...NO_FILTERS,
			status: 'error',
			q: 'timeout',
			trigger: 'cron',
			path: '/api/*'
		});
		const bad = filtersFromParams(new URLSearchParams('status=oops&trigger=webhook'));
		expect(bad.status).toBe('');
		expect(bad.trigger).toBe('');
		// Queue runs and inbound mail are triggers like the others.
		expect(filtersFromParams(new URLSearchParams('trigger=queue')).trigger).toBe('queue');
		expect(filtersFromParams(new URLSearchParams('trigger=email')).trigger).toBe('email');
	});

	test('written to the address without the empty ones', () => {
		expect(filtersToSearch(NO_FILTERS)).toBe('');
		expect(filtersToSearch({ ...NO_FILTERS, status: '5xx', host: 'a.test' })).toBe(
			'?status=5xx&host=a.test'
		);
	});

	test('as the API query', () => {
		expect(filterQuery(NO_FILTERS)).toEqual({ query: {} });
		expect(
			filterQuery({
				q: ' out of stock ',
				script: 'id-1',
				status: '5XX',
				trigger: 'http',
				host: ' shop.test ',
				path: 'api/*'
			})
		).toEqual({
			query: {
				q: 'out of stock',
				script: 'id-1',
				status: '5xx',
				trigger: 'http',
				host: 'shop.test',
				path: '/api/*'
			}
		});
		expect(filterQuery({ ...NO_FILTERS, status: '42' })).toHaveProperty('error');
	});

	test('whether any is set', () => {
		expect(filtering(NO_FILTERS)).toBe(false);
		expect(filtering({ ...NO_FILTERS, q: 'x' })).toBe(true);
		expect(filtering({ ...NO_FILTERS, q: '  ' })).toBe(false);
	});
});

describe('the live list', () => {
	test('resumes after the highest seq', () => {
		expect(lastSeq([])).toBe(0);
		expect(
			lastSeq([record('a', 7, '2026-01-01T00:00:00Z'), record('b', 9, '2026-01-01T00:00:00Z')])
		).toBe(9);
	});

	test('an event becomes a summary; anything else is ignored', () => {
		const event = {
			...record('a', 3, '2026-01-01T00:00:00Z'),
			logs: [{ level: 'info', message: 'hi' }],
			logs_dropped: 0,
			request_headers: { accept: '*/*' },
			modules: [],
			interceptors: [],
			descendants: [],
			emails: []
		};
		expect(parseExecutionEvent(JSON.stringify(event))).toEqual(
			record('a', 3, '2026-01-01T00:00:00Z')
		);
		expect(parseExecutionEvent('not json')).toBeNull();
		expect(parseExecutionEvent('{"error":{"code":"stream_lagged"}}')).toBeNull();
		expect(parseExecutionEvent('null')).toBeNull();
	});

	test('merged newest first, each record once, at most max', () => {
		const history = [
			record('b', 2, '2026-01-01T00:00:02Z'),
			record('a', 1, '2026-01-01T00:00:01Z')
		];
		const live = [record('b', 2, '2026-01-01T00:00:02Z'), record('c', 3, '2026-01-01T00:00:03Z')];
		expect(mergeExecutions(history, live, 10).map((e) => e.id)).toEqual(['c', 'b', 'a']);
		expect(mergeExecutions(history, live, 2).map((e) => e.id)).toEqual(['c', 'b']);
		// Started at the same moment: the one written later first.
		const same = [record('x', 5, '2026-01-01T00:00:05Z'), record('y', 6, '2026-01-01T00:00:05Z')];
		expect(mergeExecutions([], same, 10).map((e) => e.id)).toEqual(['y', 'x']);
	});
});
