// End-to-end tests of the dashboard's polish: dark mode (and accessibility in
// both themes), loading skeletons, the phone layout, relative times, the
// overview's ranges and first steps, the script page's layout and run panel,
// the app-wide Logs tab (live), and error positions that open the editor.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { assertAccessible } from './support/axe.js';
import {
	assertClean,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	openTab,
	screenshot,
	signIn,
	userRequest
} from './support/browser.js';
import { adminApi, startServer } from './support/server.js';

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** The `echo` script (line 3 throws for "boom") and the `bytes` script. */
/** @type {{ id: string }} */
let echo;
/** @type {{ id: string }} */
let bytes;
/** The failed execution of `echo` ("boom"). */
/** @type {{ id: string }} */
let failed;

// Line 3 throws: the tests follow that line from an error to the editor.
const ECHO = [
	'// What the request looked like.',
	'let name = request.params.name ?? "you";',
	'if name == "boom" { throw "no booms"; }',
	'log::info(`hello ${name}`);',
	'#{ name: name, host: request.headers.host ?? "" }',
	''
].join('\n');

// A body that is not UTF-8 (0xFF): the run panel offers it as a file.
const BYTES = [
	'let b = blob(4, 0);',
	'b[1] = 255;',
	'#{ status: 200, headers: #{ "content-type": "image/png" }, body: b }',
	''
].join('\n');

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
	await adminApi(server, 'POST', '/apps', { slug: 'polish', name: 'Polish' });
	await adminApi(server, 'POST', '/apps/polish/domains', { pattern: 'polish.test' });
	await adminApi(server, 'POST', '/apps/polish/domains', { pattern: '{tenant}.polish.test' });
	echo = await adminApi(server, 'POST', '/scripts', {
		app_id: 'polish',
		name: 'echo',
		source: ECHO
	});
	bytes = await adminApi(server, 'POST', '/scripts', {
		app_id: 'polish',
		name: 'bytes',
		source: BYTES
	});
	await adminApi(server, 'POST', `/scripts/${echo.id}/routes`, {
		method: 'GET',
		path: '/echo/:name'
	});
	await adminApi(server, 'POST', '/apps/polish/triggers', {
		script: 'echo',
		schedule: '0 9 * * 1',
		timezone: 'Europe/Oslo'
	});
	await adminApi(server, 'PUT', '/apps/polish/kv/greeting', { value: { text: 'hello' } });
	await adminApi(server, 'POST', '/apps/polish/collections/orders/documents', { total: 12 });
	await adminApi(server, 'PUT', '/apps/polish/variables/REGION', { value: 'eu' });
	for (const name of ['ada', 'boom']) {
		const res = await userRequest(server, 'polish.test', `/echo/${name}`);
		assert.equal(res.status, name === 'boom' ? 500 : 200, res.body);
	}
	// The execution log is written in the background.
	failed = await eventually(async () => {
		const list = await adminApi(server, 'GET', '/apps/polish/executions?status=error&limit=1');
		assert.equal(list.executions.length, 1);
		return list.executions[0];
	});
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * The main pages, each with what shows it has loaded.
 * @type {{ name: string, path: () => string, ready: (page: import('playwright-core').Page) => Promise<unknown> }[]}
 */
