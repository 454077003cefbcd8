// End-to-end tests of an app's Triggers tab (cron and queue triggers, the
// Queues section with its dead letters) and the outbound
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
	screenshot,
	signIn
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
		await card.getByText('No cron triggers yet').waitFor();
		await card.getByText('request.trigger == "cron"').waitFor();

		// Created from the form: listed with its next run. (The queue trigger form has a
		// Script field too: the cron form's is the one in the Cron triggers section.)
		assert.equal(await card.getByLabel('Time zone').inputValue(), 'UTC');
		await card.getByLabel('Script').selectOption({ label: 'tick' });
		await card.getByLabel('Schedule').fill('*/5 * * * *');
		await expectText(page.locator('#trigger-schedule-words'), /^Every 5 minutes/);
		await card.getByLabel('Time zone').fill('Europe/Oslo');
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await card.getByText('Created a trigger for tick (*/5 * * * *).').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 1));
		const row = rows.first();
		const cells = row.locator('td');
		await expectText(cells.nth(0), 'tick');
		// The schedule as written and in words; the next run in the trigger's time zone.
		await expectText(cells.nth(1).locator('code'), '*/5 * * * *');
		await expectText(cells.nth(1).locator('.words'), 'Every 5 minutes');
		await expectText(cells.nth(2), 'Europe/Oslo');
		await expectText(cells.nth(3), 'enabled');
		await expectText(cells.nth(4), /\d/);
		await expectText(cells.nth(4).locator('.zone'), /GMT\+[12]|CES?T/);
		const next = cells.nth(4).locator('time');
		assert.match((await next.getAttribute('title')) ?? '', /\d/);
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
		await card.getByLabel('Schedule').fill(badSchedule.schedule);
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await expectText(card.getByRole('alert'), refused.message);
		assert.equal((await adminApi(server, 'GET', '/apps/default/triggers')).items.length, 1);
		// A bad time zone, likewise.
		await card.getByLabel('Schedule').fill('0 9 * * 1-5');
		await card.getByLabel('Time zone').fill('Mars/Olympus');
		await page.getByRole('button', { name: 'Create trigger' }).click();
		await expectText(card.getByRole('alert'), /^'Mars\/Olympus' is not a known time zone/);
		assert.equal((await adminApi(server, 'GET', '/apps/default/triggers')).items.length, 1);

		// Delete, with the inline confirmation.
		await row.getByRole('button', { name: 'Delete' }).click();
		await row.getByRole('button', { name: 'Delete', exact: true }).click();
		await card.getByText('No cron triggers yet').waitFor();
		assert.deepEqual((await adminApi(server, 'GET', '/apps/default/triggers')).items, []);

		assertClean(problems);
		await context.close();
	});

	test('a queue trigger, its dead letter retried and then discarded', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'queues' });
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'queues',
			name: 'worker',
			source: 'throw "down";'
		});
		const sender = await adminApi(server, 'POST', '/scripts', {
			app_id: 'queues',
			name: 'sender',
			source: 'queue::send("jobs", #{n: 1}); "sent"'
		});
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'queues', 'Triggers', 'Queue triggers', { exact: true });

		const card = page.getByRole('region', { name: 'Queue triggers', exact: true });
		const rows = card.locator('table.queue-triggers tbody tr');
		await card.getByText('No queue triggers yet').waitFor();
		await card.getByText('request.trigger == "queue"').waitFor();
		const queues = page.getByRole('region', { name: 'Queues', exact: true });
		await queues.getByText('No queues yet').waitFor();

		// Created from the form, with max attempts 1: the first failure is a dead letter.
		assert.equal(await card.getByLabel('Max attempts', { exact: true }).inputValue(), '5');
		await card.getByLabel('Script').selectOption({ label: 'worker' });
		await card.getByLabel('Queue', { exact: true }).fill('jobs');
		await card.getByLabel('Max attempts', { exact: true }).fill('1');
		await card.getByRole('button', { name: 'Create queue trigger' }).click();
		await card.getByText('Created a trigger for worker on queue jobs.').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 1));
		const row = rows.first();
		const cells = row.locator('td');
		await expectText(cells.nth(0), 'worker');
		await expectText(cells.nth(1), 'jobs');
		await expectText(cells.nth(2), 'enabled');
		assert.equal(await cells.nth(3).locator('input').inputValue(), '1');
		// A queue trigger runs for messages, never by hand.
		assert.equal(await row.getByRole('button', { name: 'Run now' }).count(), 0);
		const { items } = await adminApi(server, 'GET', '/apps/queues/triggers');
		assert.equal(items.length, 1);
		assert.equal(items[0].kind, 'queue');
		assert.equal(items[0].queue, 'jobs');
		assert.equal(items[0].script_name, 'worker');
		assert.equal(items[0].max_attempts, 1);
		assert.equal(items[0].enabled, true);
		// The cron section is not where it goes.
		await page
			.getByRole('region', { name: 'Cron triggers' })
			.getByText('No cron triggers yet')
			.waitFor();

		// A second trigger on the same queue: the API's refusal in its words.
		const taken = { script: 'worker', queue: 'jobs' };
		const refused = await apiError(server, 'POST', '/apps/queues/triggers', taken);
		assert.equal(refused.status, 409);
		assert.equal(refused.code, 'trigger_exists');
		await card.getByLabel('Queue', { exact: true }).fill('jobs');
		await card.getByRole('button', { name: 'Create queue trigger' }).click();
		await expectText(card.getByRole('alert'), refused.message);
		assert.equal((await adminApi(server, 'GET', '/apps/queues/triggers')).items.length, 1);

		// The queue is listed once it has a trigger, empty.
		const jobs = queues.locator('table.queues tbody tr[data-queue="jobs"]');
		const refresh = queues.getByRole('button', { name: 'Refresh' });
		/** Refresh until `check` passes: the queue runs on its own time. */
		const refreshUntil = (/** @type {() => Promise<void>} */ check) =>
			eventually(async () => {
				await refresh.click();
				await check();
			}, 30_000);
		await refreshUntil(async () => assert.equal(await jobs.count(), 1));
		await expectText(jobs.locator('td.dead'), '0');
		await expectText(jobs.locator('td.health'), 'idle');

		// A message, sent by a script run through the admin API: the worker throws, so
		// with one attempt it becomes a dead letter.
		await adminApi(server, 'POST', `/scripts/${sender.id}/run`, {});
		await refreshUntil(async () => {
			assert.equal((await jobs.locator('td.dead').innerText()).trim(), '1');
			assert.equal((await jobs.locator('td.ready').innerText()).trim(), '0');
			assert.equal((await jobs.locator('td.in-flight').innerText()).trim(), '0');
		});
		await expectText(jobs.locator('td.delayed'), '0');
		await expectText(jobs.locator('td.health'), '1 dead letter');
		let [stats] = (await adminApi(server, 'GET', '/apps/queues/queues')).queues;
		assert.equal(stats.name, 'jobs');
		assert.equal(stats.dead, 1);
		assert.equal(stats.trigger_id, items[0].id);

		// Its dead letter: the payload as JSON, one attempt, the worker's error.
		const details = queues.locator('details.dead-letters[data-queue="jobs"]');
		await details.locator('summary').click();
		const letters = details.locator('li.letter');
		await eventually(async () => assert.equal(await letters.count(), 1));
		let [letter] = (await adminApi(server, 'GET', '/apps/queues/queues/jobs/dead')).dead_letters;
		assert.deepEqual(letter.payload, { n: 1 });
		assert.equal(letter.attempts, 1);
		assert.match(letter.last_error ?? '', /down/);
		const item = letters.first();
		assert.equal(await item.getAttribute('data-id'), letter.id);
		assert.deepEqual(JSON.parse(await item.locator('pre.payload').innerText()), { n: 1 });
		await expectText(item.locator('.attempts'), '1 attempt');
		await expectText(item.locator('.last-error'), /down/);
		await screenshot(page, 'queues.png');

		// Retry: back on the queue, run again, and dead again (the worker still throws).
		await item.getByRole('button', { name: 'Retry', exact: true }).click();
		await expectText(queues.locator('.dead-note'), `Put ${letter.id} back on jobs.`);
		await eventually(async () => {
			const { executions } = await adminApi(server, 'GET', '/apps/queues/executions?trigger=queue');
			assert.equal(executions.length, 2);
		}, 30_000);
		await refreshUntil(async () => {
			assert.equal((await jobs.locator('td.dead').innerText()).trim(), '1');
			assert.equal((await jobs.locator('td.ready').innerText()).trim(), '0');
			assert.equal((await jobs.locator('td.in-flight').innerText()).trim(), '0');
		});
		[letter] = (await adminApi(server, 'GET', '/apps/queues/queues/jobs/dead')).dead_letters;
		assert.equal(letter.attempts, 1, 'a retried letter gets its attempts afresh');

		// Discard, with the inline confirmation: gone from the list and the counts.
		if (!(await details.evaluate((d) => /** @type {HTMLDetailsElement} */ (d).open))) {
			await details.locator('summary').click();
		}
		await eventually(async () => assert.equal(await letters.count(), 1));
		await letters.first().getByRole('button', { name: 'Discard' }).click();
		await letters.first().getByRole('button', { name: 'Discard', exact: true }).click();
		await expectText(queues.locator('.dead-note'), `Discarded ${letter.id} of jobs.`);
		await expectText(jobs.locator('td.dead'), '0');
		await expectText(jobs.locator('td.health'), 'idle');
		assert.equal(await details.count(), 0);
		assert.deepEqual(
			(await adminApi(server, 'GET', '/apps/queues/queues/jobs/dead')).dead_letters,
			[]
		);
		[stats] = (await adminApi(server, 'GET', '/apps/queues/queues')).queues;
		assert.deepEqual([stats.ready, stats.delayed, stats.in_flight, stats.dead], [0, 0, 0, 0]);

		// The Logs tab filters by the new trigger.
		await page.goto(`${server.url}/admin/apps/queues/logs?trigger=queue`);
		assert.equal(await page.getByLabel('Trigger', { exact: true }).inputValue(), 'queue');
		const triggerCells = page.locator('table.exec-log tbody td[data-label="Trigger"]');
		await eventually(async () =>
			assert.deepEqual(await triggerCells.allInnerTexts(), ['queue', 'queue'])
		);

		assertClean(problems);
		await context.close();
	});

	test('a viewer sees the queues and dead letters, and no buttons', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'queues-read' });
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'queues-read',
			name: 'worker',
			source: 'throw "down";'
		});
		const sender = await adminApi(server, 'POST', '/scripts', {
			app_id: 'queues-read',
			name: 'sender',
			source: 'queue::send("jobs", #{n: 2}); "sent"'
		});
		await adminApi(server, 'POST', '/apps/queues-read/triggers', {
			script: 'worker',
			queue: 'jobs',
			max_attempts: 1
		});
		await adminApi(server, 'POST', `/scripts/${sender.id}/run`, {});
		await eventually(async () => {
			const [stats] = (await adminApi(server, 'GET', '/apps/queues-read/queues')).queues;
			assert.equal(stats.dead, 1);
		}, 30_000);
		const password = 'a long and unusual passphrase';
		await adminApi(server, 'POST', '/users', {
			username: 'quinn',
			password,
			server_admin: false
		});
		await adminApi(server, 'PUT', '/apps/queues-read/roles/quinn', { role: 'viewer' });

		const { page, problems, context } = await openPage(browser);
		await signIn(page, { ...server, username: 'quinn' }, password);
		await page.goto(`${server.url}/admin/apps/queues-read/triggers`);
		const queues = page.getByRole('region', { name: 'Queues', exact: true });
		const jobs = queues.locator('table.queues tbody tr[data-queue="jobs"]');
		await expectText(jobs.locator('td.dead'), '1');
		const card = page.getByRole('region', { name: 'Queue triggers', exact: true });
		await expectText(card.locator('table.queue-triggers tbody td').nth(3), '1');
		const details = queues.locator('details.dead-letters[data-queue="jobs"]');
		await details.locator('summary').click();
		const item = details.locator('li.letter').first();
		assert.deepEqual(JSON.parse(await item.locator('pre.payload').innerText()), { n: 2 });
		// Refresh is a read; nothing else is offered.
		const writes = /^(Retry|Discard|Delete|Disable|Enable|Create)/;
		assert.equal(await page.getByRole('button', { name: writes }).count(), 0);
		assert.equal(await page.getByRole('button', { name: 'Refresh' }).count(), 5);
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
