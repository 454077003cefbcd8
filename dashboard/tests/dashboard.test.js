// End-to-end tests of the dashboard embedded in the picloud binary: a real
// server, real Chromium, and assertions on what a user sees.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
	assertClean,
	assertNoHorizontalOverflow,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	replaceSource,
	screenshot,
	signIn,
	userRequest
} from './support/browser.js';
import { adminApi, startServer } from './support/server.js';

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

describe('main flow', () => {
	test('sign in, build an app with a script and a route, run it, read its log, rename the app', async () => {
		const { page, problems } = await openPage(browser);
		const port = new URL(server.url).port;

		// /admin → /admin/apps → sign-in (no session yet).
		await page.goto(`${server.url}/admin`);
		await page.waitForURL('**/admin/login**');
		await page.getByRole('heading', { name: 'Sign in' }).waitFor();
		await screenshot(page, 'login.png');

		await page.getByLabel('Username').fill(server.username);
		await page.getByLabel('Password').fill(server.password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/admin/apps');
		await page.getByRole('link', { name: 'Default app' }).waitFor();

		// Create an app.
		await page.getByLabel('Slug').fill('shop');
		await page.getByLabel('Name (optional)').fill('Shop');
		await page.getByLabel('Description (optional)').fill('Storefront API');
		await page.getByRole('button', { name: 'Create app' }).click();
		await page.waitForURL('**/admin/apps/shop/overview');
		await page.getByRole('heading', { name: /Shop/ }).first().waitFor();

		// Claim a domain.
		await page.getByRole('link', { name: 'Domains' }).click();
		await page.waitForURL('**/admin/apps/shop/domains');
		await page.getByLabel('Host pattern').fill('shop.test');
		await page.getByRole('button', { name: 'Claim' }).click();
		await page.getByText('Claimed shop.test.').waitFor();
		await page.getByRole('cell', { name: 'shop.test' }).first().waitFor();
		await screenshot(page, 'domains.png');

		// Create a script: it opens in the editor with a starter source.
		await page.getByRole('link', { name: 'Scripts' }).click();
		await page.getByLabel('Name', { exact: true }).fill('greet');
		await page.getByRole('button', { name: 'Create script' }).click();
		await page.waitForURL(/\/admin\/apps\/shop\/scripts\/[0-9a-f-]{36}$/);
		const crumbs = page.getByRole('navigation', { name: 'Breadcrumb' });
		await expectText(crumbs, /^Apps\s+Shop\s+greet$/);
		await page.locator('.cm-content').getByText('Hello', { exact: false }).first().waitFor();

		// A compile error: shown at line 2, column 9 in the editor and as text.
		await replaceSource(page, 'let name = request.params.name;\nlet x = ;\n`Hello, ${name}!`\n');
		await page.getByRole('button', { name: 'Save', exact: true }).click();
		await page.getByText("Line 2, column 9: Unexpected ';'").waitFor();
		const mark = page.locator('.cm-line').nth(1).locator('.cm-lintRange-error');
		await expectText(mark, ';');
		await eventually(async () => {
			assert.equal(await page.locator('.cm-lintRange-error').count(), 1);
		});

		// Fix it and save with the keyboard shortcut.
		await replaceSource(
			page,
			[
				'let name = request.params.name;',
				'if name == "boom" { throw "no booms here"; }',
				'log::info(`greeting ${name}`);',
				'`Hello, ${name}!`',
				''
			].join('\n')
		);
		await page.keyboard.press('Control+S');
		await page.getByText('Saved', { exact: true }).waitFor();
		await eventually(async () => {
			assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
			assert.equal(await page.getByText(/Line \d+, column \d+/).count(), 0);
		});

		// Add a route, watching the live preview.
		await page.getByLabel('Path', { exact: true }).first().fill('/greet/:name');
		const preview = page.locator('.preview');
		await expectText(preview.locator('.urls li').first(), `http://shop.test:${port}/greet/:name`);
		await expectText(preview.locator('.seg-param'), ':name');
		await preview.getByText('No conflict').waitFor();
		await page.getByRole('button', { name: 'Add route' }).click();
		const routes = page.locator('.routes');
		await routes.getByText('/greet/:name').first().waitFor();
		await expectText(preview.locator('.urls li').first(), `http://shop.test:${port}/`);
		await preview.getByText('No conflict').waitFor();

		// Run it from the run panel with the route's parameter filled in.
		await page.getByLabel('Route', { exact: true }).selectOption({ label: 'GET /greet/:name' });
		await page.getByLabel(':name').fill('ada');
		assert.equal(await page.locator('#run-path').inputValue(), '/greet/ada');
		await page.getByRole('button', { name: 'Run', exact: true }).click();
		await expectText(page.locator('.run-status'), '200');
		await expectText(page.locator('.run-body'), 'Hello, ada!');
		const fuel = await expectText(page.locator('.run-fuel'), /^[\d,.\s]+$/);
		assert.ok(Number(fuel.replace(/\D/g, '')) > 0, `fuel used: ${fuel}`);
		await page.locator('.result').getByText('greeting ada').waitFor();
		await screenshot(page, 'script-editor.png');

		// The execution log lists the test run; its detail shows the log lines.
		const log = page.locator('table.log');
		const row = log.locator('tr', { hasText: 'GET /greet/ada' });
		await expectText(row.locator('td').nth(3), 'test');
		await row.getByRole('button').click();
		await log.locator('.detail-row').getByText('greeting ada').waitFor();
		await screenshot(page, 'logs.png');

		// Real traffic through the app's domain, one request failing.
		for (const name of ['bob', 'eve', 'boom']) {
			const res = await userRequest(server, 'shop.test', `/greet/${name}`);
			assert.equal(res.status, name === 'boom' ? 500 : 200, res.body);
		}

		// The overview counts them and lists the failure.
		await crumbs.getByRole('link', { name: 'Shop' }).click();
		await page.getByRole('link', { name: 'Overview' }).click();
		await page.waitForURL('**/admin/apps/shop/overview');
		const figures = page.locator('.figures');
		await expectText(figures.locator('div', { hasText: 'Executions' }).locator('dd'), '4');
		await expectText(figures.locator('div', { hasText: /^Errors/ }).locator('dd'), '1');
		const failure = page.getByRole('link', { name: /GET \/greet\/boom/ });
		await failure.waitFor();
		await page.locator('.chart svg rect.err').first().waitFor();
		await screenshot(page, 'app-overview.png');
		await failure.click();
		await page.waitForURL(/\/admin\/apps\/shop\/executions\/[0-9a-f-]{36}$/);
		await page.getByText('no booms here').first().waitFor();

		// Rename: check the slug, then confirm.
		await page.getByRole('link', { name: 'Settings' }).click();
		await page.waitForURL('**/admin/apps/shop/settings');
		await page.getByLabel('New slug').fill('store');
		await page.getByRole('button', { name: 'Check' }).click();
		await page.getByText('Available.').waitFor();
		await screenshot(page, 'settings.png');
		await page.getByRole('button', { name: 'Rename to store' }).click();
		await page.waitForURL('**/admin/apps/store/settings');
		await page.getByText('Renamed. The old slug now redirects here.').waitFor();
		await expectText(page.locator('.app-head h1 code'), 'store');
		// The slug history lists the old slug.
		await expectText(page.locator('.earlier-slugs li'), /^shop\s*left .+, still redirects here$/);

		// The old slug's URL lands on the same page under the new slug.
		await page.goto(`${server.url}/admin/apps/shop/overview`);
		await page.waitForURL('**/admin/apps/store/overview');
		await expectText(page.locator('.app-head h1 code'), 'store');

		// The apps list with the renamed app, its domain and numbers.
		await page.getByRole('link', { name: 'Apps', exact: true }).first().click();
		await page.waitForURL('**/admin/apps');
		const appRow = page.locator('tr', { hasText: 'store' });
		await expectText(appRow.locator('td').nth(3), '1');
		await expectText(appRow.locator('td').nth(4), /25(\.0)?%/);
		await screenshot(page, 'apps.png');

		assertClean(problems);
	});
});

describe('sign-in', () => {
	test('a wrong password shows the error', async () => {
		const { page, problems, context } = await openPage(browser);
		await page.goto(`${server.url}/admin/login`);
		await page.getByLabel('Username').fill(server.username);
		await page.getByLabel('Password').fill('not the password at all');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await expectText(page.getByRole('alert'), 'Wrong username or password.');
		assert.match(page.url(), /\/admin\/login$/);
		assertClean(problems);
		await context.close();
	});

	test('an ended session sends you to sign-in with a message, then back', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		// Let the apps list finish loading (its numbers come in one request per app).
		await page.getByRole('link', { name: 'Default app' }).waitFor();
		await eventually(async () => {
			assert.equal(await page.locator('table.apps td').getByText('…').count(), 0);
		});
		// The session ends behind the dashboard's back.
		await context.clearCookies();
		await page.getByRole('link', { name: 'Users & tokens' }).click();
		await page.waitForURL('**/admin/login?expired=1&next=%2Fsettings');
		await page.getByText('Your session has expired, sign in again.').waitFor();
		await page.getByLabel('Username').fill(server.username);
		await page.getByLabel('Password').fill(server.password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/admin/settings');
		await page.getByRole('heading', { name: 'Users & tokens' }).waitFor();
		assertClean(problems);
		await context.close();
	});

	test('keyboard only: sign in and create an app with Tab and Enter', async () => {
		const { page, problems, context } = await openPage(browser);
		await page.goto(`${server.url}/admin/login`);
		// The username field has the focus when the page opens.
		await eventually(async () => {
			assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
		});
		await page.keyboard.type(server.username);
		await page.keyboard.press('Tab');
		await page.keyboard.type(server.password);
		await page.keyboard.press('Enter');
		await page.waitForURL('**/admin/apps');
		await page.getByRole('link', { name: 'Default app' }).waitFor();

		// Tab to the slug field; every stop on the way shows a focus ring.
		let focused = '';
		for (let presses = 0; presses < 30 && focused !== 'app-slug'; presses++) {
			await page.keyboard.press('Tab');
			const state = await page.evaluate(() => {
				const el = document.activeElement;
				if (!el || el === document.body) return { id: '', outline: 'none' };
				return { id: el.id, outline: getComputedStyle(el).outlineStyle };
			});
			focused = state.id;
			assert.notEqual(state.outline, 'none', `no visible focus on #${state.id}`);
		}
		assert.equal(focused, 'app-slug');
		await page.keyboard.type('kb-app');
		await page.keyboard.press('Enter');
		await page.waitForURL('**/admin/apps/kb-app/overview');
		await expectText(page.locator('.app-head h1 code'), 'kb-app');
		assertClean(problems);
		await context.close();
	});

	test('signing out ends the session', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.getByRole('button', { name: 'Sign out' }).click();
		await page.waitForURL('**/admin/login?signed_out=1');
		await page.getByText('You have signed out.').waitFor();
		await page.goto(`${server.url}/admin/apps`);
		await page.waitForURL('**/admin/login');
		await page.getByRole('heading', { name: 'Sign in' }).waitFor();
		assertClean(problems);
		await context.close();
	});

	test('no CSRF token or other secret in localStorage or sessionStorage', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.reload();
		await page.getByRole('link', { name: 'Default app' }).waitFor();
		const me = await page.evaluate(async () => (await fetch('/api/v1/admin/auth/me')).json());
		assert.ok(me.csrf_token, 'the session has a CSRF token');
		const stored = await page.evaluate(() => {
			/** @param {Storage} s */
			const dump = (s) => Object.fromEntries(Object.keys(s).map((k) => [k, s.getItem(k)]));
			return {
				local: dump(localStorage),
				session: dump(sessionStorage),
				cookie: document.cookie
			};
		});
		const everything = JSON.stringify(stored);
		assert.ok(!everything.includes(me.csrf_token), `CSRF token stored: ${everything}`);
		assert.ok(!everything.includes(server.password), 'password stored');
		assert.ok(!stored.cookie.includes('picloud_session'), 'session cookie readable by scripts');
		assertClean(problems);
		await context.close();
	});
});