const MAIN_PAGES = [
	{
		name: 'apps list',
		path: () => '/admin/apps',
		ready: async (page) => {
			await page.getByRole('link', { name: 'Polish' }).waitFor();
			await eventually(async () => {
				assert.equal(await page.locator('table.apps td').getByText('…').count(), 0);
			});
		}
	},
	{
		name: 'app overview',
		path: () => '/admin/apps/polish/overview',
		ready: (page) => page.locator('.failures li').first().waitFor()
	},
	{
		name: 'scripts',
		path: () => '/admin/apps/polish/scripts',
		ready: (page) => page.locator('.scripts li').first().waitFor()
	},
	{
		name: 'script editor',
		path: () => `/admin/apps/polish/scripts/${echo.id}`,
		ready: async (page) => {
			await page.locator('.cm-content').waitFor();
			await page.locator('table.log tbody tr').first().waitFor();
		}
	},
	{
		name: 'data',
		path: () => '/admin/apps/polish/data',
		ready: async (page) => {
			await page.getByRole('cell', { name: 'greeting' }).first().waitFor();
			await page.getByText('REGION').first().waitFor();
		}
	},
	{
		name: 'triggers',
		path: () => '/admin/apps/polish/triggers',
		ready: (page) => page.locator('table.triggers tbody tr').first().waitFor()
	},
	{
		name: 'settings',
		path: () => '/admin/apps/polish/settings',
		ready: (page) => page.getByRole('heading', { name: 'Limits' }).waitFor()
	},
	{
		name: 'domains',
		path: () => '/admin/apps/polish/domains',
		ready: (page) => page.getByText('{tenant}.polish.test').first().waitFor()
	},
	{
		name: 'end users',
		path: () => '/admin/apps/polish/users',
		ready: (page) => page.getByRole('heading', { name: 'End users' }).waitFor()
	},
	{
		name: 'execution',
		path: () => `/admin/apps/polish/executions/${failed.id}`,
		ready: (page) => page.getByText('no booms').first().waitFor()
	},
	{
		name: 'users & tokens',
		path: () => '/admin/settings',
		ready: (page) => page.getByRole('heading', { name: 'API tokens' }).waitFor()
	},
	{
		name: 'logs',
		path: () => '/admin/apps/polish/logs',
		ready: async (page) => {
			await page.locator('table.exec-log tbody tr').first().waitFor();
			await page.locator('.live-state[data-state="live"]').waitFor();
		}
	}
];

/**
 * Opens a page and waits until it has loaded: its own sign, and no loading
 * placeholder left anywhere on it.
 * @param {import('playwright-core').Page} page
 * @param {(typeof MAIN_PAGES)[number]} target
 */
async function visit(page, target) {
	await page.goto(server.url + target.path());
	await target.ready(page);
	await eventually(async () => {
		assert.equal(await page.locator('.skeleton').count(), 0, `${target.name} is still loading`);
	});
}

/** @param {import('playwright-core').Page} page */
const themeOf = (page) => page.evaluate(() => document.documentElement.dataset.theme);

/** @param {import('playwright-core').Locator} locator */
const background = (locator) => locator.evaluate((el) => getComputedStyle(el).backgroundColor);

describe('dark mode', () => {
	test('follows the system; the header toggle overrides it, is remembered, and the editor follows', async () => {
		const { page, problems, context } = await openPage(browser);
		await page.emulateMedia({ colorScheme: 'dark' });
		await signIn(page, server);
		assert.equal(await themeOf(page), 'dark');
		assert.equal(await background(page.locator('html')), 'rgb(14, 17, 22)');

		const toggle = page.getByRole('button', { name: /^Theme:/ });
		await expectText(toggle, 'Theme: System (dark)');
		await toggle.click();
		await expectText(toggle, 'Theme: Light');
		assert.equal(await themeOf(page), 'light');
		assert.equal(await page.evaluate(() => localStorage.getItem('picloud-theme')), 'light');

		// The editor's colours come with the theme.
		await page.goto(`${server.url}/admin/apps/polish/scripts/${echo.id}`);
		const editor = page.locator('.cm-editor');
		await editor.waitFor();
		assert.equal(await background(editor), 'rgb(255, 255, 255)');
		await toggle.click();
		await expectText(toggle, 'Theme: Dark');
		await eventually(async () => assert.equal(await background(editor), 'rgb(22, 26, 33)'));

		// Remembered across a reload, applied before the page's own code runs.
		await page.reload({ waitUntil: 'domcontentloaded' });
		assert.equal(await themeOf(page), 'dark');
		// An explicit choice does not follow the system…
		await page.emulateMedia({ colorScheme: 'light' });
		await expectText(toggle, 'Theme: Dark');
		assert.equal(await themeOf(page), 'dark');
		// …"System" does, and forgets the stored choice.
		await toggle.click();
		await expectText(toggle, 'Theme: System (light)');
		assert.equal(await themeOf(page), 'light');
		assert.equal(await page.evaluate(() => localStorage.getItem('picloud-theme')), null);
		await page.emulateMedia({ colorScheme: 'dark' });
		await eventually(async () => assert.equal(await themeOf(page), 'dark'));
		await expectText(toggle, 'Theme: System (dark)');

		// A display preference is all that is stored: never the CSRF token.
		await toggle.click();
		const me = await page.evaluate(async () => (await fetch('/api/v1/admin/auth/me')).json());
		const stored = await page.evaluate(() => ({
			local: Object.fromEntries(Object.entries(localStorage)),
			session: Object.fromEntries(Object.entries(sessionStorage))
		}));
		assert.equal(stored.local['picloud-theme'], 'light');
		assert.ok(me.csrf_token, 'the session has a CSRF token');
		assert.ok(!JSON.stringify(stored).includes(me.csrf_token), 'CSRF token stored');
		assertClean(problems);
		await context.close();
	});

	test('the main pages have no accessibility violations, light and dark', async () => {
		for (const scheme of /** @type {const} */ (['light', 'dark'])) {
			const { page, problems, context } = await openPage(browser);
			await page.emulateMedia({ colorScheme: scheme });
			await signIn(page, server);
			for (const target of MAIN_PAGES) {
				await visit(page, target);
				assert.equal(await themeOf(page), scheme);
				await assertAccessible(page, `${target.name} (${scheme})`);
				if (scheme === 'dark' && target.name === 'app overview') {
					await screenshot(page, 'dark-mode.png');
				}
			}
			assertClean(problems);
			await context.close();
		}
	});
});

