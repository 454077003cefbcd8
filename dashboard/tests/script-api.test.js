// End-to-end tests of the editor's help from the script API description
// (docs/script-api.json → src/lib/script-api.json): completion, signature
// help, hover docs with a link to the guide, and the searchable "Script API"
// panel, its layout on a phone and a wide screen, and its accessibility.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible } from './support/axe.js';
import {
	assertClean,
	assertNoHorizontalOverflow,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	replaceSource,
	screenshot,
	signIn
} from './support/browser.js';
import { adminApi, startServer } from './support/server.js';

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {{ id: string }} */
let script;

const SOURCE = [
	'// Counts visits.',
	'let visits = kv::incr("visits");',
	'`visit ${visits}`',
	''
].join('\n');

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
	await adminApi(server, 'POST', '/apps', { slug: 'helpful', name: 'Helpful' });
	script = await adminApi(server, 'POST', '/scripts', {
		app_id: 'helpful',
		name: 'counter',
		source: SOURCE
	});
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * Signs in and opens the script, with the editor ready.
 * @param {import('playwright-core').Page} page
 */
async function openScript(page) {
	await signIn(page, server);
	await page.goto(`${server.url}/admin/apps/helpful/scripts/${script.id}`);
	await page.locator('.cm-content').waitFor();
}

/**
 * Closes the editor's tooltips (completion, signature help, hover), which
 * come and go with the cursor and the mouse, before a check of the page.
 * @param {import('playwright-core').Page} page
 */
async function quiet(page) {
	await page.mouse.move(0, 0);
	await page.getByRole('heading', { name: 'Source', exact: true }).click();
	await eventually(async () => assert.equal(await page.locator('.cm-tooltip').count(), 0));
}

