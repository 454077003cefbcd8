import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError, api, errorMessage, setCsrfToken, setUnauthorizedHandler } from './api';

// `fetch` is replaced: these tests check what the client sends and how it
// reads answers, not the server.

type Answer = Response | (() => Response | Promise<Response>);

let answers: Answer[];
let fetchMock: ReturnType<typeof vi.fn<(input: string, init: RequestInit) => Promise<Response>>>;

function json(body: unknown, init: ResponseInit = {}): Response {
	return new Response(JSON.stringify(body), {
		...init,
		headers: { 'content-type': 'application/json', ...init.headers }
	});
}

/** The n-th request: URL (path and query) and init. */
function sent(n = 0) {
	const [url, init] = fetchMock.mock.calls[n];
	return { url, init, headers: init.headers as Record<string, string> };
}

beforeEach(() => {
	answers = [];
	fetchMock = vi.fn(async () => {
		const next = answers.shift();
		if (!next) throw new Error('no answer queued');
		return typeof next === 'function' ? next() : next;
	});
	vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
	vi.unstubAllGlobals();
	setCsrfToken(null);
	setUnauthorizedHandler(null);
});

describe('requests', () => {
	test('JSON in and out, with the session cookie and no cache', async () => {
		answers.push(json({ id: 'a1', slug: 'shop' }, { status: 201 }));
		const app = await api.createApp({ slug: 'shop' });
		expect(app).toEqual({ id: 'a1', slug: 'shop' });
		const { url, init, headers } = sent();
		expect(url).toBe('/api/v1/admin/apps');
		expect(init).toMatchObject({ method: 'POST', credentials: 'same-origin', cache: 'no-store' });
		expect(headers['content-type']).toBe('application/json');
		expect(JSON.parse(init.body as string)).toEqual({ slug: 'shop' });
	});

	test('the CSRF token goes with writes only', async () => {
		setCsrfToken('t0k3n');
		answers.push(json({ apps: [] }), new Response(null, { status: 204 }));
		await api.listApps();
		expect(sent(0).headers['x-csrf-token']).toBeUndefined();
		await expect(api.deleteApp('shop')).resolves.toBeUndefined();
		expect(sent(1).headers['x-csrf-token']).toBe('t0k3n');
		expect(sent(1).init.method).toBe('DELETE');
	});

	test('empty query values are left out', async () => {
		answers.push(json({ executions: [] }));
		await api.listExecutions({ app: 'shop', status: undefined, since: '', limit: 20 });
		expect(sent().url).toBe('/api/v1/admin/executions?app=shop&limit=20');
	});

	test('a document filter is sent as JSON text', async () => {
		answers.push(json({ items: [] }));
		await api.listDocuments('shop', 'orders', { where: { total: { gt: 10 } }, sort: '-total' });
		const url = new URL(sent().url, 'http://x');
		expect(url.pathname).toBe('/api/v1/admin/apps/shop/collections/orders/documents');
		expect(JSON.parse(url.searchParams.get('where') ?? '')).toEqual({ total: { gt: 10 } });
		expect(url.searchParams.get('sort')).toBe('-total');
	});

	test('/version is outside the admin API', async () => {
		answers.push(json({ api: 'v1' }));
		await api.version();
		expect(sent().url).toBe('/version');
	});
});

describe('names in paths', () => {
	test('are one percent-encoded segment', async () => {
		answers.push(json({ key: 'users/42' }));
		await api.getKv('shop', 'users/42');
		expect(sent().url).toBe('/api/v1/admin/apps/shop/kv/users%2F42');
	});

	test.each(['.', '..', ''])('%j is refused before anything is sent', async (key) => {
		const error = await api.deleteKv('shop', key).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(ApiError);
		expect(error).toMatchObject({ status: 0, code: 'unaddressable' });
		expect(fetchMock).not.toHaveBeenCalled();
	});
});