describe('loading', () => {
	/**
	 * Holds the answers to `pattern` until `release()` is called.
	 * @param {import('playwright-core').Page} page
	 * @param {string} pattern
	 */
	async function hold(page, pattern) {
		/** @type {() => void} */
		let release = () => {};
		const gate = new Promise((resolve) => (release = () => resolve(undefined)));
		await page.route(pattern, async (route) => {
			await gate;
			await route.continue();
		});
		return () => release();
	}

	test('while the app loads, the header and the app’s tabs stay on screen', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		const release = await hold(page, '**/api/v1/admin/apps/polish');
		await page.goto(`${server.url}/admin/apps/polish/logs`);
		await page.getByRole('banner').getByRole('link', { name: 'Apps' }).waitFor();
		const tabs = page.getByRole('navigation', { name: 'App sections' });
		await tabs.getByRole('link', { name: 'Logs' }).waitFor();
		assert.equal(
			await tabs.getByRole('link', { name: 'Logs' }).getAttribute('aria-current'),
			'page'
		);
		await page.getByRole('status').filter({ hasText: 'Loading app…' }).waitFor();
		assert.ok((await page.locator('.skeleton').count()) > 0, 'placeholders where the app goes');
		release();
		await page
			.getByRole('heading', { name: /Polish/ })
			.first()
			.waitFor();
		await page.getByRole('heading', { name: 'Logs', exact: true }).waitFor();
		assertClean(problems);
		await context.close();
	});

	test('while the session is checked, the page shows its header, not a blank', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		const release = await hold(page, '**/api/v1/admin/auth/me');
		await page.goto(`${server.url}/admin/apps`);
		await page.getByRole('banner').getByRole('link', { name: 'PiCloud' }).waitFor();
		await page.getByRole('status').filter({ hasText: 'Loading…' }).waitFor();
		release();
		await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
		assertClean(problems);
		await context.close();
	});
});