describe('editor help', () => {
	test('kv:: completes the module’s functions, kv::set( shows its signatures, a name its docs on hover', async () => {
		const { page, problems, context } = await openPage(browser);
		await openScript(page);
		await replaceSource(page, '');

		// Typing a module's name lists its functions, each with a docs link.
		await page.keyboard.type('kv::');
		const list = page.locator('.cm-tooltip-autocomplete');
		await list.waitFor();
		const labels = await list.locator('.cm-completionLabel').allInnerTexts();
		assert.ok(labels.includes('kv::get'), `completion offers ${labels.join(', ')}`);
		assert.ok(
			labels.every((l) => l.startsWith('kv::')),
			labels.join(', ')
		);
		const info = page.locator('.cm-completionInfo');
		await info.locator('a.cm-api-docs').waitFor();
		assert.match(
			(await info.locator('a.cm-api-docs').getAttribute('href')) ?? '',
			/docs\/scripting\.md#key-value-store-kv$/
		);

		// Inside the call's parentheses: both overloads, the argument being typed highlighted.
		await page.keyboard.type('set("visits", ');
		const help = page.locator('.cm-api-signature-help');
		await help.waitFor();
		assert.equal(await help.locator('.cm-api-signature').count(), 2);
		await expectText(help.locator('.cm-api-active .cm-api-param'), 'value: any');
		await page.keyboard.type('1, ');
		await expectText(help.locator('.cm-api-active .cm-api-param'), 'ttl_seconds: int | float');
		await expectText(help.locator('.cm-api-active'), /^kv::set\(key: string, value: any, ttl/);
		await screenshot(page, 'script-api-signature-help.png');

		// Leaving the parentheses ends it.
		await page.keyboard.press('End');
		await eventually(async () => assert.equal(await help.count(), 0));

		// Hovering a function shows its sentence, an example and a link to the guide.
		await page.keyboard.press('Enter');
		await page.keyboard.type('let r = http::get("https://example.com/");');
		await page.keyboard.press('Escape');
		// The middle of the first letters of `http::get`, wherever the highlighting split it.
		const point = await page.evaluate(() => {
			const line = [...document.querySelectorAll('.cm-line')].find((l) =>
				l.textContent?.includes('http::get')
			);
			const walker = document.createTreeWalker(line ?? document.body, NodeFilter.SHOW_TEXT);
			for (let node = walker.nextNode(); node; node = walker.nextNode()) {
				const at = node.textContent?.indexOf('http') ?? -1;
				if (at < 0) continue;
				const range = document.createRange();
				range.setStart(node, at);
				range.setEnd(node, at + 2);
				const rect = range.getBoundingClientRect();
				return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
			}
			return null;
		});
		assert.ok(point, 'http::get is on screen');
		const hover = page.locator('.cm-tooltip-hover .cm-api-doc');
		await eventually(async () => {
			await page.mouse.move(point.x, point.y);
			assert.match(await hover.innerText({ timeout: 1000 }), /http::get\(url: string\)/);
		});
		assert.match(
			(await hover.locator('a.cm-api-docs').getAttribute('href')) ?? '',
			/docs\/scripting\.md#outbound-http-http$/
		);
		assert.equal(await hover.locator('pre.cm-api-example').count(), 1);
		assertClean(problems);
		await context.close();
	});
});

describe('Script API panel', () => {
	test('opens beside the editor, finds queue::send, inserts its example, has no axe violations', async () => {
		for (const scheme of /** @type {const} */ (['light', 'dark'])) {
			const { page, problems, context } = await openPage(browser);
			await page.emulateMedia({ colorScheme: scheme });
			await openScript(page);
			const toggle = page.getByRole('button', { name: 'Script API' });
			assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
			await toggle.click();
			assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
			const panel = page.getByRole('region', { name: 'Script API' });
			await panel.waitFor();

			await panel.getByLabel('Search the script API').fill('queue');
			const send = panel.locator('li', {
				has: page.locator('code.name', { hasText: /^queue::send$/ })
			});
			await send.waitFor();
			assert.match(await send.innerText(), /queue::send\(name: string, payload: any\)/);
			assert.match(
				(await send.getByRole('link', { name: /Docs/ }).getAttribute('href')) ?? '',
				/#queues$/
			);
			// Modules named by the search come first.
			await expectText(panel.locator('h4').first(), 'queue::');
			await panel.locator('code.name', { hasText: /^request\.payload$/ }).waitFor();

			// "Insert" puts the example at the editor's cursor.
			await page.locator('.cm-content').click();
			await page.keyboard.press('Control+End');
			await send.getByRole('button', { name: /^Insert/ }).click();
			await expectText(
				page.locator('.cm-line').last(),
				'let id = queue::send("emails", #{ to: "ada@example.com", template: "welcome" });'
			);

			// A search that finds nothing says so.
			await panel.getByLabel('Search the script API').fill('no such function');
			await panel.getByText('Nothing in the script API matches').waitFor();
			await panel.getByLabel('Search the script API').fill('queue');

			await quiet(page);
			await assertAccessible(page, `script page with the Script API panel (${scheme})`);
			if (scheme === 'light') await screenshot(page, 'script-api-panel.png');
			assertClean(problems);
			await context.close();
		}
	});

	test('fits a 390 px phone under the editor, and sits beside it at 1280 px with the run panel still beside', async () => {
		for (const [width, height] of [
			[390, 844],
			[1280, 900]
		]) {
			const { page, problems, context } = await openPage(browser, { width, height });
			await openScript(page);
			await page.getByRole('button', { name: 'Script API' }).click();
			const panel = page.getByRole('region', { name: 'Script API' });
			await panel.locator('code.name', { hasText: /^kv::get$/ }).waitFor();
			await assertNoHorizontalOverflow(page, `Script API panel at ${width}px`);

			const editor = await page.locator('.cm-editor').boundingBox();
			const box = await panel.boundingBox();
			const source = await page.getByRole('region', { name: 'Source' }).boundingBox();
			assert.ok(editor && box && source);
			// Inside the source card, whatever the width.
			assert.ok(box.x >= source.x && box.x + box.width <= source.x + source.width + 1);
			if (width < 700) {
				assert.ok(box.y >= editor.y + editor.height - 1, `panel at y=${box.y} under the editor`);
				assert.ok(editor.height > 200, `editor ${editor.height}px tall`);
			} else {
				assert.ok(box.x >= editor.x + editor.width - 1, `panel at x=${box.x} beside the editor`);
				assert.ok(Math.abs(box.y - editor.y) < 40, `tops at ${editor.y} and ${box.y}`);
				assert.ok(editor.width > 300, `editor ${editor.width}px wide`);
				const run = await page.getByRole('region', { name: 'Run', exact: true }).boundingBox();
				assert.ok(run && run.x >= source.x + source.width - 1, 'the run panel stays beside');
			}
			// It closes again, and the editor has its room back.
			await page.getByRole('button', { name: 'Script API' }).click();
			await eventually(async () => assert.equal(await panel.count(), 0));
			assertClean(problems);
			await context.close();
		}
	});
});