describe('apps', () => {
	test("taking a slug from another app's history needs the explicit takeover", async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'first-name' });
		await adminApi(server, 'PATCH', '/apps/first-name', { slug: 'second-name' });
		const taker = await adminApi(server, 'POST', '/apps', { slug: 'taker', name: 'Taker' });

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/taker/settings`);
		await page.getByLabel('New slug').fill('first-name');
		await page.keyboard.press('Enter');
		await page.getByText('In the history of second-name.').waitFor();
		assert.equal(await page.getByRole('button', { name: /^Rename to/ }).count(), 0);
		await page
			.getByRole('button', { name: 'Take over first-name from second-name and rename' })
			.click();
		await page.waitForURL('**/admin/apps/first-name/settings');
		const app = await adminApi(server, 'GET', '/apps/first-name');
		assert.equal(app.id, taker.id);

		// A slug another app uses now cannot be taken at all.
		await page.getByLabel('New slug').fill('second-name');
		await page.getByRole('button', { name: 'Check' }).click();
		await page.getByText('Taken by second-name.').waitFor();
		assert.equal(await page.getByRole('button', { name: /Rename|Take over/ }).count(), 0);
		assertClean(problems);
		await context.close();
	});
});

describe('routes', () => {
	test('a route of an app that claims no domain shows why it has no URL, not a wrong link', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'nodomain', name: 'No domain' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'nodomain',
			name: 'hi',
			source: '"hi"'
		});
		const route = await adminApi(server, 'POST', `/scripts/${script.id}/routes`, {
			method: 'GET',
			path: '/hi'
		});
		assert.deepEqual(route.reachable_at, []);
		assert.match(route.warnings[0], /claims no domain/);

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/nodomain/scripts/${script.id}`);
		const warning = page.locator('.routes [data-testid="route-warning"]');
		await expectText(warning, /claims no domain.*\/api\/v1\/execute\//);
		assert.equal(await page.locator('.routes .urls li').count(), 0);
		assertClean(problems);
		await context.close();
	});
});

