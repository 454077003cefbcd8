// End-to-end tests of an app's Triggers tab (cron triggers) and the outbound
// HTTP allow-list on its Settings tab: a real server, real Chromium, and
// assertions on what a user sees.

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

describe('triggers tab', () => {
	test('create a trigger, disable and enable it, run it now, a bad schedule, delete', async () => {
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'default',
			name: 'tick',
			source: 'kv::set("last", request.trigger); "ok"'
		});
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'default', 'Triggers', 'Cron triggers');

		const card = page.getByRole('region', { name: 'Cron triggers' });
		const rows = card.locator('table.triggers tbody tr');
		await card.getByText('No triggers yet').waitFor();
		await card.getByText('request.trigger == "cron"').waitFor();

		// Created from the form: listed with its next run.
		assert.equal(await page.getByLabel('Time zone').inputValue(), 'UTC');
		await page.getByLabel('Script').selectOption({ label: 'tick' });
		await page.getByLabel('Schedule').fill('*/5 * * * *');
		await page.getByLabel('Time zone').fill('Europe/Oslo');
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await card.getByText('Created a trigger for tick (*/5 * * * *).').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 1));
		const row = rows.first();
		const cells = row.locator('td');
		await expectText(cells.nth(0), 'tick');
		await expectText(cells.nth(1), '*/5 * * * *');
		await expectText(cells.nth(2), 'Europe/Oslo');
		await expectText(cells.nth(3), 'enabled');
		await expectText(cells.nth(4), /\d/);
		await expectText(cells.nth(5), 'never');
		const [trigger] = (await adminApi(server, 'GET', '/apps/default/triggers')).items;
		assert.equal(trigger.script_name, 'tick');
		assert.equal(trigger.timezone, 'Europe/Oslo');
		assert.ok(trigger.next_run_at, 'an enabled trigger has a next run');
		await screenshot(page, 'triggers.png');

		// Disable, then enable.
		await row.getByRole('button', { name: 'Disable the trigger of tick' }).click();
		await expectText(cells.nth(3), 'disabled');
		await expectText(cells.nth(4), 'paused');
		let stored = await adminApi(server, 'GET', `/apps/default/triggers/${trigger.id}`);
		assert.equal(stored.enabled, false);
		assert.equal(stored.next_run_at, null);
		await row.getByRole('button', { name: 'Enable the trigger of tick' }).click();
		await expectText(cells.nth(3), 'enabled');
		await expectText(cells.nth(4), /\d/);
		stored = await adminApi(server, 'GET', `/apps/default/triggers/${trigger.id}`);
		assert.equal(stored.enabled, true);
		assert.ok(stored.next_run_at);

		// Run now: the script ran as the scheduler would run it.
		await row.getByRole('button', { name: 'Run now' }).click();
		await expectText(row.getByRole('status'), /^200 Ran in .+\. Execution record$/);
		const last = await adminApi(server, 'GET', '/apps/default/kv/last');
		assert.equal(last.value, 'cron');
		const record = row.getByRole('link', { name: 'Execution record' });
		assert.match(
			(await record.getAttribute('href')) ?? '',
			/\/admin\/apps\/default\/executions\/[0-9a-f-]{36}$/
		);

		// A bad schedule: the API's message, nothing created.
		const badSchedule = { script: 'tick', schedule: 'every five minutes', timezone: 'Europe/Oslo' };
		const refused = await apiError(server, 'POST', '/apps/default/triggers', badSchedule);
		assert.equal(refused.status, 400);
		assert.equal(refused.code, 'invalid_schedule');
		await page.getByLabel('Schedule').fill(badSchedule.schedule);
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await expectText(card.getByRole('alert'), refused.message);
		assert.equal((await adminApi(server, 'GET', '/apps/default/triggers')).items.length, 1);
		// A bad time zone, likewise.
		await page.getByLabel('Schedule').fill('0 9 * * 1-5');
		await page.getByLabel('Time zone').fill('Mars/Olympus');
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await expectText(card.getByRole('alert'), /^'Mars\/Olympus' is not a known time zone/);
		assert.equal((await adminApi(server, 'GET', '/apps/default/triggers')).items.length, 1);

		// Delete, with the inline confirmation.
		await row.getByRole('button', { name: 'Delete' }).click();
		await row.getByRole('button', { name: 'Delete', exact: true }).click();
		await card.getByText('No triggers yet').waitFor();
		assert.deepEqual((await adminApi(server, 'GET', '/apps/default/triggers')).items, []);

		assertClean(problems);
		await context.close();
	});

	test('no horizontal scrolling on the Triggers tab at 375px', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'narrow-cron' });
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'narrow-cron',
			name: 'a-rather-long-script-name-for-a-phone-screen',
			source: '"ok"'
		});
		await adminApi(server, 'POST', '/apps/narrow-cron/triggers', {
			script: 'a-rather-long-script-name-for-a-phone-screen',
			schedule: '0 9 * * 1-5',
			timezone: 'America/Argentina/Buenos_Aires'
		});
		const { page, problems, context } = await openPage(browser, { width: 375, height: 900 });
		await openTab(page, server, 'narrow-cron', 'Triggers', 'Cron triggers');
		await page.getByRole('cell', { name: 'America/Argentina/Buenos_Aires' }).waitFor();
		await assertNoHorizontalOverflow(page, 'Triggers tab at 375px');
		assertClean(problems);
		await context.close();
	});
});

