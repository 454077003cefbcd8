// End-to-end tests of the dashboard's mail parts: the Triggers tab's
// "Inbound email" section (email triggers made, refused, disabled and
// deleted from the form), their queues in the Queues section, the app's
// "Sent mail", a viewer's read-only view, and an execution page without
// "Emails sent". The server runs without a mail relay (the suite's
// default), so no script can really send: `email::send` fails saying so.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible } from './support/axe.js';
import {
	assertClean,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	openTab,
	signIn
} from './support/browser.js';
import { adminApi, apiError, startServer } from './support/server.js';

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
	await adminApi(server, 'POST', '/apps', { slug: 'mail' });
	await adminApi(server, 'POST', '/apps/mail/domains', { pattern: 'mail.test' });
	await adminApi(server, 'POST', '/scripts', {
		app_id: 'mail',
		name: 'inbox',
		source: 'log::info(request.email.subject); "ok"'
	});
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

/**
 * @typedef {{ kind: string, id: string, email: string, script_name: string, enabled: boolean, max_attempts: number }} EmailTrigger
 */

/**
 * The app's email triggers, as the API lists them.
 * @returns {Promise<EmailTrigger[]>}
 */
async function emailTriggers(slug = 'mail') {
	const { items } = await adminApi(server, 'GET', `/apps/${slug}/triggers`);
	return items.filter((/** @type {EmailTrigger} */ t) => t.kind === 'email');
}

