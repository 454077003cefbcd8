// End-to-end tests of per-app roles (docs/api.md, "Roles"): what a viewer, a
// developer and an owner are offered, the Roles section of an app's
// Settings, server admins on the Users & tokens page, and the server
// refusing what the page does not offer. A real server, real Chromium.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
	assertClean,
	assertNoHorizontalOverflow,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	screenshotOf,
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

const PASSWORD = 'a long and unusual passphrase';
const SOURCE = '// Greets whoever asks.\n"hello from roles"\n';

/**
 * A user without server-wide powers, with `role` on `app` when given.
 * @param {string} username
 * @param {{ app: string, role: 'owner' | 'developer' | 'viewer' }} [grant]
 * @returns {Promise<{ id: string, username: string, server_admin: boolean }>}
 */
async function member(username, grant) {
	const user = await adminApi(server, 'POST', '/users', {
		username,
		password: PASSWORD,
		server_admin: false
	});
	assert.equal(user.server_admin, false);
	if (grant) {
		const given = await adminApi(server, 'PUT', `/apps/${grant.app}/roles/${username}`, {
			role: grant.role
		});
		assert.equal(given.role, grant.role);
		assert.equal(given.username, username);
	}
	return user;
}

/**
 * Signs in through the form as `username` (with PASSWORD) in a fresh context.
 * @param {string} username
 */
async function openAs(username) {
	const opened = await openPage(browser);
	await signIn(opened.page, { ...server, username }, PASSWORD);
	return opened;
}

/**
 * The app's roles as the API lists them: username → role.
 * @param {string} slug
 * @returns {Promise<Record<string, string>>}
 */
async function grants(slug) {
	/** @type {{ roles: { username: string, role: string }[] }} */
	const list = await adminApi(server, 'GET', `/apps/${slug}/roles`);
	return Object.fromEntries(list.roles.map((g) => [g.username, g.role]));
}

/**
 * How many buttons with this name the page shows.
 * @param {import('playwright-core').Page | import('playwright-core').Locator} scope
 * @param {string | RegExp} name
 */
function buttons(scope, name) {
	return scope.getByRole('button', { name, exact: typeof name === 'string' }).count();
}