describe('outbound HTTP allow-list', () => {
	test('add an entry, see it in canonical form, a bad pattern, remove it', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'http-app' });
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'http-app', 'Settings', 'Outbound HTTP');

		const card = page.getByRole('region', { name: 'Outbound HTTP' });
		const field = page.getByLabel('Scheme, host and port');
		const cells = card.locator('table.http-allow tbody td.pattern');
		await card.getByText('Nothing allowed').waitFor();
		await card.getByText('--http-allow-private').waitFor();

		await field.fill('https://api.example.com');
		await card.getByRole('button', { name: 'Allow' }).click();
		await card.getByText('Allowed https://api.example.com:443.').waitFor();
		await eventually(async () =>
			assert.deepEqual(await cells.allInnerTexts(), ['https://api.example.com:443'])
		);
		assert.deepEqual(
			(await adminApi(server, 'GET', '/apps/http-app/http-allow')).items.map(
				(/** @type {any} */ e) => e.pattern
			),
			['https://api.example.com:443']
		);
		await screenshot(page, 'http-allow.png');

		// The same entry spelled another way is not listed twice.
		await field.fill('https://API.example.com:443');
		await card.getByRole('button', { name: 'Allow' }).click();
		await card.getByText('https://api.example.com:443 was already allowed.').waitFor();
		assert.equal(await cells.count(), 1);

		// A bad pattern: the API's message, nothing added.
		const bad = 'ftp://files.example.com/path';
		const refused = await apiError(server, 'POST', '/apps/http-app/http-allow', { pattern: bad });
		assert.equal(refused.status, 400);
		assert.equal(refused.code, 'invalid_pattern');
		await field.fill(bad);
		await card.getByRole('button', { name: 'Allow' }).click();
		await expectText(card.getByRole('alert'), refused.message);
		assert.equal(await cells.count(), 1);
		assert.equal((await adminApi(server, 'GET', '/apps/http-app/http-allow')).items.length, 1);

		// Remove, with the inline confirmation.
		const row = card.locator('table.http-allow tbody tr').first();
		await row.getByRole('button', { name: 'Remove' }).click();
		await row.getByRole('button', { name: 'Remove', exact: true }).click();
		await card.getByText('Nothing allowed').waitFor();
		assert.deepEqual((await adminApi(server, 'GET', '/apps/http-app/http-allow')).items, []);

		assertClean(problems);
		await context.close();
	});
});
