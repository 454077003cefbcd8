// End-to-end tests of an app's end users (the accounts its scripts make with
// users::signup): the Users tab, and the End users section of the Settings
// tab. A real server, real Chromium, and assertions on what a user sees.

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

const PASSWORD = 'a long and unusual passphrase';

/** The app's routes: sign up, sign in, and who the request's session is. */
const ROUTES = [
	{
		name: 'signup',
		method: 'POST',
		path: '/signup',
		source: 'let b = parse_json(request.body); response(201, users::signup(b.email, b.password))'
	},
	{
		name: 'login',
		method: 'POST',
		path: '/login',
		source: 'let b = parse_json(request.body); users::login(b.email, b.password)'
	},
	{
		name: 'me',
		method: 'GET',
		path: '/me',
		source: 'let u = users::current(request); if u == () { "nobody" } else { u.email }'
	}
];

/**
 * An app with a domain and the ROUTES, deployed through the admin API.
 * @param {string} slug
 * @returns {Promise<string>} the host its routes answer on
 */
async function accountsApp(slug) {
	const host = `${slug}.test`;
	await adminApi(server, 'POST', '/apps', { slug });
	await adminApi(server, 'POST', `/apps/${slug}/domains`, { pattern: host });
	for (const { name, method, path, source } of ROUTES) {
		const script = await adminApi(server, 'POST', '/scripts', { app_id: slug, name, source });
		await adminApi(server, 'POST', `/scripts/${script.id}/routes`, { method, path });
	}
	return host;
}

/**
 * Signs up (`/signup`) or in (`/login`) over HTTP, as a client of the app would.
 * @param {string} host
 * @param {'/signup' | '/login'} path
 * @param {string} email
 */
function send(host, path, email) {
	return userRequest(server, host, path, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ email, password: PASSWORD })
	});
}

/**
 * Whose session a token is, by the app's `/me`: an email, or "nobody".
 * @param {string} host
 * @param {string} token
 */
async function whoIs(host, token) {
	const res = await userRequest(server, host, '/me', {
		headers: { authorization: `Bearer ${token}` }
	});
	assert.equal(res.status, 200, res.body);
	return res.body;
}

/**
 * The app's accounts as the API lists them (by email).
 * @param {string} slug
 * @returns {Promise<{ id: string, email: string, disabled: boolean, sessions: number }[]>}
 */
async function accounts(slug) {
	return (await adminApi(server, 'GET', `/apps/${slug}/users`)).items;
}

/**
 * Neither a password hash nor a session token anywhere in the page (text or markup).
 * @param {import('playwright-core').Page} page
 * @param {string[]} tokens
 */
async function assertNoSecrets(page, tokens) {
	const html = await page.content();
	assert.doesNotMatch(html, /argon2/i);
	assert.doesNotMatch(await page.locator('body').innerText(), /argon2/i);
	for (const token of tokens) assert.ok(!html.includes(token), 'a session token is in the page');
}

