// End-to-end test of a script's History panel: every saved source is a
// version, two of them side by side, and an old one restored as the newest.

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

/**
 * The number a version tag (`VersionTag.svelte`) in `scope` shows.
 * @param {import('playwright-core').Locator} scope
 */
async function shownVersion(scope) {
	return scope.locator('.version-tag').first().getAttribute('data-version');
}

const A = '// the greeting\n"from A"\n';
const B = '// the greeting\n"from B"\n';

describe('script history', () => {
	test('save a new version, compare it with the old one, restore the old one, and it runs', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'versioned', name: 'Versioned' });
		await adminApi(server, 'POST', '/apps/versioned/domains', { pattern: 'versioned.test' });
		const created = await adminApi(server, 'POST', '/scripts', {
			app_id: 'versioned',
			name: 'greet',
			source: A
		});
		assert.equal(created.version, 1);
		await adminApi(server, 'POST', `/scripts/${created.id}/routes`, {
			method: 'GET',
			path: '/greet'
		});
		assert.equal((await userRequest(server, 'versioned.test', '/greet')).body, 'from A');

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/versioned/scripts/${created.id}`);
		await page.locator('.cm-content').getByText('"from A"').waitFor();
		const head = page.locator('.head');
		await eventually(async () => assert.equal(await shownVersion(head), '1'));

		// Save B from the editor: version 2, shown next to the name.
		await replaceSource(page, B);
		await page.getByRole('button', { name: 'Save', exact: true }).click();
		await page.getByText('Saved', { exact: true }).waitFor();
		await eventually(async () => assert.equal(await shownVersion(head), '2'));
		assert.equal((await userRequest(server, 'versioned.test', '/greet')).body, 'from B');

		// The History panel: closed at first, then the two versions, newest first.
		const history = page.getByRole('region', { name: 'History' });
		const toggle = history.getByRole('button', { name: 'Show history' });
		assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
		await toggle.click();
		await history.getByRole('button', { name: 'Hide history' }).waitFor();
		const rows = history.locator('table.versions tbody tr');
		await eventually(async () => assert.equal(await rows.count(), 2));
		/** @param {number} n */
		const row = (n) => rows.filter({ has: page.locator(`.version-tag[data-version="${n}"]`) });
		const [v2, v1] = [row(2), row(1)];
		assert.equal(await rows.nth(0).locator('.version-tag').getAttribute('data-version'), '2');
		await expectText(v2.locator('.badge'), 'current');
		assert.equal(await v1.locator('.badge').count(), 0);
		// Saved from the dashboard: the signed-in user made it.
		await expectText(v2.locator('td.author'), server.username);
		// A relative time, with the absolute one in its title.
		const when = v2.locator('td.when time');
		assert.match((await when.getAttribute('datetime')) ?? '', /^\d{4}-\d\d-\d\dT/);
		assert.ok(await when.getAttribute('title'), 'the absolute time is in the title');
		// Only an old version can be restored.
		assert.equal(await v2.getByRole('button', { name: 'Restore this version' }).count(), 0);
		await v1.getByRole('button', { name: 'Restore this version' }).waitFor();

		// The diff: the current version against the one before it, A removed, B added.
		assert.equal(await history.getByLabel('Old version').inputValue(), '1');
		assert.equal(await history.getByLabel('New version').inputValue(), '2');
		const diff = history.locator('table.diff');
		await diff.waitFor();
		await expectText(diff.locator('thead'), /^v1\s+v2$/);
		await eventually(async () => {
			assert.deepEqual(await diff.locator('td.removed .text').allInnerTexts(), ['"from A"']);
			assert.deepEqual(await diff.locator('td.added .text').allInnerTexts(), ['"from B"']);
		});
		// On one row, at line 2 on both sides; the unchanged first line beside itself.
		const changed = diff.locator('tbody tr.changed');
		assert.equal(await changed.count(), 1);
		assert.deepEqual(await changed.locator('td.num').allInnerTexts(), ['2', '2']);
		assert.deepEqual(await diff.locator('tbody tr.same td.num').allInnerTexts(), ['1', '1']);
		// Not by colour alone: a marker, and words for screen readers.
		await expectText(changed.locator('td.removed .marker'), '−');
		await expectText(changed.locator('td.added .marker'), '+');
		await expectText(changed.locator('td.removed .visually-hidden'), 'Removed:');
		await expectText(changed.locator('td.added .visually-hidden'), 'Added:');
		await screenshot(page, 'script-history.png');

		// Restore version 1, with the inline confirmation.
		await v1.getByRole('button', { name: 'Restore this version' }).click();
		await v1.getByText('Restore v1 as the current source?').waitFor();
		await v1.getByRole('button', { name: 'Restore', exact: true }).click();
		await expectText(history.getByRole('status'), 'Restored v1 as v3.');

		// Version 3 is current: in the list, next to the name, and in the editor.
		await eventually(async () => assert.equal(await rows.count(), 3));
		assert.equal(await shownVersion(rows.nth(0)), '3');
		await expectText(rows.nth(0).locator('.badge'), 'current');
		assert.equal(await rows.nth(1).locator('.badge').count(), 0);
		await eventually(async () => assert.equal(await shownVersion(head), '3'));
		await page.locator('.cm-content').getByText('"from A"').waitFor();
		assert.equal(await page.locator('.cm-content').getByText('"from B"').count(), 0);
		assert.equal(await page.getByText('Unsaved changes').count(), 0);
		const script = await adminApi(server, 'GET', `/scripts/${created.id}`);
		assert.equal(script.version, 3);
		assert.equal(script.source, A);

		// The comparison follows: v2 against v3 now, B removed, A added.
		await eventually(async () => {
			assert.equal(await history.getByLabel('Old version').inputValue(), '2');
			assert.equal(await history.getByLabel('New version').inputValue(), '3');
			assert.deepEqual(await diff.locator('td.removed .text').allInnerTexts(), ['"from B"']);
			assert.deepEqual(await diff.locator('td.added .text').allInnerTexts(), ['"from A"']);
		});

		// The route runs A again, and the execution log says which version ran.
		assert.equal((await userRequest(server, 'versioned.test', '/greet')).body, 'from A');
		const log = page.getByRole('region', { name: 'Execution log' });
		await eventually(async () => {
			await log.getByRole('button', { name: 'Refresh' }).click();
			const ran = await log
				.locator('table.log > tbody > tr .version-tag')
				.evaluateAll((tags) => tags.map((tag) => tag.getAttribute('data-version')));
			assert.deepEqual(ran, ['3', '2', '1']);
		});

		assertClean(problems);
		await context.close();
	});

	test('the open History panel and its diff fit a 375px screen', async () => {
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'default',
			name: 'narrow-history',
			source: `let greeting = "${'a rather long line '.repeat(8)}";\ngreeting\n`
		});
		await adminApi(server, 'PATCH', `/scripts/${script.id}`, {
			source: `let greeting = "${'a different long line '.repeat(8)}";\ngreeting\n`,
			message: 'a longer greeting, with a message long enough to wrap on a phone screen'
		});
		const { page, problems, context } = await openPage(browser, { width: 375, height: 900 });
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/default/scripts/${script.id}`);
		const history = page.getByRole('region', { name: 'History' });
		await history.getByRole('button', { name: 'Show history' }).click();
		await history.locator('table.diff td.added .text').first().waitFor();
		await assertNoHorizontalOverflow(page, 'History panel at 375px');
		assertClean(problems);
		await context.close();
	});
});