describe('CORS in the browser', () => {
	test('a page on one origin reads an app on another only as the app allows', async () => {
		// Chromium resolves every *.localhost name to loopback: three origins
		// on the one server. The page is served by the default app (localhost)
		// and by another app (other.localhost); the API is app "cors-api".
		const port = new URL(server.url).port;
		const api = `http://api.localhost:${port}`;
		await adminApi(server, 'POST', '/apps', { slug: 'cors-api' });
		await adminApi(server, 'POST', '/apps/cors-api/domains', { pattern: 'api.localhost' });
		await adminApi(server, 'POST', '/apps', { slug: 'cors-other' });
		await adminApi(server, 'POST', '/apps/cors-other/domains', { pattern: 'other.localhost' });
		const data = await adminApi(server, 'POST', '/scripts', {
			app_id: 'cors-api',
			name: 'data',
			source: '#{ answer: 42 }'
		});
		await adminApi(server, 'POST', `/scripts/${data.id}/routes`, { method: 'GET', path: '/data' });
		const page = [
			'response(200, `<!doctype html><title>caller</title><p id="out">…</p><script>',
			'const credentials = new URLSearchParams(location.search).get("credentials") ?? "omit";',
			`fetch("${api}/data", { credentials })`,
			'  .then((r) => r.json()).then((j) => { out.textContent = "answer " + j.answer; })',
			'  .catch(() => { out.textContent = "blocked"; });',
			'</script>`, #{ "content-type": "text/html; charset=utf-8" })'
		].join('\n');
		for (const app of ['default', 'cors-other']) {
			const script = await adminApi(server, 'POST', '/scripts', {
				app_id: app,
				name: 'caller',
				source: page
			});
			await adminApi(server, 'POST', `/scripts/${script.id}/routes`, {
				method: 'GET',
				path: '/caller'
			});
		}
		const allowed = `http://localhost:${port}`;
		await adminApi(server, 'PATCH', '/apps/cors-api', { cors: { allow_origins: [allowed] } });

		const { page: tab, context } = await openPage(browser);
		const read = async (/** @type {string} */ url) => {
			await tab.goto(url);
			return expectText(tab.locator('#out'), /^(answer \d+|blocked)$/);
		};
		assert.equal(await read(`${allowed}/caller`), 'answer 42');
		// Credentials need the app's explicit consent.
		assert.equal(await read(`${allowed}/caller?credentials=include`), 'blocked');
		await adminApi(server, 'PATCH', '/apps/cors-api', {
			cors: { allow_origins: [allowed], allow_credentials: true }
		});
		assert.equal(await read(`${allowed}/caller?credentials=include`), 'answer 42');
		// An origin the app does not list gets nothing.
		assert.equal(await read(`http://other.localhost:${port}/caller`), 'blocked');
		await context.close();
	});
});

