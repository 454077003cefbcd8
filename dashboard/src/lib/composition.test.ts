import { describe, expect, test } from 'vitest';
import type { ExecutionSummary, InterceptorRun } from './api';
import {
	decidingInterceptor,
	executionTree,
	interceptorBody,
	interceptorChanges,
	interceptorResultLabel,
	isEveryRoute,
	parsePosition,
	prefixLabel,
	treeSize,
	type ExecutionNode
} from './composition';

/** A summary with only what the tree reads filled in. */
function exec(id: string, parent_id: string | null, trigger = 'invoke'): ExecutionSummary {
	return {
		id,
		parent_id,
		trigger,
		seq: 0,
		app_id: 'app',
		script_id: `script-${id}`,
		method: 'GET',
		path: '/',
		host: '',
		request_id: 'r',
		status: 200,
		response_bytes: 0,
		outcome: 'ok',
		fuel_used: 0,
		duration_ms: 1,
		started_at: '2025-01-01T00:00:00Z'
	};
}

/** A tree as text: "a(b(d) c)". */
function show(nodes: ExecutionNode[]): string {
	return nodes
		.map((n) =>
			n.children.length ? `${n.execution.id}(${show(n.children)})` : `${n.execution.id}`
		)
		.join(' ');
}

describe('prefixLabel', () => {
	test('"/" and its spellings are every route', () => {
		expect(prefixLabel('/')).toBe('every route');
		expect(prefixLabel('*')).toBe('every route');
		expect(prefixLabel('/*')).toBe('every route');
		expect(prefixLabel('')).toBe('every route');
		expect(isEveryRoute(' / ')).toBe(true);
	});

	test('any other prefix is shown as it is', () => {
		expect(prefixLabel('/api/')).toBe('/api/');
		expect(prefixLabel('/admin')).toBe('/admin');
		expect(isEveryRoute('/api/')).toBe(false);
	});
});

describe('parsePosition', () => {
	test('empty is the default, a whole number is itself', () => {
		expect(parsePosition('')).toBeUndefined();
		expect(parsePosition('  ')).toBeUndefined();
		expect(parsePosition('0')).toBe(0);
		expect(parsePosition(' 3 ')).toBe(3);
		expect(parsePosition('-1')).toBe(-1);
	});

	test('anything else is refused', () => {
		expect(parsePosition('1.5')).toBeNull();
		expect(parsePosition('first')).toBeNull();
		expect(parsePosition('1e3')).toBeNull();
		expect(parsePosition('99999999999999999999')).toBeNull();
	});
});

describe('interceptorBody', () => {
	test('leaves out an empty prefix and position', () => {
		expect(interceptorBody('auth', '', '')).toEqual({ body: { script: 'auth' } });
		expect(interceptorBody('auth', '  ', ' ')).toEqual({ body: { script: 'auth' } });
	});

	test('sends a prefix as typed (trimmed) and a position as a number', () => {
		expect(interceptorBody('id-1', ' /api/ ', '0')).toEqual({
			body: { script: 'id-1', prefix: '/api/', position: 0 }
		});
		// The server judges the prefix (invalid_prefix), not the form.
		expect(interceptorBody('auth', 'api', '')).toEqual({
			body: { script: 'auth', prefix: 'api' }
		});
	});

	test('names what is missing or malformed', () => {
		expect(interceptorBody('', '/api/', '')).toEqual({ error: 'Pick the script to run.' });
		expect(interceptorBody('auth', '/api/', 'two')).toHaveProperty('error');
	});
});

describe('interceptorChanges', () => {
	const current = { script_id: 's1', prefix: '/api/', position: 2 };

	test('only what changed; nothing changed is null', () => {
		expect(interceptorChanges(current, 's1', '/api/', '2')).toEqual({ body: null });
		expect(interceptorChanges(current, 's1', ' /api/ ', '')).toEqual({ body: null });
		expect(interceptorChanges(current, 's2', '/api/', '2')).toEqual({ body: { script: 's2' } });
		expect(interceptorChanges(current, 's1', '/v2/', '0')).toEqual({
			body: { prefix: '/v2/', position: 0 }
		});
	});

	test('an emptied prefix is every route', () => {
		expect(interceptorChanges(current, 's1', '', '2')).toEqual({ body: { prefix: '/' } });
		expect(interceptorChanges({ ...current, prefix: '/' }, 's1', ' ', '2')).toEqual({
			body: null
		});
	});

	test('a malformed position or no script is refused', () => {
		expect(interceptorChanges(current, 's1', '/api/', 'x')).toHaveProperty('error');
		expect(interceptorChanges(current, '', '/api/', '2')).toHaveProperty('error');
	});
});

describe('executionTree', () => {
	test('nests each execution under its parent, in the order given', () => {
		const tree = executionTree('root', [
			exec('a', 'root', 'interceptor'),
			exec('b', 'root'),
			exec('c', 'b'),
			exec('d', 'c'),
			exec('e', 'b'),
			exec('f', 'root')
		]);
		expect(show(tree)).toBe('a b(c(d) e) f');
		expect(treeSize(tree)).toBe(6);
		expect(tree[0].execution.trigger).toBe('interceptor');
	});

	test('a child listed before its parent still ends up under it', () => {
		expect(show(executionTree('root', [exec('c', 'b'), exec('b', 'root')]))).toBe('b(c)');
	});

	test('nothing below: an empty tree', () => {
		expect(executionTree('root', [])).toEqual([]);
		expect(treeSize([])).toBe(0);
	});

	test('an execution whose parent is missing is shown at the top, not lost', () => {
		const tree = executionTree('root', [exec('b', 'root'), exec('x', 'pruned'), exec('y', null)]);
		expect(show(tree)).toBe('b x y');
	});

	test('bad data does not loop: the root itself, duplicates and cycles', () => {
		const tree = executionTree('root', [
			exec('root', null),
			exec('a', 'root'),
			exec('a', 'root'),
			exec('p', 'q'),
			exec('q', 'p'),
			exec('s', 's')
		]);
		expect(treeSize(tree)).toBe(4);
		expect(show(tree)).toBe('a p q s');
	});
});

describe('interceptor runs', () => {
	const run = (result: string): InterceptorRun => ({
		execution_id: result,
		script_id: 's',
		script_name: 'auth',
		result,
		status: 200
	});

	test('results in words', () => {
		expect(interceptorResultLabel(run('continued'))).toBe('continued');
		expect(interceptorResultLabel(run('answered'))).toBe('answered the request');
		expect(interceptorResultLabel(run('failed'))).toBe('failed');
		expect(interceptorResultLabel(run('something new'))).toBe('something new');
	});

	test('the one that ended the request', () => {
		expect(decidingInterceptor([run('continued'), run('answered')])?.execution_id).toBe('answered');
		expect(decidingInterceptor([run('continued'), run('failed')])?.execution_id).toBe('failed');
		expect(decidingInterceptor([run('continued')])).toBeUndefined();
	});
});