describe('queues', () => {
	test('dead letters: listed, retried and discarded one by one or all at once', async () => {
		setCsrfToken('t0k3n');
		answers.push(
			json({ dead_letters: [] }),
			new Response(null, { status: 204 }),
			new Response(null, { status: 204 }),
			json({ retried: 2 }),
			json({ discarded: 3 })
		);
		await api.listDeadLetters('shop', 'mail.out', { limit: 100 });
		await api.retryDeadLetter('shop', 'mail.out', 'm1');
		await api.discardDeadLetter('shop', 'mail.out', 'm1');
		expect(await api.retryAllDeadLetters('shop', 'mail.out')).toEqual({ retried: 2 });
		expect(await api.discardAllDeadLetters('shop', 'mail.out')).toEqual({ discarded: 3 });
		const base = '/api/v1/admin/apps/shop/queues/mail.out/dead';
		expect([0, 1, 2, 3, 4].map((n) => [sent(n).init.method, sent(n).url])).toEqual([
			['GET', `${base}?limit=100`],
			['POST', `${base}/m1/retry`],
			['DELETE', `${base}/m1`],
			['POST', `${base}:retry`],
			['DELETE', base]
		]);
	});

	test('an email trigger’s queue is one encoded segment, its * too', async () => {
		answers.push(json({ dead_letters: [] }), json({ retried: 0 }));
		await api.listDeadLetters('shop', 'email:support');
		await api.retryAllDeadLetters('shop', 'email:*');
		expect(sent(0).url).toBe('/api/v1/admin/apps/shop/queues/email%3Asupport/dead');
		expect(sent(1).url).toBe('/api/v1/admin/apps/shop/queues/email%3A%2A/dead:retry');
	});

	test('a queue named "." or ".." is refused before anything is sent', async () => {
		const error = await api.retryAllDeadLetters('shop', '..').catch((e: unknown) => e);
		expect(error).toMatchObject({ status: 0, code: 'unaddressable' });
		expect(fetchMock).not.toHaveBeenCalled();
	});
});

describe('emails', () => {
	test('the app’s sent mail, filtered by status', async () => {
		answers.push(json({ emails: [] }), json({ emails: [] }));
		expect(await api.listEmails('shop', { status: 'failed', limit: 50 })).toEqual({ emails: [] });
		await api.listEmails('shop');
		expect(sent(0).url).toBe('/api/v1/admin/apps/shop/emails?status=failed&limit=50');
		expect(sent(1).url).toBe('/api/v1/admin/apps/shop/emails');
	});
});

describe('lists shown whole', () => {
	test('follow the cursor to the last page', async () => {
		answers.push(
			json({ users: [{ id: 'u1' }], next_cursor: 'c1' }),
			json({ users: [{ id: 'u2' }], next_cursor: null })
		);
		const { users } = await api.listUsers();
		expect(users).toEqual([{ id: 'u1' }, { id: 'u2' }]);
		expect(sent(0).url).toBe('/api/v1/admin/users?limit=500');
		expect(sent(1).url).toBe('/api/v1/admin/users?limit=500&cursor=c1');
	});
});

describe('script versions', () => {
	test('the list pages with a cursor; one version by its number', async () => {
		answers.push(json({ versions: [], next_cursor: null }), json({ version: 2, source: 'x' }));
		await api.listVersions('s 1', '7');
		expect(sent(0).url).toBe('/api/v1/admin/scripts/s%201/versions?limit=20&cursor=7');
		const v = await api.getVersion('s1', 2);
		expect(sent(1).url).toBe('/api/v1/admin/scripts/s1/versions/2');
		expect(v.source).toBe('x');
	});

	test('a rollback posts the version, and the message only when there is one', async () => {
		answers.push(json({ id: 's1', version: 4 }), json({ id: 's1', version: 5 }));
		const script = await api.rollback('s1', 2);
		expect(script.version).toBe(4);
		expect(sent(0).url).toBe('/api/v1/admin/scripts/s1/rollback');
		expect(sent(0).init.method).toBe('POST');
		expect(JSON.parse(sent(0).init.body as string)).toEqual({ version: 2 });
		await api.rollback('s1', 1, 'back to the good one');
		expect(JSON.parse(sent(1).init.body as string)).toEqual({
			version: 1,
			message: 'back to the good one'
		});
	});
});

