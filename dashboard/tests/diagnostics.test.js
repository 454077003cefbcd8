// End-to-end tests of diagnostics while typing: the script page checks the
// editor's text with `POST /api/v1/admin/scripts:check` a moment after the
// last keystroke, marks a problem in the editor (underline, gutter marker,
// hover) and names it in the status line under it — without saving anything.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible } from './support/axe.js';
import {
	assertClean,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	signIn
} from './support/browser.js';
import { adminApi, startServer } from './support/server.js';

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {{ id: string }} */
let app;
/** @type {{ id: string }} */
let shop;

// Two lines and an empty third: the tests type on line 3.
const SHOP = ['let greeting = "hello";', 'let name = "ada";', ''].join('\n');
const MONEY = ['fn format(cents) {', '    `${cents / 100}`', '}', ''].join('\n');

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
	app = await adminApi(server, 'POST', '/apps', { slug: 'lint', name: 'Lint' });
	await adminApi(server, 'POST', '/scripts', { app_id: 'lint', name: 'money', source: MONEY });
	shop = await adminApi(server, 'POST', '/scripts', { app_id: 'lint', name: 'shop', source: SHOP });
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * Signs in and opens the `shop` script, waiting for the check of its stored source.
 * @param {import('playwright-core').Page} page
 */
async function openShop(page) {
	await signIn(page, server);
	await page.goto(`${server.url}/admin/apps/lint/scripts/${shop.id}`);
	await page.locator('.cm-content').waitFor();
	await status(page, 'ok').waitFor();
}

/**
 * The status line under the editor, in a given state (`checking`, `ok`,
 * `problems`, `unavailable`).
 * @param {import('playwright-core').Page} page
 * @param {string} state
 */
const status = (page, state) => page.locator(`.check-status[data-state="${state}"] .check-result`);

/**
 * Puts the cursor at the end of the document (the empty line 3).
 * @param {import('playwright-core').Page} page
 */
async function toEnd(page) {
	await page.locator('.cm-content').click();
	await page.keyboard.press('Control+End');
}

/** The stored script: its source and version, as the admin API has them. */
const stored = () => adminApi(server, 'GET', `/scripts/${shop.id}`);