describe('app settings: CORS', () => {
	test('a CORS policy is saved as JSON, a bad one is refused with its reason, empty turns it off', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'corsy', name: 'Corsy' });
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/corsy/settings`);
		const policy = page.getByLabel('Policy (JSON)');
		await policy.fill('{"allow_origins": ["*"], "allow_credentials": true}');
		await page.getByRole('button', { name: 'Save CORS' }).click();
		await expectText(page.getByRole('alert'), /allow_credentials/);
		await policy.fill('{"allow_origins": ["https://app.example.com"], "max_age": 600}');
		await page.getByRole('button', { name: 'Save CORS' }).click();
		await page.getByText('CORS saved.').waitFor();
		let app = await adminApi(server, 'GET', '/apps/corsy');
		assert.deepEqual(app.cors.allow_origins, ['https://app.example.com']);
		assert.equal(app.cors.max_age, 600);
		await policy.fill('');
		await page.getByRole('button', { name: 'Save CORS' }).click();
		await page.getByText('CORS is off.').waitFor();
		app = await adminApi(server, 'GET', '/apps/corsy');
		assert.equal(app.cors, undefined);
		assertClean(problems);
		await context.close();
	});
});

describe('app settings: rate limit', () => {
	test('a rate limit is saved from the form, answers 429 past its burst, and is turned off', async () => {
		const port = new URL(server.url).port;
		await adminApi(server, 'POST', '/apps', { slug: 'throttled', name: 'Throttled' });
		await adminApi(server, 'POST', '/apps/throttled/domains', { pattern: 'throttled.localhost' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'throttled',
			name: 'hi',
			source: '"hi"'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, { method: 'GET', path: '/hi' });
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/throttled/settings`);
		const rate = page.getByLabel('Requests per second');
		// Out of range: the server's reason is shown and nothing is saved.
		await rate.fill('0');
		await page.getByRole('button', { name: 'Save rate limit' }).click();
		await expectText(page.getByRole('alert'), /requests_per_second/);
		assert.equal((await adminApi(server, 'GET', '/apps/throttled')).rate_limit, undefined);
		// A very slow refill with a bucket of one: the second call finds it empty.
		await rate.fill('0.001');
		await page.getByLabel('Burst').fill('1');
		await page.getByRole('button', { name: 'Save rate limit' }).click();
		await page.getByText('Rate limit saved.').waitFor();
		const app = await adminApi(server, 'GET', '/apps/throttled');
		assert.deepEqual(
			{ rps: app.rate_limit.requests_per_second, burst: app.rate_limit.burst },
			{ rps: 0.001, burst: 1 }
		);
		const route = `http://throttled.localhost:${port}/hi`;
		const tab = await context.newPage();
		assert.equal((await tab.goto(route))?.status(), 200);
		const refused = await tab.goto(route);
		assert.ok(refused, 'the second call has an answer');
		assert.equal(refused.status(), 429);
		assert.ok(Number(refused.headers()['retry-after']) > 0);
		// Turned off: calls go through again.
		await page.getByRole('button', { name: 'Turn off' }).click();
		await page.getByText('Rate limit is off.').waitFor();
		assert.equal((await tab.goto(route))?.status(), 200);
		assert.equal(await rate.inputValue(), '');
		assertClean(problems);
		await context.close();
	});
});