describe('app users', () => {
	test('a page of accounts: the search, the cursor and the limit in the query', async () => {
		answers.push(json({ items: [], next_cursor: null }), json({ items: [] }));
		await api.listAppUsers('shop', { q: 'ada', cursor: 'ada@example.com', limit: 50 });
		const url = new URL(sent(0).url, 'http://x');
		expect(url.pathname).toBe('/api/v1/admin/apps/shop/users');
		expect(Object.fromEntries(url.searchParams)).toEqual({
			q: 'ada',
			cursor: 'ada@example.com',
			limit: '50'
		});
		await api.listAppUsers('shop', { q: '' });
		expect(sent(1).url).toBe('/api/v1/admin/apps/shop/users');
	});

	test('disable, sign out everywhere and delete one account', async () => {
		answers.push(
			json({ id: 'u1', disabled: true }),
			json({ revoked: 2 }),
			new Response(null, { status: 204 })
		);
		await api.setAppUserDisabled('shop', 'u1', true);
		expect(sent(0).url).toBe('/api/v1/admin/apps/shop/users/u1');
		expect(sent(0).init.method).toBe('PATCH');
		expect(JSON.parse(sent(0).init.body as string)).toEqual({ disabled: true });
		expect(await api.revokeAppUserSessions('shop', 'u1')).toEqual({ revoked: 2 });
		expect(sent(1).url).toBe('/api/v1/admin/apps/shop/users/u1/sessions');
		expect(sent(1).init.method).toBe('DELETE');
		await expect(api.deleteAppUser('shop', 'u1')).resolves.toBeUndefined();
		expect(sent(2).url).toBe('/api/v1/admin/apps/shop/users/u1');
		expect(sent(2).init.method).toBe('DELETE');
	});
});

describe('roles', () => {
	test('an app’s roles: list, give one by username, take one away', async () => {
		answers.push(
			json({ roles: [] }),
			json({ user_id: 'u1', username: 'dev', role: 'developer' }),
			new Response(null, { status: 204 })
		);
		await api.listRoles('shop');
		expect(sent(0).url).toBe('/api/v1/admin/apps/shop/roles');
		const grant = await api.setRole('shop', 'dev', 'developer');
		expect(grant.role).toBe('developer');
		expect(sent(1).url).toBe('/api/v1/admin/apps/shop/roles/dev');
		expect(sent(1).init.method).toBe('PUT');
		expect(JSON.parse(sent(1).init.body as string)).toEqual({ role: 'developer' });
		await expect(api.removeRole('shop', 'u1')).resolves.toBeUndefined();
		expect(sent(2).url).toBe('/api/v1/admin/apps/shop/roles/u1');
		expect(sent(2).init.method).toBe('DELETE');
	});

	test('a username that a URL cannot carry is refused before any request', async () => {
		await expect(api.setRole('shop', '..', 'viewer')).rejects.toMatchObject({
			code: 'unaddressable'
		});
		expect(fetchMock).not.toHaveBeenCalled();
	});

	test('a user with or without server-wide powers', async () => {
		answers.push(json({ id: 'u1' }, { status: 201 }), json({ id: 'u2' }, { status: 201 }));
		answers.push(json({ id: 'u1', server_admin: true }));
		await api.createUser('vera', 'a long enough password', false);
		expect(JSON.parse(sent(0).init.body as string)).toEqual({
			username: 'vera',
			password: 'a long enough password',
			server_admin: false
		});
		await api.createUser('root', 'a long enough password');
		expect(JSON.parse(sent(1).init.body as string)).toMatchObject({ server_admin: true });
		await api.setServerAdmin('u1', true);
		expect(sent(2).url).toBe('/api/v1/admin/users/u1');
		expect(sent(2).init.method).toBe('PATCH');
		expect(JSON.parse(sent(2).init.body as string)).toEqual({ server_admin: true });
	});

	test('a token limited to one app carries the app and the role; an unlimited one neither', async () => {
		answers.push(json({ id: 't1' }, { status: 201 }), json({ id: 't2' }, { status: 201 }));
		await api.createToken('ci', 'admin', { app: 'shop', role: 'developer' });
		expect(JSON.parse(sent(0).init.body as string)).toEqual({
			name: 'ci',
			scope: 'admin',
			app: 'shop',
			role: 'developer'
		});
		await api.createToken('scraper', 'metrics');
		expect(JSON.parse(sent(1).init.body as string)).toEqual({ name: 'scraper', scope: 'metrics' });
	});
});