describe('diagnostics while typing', () => {
	test('a syntax error is marked as it is typed and cleared when fixed; nothing is saved', async () => {
		const { page, problems, context } = await openPage(browser);
		/** @type {{ source: string, app_id?: string, name?: string }[]} */
		const checks = [];
		page.on('request', (request) => {
			if (request.url().endsWith('/api/v1/admin/scripts:check')) {
				checks.push(request.postDataJSON());
			}
		});
		await openShop(page);
		await expectText(status(page, 'ok'), 'No problems');
		// The stored source, checked once when the script opened.
		assert.equal(checks.length, 1);
		assert.deepEqual(checks[0], { source: SHOP, app_id: app.id, name: 'shop' });

		// Typed key by key: one check after the last keystroke, not one per key.
		await toEnd(page);
		await page.keyboard.type('let x = ;', { delay: 40 });
		const message = status(page, 'problems');
		await expectText(message, "Line 3, column 9: Unexpected ';'");
		assert.ok(checks.length <= 3, `${checks.length - 1} checks for 9 keystrokes`);
		assert.equal(checks[checks.length - 1].source, `${SHOP}let x = ;`);

		// In the editor: the underline on the `;`, a gutter marker, and the message on hover.
		const mark = page.locator('.cm-line').nth(2).locator('.cm-lintRange-error');
		await expectText(mark, ';');
		await eventually(async () => {
			assert.equal(await page.locator('.cm-lintRange-error').count(), 1);
			assert.equal(await page.locator('.cm-gutter-lint .cm-lint-marker-error').count(), 1);
		});
		await mark.hover();
		await expectText(page.locator('.cm-tooltip-lint'), /Unexpected ';'/);
		// A check is not a save: the save bar says only that there are changes.
		await expectText(page.locator('.save-state'), 'Unsaved changes');
		assert.equal(await page.locator('.save-state .compile-error').count(), 0);

		// Accessible with the diagnostic showing, in both themes.
		await page.mouse.move(0, 0);
		await page.locator('.cm-tooltip-lint').waitFor({ state: 'detached' });
		await assertAccessible(page, 'script editor with a diagnostic');
		await page.emulateMedia({ colorScheme: 'dark' });
		await assertAccessible(page, 'script editor with a diagnostic (dark)');
		await page.emulateMedia({ colorScheme: 'light' });

		// Fixed: no problems and no marks.
		await toEnd(page);
		await page.keyboard.press('Backspace');
		await page.keyboard.type('1;');
		await expectText(status(page, 'ok'), 'No problems');
		await eventually(async () => {
			assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
			assert.equal(await page.locator('.cm-lint-marker-error').count(), 0);
		});
		assert.equal(checks[checks.length - 1].source, `${SHOP}let x = 1;`);

		// Nothing was saved: the stored source and its version are as they were.
		const script = await stored();
		assert.equal(script.source, SHOP);
		assert.equal(script.version, 1);
		const { versions } = await adminApi(server, 'GET', `/scripts/${shop.id}/versions`);
		assert.equal(versions.length, 1);
		await expectText(page.locator('.save-state'), 'Unsaved changes');
		assertClean(problems);
		await context.close();
	});

	test('imports are checked against the app’s scripts, and the script’s own name', async () => {
		const { page, problems, context } = await openPage(browser);
		await openShop(page);
		await page.locator('.cm-content').click();
		await page.keyboard.press('Control+Home');
		await page.keyboard.insertText('import "nope" as nope;\n');
		await expectText(status(page, 'problems'), /^Line 1, column \d+: module "nope" not found/);
		await eventually(async () => {
			assert.equal(
				await page.locator('.cm-line').first().locator('.cm-lintRange-error').count(),
				1
			);
		});

		// An import of itself is a cycle: the check knows which script this is.
		await page.keyboard.press('Control+Home');
		await page.keyboard.press('Shift+End');
		await page.keyboard.insertText('import "shop" as me;');
		await expectText(status(page, 'problems'), /^Line 1, column \d+: import cycle: "shop"/);

		// A script of the app: no problem.
		await page.keyboard.press('Control+Home');
		await page.keyboard.press('Shift+End');
		await page.keyboard.insertText('import "money" as money;');
		await expectText(status(page, 'ok'), 'No problems');
		assert.equal((await stored()).source, SHOP);
		assertClean(problems);
		await context.close();
	});

	test('a failed save’s error still shows, once, until a newer text is checked', async () => {
		const { page, problems, context } = await openPage(browser);
		await openShop(page);
		await toEnd(page);
		await page.keyboard.insertText('let x = ;');
		await page.getByRole('button', { name: 'Save', exact: true }).click();
		await expectText(status(page, 'problems'), "Line 3, column 9: Unexpected ';'");
		await expectText(page.locator('.save-state'), 'Not saved: it does not compile');
		await eventually(async () => {
			assert.equal(await page.locator('.cm-lintRange-error').count(), 1);
		});
		await page.getByRole('button', { name: 'Go to error' }).click();
		await expectText(page.locator('.cm-activeLine'), 'let x = ;');
		assert.equal((await stored()).version, 1);

		// Back to the stored text: its check replaces the failed save's error.
		await page.keyboard.press('End');
		await page.keyboard.press('Shift+Home');
		await page.keyboard.press('Backspace');
		await expectText(status(page, 'ok'), 'No problems');
		await page.getByRole('button', { name: 'Go to error' }).waitFor({ state: 'detached' });
		assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
		assertClean(problems);
		await context.close();
	});

	test('a check the server cannot do is “not checked”, never a problem; late answers are dropped', async () => {
		const { page, problems, context } = await openPage(browser);
		await openShop(page);

		// The sandbox is busy: nothing is marked, and the status says so quietly.
		await page.route('**/api/v1/admin/scripts:check', (route) =>
			route.fulfill({
				status: 503,
				contentType: 'application/json',
				body: JSON.stringify({
					error: { code: 'executor_unavailable', message: 'the executor is unavailable' }
				})
			})
		);
		await toEnd(page);
		await page.keyboard.insertText('let x = ;');
		await expectText(
			status(page, 'unavailable'),
			'Not checked: the server could not check it just now'
		);
		assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
		await page.unroute('**/api/v1/admin/scripts:check');

		// The answer for an older text comes after the one for the latest: it is dropped.
		/** @type {(() => Promise<void>)[]} */
		const held = [];
		await page.route('**/api/v1/admin/scripts:check', async (route) => {
			const { source } = route.request().postDataJSON();
			if (source.endsWith('let y = ;')) {
				// Held until the next text's answer is in; the page may have aborted it by then.
				held.push(() => route.continue().catch(() => {}));
			} else {
				await route.continue();
			}
		});
		await page.keyboard.press('Control+End');
		await page.keyboard.insertText('\nlet y = ;');
		await status(page, 'checking').waitFor({ state: 'attached' });
		await eventually(() => assert.equal(held.length, 1));
		await page.keyboard.press('Backspace');
		await page.keyboard.insertText('2;');
		// Line 3 still has `let x = ;`: the answer for the latest text names it.
		await expectText(status(page, 'problems'), "Line 3, column 9: Unexpected ';'");
		await Promise.all(held.map((release) => release()));
		await page.waitForTimeout(500);
		await expectText(status(page, 'problems'), "Line 3, column 9: Unexpected ';'");
		assert.equal(await page.locator('.cm-lintRange-error').count(), 1);
		assertClean(problems);
		await context.close();
	});
});