describe('email', () => {
	test('email triggers: created for an address and for any address, refused, disabled, deleted', async () => {
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'mail', 'Triggers', 'Inbound email', { exact: true });

		const card = page.getByRole('region', { name: 'Inbound email', exact: true });
		const rows = card.locator('table.email-triggers tbody tr');
		await card.getByText('No email triggers yet').waitFor();
		await card.getByText('request.trigger == "email"').waitFor();
		// The app claims a domain, so mail can reach it.
		assert.equal(await card.getByText('This app claims no domain yet').count(), 0);

		const address = card.getByLabel('Address (the part before the @)', { exact: true });
		const attempts = card.getByLabel('Max attempts', { exact: true });
		const create = card.getByRole('button', { name: 'Create email trigger' });

		// support@, with 3 attempts.
		assert.equal(await attempts.inputValue(), '5');
		await card.getByLabel('Script').selectOption({ label: 'inbox' });
		await address.fill('support');
		await attempts.fill('3');
		await create.click();
		await card.getByText('Created a trigger for inbox on support@.').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 1));
		const support = card.locator('table.email-triggers tbody tr[data-email="support"]');
		const cells = support.locator('td');
		await expectText(cells.nth(0), 'support@');
		await expectText(cells.nth(1), 'inbox');
		await expectText(cells.nth(2), 'enabled');
		assert.equal(await cells.nth(3).locator('input').inputValue(), '3');
		// Mail runs it, never a button.
		assert.equal(await support.getByRole('button', { name: 'Run now' }).count(), 0);
		let [stored] = await emailTriggers();
		assert.equal(stored.email, 'support');
		assert.equal(stored.script_name, 'inbox');
		assert.equal(stored.max_attempts, 3);
		assert.equal(stored.enabled, true);
		// Not a queue trigger.
		await page
			.getByRole('region', { name: 'Queue triggers', exact: true })
			.getByText('No queue triggers yet')
			.waitFor();

		// A whole address: the hint says so while typing, and the API's refusal is shown.
		await address.fill('support@mail.test');
		await expectText(page.locator('#email-trigger-address-hint'), /^Only the part before the @/);
		const bad = await apiError(server, 'POST', '/apps/mail/triggers', {
			script: 'inbox',
			email: 'support@mail.test'
		});
		assert.equal(bad.status, 400);
		assert.equal(bad.code, 'invalid_trigger');
		await create.click();
		await expectText(card.getByRole('alert'), bad.message);

		// The same address again: 409, in the API's words.
		const taken = await apiError(server, 'POST', '/apps/mail/triggers', {
			script: 'inbox',
			email: 'support'
		});
		assert.equal(taken.status, 409);
		assert.equal(taken.code, 'trigger_exists');
		await address.fill('support');
		await create.click();
		await expectText(card.getByRole('alert'), taken.message);
		assert.equal((await emailTriggers()).length, 1);

		// Any other address.
		await address.fill('*');
		await attempts.fill('5');
		await create.click();
		await card.getByText('Created a trigger for inbox on any address.').waitFor();
		await eventually(async () => assert.equal(await rows.count(), 2));
		const any = card.locator('table.email-triggers tbody tr[data-email="*"]');
		await expectText(any.locator('td').nth(0), 'any address');
		assert.deepEqual((await emailTriggers()).map((t) => t.email).sort(), ['*', 'support']);

		// Each one's queue in the Queues section, by the address it receives.
		const queues = page.getByRole('region', { name: 'Queues', exact: true });
		const supportQueue = queues.locator('table.queues tbody tr[data-queue="email:support"]');
		const anyQueue = queues.locator('table.queues tbody tr[data-queue="email:*"]');
		const refresh = queues.getByRole('button', { name: 'Refresh' });
		/** Refresh until `check` passes. */
		const refreshUntil = (/** @type {() => Promise<void>} */ check) =>
			eventually(async () => {
				await refresh.click();
				await check();
			});
		await refreshUntil(async () => {
			assert.equal(await supportQueue.count(), 1);
			assert.equal(await anyQueue.count(), 1);
		});
		await expectText(supportQueue.locator('td.name'), 'Inbound mail to support@');
		await expectText(anyQueue.locator('td.name'), 'Inbound mail (any address)');
		await expectText(supportQueue.locator('td.health'), 'idle');
		const names = (await adminApi(server, 'GET', '/apps/mail/queues')).queues.map(
			(/** @type {{ name: string }} */ q) => q.name
		);
		assert.ok(names.includes('email:support') && names.includes('email:*'), names.join(', '));

		// Disable support@: its mail would wait.
		await support.getByRole('button', { name: 'Disable the trigger of inbox on support@' }).click();
		await expectText(cells.nth(2), 'disabled');
		[stored] = (await emailTriggers()).filter((t) => t.email === 'support');
		assert.equal(stored.enabled, false);
		await refreshUntil(async () =>
			assert.equal((await supportQueue.locator('td.health').innerText()).trim(), 'trigger disabled')
		);

		// Delete the one for any address, with the inline confirmation.
		await any.getByRole('button', { name: 'Delete' }).click();
		await any.getByRole('button', { name: 'Delete', exact: true }).click();
		await eventually(async () => assert.equal(await rows.count(), 1));
		assert.deepEqual(
			(await emailTriggers()).map((t) => t.email),
			['support']
		);
		await refreshUntil(async () => assert.equal(await anyQueue.count(), 0));

		// Sent mail: none yet, with any status or only failed ones.
		const sent = page.getByRole('region', { name: 'Sent mail', exact: true });
		await sent.getByText('No mail sent yet').waitFor();
		await sent.getByLabel('Status').selectOption('failed');
		await sent.getByText('No failed mail.').waitFor();
		assert.deepEqual((await adminApi(server, 'GET', '/apps/mail/emails')).emails, []);

		// No accessibility violations on the tab, light and dark.
		for (const scheme of /** @type {const} */ (['light', 'dark'])) {
			await page.emulateMedia({ colorScheme: scheme });
			await eventually(async () => assert.equal(await page.locator('.skeleton').count(), 0));
			await assertAccessible(page, `Triggers tab with email triggers (${scheme})`);
		}

		assertClean(problems);
		await context.close();
	});

	test('a viewer sees the email triggers and sent mail, and no buttons', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'mail-read' });
		await adminApi(server, 'POST', '/scripts', {
			app_id: 'mail-read',
			name: 'inbox',
			source: '"ok"'
		});
		await adminApi(server, 'POST', '/apps/mail-read/triggers', {
			script: 'inbox',
			email: 'help',
			max_attempts: 2
		});
		const password = 'another long and unusual passphrase';
		await adminApi(server, 'POST', '/users', {
			username: 'vera',
			password,
			server_admin: false
		});
		await adminApi(server, 'PUT', '/apps/mail-read/roles/vera', { role: 'viewer' });

		const { page, problems, context } = await openPage(browser);
		await signIn(page, { ...server, username: 'vera' }, password);
		await page.goto(`${server.url}/admin/apps/mail-read/triggers`);
		const card = page.getByRole('region', { name: 'Inbound email', exact: true });
		const row = card.locator('table.email-triggers tbody tr[data-email="help"]');
		await expectText(row.locator('td').nth(0), 'help@');
		await expectText(row.locator('td').nth(3), '2');
		// This app claims no domain: the section says mail cannot reach it.
		await card.getByText('This app claims no domain yet').waitFor();
		await page
			.getByRole('region', { name: 'Queues', exact: true })
			.locator('table.queues tbody tr[data-queue="email:help"] td.name')
			.getByText('Inbound mail to help@')
			.waitFor();
		await page
			.getByRole('region', { name: 'Sent mail', exact: true })
			.getByText('No mail sent yet')
			.waitFor();
		assert.equal(await card.getByRole('heading', { name: 'Create an email trigger' }).count(), 0);
		const writes = /^(Retry|Discard|Delete|Disable|Enable|Create|Save)/;
		assert.equal(await page.getByRole('button', { name: writes }).count(), 0);
		assertClean(problems);
		await context.close();
	});

	test('an execution that sent no mail has no "Emails sent"; the Logs tab filters by email', async () => {
		// Without a relay, email::send throws: the execution fails and sends nothing.
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'mail',
			name: 'notify',
			source: 'email::send(#{ to: "ada@example.com", subject: "Hi", text: "Hello" }); "sent"'
		});
		const run = await adminApi(server, 'POST', `/scripts/${script.id}/run`, {});
		assert.match(run.error?.message ?? '', /mail is not set up/);
		const record = await adminApi(server, 'GET', `/executions/${run.execution_id}`);
		assert.deepEqual(record.emails, []);

		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/mail/executions/${run.execution_id}`);
		const detail = page.getByRole('region', { name: 'Execution', exact: true });
		await expectText(detail.locator('.notice.error'), /mail is not set up/);
		await detail.getByRole('heading', { name: 'Log', exact: true }).waitFor();
		assert.equal(await detail.getByRole('heading', { name: /^Emails sent/ }).count(), 0);
		assert.equal(await detail.locator('[data-testid="emails-sent"]').count(), 0);
		assert.equal(await detail.locator('table.emails').count(), 0);

		// "email" is one of the Logs tab's triggers; no mail has come in.
		await page.goto(`${server.url}/admin/apps/mail/logs?trigger=email`);
		assert.equal(await page.getByLabel('Trigger', { exact: true }).inputValue(), 'email');
		await page.getByText('No executions match these filters.').waitFor();
		const { executions } = await adminApi(server, 'GET', '/apps/mail/executions?trigger=email');
		assert.deepEqual(executions, []);

		assertClean(problems);
		await context.close();
	});
});