describe('app settings', () => {
	test('limits are saved (empty means the default) and an app is deleted after typing its slug', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'doomed', name: 'Doomed' });
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/doomed/settings`);

		await page.getByLabel('Fuel (units)').fill('2000000000');
		await page.getByLabel('Deadline (ms)').fill('10000');
		await page.getByRole('button', { name: 'Save limits' }).click();
		await page.getByText('Limits saved.').waitFor();
		const app = await adminApi(server, 'GET', '/apps/doomed');
		assert.deepEqual(app.limits, { fuel: 2000000000, deadline_ms: 10000 });
		await page.getByLabel('Deadline (ms)').fill('soon');
		await page.getByRole('button', { name: 'Save limits' }).click();
		await page.getByText('Deadline: enter a positive whole number').waitFor();

		const remove = page.getByRole('button', { name: 'Delete this app' });
		assert.equal(await remove.isDisabled(), true);
		await page.getByLabel('Type doomed to confirm').fill('doomed');
		await remove.click();
		await page.waitForURL('**/admin/apps');
		await page.getByRole('link', { name: 'Default app' }).waitFor();
		assert.equal(await page.getByRole('link', { name: 'Doomed' }).count(), 0);
		assertClean(problems);
		await context.close();
	});
});

describe('execution log', () => {
	test('filters by status and pages with "Older"; routes and scripts can be deleted', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'busy' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'busy',
			name: 'busy-script',
			source: 'if request.query.fail == "1" { throw "asked to fail"; }\n"fine"\n'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, {
			method: 'GET',
			path: '/busy'
		});
		for (let i = 0; i < 23; i++) {
			await adminApi(server, 'POST', `/scripts/${script.id}/run`, { path: `/run-${i}` });
		}
		await adminApi(server, 'POST', `/scripts/${script.id}/run`, {
			path: '/failing',
			query: 'fail=1'
		});

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/busy/scripts/${script.id}`);
		const rows = page.locator('table.log > tbody > tr');
		await eventually(async () => assert.equal(await rows.count(), 20));
		await page.getByRole('button', { name: 'Older' }).click();
		await eventually(async () => assert.equal(await rows.count(), 24));
		assert.equal(await page.getByRole('button', { name: 'Older' }).count(), 0);

		await page.getByLabel('Status').selectOption({ label: 'Errors' });
		await page.getByRole('button', { name: 'Apply' }).click();
		await eventually(async () => assert.equal(await rows.count(), 1));
		await expectText(rows.first().locator('td').nth(2), 'GET /failing');
		await rows.first().getByRole('button').click();
		await page.locator('.detail-row').getByText('asked to fail').first().waitFor();

		await page.getByLabel('Since').fill('2099-01-01T00:00:00');
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.getByText('No executions match these filters.').waitFor();

		// Delete the route, then the script itself.
		const route = page.locator('.routes li', { hasText: '/busy' });
		await route.getByRole('button', { name: 'Delete' }).click();
		await route.getByRole('button', { name: 'Delete', exact: true }).click();
		await page.getByText('No routes: nothing calls this script yet.').waitFor();
		await page
			.getByRole('navigation', { name: 'Breadcrumb' })
			.getByRole('link', { name: 'busy' })
			.click();
		await page.waitForURL('**/admin/apps/busy/scripts');
		const item = page.locator('.scripts li', { hasText: 'busy-script' });
		await item.getByRole('button', { name: 'Delete' }).click();
		await item.getByRole('button', { name: 'Delete', exact: true }).click();
		await page.getByText('This app has no scripts yet.').waitFor();
		assertClean(problems);
		await context.close();
	});
});