describe('users tab', () => {
	test('lists the accounts scripts made; search, sign out everywhere, disable, delete, enable', async () => {
		const host = await accountsApp('members');
		for (const email of ['ada@example.com', 'bob@example.com']) {
			const res = await send(host, '/signup', email);
			assert.equal(res.status, 201, res.body);
			assert.equal(JSON.parse(res.body).email, email);
		}
		// Ada signs in twice: two live sessions.
		/** @type {string[]} */
		const tokens = [];
		for (let i = 0; i < 2; i++) {
			const res = await send(host, '/login', 'ada@example.com');
			assert.equal(res.status, 200, res.body);
			tokens.push(JSON.parse(res.body).token);
		}
		assert.equal(await whoIs(host, tokens[0]), 'ada@example.com');

		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'members', 'Users', 'End users', { exact: true });
		const card = page.getByRole('region', { name: 'End users' });
		const rows = card.locator('table.users > tbody > tr[data-testid="app-user"]');
		const emails = () => rows.locator('td.email').allInnerTexts();
		/** @param {string} email */
		const row = (email) =>
			rows.filter({ has: page.getByRole('cell', { name: email, exact: true }) });
		const ada = row('ada@example.com');
		const bob = row('bob@example.com');

		// Both accounts, by email, with their status and live sessions.
		await eventually(async () =>
			assert.deepEqual(await emails(), ['ada@example.com', 'bob@example.com'])
		);
		await expectText(ada.locator('td.status'), 'active');
		await expectText(ada.locator('td.sessions'), '2');
		await expectText(bob.locator('td.status'), 'active');
		await expectText(bob.locator('td.sessions'), '0');
		await expectText(bob.locator('td.last-sign-in'), 'never');
		await assertNoSecrets(page, tokens);

		// Search: only Ada.
		await card.getByLabel('Email contains').fill('ada');
		await card.getByRole('button', { name: 'Search', exact: true }).click();
		await eventually(async () => assert.deepEqual(await emails(), ['ada@example.com']));

		// Sign out everywhere, with the inline confirmation: her sessions end.
		await ada.getByRole('button', { name: 'Sign out everywhere' }).click();
		await ada.getByRole('button', { name: 'Sign out everywhere', exact: true }).click();
		await expectText(ada.getByRole('status'), 'Signed out everywhere: 2 sessions ended.');
		await expectText(ada.locator('td.sessions'), '0');
		assert.equal(await whoIs(host, tokens[0]), 'nobody');
		assert.equal(await whoIs(host, tokens[1]), 'nobody');

		// Disable her (after one more sign-in, whose session ends with it).
		const res = await send(host, '/login', 'ada@example.com');
		assert.equal(res.status, 200, res.body);
		tokens.push(JSON.parse(res.body).token);
		await card.getByRole('button', { name: 'Refresh' }).click();
		await expectText(ada.locator('td.sessions'), '1');
		await ada.getByRole('button', { name: 'Disable' }).click();
		await ada.getByRole('button', { name: 'Disable', exact: true }).click();
		await expectText(ada.locator('td.status'), 'disabled');
		await expectText(ada.locator('td.sessions'), '0');
		assert.equal(await whoIs(host, tokens[2]), 'nobody');
		assert.equal((await send(host, '/login', 'ada@example.com')).status, 403);
		const [stored] = await accounts('members');
		assert.equal(stored.email, 'ada@example.com');
		assert.equal(stored.disabled, true);

		// All accounts again; delete Bob, with the inline confirmation.
		await card.getByRole('button', { name: 'Show all users' }).click();
		await eventually(async () =>
			assert.deepEqual(await emails(), ['ada@example.com', 'bob@example.com'])
		);
		await expectText(ada.locator('td.status'), 'disabled');
		await assertNoSecrets(page, tokens);
		await screenshot(page, 'app-users.png');
		await bob.getByRole('button', { name: 'Delete' }).click();
		await bob.getByRole('button', { name: 'Delete', exact: true }).click();
		await eventually(async () => assert.deepEqual(await emails(), ['ada@example.com']));
		assert.deepEqual(
			(await accounts('members')).map((u) => u.email),
			['ada@example.com']
		);
		assert.equal((await send(host, '/login', 'bob@example.com')).status, 401);

		// Enabled again, she can sign in.
		await ada.getByRole('button', { name: 'Enable' }).click();
		await expectText(ada.locator('td.status'), 'active');
		await expectText(ada.getByRole('status'), 'Enabled: it can sign in again.');
		assert.equal((await send(host, '/login', 'ada@example.com')).status, 200);

		assertClean(problems);
		await context.close();
	});

	test('an app without accounts says how scripts make them; a search that finds none says so', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'no-members' });
		const { page, problems, context } = await openPage(browser);
		await openTab(page, server, 'no-members', 'Users', 'End users', { exact: true });
		const card = page.getByRole('region', { name: 'End users' });
		await card.getByText('No users yet. Scripts create accounts with users::signup').waitFor();
		await card.getByText('docs/scripting.md#users').waitFor();
		assert.equal(await card.locator('table').count(), 0);
		await card.getByLabel('Email contains').fill('ada');
		await card.getByRole('button', { name: 'Search', exact: true }).click();
		await expectText(card.locator('.empty'), "No user's email contains ada.");
		assertClean(problems);
		await context.close();
	});

	test('no horizontal scrolling on the Users tab at 375px', async () => {
		const host = await accountsApp('narrow-members');
		const email = 'a.rather.long.address.for.a.phone.screen@a-long-domain.example.com';
		const res = await send(host, '/signup', email);
		assert.equal(res.status, 201, res.body);
		const { page, problems, context } = await openPage(browser, { width: 375, height: 900 });
		await openTab(page, server, 'narrow-members', 'Users', 'End users', { exact: true });
		await page.getByRole('cell', { name: email, exact: true }).waitFor();
		await assertNoHorizontalOverflow(page, 'Users tab at 375px');
		assertClean(problems);
		await context.close();
	});
});

describe('app settings: end users', () => {
	test('a session cookie and lifetime are saved, one out of range is refused, reset to the defaults', async () => {
		await adminApi(server, 'POST', '/apps', { slug: 'sessions', name: 'Sessions' });
		const { page, problems, context } = await openPage(browser);
		await signIn(page, server);
		await page.goto(`${server.url}/admin/apps/sessions/settings`);
		const section = page.getByRole('region', { name: 'End users' });
		const cookie = section.getByLabel('Session cookie');
		const ttl = section.getByLabel('Session lifetime (seconds)');
		const save = section.getByRole('button', { name: 'Save end-user settings' });

		// Out of range: the server's reason is shown and nothing is saved.
		const refused = await apiError(server, 'PATCH', '/apps/sessions', {
			users: { session_ttl: 30 }
		});
		assert.equal(refused.status, 400);
		assert.equal(refused.code, 'invalid_users');
		await ttl.fill('30');
		await save.click();
		await expectText(section.getByRole('alert'), refused.message);
		assert.equal((await adminApi(server, 'GET', '/apps/sessions')).users, undefined);

		await cookie.fill('sid');
		await ttl.fill('3600');
		await expectText(section.locator('#users-ttl-hint strong'), '1 hour.');
		await save.click();
		await section.getByText('End-user settings saved.').waitFor();
		assert.deepEqual((await adminApi(server, 'GET', '/apps/sessions')).users, {
			session_cookie: 'sid',
			session_ttl: 3600
		});

		// What is saved fills the form after a reload.
		await page.reload();
		await eventually(async () => assert.equal(await cookie.inputValue(), 'sid'));
		assert.equal(await ttl.inputValue(), '3600');

		await section.getByRole('button', { name: 'Reset to defaults' }).click();
		await section.getByText('End users have the default settings.').waitFor();
		assert.equal((await adminApi(server, 'GET', '/apps/sessions')).users, undefined);
		assert.equal(await cookie.inputValue(), '');
		assert.equal(await ttl.inputValue(), '');
		assertClean(problems);
		await context.close();
	});
});
