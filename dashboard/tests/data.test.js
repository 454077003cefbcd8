// End-to-end tests of an app's Data tab (key-value store, documents,
// variables and secrets): a real server, real Chromium, and assertions on
// what a user sees.

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
	screenshot
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
 * The status of an admin API call, for the answers `adminApi` treats as failures.
 * @param {string} method
 * @param {string} apiPath  below /api/v1/admin
 */
async function apiStatus(method, apiPath) {
	const response = await fetch(`${server.url}/api/v1/admin${apiPath}`, {
		method,
		headers: { authorization: `Bearer ${server.token}` }
	});
	await response.body?.cancel();
	return response.status;
}

describe('data tab', () => {
	test('key-value store: add a key with a slash, list, filter, page, show in full, edit, delete', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'kv-app', name: 'KV app' });
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'kv-app', 'Data', 'Key-value store');

		const kv = page.getByRole('region', { name: 'Key-value store' });
		const rows = kv.locator('table.kv > tbody > tr:not(.detail-row)');
		/** @param {string} key */
		const row = (key) => rows.filter({ has: page.getByRole('cell', { name: key, exact: true }) });
		const usage = kv.locator('.usage');

		await kv.getByText('No keys yet. Scripts write keys with kv::set("key", value)').waitFor();
		await expectText(usage, /^0 keys, 0 B of [\d.,]+ [KMG]iB; [\d,]+ keys max$/);

		// Malformed JSON is caught before anything is sent.
		await page.getByLabel('Key', { exact: true }).fill('users/ada');
		await page.getByLabel('Value (JSON)').fill('{name: "Ada"}');
		await page.getByRole('button', { name: 'Save key' }).click();
		await expectText(
			kv.getByRole('alert'),
			/^The value is not valid JSON: .+ Text needs double quotes, e.g. "hello"\.$/
		);
		assert.equal(await page.getByLabel('Value (JSON)').getAttribute('aria-invalid'), 'true');
		assert.equal(await apiStatus('GET', '/apps/kv-app/kv/users%2Fada'), 404);

		// A key with a slash and a TTL.
		await page.getByLabel('Value (JSON)').fill('{"name": "Ada", "langs": ["rhai", "rust"]}');
		await page.getByLabel('TTL in seconds (optional)').fill('3600');
		await page.getByRole('button', { name: 'Save key' }).click();
		await kv.getByText('Saved users/ada.').waitFor();
		// Compact JSON (the server may order an object's members its own way).
		const shown = await expectText(row('users/ada').locator('td.value code'), /^\{"/);
		assert.doesNotMatch(shown, /\s/);
		assert.deepEqual(JSON.parse(shown), { name: 'Ada', langs: ['rhai', 'rust'] });
		assert.notEqual((await row('users/ada').locator('td').nth(3).innerText()).trim(), 'never');
		const stored = await adminApi(server, 'GET', '/apps/kv-app/kv/users%2Fada');
		assert.deepEqual(stored.value, { name: 'Ada', langs: ['rhai', 'rust'] });
		assert.ok(stored.expires_at, 'the TTL gave the key an expiry');
		assert.equal(await page.getByLabel('Key', { exact: true }).inputValue(), '');

		// A second key without a TTL.
		await page.getByLabel('Key', { exact: true }).fill('counter');
		await page.getByLabel('Value (JSON)').fill('42');
		await page.getByRole('button', { name: 'Save key' }).click();
		await kv.getByText('Saved counter.').waitFor();
		await expectText(row('counter').locator('td.value code'), '42');
		await expectText(row('counter').locator('td').nth(3), 'never');
		await expectText(usage, /^2 keys, [\d.,]+ (B|KiB) of /);
		await screenshot(page, 'data.png');

		// Written by someone else (a script, the API): "Refresh" shows them.
		for (let i = 0; i < 55; i++) {
			const key = `page/${String(i).padStart(3, '0')}`;
			await adminApi(server, 'PUT', `/apps/kv-app/kv/${encodeURIComponent(key)}`, { value: i });
		}
		const long = ['x'.repeat(300), 'THE-END'];
		await adminApi(server, 'PUT', '/apps/kv-app/kv/doc', { value: long });
		await kv.getByRole('button', { name: 'Refresh' }).click();
		await expectText(usage, /^58 keys, /);

		// Paging within a prefix.
		await page.getByLabel('Key prefix').fill('page/');
		await page.getByRole('button', { name: 'Filter' }).click();
		await eventually(async () => assert.equal(await rows.count(), 50));
		await expectText(rows.first().locator('td').first(), 'page/000');
		await kv.getByRole('button', { name: 'Load more' }).click();
		await eventually(async () => assert.equal(await rows.count(), 55));
		await expectText(rows.last().locator('td').first(), 'page/054');
		assert.equal(await kv.getByRole('button', { name: 'Load more' }).count(), 0);

		// A long value is cut short in the table and shown whole on demand.
		await page.getByLabel('Key prefix').fill('doc');
		await page.getByRole('button', { name: 'Filter' }).click();
		await eventually(async () => assert.equal(await rows.count(), 1));
		const preview = await expectText(row('doc').locator('td.value code'), /…$/);
		assert.ok(!preview.includes('THE-END'), preview);
		await row('doc').getByRole('button', { name: 'Show the full value' }).click();
		const full = kv.locator('.detail-row pre');
		await expectText(full, /"THE-END"\s*\]$/);
		assert.deepEqual(JSON.parse(await full.innerText()), long);

		// The prefix filter shows only the keys under it.
		await page.getByLabel('Key prefix').fill('users/');
		await page.getByRole('button', { name: 'Filter' }).click();
		await eventually(async () => assert.equal(await rows.count(), 1));
		await expectText(rows.first().locator('td').first(), 'users/ada');

		// Delete, with the inline confirmation.
		await row('users/ada').getByRole('button', { name: 'Delete' }).click();
		await row('users/ada').getByRole('button', { name: 'Delete', exact: true }).click();
		await kv.getByText('No keys start with users/.').waitFor();
		assert.equal(await apiStatus('GET', '/apps/kv-app/kv/users%2Fada'), 404);
		await expectText(usage, /^57 keys, /);

		// Edit: the form is filled from the row; saving replaces the value.
		await kv.getByRole('button', { name: 'Show all keys' }).click();
		await row('counter').getByRole('button', { name: 'Edit' }).click();
		assert.equal(await page.getByLabel('Key', { exact: true }).inputValue(), 'counter');
		assert.equal(await page.getByLabel('Value (JSON)').inputValue(), '42');
		await page.getByLabel('Value (JSON)').fill('43');
		await page.getByRole('button', { name: 'Save key' }).click();
		await expectText(row('counter').locator('td.value code'), '43');
		assert.equal((await adminApi(server, 'GET', '/apps/kv-app/kv/counter')).value, 43);

		// The API's refusal is shown in its own words.
		const { quota } = await adminApi(server, 'GET', '/apps/kv-app/kv?limit=1');
		await page.getByLabel('Key', { exact: true }).fill('k'.repeat(quota.max_key_bytes + 1));
		await page.getByLabel('Value (JSON)').fill('1');
		await page.getByRole('button', { name: 'Save key' }).click();
		const refusal = await expectText(kv.getByRole('alert'), /\S/);
		assert.ok(!/not valid JSON/.test(refusal), refusal);

		assertClean(problems);
		await context.close();
	});

	test('documents: collections, add, filter, sort, page, show in full, edit, delete', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'docs-app', name: 'Docs app' });
		const { page, problems, context } = await openPage(browser);
		// Every list request the page sends, to check a refused filter never leaves the browser.
		/** @type {URL[]} */
		const finds = [];
		page.on('request', (request) => {
			const url = new URL(request.url());
			if (request.method() === 'GET' && url.pathname.endsWith('/documents')) finds.push(url);
		});
		await openTab(page, server, 'docs-app', 'Data', 'Key-value store');

		const docs = page.getByRole('region', { name: 'Documents', exact: true });
		const usage = docs.locator('.usage');
		const rows = docs.locator('table.documents > tbody > tr:not(.detail-row)');
		/** @param {string} id */
		const row = (id) => rows.filter({ has: page.getByRole('cell', { name: id, exact: true }) });
		/** @param {string} name */
		const collection = (name) => docs.getByRole('button', { name, exact: true });
		/** @param {string} name  the number of documents the collection list shows */
		const count = (name) =>
			docs
				.locator('table.collections tbody tr')
				.filter({ has: page.getByRole('button', { name, exact: true }) })
				.locator('td')
				.nth(1);
		/** The documents in the table, in order (their compact JSON, parsed). */
		const shown = async () =>
			(await rows.locator('td.value code').allInnerTexts()).map((text) => JSON.parse(text));
		/** @param {unknown[]} expected */
		const expectShown = (expected) =>
			eventually(async () => assert.deepEqual(await shown(), expected));
		/** @param {string} apiPath */
		const documentPath = (apiPath) => `/apps/docs-app/collections/${apiPath}`;
		const collectionField = page.getByLabel('Collection', { exact: true });
		const documentField = page.getByLabel('Document (JSON)');
		const addButton = docs.getByRole('button', { name: 'Add document' });
		const formError = docs.locator('#doc-error');

		await docs
			.getByText('No documents yet. Scripts create documents with docs::insert("orders", #{ ... })')
			.waitFor();
		await expectText(usage, /^0 documents, 0 B of [\d.,]+ [KMG]iB; [\d,]+ documents max$/);

		// What the server would refuse is caught before anything is sent.
		await collectionField.fill('.orders');
		await documentField.fill('{"total": 1}');
		await addButton.click();
		await expectText(formError, /^"\.orders" is not a collection name: use 1 to 64 letters/);
		assert.equal(await collectionField.getAttribute('aria-invalid'), 'true');
		await collectionField.fill('orders');
		for (const [text, message] of [
			['{customer: "Ada"}', /^The document is not valid JSON: .+ need double quotes\.$/],
			['[1, 2]', /^A document must be a JSON object, e\.g\. \{/],
			['{"_id": "mine", "total": 1}', /^Leave out "_id": PiCloud gives each document its id/]
		]) {
			await documentField.fill(String(text));
			await addButton.click();
			await expectText(formError, message);
			assert.equal(await documentField.getAttribute('aria-invalid'), 'true');
		}
		assert.deepEqual((await adminApi(server, 'GET', '/apps/docs-app/collections')).items, []);

		// Added through the page: its collection is listed and opened, with the document in it.
		const ada = { customer: 'Ada', status: 'paid', total: 40 };
		await documentField.fill(JSON.stringify(ada, null, 2));
		await addButton.click();
		const added = await expectText(
			docs.getByText(/^Added document \S+ to orders\.$/),
			/^Added document [0-9a-f-]{36} to orders\.$/
		);
		const adaId = added.split(' ')[2];
		assert.equal(await documentField.inputValue(), '');
		await expectText(count('orders'), '1');
		assert.equal(await collection('orders').getAttribute('aria-current'), 'true');
		await docs.getByRole('heading', { name: 'Documents in orders' }).waitFor();
		await expectShown([ada]);
		const compact = await row(adaId).locator('td.value code').innerText();
		assert.doesNotMatch(compact, /\s/);
		assert.deepEqual(
			(await adminApi(server, 'GET', documentPath(`orders/documents/${adaId}`))).document,
			ada
		);

		// Added through the API (as a script would): "Refresh" shows them, in insertion order.
		const bo = { customer: 'Bo', status: 'new', total: 5 };
		const cy = { customer: 'Cy', status: 'paid', total: 8 };
		const di = { customer: 'Di', status: 'paid', total: 25 };
		/** @type {Record<string, string>} */
		const ids = { Ada: adaId };
		for (const doc of [bo, cy, di]) {
			ids[doc.customer] = (
				await adminApi(server, 'POST', documentPath('orders/documents'), doc)
			).id;
		}
		await docs.getByRole('button', { name: 'Refresh' }).click();
		await expectShown([ada, bo, cy, di]);
		await expectText(count('orders'), '4');
		await expectText(usage, /^4 documents, [\d.,]+ B of /);

		// A `where` filter in the shape scripts use.
		const where = page.getByLabel('Where (JSON)');
		const sort = page.getByLabel('Sort by');
		const find = docs.getByRole('button', { name: 'Find', exact: true });
		await where.fill('{"status": "paid", "total": {"gt": 10}}');
		await find.click();
		await expectShown([ada, di]);
		assert.deepEqual(JSON.parse(finds.at(-1)?.searchParams.get('where') ?? ''), {
			status: 'paid',
			total: { gt: 10 }
		});

		// Sorted descending.
		await where.fill('{"status": "paid"}');
		await sort.fill('-total');
		await find.click();
		await expectShown([ada, di, cy]);
		assert.equal(finds.at(-1)?.searchParams.get('sort'), '-total');
		await screenshot(page, 'documents.png');

		// A filter that is not one is refused in the browser, with what is wrong.
		const sent = finds.length;
		for (const [text, message] of [
			['{"status": paid}', /^The filter is not valid JSON: .+ need double quotes, e\.g\. \{/],
			['["paid"]', /^The filter must be a JSON object of fields, e\.g\. \{"status": "paid"/],
			['{"total": {"greater": 10}}', /^"total": unknown operator "greater"; use "eq", "ne"/],
			['{"paid": {"gt": false}}', /^"paid": "gt" compares numbers or text; true, false and null/],
			['{"tags": ["a"]}', /^"tags": compare with text, a number, true, false or null/]
		]) {
			await where.fill(String(text));
			await find.click();
			await expectText(docs.locator('#docs-query-error'), message);
			assert.equal(await where.getAttribute('aria-invalid'), 'true');
		}
		await sort.fill('-');
		await where.fill('');
		await find.click();
		await expectText(docs.locator('#docs-query-error'), /^Sort by a field name/);
		assert.equal(await sort.getAttribute('aria-invalid'), 'true');
		assert.equal(finds.length, sent, 'a refused filter reached the server');
		// The rows are still those of the last filter that ran.
		await expectShown([ada, di, cy]);

		// Edit: the form is filled from the row; saving replaces the whole document.
		await docs.getByRole('button', { name: 'Show all documents' }).click();
		await expectShown([ada, bo, cy, di]);
		assert.equal(await where.inputValue(), '');
		await row(ids.Bo).getByRole('button', { name: 'Edit' }).click();
		await docs.getByRole('heading', { name: 'Replace a document' }).waitFor();
		assert.deepEqual(JSON.parse(await documentField.inputValue()), bo);
		const bo2 = { customer: 'Bo', status: 'paid', total: 6 };
		await documentField.fill(JSON.stringify(bo2));
		await docs.getByRole('button', { name: 'Save document' }).click();
		await docs.getByText(`Saved document ${ids.Bo}.`).waitFor();
		await expectShown([ada, bo2, cy, di]);
		assert.deepEqual(
			(await adminApi(server, 'GET', documentPath(`orders/documents/${ids.Bo}`))).document,
			bo2
		);
		await docs.getByRole('heading', { name: 'Add a document' }).waitFor();

		// Delete, with the inline confirmation.
		await row(ids.Cy).getByRole('button', { name: 'Delete' }).click();
		await row(ids.Cy).getByRole('button', { name: 'Delete', exact: true }).click();
		await expectShown([ada, bo2, di]);
		assert.equal(await apiStatus('GET', documentPath(`orders/documents/${ids.Cy}`)), 404);
		await expectText(count('orders'), '3');
		await expectText(usage, /^3 documents, /);

		// More than a page: "Load more" follows the cursor, sorted or not.
		for (let n = 0; n < 60; n++) {
			await adminApi(server, 'POST', documentPath('events/documents'), { n });
		}
		await docs.getByRole('button', { name: 'Refresh' }).click();
		await collection('events').click();
		await docs.getByRole('heading', { name: 'Documents in events' }).waitFor();
		await eventually(async () => assert.equal(await rows.count(), 50));
		await docs.getByRole('button', { name: 'Load more' }).click();
		await expectShown(Array.from({ length: 60 }, (_, n) => ({ n })));
		assert.equal(await docs.getByRole('button', { name: 'Load more' }).count(), 0);
		await sort.fill('-n');
		await find.click();
		await eventually(async () => assert.deepEqual((await shown())[0], { n: 59 }));
		assert.equal(await rows.count(), 50);
		await docs.getByRole('button', { name: 'Load more' }).click();
		await expectShown(Array.from({ length: 60 }, (_, n) => ({ n: 59 - n })));
		const last = finds.at(-1);
		assert.ok(last?.searchParams.get('cursor'), 'the second page was asked for with the cursor');
		assert.equal(last?.searchParams.get('sort'), '-n');
		await expectText(count('events'), '60');
		await expectText(usage, /^63 documents, /);

		// A long document is cut short in the table and shown whole on demand.
		const note = { a: 'x'.repeat(300), z: 'THE-END' };
		const noteId = (await adminApi(server, 'POST', documentPath('notes/documents'), note)).id;
		await docs.getByRole('button', { name: 'Refresh' }).click();
		await collection('notes').click();
		const preview = await expectText(row(noteId).locator('td.value code'), /…$/);
		assert.ok(!preview.includes('THE-END'), preview);
		await row(noteId).getByRole('button', { name: 'Show the full document' }).click();
		const full = docs.locator('.detail-row pre');
		await expectText(full, /"THE-END"\s*\}$/);
		assert.deepEqual(JSON.parse(await full.innerText()), note);

		// The API's refusal is shown in its own words.
		const { quota } = await adminApi(server, 'GET', '/apps/docs-app/collections');
		await documentField.fill(JSON.stringify({ big: 'x'.repeat(quota.max_document_bytes) }));
		await addButton.click();
		const refusal = await expectText(formError, /\S/);
		assert.doesNotMatch(refusal, /not valid JSON|must be a JSON object|Leave out/);
		await expectText(count('notes'), '1');

		assertClean(problems);
		await context.close();
	});

	test('variables show their value; a secret never reaches the page', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'env-app', name: 'Env app' });
		const SECRET = 'sk-live-5d1e0c8f-never-show-me';
		const { page, problems, context } = await openPage(browser);
		/** @type {Promise<string>[]} */
		const bodies = [];
		page.on('response', (response) => {
			if (new URL(response.url()).pathname.startsWith('/api/')) {
				bodies.push(response.text().catch(() => ''));
			}
		});
		await openTab(page, server, 'env-app', 'Data', 'Key-value store');

		const vars = page.getByRole('region', { name: 'Variables and secrets' });
		/** @param {string} name */
		const row = (name) =>
			vars.locator('table.vars tbody tr').filter({ has: page.getByText(name, { exact: true }) });
		await vars.getByText('No variables or secrets yet.').waitFor();
		await vars.getByText('env::get("NAME")').first().waitFor();

		// A plain variable shows its value.
		await page.getByLabel('Name', { exact: true }).fill('GREETING');
		await page.getByLabel('Value', { exact: true }).fill('hello there');
		await page.getByRole('button', { name: 'Save variable' }).click();
		await vars.getByText('Saved GREETING.').waitFor();
		await expectText(row('GREETING').locator('td.value'), 'hello there');

		// A secret shows only that it exists.
		await page.getByLabel('Name', { exact: true }).fill('API_KEY');
		await page.getByLabel('Value', { exact: true }).fill(SECRET);
		await page.getByRole('checkbox', { name: 'Secret' }).check();
		await page.getByRole('button', { name: 'Save secret' }).click();
		await vars.getByText('Saved the secret API_KEY. Its value is not shown again.').waitFor();
		await expectText(row('API_KEY').locator('.badge'), 'secret');
		await expectText(row('API_KEY').locator('td.value [aria-hidden="true"]'), '••••••');
		assert.equal(await page.getByLabel('Value', { exact: true }).inputValue(), '');
		assert.equal(await page.getByRole('checkbox', { name: 'Secret' }).isChecked(), false);

		/** Nothing on the page (text, markup or a field's value) holds the secret. */
		async function assertSecretNowhere() {
			const seen = await page.evaluate(() =>
				[
					document.documentElement.outerHTML,
					document.body.innerText,
					...Array.from(document.querySelectorAll('input, textarea'), (el) =>
						el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : ''
					)
				].join('\n')
			);
			assert.ok(!seen.includes(SECRET), 'the secret is on the page');
		}
		await assertSecretNowhere();

		// The API lists it without a value.
		const listed = await adminApi(server, 'GET', '/apps/env-app/variables');
		const byName = Object.fromEntries(listed.items.map((/** @type {any} */ v) => [v.name, v]));
		assert.equal(byName.GREETING.value, 'hello there');
		assert.equal(byName.GREETING.secret, false);
		assert.equal(byName.API_KEY.secret, true);
		assert.ok(!('value' in byName.API_KEY), JSON.stringify(byName.API_KEY));

		// After a reload too; and no answer the page received carried it.
		await page.reload();
		await expectText(row('API_KEY').locator('td.value [aria-hidden="true"]'), '••••••');
		await expectText(row('GREETING').locator('td.value'), 'hello there');
		await assertSecretNowhere();

		// Replacing a secret starts from an empty value: it cannot be read back.
		await row('API_KEY').getByRole('button', { name: 'Replace' }).click();
		assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'API_KEY');
		assert.equal(await page.getByLabel('Value', { exact: true }).inputValue(), '');
		assert.equal(await page.getByRole('checkbox', { name: 'Secret' }).isChecked(), true);

		// Replacing a variable starts from its value.
		await row('GREETING').getByRole('button', { name: 'Replace' }).click();
		assert.equal(await page.getByLabel('Value', { exact: true }).inputValue(), 'hello there');
		assert.equal(await page.getByRole('checkbox', { name: 'Secret' }).isChecked(), false);
		await page.getByLabel('Value', { exact: true }).fill('hi');
		await page.getByRole('button', { name: 'Save variable' }).click();
		await expectText(row('GREETING').locator('td.value'), 'hi');

		// An invalid name: the API's message is shown.
		await page.getByLabel('Name', { exact: true }).fill('not a name!');
		await page.getByLabel('Value', { exact: true }).fill('x');
		await page.getByRole('button', { name: 'Save variable' }).click();
		await expectText(vars.getByRole('alert'), /\S/);
		assert.equal(await row('not a name!').count(), 0);

		// Delete.
		await row('GREETING').getByRole('button', { name: 'Delete' }).click();
		await row('GREETING').getByRole('button', { name: 'Delete', exact: true }).click();
		await eventually(async () => assert.equal(await row('GREETING').count(), 0));
		const left = await adminApi(server, 'GET', '/apps/env-app/variables');
		assert.deepEqual(
			left.items.map((/** @type {any} */ v) => v.name),
			['API_KEY']
		);

		await assertSecretNowhere();
		for (const body of await Promise.all(bodies)) {
			assert.ok(!body.includes(SECRET), 'an API answer carried the secret');
		}
		assertClean(problems);
		await context.close();
	});

	test('no horizontal scrolling on the Data tab at 375px', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'narrow-data' });
		const key = 'a/rather/long/key/that/is/much/wider/than/a/phone/screen/to/check/wrapping';
		await adminApi(server, 'PUT', `/apps/narrow-data/kv/${encodeURIComponent(key)}`, {
			value: { list: Array.from({ length: 40 }, (_, i) => `item-${i}`) }
		});
		await adminApi(server, 'PUT', '/apps/narrow-data/variables/A_RATHER_LONG_VARIABLE_NAME', {
			value: 'https://a-very-long-host-name.example.com/with/a/long/path',
			secret: false
		});
		const doc = await adminApi(
			server,
			'POST',
			'/apps/narrow-data/collections/a-rather-long-collection-name.for.a.phone/documents',
			{ list: Array.from({ length: 40 }, (_, i) => `item-${i}`), url: 'https://example.com/x' }
		);
		const { page, problems, context } = await openPage(browser, { width: 375, height: 900 });
		await openTab(page, server, 'narrow-data', 'Data', 'Key-value store');
		await page.getByRole('cell', { name: key }).waitFor();
		await page.getByText('A_RATHER_LONG_VARIABLE_NAME').waitFor();
		await page
			.getByRole('button', { name: 'a-rather-long-collection-name.for.a.phone', exact: true })
			.click();
		await page.getByRole('cell', { name: doc.id, exact: true }).waitFor();
		await assertNoHorizontalOverflow(page, 'Data tab at 375px');
		assertClean(problems);
		await context.close();
	});
});
