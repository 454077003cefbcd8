// End-to-end tests of scripts built from scripts (issue 24): an app's
// interceptors on its Settings tab, and the execution page's tree of the
// executions one request made with invoke(). A real server, real Chromium,
// and assertions on what a user sees.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
	assertClean,
	assertNoHorizontalOverflow,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	openTab,
	screenshot,
	signIn,
	userRequest
} from './support/browser.js';
import { adminApi, apiError, startServer } from './support/server.js';

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
 * The app's interceptors as the API lists them (run order).
 * @param {string} slug
 * @returns {Promise<{ id: string, script_id: string, script_name: string, prefix: string, position: number }[]>}
 */
async function interceptors(slug) {
	return (await adminApi(server, 'GET', `/apps/${slug}/interceptors`)).items;
}

describe('interceptors on the Settings tab', () => {
	test('add one for /api/, see it listed, a bad prefix, edit its prefix, delete it', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'guarded' });
		const auth = await adminApi(server, 'POST', '/scripts', {
			app_id: 'guarded',
			name: 'auth',
			source: '()'
		});
		const hello = await adminApi(server, 'POST', '/scripts', {
			app_id: 'guarded',
			name: 'hello',
			source: '"hello"'
		});
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'guarded', 'Settings', 'Interceptors', { exact: true });

		const card = page.getByRole('region', { name: 'Interceptors' });
		const rows = card.locator('table.interceptors tbody tr[data-testid="interceptor"]');
		const add = card.getByRole('form', { name: 'Add an interceptor' });
		await card.getByText('No interceptors').waitFor();
		await card.getByText('request.trigger == "interceptor"').waitFor();
		assert.equal(await add.getByLabel('Prefix').getAttribute('placeholder'), '/api/');

		// Added from the form: listed with its position, prefix and script.
		await add.getByLabel('Script').selectOption({ label: 'auth' });
		await add.getByLabel('Prefix').fill('/api/');
		await add.getByRole('button', { name: 'Add interceptor' }).click();
		await card.getByText('Added auth for /api/.').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 1));
		let [stored] = await interceptors('guarded');
		assert.equal(stored.script_id, auth.id);
		assert.equal(stored.script_name, 'auth');
		assert.equal(stored.prefix, '/api/');
		const authRow = rows.filter({ hasText: 'auth' });
		const cells = authRow.locator('td');
		await expectText(cells.nth(0), String(stored.position));
		await expectText(cells.nth(1), '/api/');
		await expectText(cells.nth(2), 'auth');
		assert.match(
			(await cells.nth(2).getByRole('link', { name: 'auth' }).getAttribute('href')) ?? '',
			new RegExp(`/admin/apps/guarded/scripts/${auth.id}$`)
		);

		// A bad prefix: the API's message next to the form, nothing added.
		const refused = await apiError(server, 'POST', '/apps/guarded/interceptors', {
			script: 'hello',
			prefix: 'api'
		});
		assert.equal(refused.status, 400);
		assert.equal(refused.code, 'invalid_prefix');
		await add.getByLabel('Script').selectOption({ label: 'hello' });
		await add.getByLabel('Prefix').fill('api');
		await add.getByRole('button', { name: 'Add interceptor' }).click();
		await expectText(add.getByRole('alert'), refused.message);
		assert.equal((await interceptors('guarded')).length, 1);

		// An empty prefix is every route; the table shows the API's run order.
		await add.getByLabel('Prefix').fill('');
		await add.getByRole('button', { name: 'Add interceptor' }).click();
		await card.getByText('Added hello for every route.').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 2));
		const both = await interceptors('guarded');
		assert.equal(both.find((i) => i.script_id === hello.id)?.prefix, '/');
		await eventually(async () =>
			assert.deepEqual(
				await rows.locator('td.script').allInnerTexts(),
				both.map((i) => i.script_name)
			)
		);
		await expectText(rows.filter({ hasText: 'hello' }).locator('td.prefix'), 'every route');
		await screenshot(page, 'interceptors.png');

		// Edit auth's prefix.
		await authRow.getByRole('button', { name: 'Edit the interceptor auth for /api/' }).click();
		const edit = card.getByRole('form', { name: 'Edit the interceptor auth for /api/' });
		assert.equal(await edit.getByLabel('Prefix').inputValue(), '/api/');
		await edit.getByLabel('Prefix').fill('/v2/');
		await edit.getByRole('button', { name: 'Save' }).click();
		await card.getByText('Saved auth for /v2/.').waitFor();
		await expectText(cells.nth(1), '/v2/');
		await eventually(async () =>
			assert.equal(await card.getByRole('form', { name: /^Edit the interceptor/ }).count(), 0)
		);
		stored = (await interceptors('guarded')).find((i) => i.script_id === auth.id) ?? stored;
		assert.equal(stored.prefix, '/v2/');

		// Delete it, with the inline confirmation.
		await authRow.getByRole('button', { name: 'Delete' }).click();
		await authRow.getByRole('button', { name: 'Delete', exact: true }).click();
		await eventually(async () => assert.equal(await rows.count(), 1));
		await expectText(rows.first().locator('td.script'), 'hello');
		assert.deepEqual(
			(await interceptors('guarded')).map((i) => i.script_name),
			['hello']
		);

		assertClean(problems);
		await context.close();
	});

	test('no horizontal scrolling on the Settings tab with interceptors at 375px', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'narrow-guard' });
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'narrow-guard',
			name: 'a-rather-long-interceptor-name-for-a-phone-screen',
			source: '()'
		});
		await adminApi(server, 'POST', '/apps/narrow-guard/interceptors', {
			script: 'a-rather-long-interceptor-name-for-a-phone-screen',
			prefix: '/a/rather/long/prefix/for/a/phone/screen/'
		});
		const { page, problems, context } = await openPage(browser, { width: 375, height: 900 });
		await openTab(page, server, 'narrow-guard', 'Settings', 'Interceptors', { exact: true });
		await page
			.getByRole('cell', { name: '/a/rather/long/prefix/for/a/phone/screen/', exact: true })
			.waitFor();
		await assertNoHorizontalOverflow(page, 'Settings tab with interceptors at 375px');
		assertClean(problems);
		await context.close();
	});
});