describe('phone layout', () => {
	test('at 390 × 844 nothing overflows, the header is one row, the tabs scroll and logs are cards', async () => {
		const { page, problems, context } = await openPage(browser, { width: 390, height: 844 });
		await signIn(page, server);
		for (const target of MAIN_PAGES) {
			await visit(page, target);
			const { scrollWidth, innerWidth } = await page.evaluate(() => ({
				scrollWidth: document.scrollingElement?.scrollWidth ?? 0,
				innerWidth: window.innerWidth
			}));
			assert.ok(
				scrollWidth <= innerWidth,
				`${target.name}: ${scrollWidth}px wide in a ${innerWidth}px window`
			);

			// One row: the logo, the main links and the user's buttons side by side.
			const tops = await page
				.locator('header.top > *')
				.evaluateAll((parts) => parts.map((p) => p.getBoundingClientRect().top));
			const header = await page.locator('header.top').boundingBox();
			assert.ok(header && header.height < 64, `${target.name}: header ${header?.height}px tall`);
			assert.ok(
				Math.max(...tops) - Math.min(...tops) < 16,
				`${target.name}: header parts at ${tops}`
			);
		}

		// The app's tabs scroll sideways, and the current one is in view.
		await page.goto(`${server.url}/admin/apps/polish/settings`);
		const tabs = page.getByRole('navigation', { name: 'App sections' });
		await tabs.waitFor();
		await eventually(async () => {
			const fit = await tabs.evaluate((nav) => {
				const current = nav.querySelector('[aria-current="page"]');
				const box = nav.getBoundingClientRect();
				const tab = current?.getBoundingClientRect();
				return {
					scrolls: nav.scrollWidth > nav.clientWidth,
					visible: !!tab && tab.left >= box.left - 1 && tab.right <= box.right + 1
				};
			});
			assert.deepEqual(fit, { scrolls: true, visible: true });
		});

		// The execution logs are stacked cards.
		for (const [path, table] of [
			[`/admin/apps/polish/scripts/${echo.id}`, 'table.log'],
			['/admin/apps/polish/logs', 'table.exec-log']
		]) {
			await page.goto(server.url + path);
			const row = page.locator(`${table} tbody tr`).first();
			await row.waitFor();
			assert.equal(await row.evaluate((tr) => getComputedStyle(tr).display), 'block');
			assert.equal(
				await page.locator(`${table} thead`).evaluate((head) => getComputedStyle(head).display),
				'none'
			);
		}
		await screenshot(page, 'phone-logs.png');
		assertClean(problems);
		await context.close();
	});
});

describe('times, schedules and sizes', () => {
	test('lists show how long ago with the full time on hover; schedules in words; sizes in MiB', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);

		await page.goto(`${server.url}/admin/apps/polish/scripts`);
		const updated = page.locator('.scripts li', { hasText: 'echo' }).locator('time');
		await expectText(updated, /ago|now/);
		assert.match((await updated.getAttribute('title')) ?? '', /\d{4}/);
		assert.ok(await updated.getAttribute('datetime'));

		await page.goto(`${server.url}/admin/apps/polish/logs`);
		const started = page.locator('table.exec-log tbody tr').first().locator('time');
		await expectText(started, /ago|now/);
		assert.match((await started.getAttribute('title')) ?? '', /\d{4}/);

		await page.goto(`${server.url}/admin/apps/polish/triggers`);
		const cells = page.locator('table.triggers tbody tr').first().locator('td');
		await expectText(cells.nth(1).locator('.words'), 'At 09:00, only on Monday');
		await expectText(cells.nth(4).locator('.zone'), /09:00/);
		await expectText(cells.nth(4).locator('time'), /^in /);

		await page.goto(`${server.url}/admin/apps/polish/settings`);
		const memoryHint = page.locator('#limit-memory_bytes-hint');
		await expectText(memoryHint, /default 64 MiB · max 256 MiB/);
		await page.getByLabel('Memory (bytes)').fill('8388608');
		await expectText(memoryHint, /^= 8 MiB/);
		assertClean(problems);
		await context.close();
	});
});

