// The example apps' web pages (examples/link-shortener and examples/guestbook)
// in real Chromium: each folder deployed with `picloud deploy`, its page at
// `/` of the app's *.localhost domain (Chromium sends those names to this
// machine), used as a visitor would. host/picloud/tests/examples.rs drives
// the same apps' APIs on both databases; this checks that their pages' own
// code works in a browser.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
	assertClean,
	eventually,
	expectText,
	launchBrowser,
	openPage,
	userRequest
} from './support/browser.js';
import { adminApi, serverBinary, startServer } from './support/server.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/** @type {import('./support/server.js').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {string} */
let port;

before(async () => {
	[server, browser] = await Promise.all([startServer(), launchBrowser()]);
	port = new URL(server.url).port;
	const config = await mkdtemp(path.join(tmpdir(), 'picloud-cli-'));
	try {
		for (const name of ['link-shortener', 'guestbook']) {
			await promisify(execFile)(serverBinary(), ['deploy', path.join(examples, name)], {
				env: {
					...process.env,
					PICLOUD_URL: server.url,
					PICLOUD_TOKEN: server.token,
					PICLOUD_CONFIG: path.join(config, 'config.toml')
				}
			});
		}
	} finally {
		await rm(config, { recursive: true, force: true });
	}
	await adminApi(server, 'PUT', '/apps/links/variables/ADMIN_TOKEN', {
		value: 'examples-admin-token',
		secret: true
	});
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

describe('the example apps in a browser', () => {
	test('the link shortener page makes a link, refuses a bad code, shows its visits', async () => {
		const { page, problems, context } = await openPage(browser);
		const home = `http://links.localhost:${port}`;
		await page.goto(`${home}/`);
		await page.getByLabel('Long URL').fill('https://example.com/a/long/path');
		// The browser checks the code against the page's pattern first.
		await page.getByLabel('Code (optional)').fill('a b');
		await page.getByRole('button', { name: 'Shorten' }).click();
		assert.equal(
			await page
				.locator('#code')
				.evaluate((e) => /** @type {HTMLInputElement} */ (e).validity.valid),
			false
		);
		await page.getByLabel('Code (optional)').fill('ex');
		await page.getByRole('button', { name: 'Shorten' }).click();
		await expectText(page.locator('#result'), `${home}/ex`);

		// A visit through the short link, then the page's stats for it.
		const hop = await userRequest(server, `links.localhost:${port}`, '/ex');
		assert.equal(hop.status, 302);
		await page.getByRole('button', { name: 'Show' }).click();
		await expectText(page.locator('#stats'), /"visits": 1/);
		// The same code again: the API's refusal, in its words.
		await page.getByRole('button', { name: 'Shorten' }).click();
		await expectText(page.locator('#result'), "the code 'ex' is taken");
		assertClean(problems);
		await context.close();
	});

	test('the guestbook page signs up, posts, edits, deletes and signs out', async () => {
		const { page, problems, context } = await openPage(browser);
		await page.goto(`http://guestbook.localhost:${port}/`);
		const signup = page.locator('#signup');
		await signup.getByLabel('Name').fill('Ada');
		await signup.getByLabel('Email').fill('ada@example.com');
		await signup.getByLabel('Password').fill('short');
		await signup.getByRole('button', { name: 'Sign up' }).click();
		await expectText(page.locator('#status'), /password/i);
		await signup.getByLabel('Password').fill('correct horse battery');
		await signup.getByRole('button', { name: 'Sign up' }).click();
		await expectText(page.locator('#status'), 'Signed in as Ada (ada@example.com)');

		await page.getByLabel('Write something').fill('Hello from Chromium');
		await page.getByRole('button', { name: 'Post', exact: true }).click();
		const entry = page.locator('#entries article');
		await expectText(entry, /Hello from Chromium/);
		page.once('dialog', (dialog) => dialog.accept('Edited in Chromium'));
		await entry.getByRole('button', { name: 'Edit' }).click();
		await expectText(entry, /Edited in Chromium/);
		await expectText(entry.locator('.meta'), /edited$/);
		await entry.getByRole('button', { name: 'Delete' }).click();
		await eventually(async () => assert.equal(await entry.count(), 0));

		// Signed out, the page offers signing in again, and the session is gone.
		await page.getByRole('button', { name: 'Sign out' }).click();
		await page.locator('#login').waitFor();
		assert.equal(await page.evaluate(() => sessionStorage.getItem('token')), null);
		assertClean(problems);
		await context.close();
	});
});