describe('execution tree', () => {
	test('a request whose script invoked another shows the callee in its tree', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'composed' });
		await adminApi(server, 'POST', '/apps/composed/domains', { pattern: 'composed.test' });
		const child = await adminApi(server, 'POST', '/scripts', {
			app_id: 'composed',
			name: 'child',
			source: '"from child"'
		});
		const parent = await adminApi(server, 'POST', '/scripts', {
			app_id: 'composed',
			name: 'parent',
			source: 'invoke("child", #{}).body'
		});
		await adminApi(server, 'POST', `/scripts/${parent.id}/routes`, { method: 'GET', path: '/p' });

		const res = await userRequest(server, 'composed.test', '/p');
		assert.equal(res.status, 200, res.body);
		assert.equal(res.body, 'from child');

		// Records are written in the background: wait for the parent's, with its child.
		const record = await eventually(async () => {
			const { executions } = await adminApi(
				server,
				'GET',
				`/executions?app=composed&script=${parent.id}`
			);
			assert.equal(executions.length, 1);
			const detail = await adminApi(server, 'GET', `/executions/${executions[0].id}`);
			assert.equal(detail.descendants.length, 1);
			return detail;
		});
		assert.equal(record.parent_id, null);
		const [callee] = record.descendants;
		assert.equal(callee.trigger, 'invoke');
		assert.equal(callee.parent_id, record.id);
		assert.equal(callee.script_id, child.id);

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/composed/executions/${record.id}`);
		const tree = page.getByTestId('execution-tree');
		const node = tree.getByTestId('execution-node');
		await eventually(async () => assert.equal(await node.count(), 1));
		assert.equal(await node.getAttribute('data-trigger'), 'invoke');
		await expectText(node.locator('.node-script'), 'child');
		await expectText(node.locator('.node-trigger'), 'invoke');
		await expectText(node.locator('.badge'), '200');
		assert.match(
			(await node.getByRole('link', { name: 'child', exact: true }).getAttribute('href')) ?? '',
			new RegExp(`/admin/apps/composed/scripts/${child.id}$`)
		);
		assert.equal(await page.getByTestId('called-by').count(), 0);
		await screenshot(page, 'execution-tree.png');

		// The callee's own record says who called it, and links back.
		await node.getByRole('link', { name: 'Execution record of child' }).click();
		await page.waitForURL(`**/admin/apps/composed/executions/${callee.id}`);
		const calledBy = page.getByTestId('called-by');
		await expectText(calledBy, /^Called by\s+parent\s+\(http, GET \/p\)$/);
		await calledBy.getByRole('link', { name: 'parent' }).click();
		await page.waitForURL(`**/admin/apps/composed/executions/${record.id}`);
		await expectText(page.getByTestId('execution-node').locator('.node-script'), 'child');

		assertClean(problems);
		await context.close();
	});
});