describe('overview', () => {
	test('the range picker asks for an hour, a day or a week, with a dated axis', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/polish/overview`);
		await page.getByRole('heading', { name: 'Last 24 hours' }).waitFor();
		const ticks = page.locator('.chart .ticks span');
		await ticks.first().waitFor();
		// The axis says which day: at least one label has a month in it.
		assert.ok(
			(await ticks.allInnerTexts()).some((t) => /[A-Za-z]{3}/.test(t)),
			'a dated label'
		);

		const week = page.waitForRequest((r) => /\/stats\?.*buckets=168/.test(r.url()));
		await page.getByRole('button', { name: 'Last 7 days' }).click();
		await week;
		await page.getByRole('heading', { name: 'Last 7 days' }).waitFor();
		assert.match(page.url(), /\?range=7d$/);
		await eventually(async () => {
			const labels = await ticks.allInnerTexts();
			assert.ok(labels.length > 0);
			for (const label of labels) assert.match(label, /^[A-Za-z]+\.? \d{1,2}$/);
		});
		assert.equal(
			await page.getByRole('button', { name: 'Last 7 days' }).getAttribute('aria-pressed'),
			'true'
		);

		// A reload keeps the range.
		await page.reload();
		await page.getByRole('heading', { name: 'Last 7 days' }).waitFor();

		const hour = page.waitForRequest((r) => /\/stats\?.*buckets=60/.test(r.url()));
		await page.getByRole('button', { name: 'Last hour' }).click();
		await hour;
		await page.getByRole('heading', { name: 'Last hour' }).waitFor();
		// The requests of the setup are within the hour.
		const total = await expectText(
			page.locator('.figures div', { hasText: 'Executions' }).locator('dd'),
			/^\d+$/
		);
		assert.ok(Number(total) >= 2, `${total} executions in the last hour`);
		assertClean(problems);
		await context.close();
	});

	test('a new app lists its first steps, each checked from what the app has, and no traffic is a dash', async () => {
		const port = new URL(server.url).port;
		await adminApi(server, 'POST', '/apps', { slug: 'fresh', name: 'Fresh' });
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/fresh/overview`);
		const steps = page.getByRole('region', { name: 'Get started' });
		const item = (/** @type {string} */ key) => steps.locator(`li[data-step="${key}"]`);
		await item('domain').waitFor();
		for (const key of ['domain', 'script', 'route', 'call']) {
			await expectText(item(key).locator('.visually-hidden'), '(to do)');
		}
		assert.match(
			(await steps.getByRole('link', { name: 'Claim a domain' }).getAttribute('href')) ?? '',
			/\/admin\/apps\/fresh\/domains$/
		);
		// No traffic: no error rate to speak of.
		await expectText(page.locator('.figures div', { hasText: 'Error rate' }).locator('dd'), '—');
		await screenshot(page, 'first-steps.png');

		// Done outside the dashboard, checked off from the app's real state.
		await adminApi(server, 'POST', '/apps/fresh/domains', { pattern: 'fresh.test' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'fresh',
			name: 'hi',
			source: '"hi"'
		});
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, { method: 'GET', path: '/hi' });
		await page.reload();
		await item('call').waitFor();
		for (const key of ['domain', 'script', 'route']) {
			await expectText(item(key).locator('.visually-hidden'), '(done)');
		}
		await expectText(item('call').locator('.visually-hidden'), '(to do)');
		await expectText(item('call').locator('code'), `http://fresh.test:${port}/hi`);
		assert.match(
			(await steps.getByRole('link', { name: 'Call it' }).getAttribute('href')) ?? '',
			/\/admin\/apps\/fresh\/logs$/
		);

		// Called: nothing left to do, so the checklist goes.
		assert.equal((await userRequest(server, 'fresh.test', '/hi')).status, 200);
		await page.reload();
		await page.locator('[data-first-steps="hidden"]').waitFor();
		assert.equal(await steps.count(), 0);

		// Hidden by hand, it stays hidden.
		await adminApi(server, 'POST', '/apps', { slug: 'fresh-two', name: 'Fresh two' });
		await page.goto(`${server.url}/admin/apps/fresh-two/overview`);
		await steps.getByRole('button', { name: 'Hide' }).click();
		assert.equal(await steps.count(), 0);
		await page.reload();
		await page.locator('[data-first-steps="hidden"]').waitFor();
		assert.equal(await steps.count(), 0);
		assertClean(problems);
		await context.close();
	});
});