describe('users and tokens', () => {
	test('a new token is shown once, can be copied and revoked; users come and go', async () => {
		const { page, problems, context } = await openPage(browser);
		await context.grantPermissions(['clipboard-read', 'clipboard-write']);
		await signIn(page, server);
		await page.getByRole('link', { name: 'Users & tokens' }).click();
		await page.waitForURL('**/admin/settings');

		await page.getByLabel('Name', { exact: true }).fill('ci');
		await page.getByRole('button', { name: 'Create token' }).click();
		await page.getByText('Copy it now: it will not be shown again.').waitFor();
		const secret = await expectText(page.locator('.token-value'), /^pc_[0-9a-f]+$/);
		await page.getByRole('button', { name: 'Copy', exact: true }).click();
		await page.getByRole('button', { name: 'Copied', exact: true }).waitFor();
		assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
		const me = await fetch(`${server.url}/api/v1/admin/auth/me`, {
			headers: { authorization: `Bearer ${secret}` }
		});
		assert.equal(me.status, 200, 'the new token works');

		await page.getByRole('button', { name: 'I have copied it' }).click();
		assert.equal(await page.locator('.token-value').count(), 0);
		const row = page
			.getByRole('row')
			.filter({ has: page.getByRole('cell', { name: 'ci', exact: true }) });
		await row.getByRole('button', { name: 'Revoke' }).click();
		await row.getByRole('button', { name: 'Revoke', exact: true }).click();
		await eventually(async () => assert.equal(await row.count(), 0));
		const revoked = await fetch(`${server.url}/api/v1/admin/auth/me`, {
			headers: { authorization: `Bearer ${secret}` }
		});
		assert.equal(revoked.status, 401, 'the revoked token stops working');

		await page.getByLabel('Username').fill('bob');
		await page.getByLabel('Password', { exact: true }).fill('a long enough password');
		await page.getByRole('button', { name: 'Add user' }).click();
		await page.getByText('Created bob. They can sign in now.').waitFor();
		const bob = page.locator('.items li', { hasText: 'bob' });
		await bob.getByRole('button', { name: 'Delete' }).click();
		await bob.getByRole('button', { name: 'Delete', exact: true }).click();
		await eventually(async () => assert.equal(await bob.count(), 0));
		assertClean(problems);
		await context.close();
	});
});