describe('scripts:check', () => {
	test('posts the source with the app and the name, and reads the diagnostics', async () => {
		setCsrfToken('t0k3n');
		const answer = {
			ok: false,
			diagnostics: [{ severity: 'error', message: "Unexpected ';'", line: 2, column: 9 }],
			imports: []
		};
		answers.push(json(answer));
		const signal = new AbortController().signal;
		await expect(
			api.checkScript({ source: 'let x = ;', app_id: 'shop', name: 'greet' }, signal)
		).resolves.toEqual(answer);
		const { url, init, headers } = sent();
		expect(url).toBe('/api/v1/admin/scripts:check');
		expect(init.method).toBe('POST');
		expect(init.signal).toBe(signal);
		expect(headers['x-csrf-token']).toBe('t0k3n');
		expect(JSON.parse(init.body as string)).toEqual({
			source: 'let x = ;',
			app_id: 'shop',
			name: 'greet'
		});
	});

	test('an aborted check says so, not that the server is unreachable', async () => {
		const controller = new AbortController();
		answers.push(() => {
			controller.abort();
			throw new DOMException('The operation was aborted.', 'AbortError');
		});
		await expect(api.checkScript({ source: '1' }, controller.signal)).rejects.toMatchObject({
			status: 0,
			code: 'aborted'
		});
	});

	test('a check the server could not do is an error, not a diagnostic', async () => {
		answers.push(
			json({ error: { code: 'executor_unavailable', message: 'No sandbox.' } }, { status: 503 })
		);
		await expect(api.checkScript({ source: '1' })).rejects.toMatchObject({
			status: 503,
			code: 'executor_unavailable'
		});
	});
});

describe('errors', () => {
	test('the API’s error shape, with a compile error’s position', async () => {
		answers.push(
			json(
				{ error: { code: 'compile_error', message: 'Unexpected end', line: 3, column: 7 } },
				{ status: 400 }
			)
		);
		const error = await api.getScript('s1').catch((e: unknown) => e);
		expect(error).toBeInstanceOf(ApiError);
		expect(error).toMatchObject({
			status: 400,
			code: 'compile_error',
			message: 'Unexpected end',
			line: 3,
			column: 7
		});
	});

	test('plain text from the framework keeps its words; Retry-After is read', async () => {
		answers.push(
			new Response('Failed to deserialize query string', { status: 400 }),
			json(
				{ error: { code: 'rate_limited', message: 'Slow down.' } },
				{ status: 429, headers: { 'retry-after': '7' } }
			),
			new Response('', { status: 502, statusText: 'Bad Gateway' })
		);
		await expect(api.listApps()).rejects.toMatchObject({
			code: 'http_400',
			message: 'Failed to deserialize query string'
		});
		await expect(api.listApps()).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 7 });
		await expect(api.listApps()).rejects.toMatchObject({
			status: 502,
			code: 'http_502',
			message: '502 Bad Gateway'
		});
	});

	test('a 401 `unauthorized` tells the session it ended; other 401s do not', async () => {
		const ended = vi.fn();
		setUnauthorizedHandler(ended);
		answers.push(
			json({ error: { code: 'bad_credentials', message: 'No.' } }, { status: 401 }),
			json({ error: { code: 'unauthorized', message: 'Sign in.' } }, { status: 401 })
		);
		await expect(api.login('ada', 'wrong')).rejects.toMatchObject({ code: 'bad_credentials' });
		expect(ended).not.toHaveBeenCalled();
		await expect(api.me()).rejects.toMatchObject({ code: 'unauthorized' });
		expect(ended).toHaveBeenCalledOnce();
	});

	test('no answer at all says the server cannot be reached', async () => {
		answers.push(() => {
			throw new TypeError('Failed to fetch');
		});
		await expect(api.listApps()).rejects.toMatchObject({ status: 0, code: 'network_error' });
	});

	test('errorMessage reads any thrown value', () => {
		expect(errorMessage(new ApiError(409, 'taken', 'That slug is taken.'))).toBe(
			'That slug is taken.'
		);
		expect(errorMessage(new SyntaxError('Unexpected token'))).toBe('Unexpected token');
		expect(errorMessage('plain')).toBe('plain');
	});
});