describe('script page', () => {
	test('on a wide screen the editor and the run panel sit side by side under the app’s tabs', async () => {
		for (const [width, beside] of /** @type {const} */ ([
			[1440, true],
			[1024, false]
		])) {
			const { page, problems, context } = await openPage(browser, { width, height: 900 });
			await signIn(page, server);
			await page.goto(`${server.url}/admin/apps/polish/scripts/${echo.id}`);
			const tabs = page.getByRole('navigation', { name: 'App sections' });
			assert.equal(
				await tabs.getByRole('link', { name: 'Scripts' }).getAttribute('aria-current'),
				'page'
			);
			await expectText(
				page.getByRole('navigation', { name: 'Breadcrumb' }),
				/^Apps\s+Polish\s+echo$/
			);
			const source = page.getByRole('region', { name: 'Source' });
			const run = page.getByRole('region', { name: 'Run', exact: true });
			await run.waitFor();
			const a = await source.boundingBox();
			const b = await run.boundingBox();
			assert.ok(a && b);
			if (beside) {
				assert.ok(
					b.x >= a.x + a.width - 1,
					`run panel at x=${b.x}, editor ends at ${a.x + a.width}`
				);
				assert.ok(Math.abs(b.y - a.y) < 40, `tops at ${a.y} and ${b.y}`);
				// The editor takes the height of the window, less the page's head.
				const editor = await page.locator('.cm-editor').boundingBox();
				assert.ok(editor && editor.height > 900 * 0.55, `editor ${editor?.height}px tall`);
			} else {
				assert.ok(
					b.y >= a.y + a.height - 1,
					`run panel at y=${b.y}, editor ends at ${a.y + a.height}`
				);
			}
			assertClean(problems);
			await context.close();
		}
	});

	test('the run panel: a host from the claims with its parameters, JSON pretty-printed, an error linked to its line', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/polish/scripts/${echo.id}`);

		const host = page.getByLabel('Host', { exact: true });
		await host.waitFor();
		assert.deepEqual(await host.locator('option').allInnerTexts(), [
			'No Host header',
			'polish.test',
			'{tenant}.polish.test'
		]);
		await host.selectOption('{tenant}.polish.test');
		await page.getByLabel('Route', { exact: true }).selectOption({ label: 'GET /echo/:name' });
		await page.getByLabel(':name').fill('ada');

		// A wildcard claim needs its label filled in first.
		await page.getByRole('button', { name: 'Run', exact: true }).click();
		await expectText(page.getByRole('alert'), 'Fill in {tenant} of the host.');
		await page.getByLabel('{tenant}').fill('acme');
		await expectText(page.locator('.run-host'), 'acme.polish.test');
		await page.getByRole('button', { name: 'Run', exact: true }).click();
		await expectText(page.locator('.run-status'), '200');
		await expectText(
			page.locator('.run-body'),
			JSON.stringify({ host: 'acme.polish.test', name: 'ada' }, null, 2)
		);
		await page.locator('.result').getByText('JSON', { exact: true }).waitFor();
		await page.locator('.result').getByText('hello ada').waitFor();
		// The run panel is sticky beside the editor: shot from the top of the page.
		await page.evaluate(() => window.scrollTo(0, 0));
		await screenshot(page, 'run-panel.png');

		// A failure names its line; the line is a link into the editor.
		await page.getByLabel(':name').fill('boom');
		await page.getByRole('button', { name: 'Run', exact: true }).click();
		const position = page.locator('.run-error a.error-position');
		await expectText(position, /^Line 3, column \d+: /);
		await position.click();
		await page.waitForURL(/\?line=3&column=\d+$/);
		await expectText(page.locator('.cm-activeLine'), 'if name == "boom" { throw "no booms"; }');
		assertClean(problems);
		await context.close();
	});

	test('a binary response is its size and a download', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/polish/scripts/${bytes.id}`);
		await page.getByRole('button', { name: 'Run', exact: true }).click();
		await expectText(page.locator('.binary-body'), /^Binary body, 4 B of image\/png\./);
		await expectText(page.locator('.run-size'), '4 B');
		const [download] = await Promise.all([
			page.waitForEvent('download'),
			page.getByRole('link', { name: 'Download it' }).click()
		]);
		assert.equal(download.suggestedFilename(), 'response.png');
		const saved = await download.path();
		assert.deepEqual([...(await readFile(saved))], [0, 255, 0, 0]);
		assertClean(problems);
		await context.close();
	});

	test('?line= opens the editor with the cursor on that line', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/polish/scripts/${echo.id}?line=4`);
		await expectText(page.locator('.cm-activeLine'), 'log::info(`hello ${name}`);');
		await eventually(async () => {
			assert.equal(
				await page.evaluate(() => document.activeElement?.classList.contains('cm-content')),
				true
			);
		});
		assertClean(problems);
		await context.close();
	});
});

describe('logs tab', () => {
	test('every execution of the app, live, searched and filtered; a row opens its record', async () => {
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'polish', 'Logs', 'Logs', { exact: true });
		await page.locator('.live-state[data-state="live"]').waitFor();
		const rows = page.locator('table.exec-log tbody tr');
		const row = (/** @type {string} */ path) => rows.filter({ hasText: `GET ${path}` });
		await row('/echo/boom').first().waitFor();

		// A request made now shows up without a reload.
		const sent = await userRequest(server, 'polish.test', '/echo/live-one', {
			headers: { authorization: 'Bearer not-for-the-page', 'x-trace': 'abc-123' }
		});
		assert.equal(sent.status, 200);
		await row('/echo/live-one').waitFor();
		await screenshot(page, 'app-logs.png');

		// Failed only: in the address, in the list, and for what comes live.
		await page.getByLabel('Status').selectOption({ label: 'Failed' });
		await page.waitForURL(/\/logs\?status=error$/);
		await eventually(async () => {
			const statuses = await rows.locator('.badge').allInnerTexts();
			assert.ok(statuses.length > 0);
			assert.deepEqual([...new Set(statuses)], ['500']);
		});
		await page.locator('.live-state[data-state="live"]').waitFor();
		const failures = await rows.count();
		await userRequest(server, 'polish.test', '/echo/fine');
		await userRequest(server, 'polish.test', '/echo/boom');
		await eventually(async () => assert.equal(await rows.count(), failures + 1));
		assert.equal(await row('/echo/fine').count(), 0);

		// Search the log lines; filter by host and by path.
		await page.getByLabel('Status').selectOption({ label: 'Any' });
		await page.getByLabel('Search').fill('hello live-one');
		await page.getByLabel('Search').press('Enter');
		await eventually(async () => {
			assert.equal(await rows.count(), 1);
			await expectText(row('/echo/live-one').locator('.req .mono'), 'GET /echo/live-one');
		});
		await page.getByRole('button', { name: 'Clear' }).click();
		await row('/echo/ada').first().waitFor();
		await page.getByLabel('Host').fill('elsewhere.test');
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.getByText('No executions match these filters.').waitFor();
		await page.getByLabel('Host').fill('polish.test');
		await page.getByLabel('Path').fill('/echo/b*');
		await page.getByRole('button', { name: 'Apply' }).click();
		await eventually(async () => {
			const paths = await rows.locator('.req .mono').allInnerTexts();
			assert.ok(paths.length > 0);
			for (const p of paths) assert.equal(p, 'GET /echo/boom');
		});

		// The record: host, headers (credentials redacted), response, version.
		await page.getByRole('button', { name: 'Clear' }).click();
		await row('/echo/live-one').locator('a.when').click();
		await page.waitForURL(/\/admin\/apps\/polish\/executions\/[0-9a-f-]{36}$/);
		assert.equal(
			await page
				.getByRole('navigation', { name: 'App sections' })
				.getByRole('link', { name: 'Logs' })
				.getAttribute('aria-current'),
			'page'
		);
		await expectText(page.locator('.exec-host'), 'polish.test');
		await expectText(page.locator('.exec-status'), '200 ok');
		await expectText(page.locator('.exec-size'), /^\d+ B$/);
		assert.equal(
			await page.locator('.exec-version .version-tag').getAttribute('data-version'),
			'1'
		);
		await page.getByText('Request headers').click();
		const headers = page.getByTestId('request-headers');
		await expectText(
			headers.locator('div', { hasText: 'authorization' }).locator('dd'),
			'[redacted]'
		);
		await expectText(headers.locator('div', { hasText: 'x-trace' }).locator('dd'), 'abc-123');
		assert.ok(
			!(await page.content()).includes('not-for-the-page'),
			'a credential reached the page'
		);
		assertClean(problems);
		await context.close();
	});

	test('an error’s line in the log opens the editor at that line', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/polish/logs?status=error`);
		const link = page.locator('table.exec-log tbody tr a.err').first();
		await expectText(link, 'runtime_error, line 3');
		await link.click();
		await page.waitForURL(new RegExp(`/scripts/${echo.id}\\?line=3&column=\\d+$`));
		await expectText(page.locator('.cm-activeLine'), 'if name == "boom" { throw "no booms"; }');

		// The same from the execution record.
		await page.goto(`${server.url}/admin/apps/polish/logs?status=error`);
		await page.locator('table.exec-log tbody tr a.when').first().click();
		const position = page.locator('.notice.error a.error-position');
		await expectText(position, /^Line 3, column \d+: /);
		await position.click();
		await page.waitForURL(/\?line=3&column=\d+$/);
		await expectText(page.locator('.cm-activeLine'), 'if name == "boom" { throw "no booms"; }');
		assertClean(problems);
		await context.close();
	});
});