describe('domains', () => {
	test('a colliding claim names the app that owns the shape; a needed claim cannot go', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'alpha', name: 'Alpha' });
		await adminApi(server, 'POST', '/apps/alpha/domains', { pattern: '{tenant}.collide.test' });
		await adminApi(server, 'POST', '/apps', { slug: 'beta', name: 'Beta' });
		await adminApi(server, 'POST', '/apps/beta/domains', { pattern: 'beta.test' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'beta',
			name: 'scoped',
			source: '"ok"'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, {
			method: 'GET',
			path: '/only-here',
			host: 'beta.test'
		});

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/beta/domains`);
		await page.getByLabel('Host pattern').fill('{x}.collide.test');
		await page.getByRole('button', { name: 'Claim' }).click();
		await expectText(
			page.getByRole('alert'),
			/collides with the claim '\{tenant\}\.collide\.test' of app 'alpha'/
		);

		// Removing the claim a host-scoped route needs: 409 domain_in_use, shown.
		const claim = page.locator('tr', { hasText: 'beta.test' });
		await claim.getByRole('button', { name: 'Remove' }).click();
		await claim.getByRole('button', { name: 'Remove', exact: true }).click();
		await expectText(claim.getByRole('alert'), /only-here/);
		assertClean(problems);
		await context.close();
	});
});

describe('layout', () => {
	test('no horizontal scrolling at 375px and 1440px on the apps list and a script page', async () => {
		const app = await adminApi(server, 'POST', '/apps', {
			slug: 'wide-layout-check-with-a-long-slug',
			name: 'An app with a rather long name to test wrapping on small screens',
			description: 'Checks that long words and many columns do not widen the page body.'
		});
		await adminApi(server, 'POST', `/apps/${app.slug}/domains`, {
			pattern: '{tenant}.a-very-long-domain-name-for-layout-checks.example.com'
		});
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: app.slug,
			name: 'layout-script',
			source:
				'// A long comment line that is much wider than a phone screen, to check that the editor scrolls inside itself\n"ok"\n'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, {
			method: 'GET',
			path: '/a/rather/long/path/with/:several/:parameters/and/a/wildcard/*'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/run`, { path: '/x' });

		for (const width of [375, 1440]) {
			const { page, problems, context } = await openPage(browser, { width, height: 900 });
			await signIn(page, server);
			await page.getByRole('link', { name: app.name }).waitFor();
			await assertNoHorizontalOverflow(page, `apps list at ${width}px`);

			await page.goto(`${server.url}/admin/apps/${app.slug}/scripts/${script.id}`);
			await page.locator('.cm-content').waitFor();
			await page.locator('table.log tbody tr').first().waitFor();
			await assertNoHorizontalOverflow(page, `script page at ${width}px`);
			assertClean(problems);
			await context.close();
		}
	});
});