describe('roles', () => {
	test('a viewer reads the app, its script and settings, is offered no change, and the server refuses her writes', async () => {
		const app = await adminApi(server, 'POST', '/apps', { slug: 'roles-shop', name: 'Roles shop' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'roles-shop',
			name: 'greeter',
			source: SOURCE
		});
		await adminApi(server, 'PUT', '/apps/roles-shop/kv/counter', { value: 41 });
		await adminApi(server, 'PUT', '/apps/roles-shop/variables/GREETING', { value: 'hi' });
		await member('vera', { app: 'roles-shop', role: 'viewer' });

		const { page, problems, context } = await openAs('vera');

		// Her apps only, and nothing to create them with.
		await page.getByRole('heading', { name: 'Your apps' }).waitFor();
		await page.getByRole('link', { name: 'Roles shop' }).waitFor();
		assert.equal(await page.getByRole('link', { name: 'Default app' }).count(), 0);
		assert.equal(await buttons(page, 'Create app'), 0);
		assert.equal(await page.getByRole('heading', { name: 'Create an app' }).count(), 0);
		const nav = page.getByRole('navigation', { name: 'Main' });
		await nav.getByRole('link', { name: 'Account & tokens' }).waitFor();
		assert.equal(await nav.getByRole('link', { name: 'Users & tokens' }).count(), 0);

		// The app's header says what she is.
		await page.getByRole('link', { name: 'Roles shop' }).click();
		await page.waitForURL('**/admin/apps/roles-shop/overview');
		const badge = page.locator('.app-head [data-role]');
		await badge.waitFor();
		assert.equal(await badge.getAttribute('data-role'), 'viewer');

		// The scripts, without Delete or New.
		await page
			.getByRole('navigation', { name: 'App sections' })
			.getByRole('link', { name: 'Scripts' })
			.click();
		await page.waitForURL('**/admin/apps/roles-shop/scripts');
		const item = page.locator('.scripts li', { hasText: 'greeter' });
		await item.waitFor();
		assert.equal(await buttons(item, 'Delete'), 0);
		assert.equal(await buttons(page, 'Create script'), 0);

		// The source, read-only: no Save, no Run, no routes to add, typing changes nothing.
		await item.getByRole('link', { name: 'greeter' }).click();
		await page.waitForURL(`**/admin/apps/roles-shop/scripts/${script.id}`);
		const editor = page.locator('.cm-content');
		await editor.getByText('"hello from roles"').waitFor();
		await page.getByText('Read-only: your role on Roles shop is viewer.').waitFor();
		assert.equal(await editor.getAttribute('aria-readonly'), 'true');
		assert.equal(await buttons(page, 'Save'), 0);
		assert.equal(await page.getByRole('heading', { name: 'Run', exact: true }).count(), 0);
		assert.equal(await page.getByRole('heading', { name: 'Add a route' }).count(), 0);
		await editor.click();
		await page.keyboard.type('zzz');
		// CodeMirror undoes what reaches a read-only document's DOM.
		await eventually(async () => assert.doesNotMatch(await editor.innerText(), /zzz/));
		assert.match(await editor.innerText(), /"hello from roles"/);

		// Settings: shown, not changeable; no Roles, no deleting the app.
		await page.goto(`${server.url}/admin/apps/roles-shop/settings`);
		await page.getByRole('heading', { name: 'Limits' }).waitFor();
		await page.getByText('No interceptors: each request goes straight').waitFor();
		await page.getByText('Nothing allowed:').waitFor();
		await page.getByText('You are a viewer on this app').waitFor();
		assert.equal(await buttons(page, /^Save/), 0);
		assert.equal(await buttons(page, /^(Check|Add interceptor|Allow|Delete this app)$/), 0);
		assert.equal(await page.getByLabel('New slug').count(), 0);
		assert.equal(await page.getByLabel('Fuel (units)').isDisabled(), true);
		assert.equal(await page.getByRole('heading', { name: 'Roles', exact: true }).count(), 0);
		assert.equal(await page.getByRole('heading', { name: 'Delete the app' }).count(), 0);

		// Data: the key and the variable, without Edit, Delete or the forms.
		await page.goto(`${server.url}/admin/apps/roles-shop/data`);
		const kv = page.getByRole('region', { name: 'Key-value store' });
		await kv.getByRole('cell', { name: 'counter', exact: true }).waitFor();
		assert.equal(await buttons(kv, /^(Edit|Delete|Save key)$/), 0);
		const vars = page.getByRole('region', { name: 'Variables and secrets' });
		await vars.getByRole('cell', { name: 'GREETING' }).waitFor();
		assert.equal(await buttons(vars, /^(Replace|Delete|Save variable)$/), 0);

		// The server refuses her write all the same.
		const answer = await page.evaluate(async (id) => {
			const me = await (await fetch('/api/v1/admin/auth/me')).json();
			const res = await fetch(`/api/v1/admin/scripts/${id}`, {
				method: 'PUT',
				headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
				body: JSON.stringify({ source: '"changed by a viewer"' })
			});
			return { me, status: res.status, body: await res.json() };
		}, script.id);
		assert.equal(answer.me.server_admin, false);
		assert.deepEqual(answer.me.roles, [{ app_id: app.id, slug: 'roles-shop', role: 'viewer' }]);
		assert.equal(answer.status, 403, JSON.stringify(answer.body));
		assert.equal(answer.body.error.code, 'insufficient_role');
		assert.equal((await adminApi(server, 'GET', `/scripts/${script.id}`)).source, SOURCE);

		// Her account page: no users; a token must name an app, with at most her role.
		await nav.getByRole('link', { name: 'Account & tokens' }).click();
		await page.waitForURL('**/admin/settings');
		await page.getByRole('heading', { name: 'Account & tokens' }).waitFor();
		assert.equal(await page.getByRole('heading', { name: 'Users', exact: true }).count(), 0);
		assert.equal(await buttons(page, 'Add user'), 0);
		const appSelect = page.getByLabel('App', { exact: true });
		await eventually(async () =>
			assert.deepEqual(await appSelect.locator('option').allInnerTexts(), ['roles-shop'])
		);
		const roleSelect = page.getByLabel('Role', { exact: true });
		assert.deepEqual(await roleSelect.locator('option').allInnerTexts(), ['viewer']);
		assert.equal(await page.getByLabel('Scope').count(), 0);
		await page.getByLabel('Name', { exact: true }).fill('vera-ci');
		await page.getByRole('button', { name: 'Create token' }).click();
		const secret = await expectText(page.locator('.token-value'), /^pc_[0-9a-f]+$/);
		const row = page
			.getByRole('row')
			.filter({ has: page.getByRole('cell', { name: 'vera-ci', exact: true }) });
		await expectText(row.locator('td.token-app code'), 'roles-shop');
		const tokenMe = await fetch(`${server.url}/api/v1/admin/auth/me`, {
			headers: { authorization: `Bearer ${secret}` }
		});
		assert.equal(tokenMe.status, 200);
		const asToken = await tokenMe.json();
		assert.equal(asToken.server_admin, false);
		assert.deepEqual(asToken.roles, [{ app_id: app.id, slug: 'roles-shop', role: 'viewer' }]);

		assertClean(problems);
		await context.close();
	});

	test('an owner gives, changes and takes away roles in Settings; a developer changes code, not settings', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'roles-team', name: 'Roles team' });
		const script = await adminApi(server, 'POST', '/scripts', {
			app_id: 'roles-team',
			name: 'worker',
			source: SOURCE
		});
		await member('olly', { app: 'roles-team', role: 'owner' });
		await member('rita', { app: 'roles-team', role: 'viewer' });
		await member('dev');

		const owner = await openAs('olly');
		const page = owner.page;
		await page.getByRole('link', { name: 'Roles team' }).waitFor();
		assert.equal(await buttons(page, 'Create app'), 0);
		await page.goto(`${server.url}/admin/apps/roles-team/settings`);
		assert.equal(await page.locator('.app-head [data-role]').getAttribute('data-role'), 'owner');
		await page.getByRole('button', { name: 'Save limits' }).waitFor();

		const roles = page.getByRole('region', { name: 'Roles' });
		const rows = roles.locator('tr[data-testid="grant"]');
		const usernames = () => rows.locator('td.user strong').allInnerTexts();
		/** @param {string} username */
		const row = (username) =>
			rows.filter({ has: page.locator('td.user strong', { hasText: username }) });
		await eventually(async () => assert.deepEqual(await usernames(), ['olly', 'rita']));

		// An unknown user: the server's words.
		const unknown = await apiError(server, 'PUT', '/apps/roles-team/roles/nobody', {
			role: 'viewer'
		});
		assert.equal(unknown.status, 404);
		await roles.getByLabel('Username').fill('nobody');
		await roles.getByRole('button', { name: 'Give role' }).click();
		await expectText(roles.getByRole('alert'), unknown.message);

		// Give dev the developer role.
		await roles.getByLabel('Username').fill('dev');
		await roles.getByLabel('Role', { exact: true }).selectOption('developer');
		await roles.getByRole('button', { name: 'Give role' }).click();
		await roles.getByText('dev is now a developer.').waitFor();
		await eventually(async () => assert.deepEqual(await usernames(), ['dev', 'olly', 'rita']));
		assert.equal(await row('dev').getByLabel('Role of dev').inputValue(), 'developer');
		assert.deepEqual(await grants('roles-team'), {
			dev: 'developer',
			olly: 'owner',
			rita: 'viewer'
		});
		await screenshotOf(roles, 'app-roles.png');

		// Change rita's role in place.
		await row('rita').getByLabel('Role of rita').selectOption('developer');
		await expectText(row('rita').getByRole('status'), 'Now developer.');
		assert.equal((await grants('roles-team')).rita, 'developer');

		// Take it away, with the inline confirmation.
		await row('rita').getByRole('button', { name: 'Remove' }).click();
		await row('rita').getByRole('button', { name: 'Remove', exact: true }).click();
		await eventually(async () => assert.deepEqual(await usernames(), ['dev', 'olly']));
		assert.deepEqual(await grants('roles-team'), { dev: 'developer', olly: 'owner' });
		await assertNoHorizontalOverflow(page, 'settings with the Roles section');
		assertClean(owner.problems);
		await owner.context.close();

		// dev: the editor saves and runs; the app's settings are the owner's.
		const developer = await openAs('dev');
		const devPage = developer.page;
		await devPage.goto(`${server.url}/admin/apps/roles-team/scripts/${script.id}`);
		await devPage.locator('.cm-content').getByText('"hello from roles"').waitFor();
		await devPage.getByRole('button', { name: 'Save', exact: true }).waitFor();
		await devPage.getByRole('heading', { name: 'Run', exact: true }).waitFor();

		await devPage.goto(`${server.url}/admin/apps/roles-team/settings`);
		assert.equal(
			await devPage.locator('.app-head [data-role]').getAttribute('data-role'),
			'developer'
		);
		await devPage.getByText('You are a developer on this app').waitFor();
		// Interceptors and the allow-list are code: a developer's.
		await devPage.getByRole('button', { name: 'Add interceptor' }).waitFor();
		await devPage.getByRole('button', { name: 'Allow', exact: true }).waitFor();
		assert.equal(await buttons(devPage, /^Save/), 0);
		assert.equal(await buttons(devPage, /^(Check|Turn off|Reset to defaults|Delete this app)$/), 0);
		assert.equal(await devPage.getByRole('heading', { name: 'Roles', exact: true }).count(), 0);
		assert.equal(await devPage.getByRole('heading', { name: 'Delete the app' }).count(), 0);

		await devPage.goto(`${server.url}/admin/apps/roles-team/domains`);
		await devPage.getByText("Only the app's owners claim and remove domains.").waitFor();
		assert.equal(await buttons(devPage, 'Claim'), 0);

		// The server agrees: the app's name is the owner's to change.
		const refused = await devPage.evaluate(async () => {
			const me = await (await fetch('/api/v1/admin/auth/me')).json();
			const res = await fetch('/api/v1/admin/apps/roles-team', {
				method: 'PATCH',
				headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
				body: JSON.stringify({ name: 'Renamed by a developer' })
			});
			return { status: res.status, body: await res.json() };
		});
		assert.equal(refused.status, 403, JSON.stringify(refused.body));
		assert.equal(refused.body.error.code, 'insufficient_role');
		assert.equal((await adminApi(server, 'GET', '/apps/roles-team')).name, 'Roles team');
		assertClean(developer.problems);
		await developer.context.close();
	});

	test('a server admin makes users with or without server-wide powers, and changes that', async () => {
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.getByRole('link', { name: 'Users & tokens' }).click();
		await page.waitForURL('**/admin/settings');
		await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();

		// The API's default, checked: unchecked, a user with roles only.
		const serverAdmin = page.getByLabel('Server admin', { exact: true });
		assert.equal(await serverAdmin.isChecked(), true);
		await page.getByLabel('Username').fill('nadia');
		await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
		await serverAdmin.uncheck();
		await page.getByRole('button', { name: 'Add user' }).click();
		await page.getByText('Created nadia. They can sign in now').waitFor();
		assert.equal(await serverAdmin.isChecked(), true);

		/** @param {string} username */
		const user = (username) =>
			page.locator('.items li', { has: page.getByText(username, { exact: true }) });
		/** @param {string} username */
		const stored = async (username) => {
			/** @type {{ users: { username: string, server_admin: boolean }[] }} */
			const { users } = await adminApi(server, 'GET', '/users');
			return users.find((u) => u.username === username)?.server_admin;
		};
		const nadia = user('nadia');
		await nadia.waitFor();
		assert.equal(await nadia.getByText('server admin', { exact: true }).count(), 0);
		assert.equal(await stored('nadia'), false);

		await nadia.getByRole('button', { name: 'Make server admin' }).click();
		await nadia.getByText('server admin', { exact: true }).waitFor();
		assert.equal(await stored('nadia'), true);

		await nadia.getByRole('button', { name: 'Revoke server admin' }).click();
		await nadia.getByRole('button', { name: 'Revoke', exact: true }).click();
		await eventually(async () =>
			assert.equal(await nadia.getByText('server admin', { exact: true }).count(), 0)
		);
		assert.equal(await stored('nadia'), false);

		// The last server admin stays one: the server's words are shown.
		const me = user(server.username);
		/** @type {{ users: { id: string, username: string, server_admin: boolean }[] }} */
		const { users } = await adminApi(server, 'GET', '/users');
		assert.deepEqual(
			users.filter((u) => u.server_admin).map((u) => u.username),
			[server.username]
		);
		const admin = users.find((u) => u.username === server.username);
		assert.ok(admin);
		const last = await apiError(server, 'PATCH', `/users/${admin.id}`, { server_admin: false });
		assert.equal(last.status, 409);
		assert.equal(last.code, 'last_server_admin');
		await me.getByRole('button', { name: 'Revoke server admin' }).click();
		await me.getByRole('button', { name: 'Revoke', exact: true }).click();
		await expectText(me.getByRole('alert'), last.message);
		assert.equal(await stored(server.username), true);

		assertClean(problems);
		await context.close();
	});
});
