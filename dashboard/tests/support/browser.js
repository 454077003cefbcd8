// Debian's Chromium driven by playwright-core (no browser downloads here),
// plus the few expect-style helpers the tests need.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const screenshotDir = path.resolve(
	path.dirname(fileURLToPath(import.meta.url)),
	'../../../docs/screenshots'
);

/**
 * Whether this run writes docs/screenshots/: only when asked
 * (`PICLOUD_SCREENSHOTS=1`, which `npm run screenshots` sets), so an
 * ordinary test run leaves the work tree as it was.
 */
export const takingScreenshots = ['1', 'true', 'yes'].includes(
	(process.env.PICLOUD_SCREENSHOTS ?? '').toLowerCase()
);

export function launchBrowser() {
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run',
			'--disable-quic'
		]
	});
}

/**
 * A fresh context (own cookies and storage) and page. Console errors and
 * page errors are collected so each test can assert there were no CSP
 * violations or crashes.
 * @param {import('playwright-core').Browser} browser
 * @param {{ width?: number, height?: number }} [viewport]
 */
export async function openPage(browser, viewport = {}) {
	const context = await browser.newContext({
		viewport: { width: viewport.width ?? 1440, height: viewport.height ?? 900 }
	});
	context.setDefaultTimeout(15_000);
	const page = await context.newPage();
	/** @type {string[]} */
	const problems = [];
	page.on('console', (message) => {
		const text = message.text();
		if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(text)) {
			problems.push(`CSP: ${text}`);
		}
	});
	page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
	return { context, page, problems };
}

/**
 * No CSP violation and no uncaught error happened on the page.
 * @param {string[]} problems
 */
export function assertClean(problems) {
	assert.deepEqual(problems, [], problems.join('\n'));
}

/**
 * Retries an assertion until it passes (like Playwright's expect.poll): the
 * UI updates asynchronously, and a fixed sleep would be both slow and flaky.
 * @template T
 * @param {() => Promise<T> | T} check
 * @param {number} [timeout]
 * @returns {Promise<T>}
 */
export async function eventually(check, timeout = 15_000) {
	const deadline = Date.now() + timeout;
	for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
		try {
			return await check();
		} catch (error) {
			if (Date.now() > deadline) throw error;
			await new Promise((resolve) => setTimeout(resolve, delay));
		}
	}
}

/**
 * Waits until the locator's text matches.
 * @param {import('playwright-core').Locator} locator
 * @param {string | RegExp} expected
 * @param {number} [timeout]
 */
export async function expectText(locator, expected, timeout) {
	return eventually(async () => {
		const text = (await locator.innerText()).trim();
		if (expected instanceof RegExp) assert.match(text, expected);
		else assert.equal(text, expected);
		return text;
	}, timeout);
}

/**
 * Full-page screenshot into docs/screenshots/, when `takingScreenshots`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
	if (!takingScreenshots) return;
	await mkdir(screenshotDir, { recursive: true });
	await page.screenshot({ path: path.join(screenshotDir, name), fullPage: true });
}

/**
 * Screenshot of one part of the page (a section) into docs/screenshots/, when `takingScreenshots`.
 * @param {import('playwright-core').Locator} locator
 * @param {string} name
 */
export async function screenshotOf(locator, name) {
	if (!takingScreenshots) return;
	await mkdir(screenshotDir, { recursive: true });
	await locator.screenshot({ path: path.join(screenshotDir, name) });
}

/**
 * The page body must not scroll sideways.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 */
export async function assertNoHorizontalOverflow(page, what) {
	const { scrollWidth, clientWidth } = await page.evaluate(() => ({
		scrollWidth: document.documentElement.scrollWidth,
		clientWidth: document.documentElement.clientWidth
	}));
	assert.ok(
		scrollWidth <= clientWidth,
		`${what}: page is ${scrollWidth}px wide in a ${clientWidth}px viewport`
	);
}

/**
 * Signs in through the form and waits for the apps list.
 * @param {import('playwright-core').Page} page
 * @param {import('./server.js').Server} server
 */
export async function signIn(page, server, password = server.password) {
	await page.goto(`${server.url}/admin/login`);
	await page.getByLabel('Username').fill(server.username);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL('**/admin/apps');
	await page.getByRole('heading', { name: 'Apps', exact: true }).waitFor();
}

/**
 * Signs in, then opens one of the app's tabs from its overview, as a user would.
 * @param {import('playwright-core').Page} page
 * @param {import('./server.js').Server} server
 * @param {string} slug
 * @param {string} tab  its label
 * @param {string} heading  a heading to wait for
 * @param {{ exact?: boolean }} [options]  `exact`: the heading's whole name, not a part of it
 */
export async function openTab(page, server, slug, tab, heading, { exact } = {}) {
	await signIn(page, server);
	await page.goto(`${server.url}/admin/apps/${slug}/overview`);
	await page
		.getByRole('navigation', { name: 'App sections' })
		.getByRole('link', { name: tab })
		.click();
	await page.waitForURL(`**/admin/apps/${slug}/${tab.toLowerCase()}`);
	await page.getByRole('heading', { name: heading, exact }).waitFor();
}

/**
 * Replaces the whole editor document, as a paste would.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export async function replaceSource(page, text) {
	await page.locator('.cm-content').click();
	await page.keyboard.press('Control+A');
	await page.keyboard.insertText(text);
}

/**
 * A request to a user route with a given Host header, as a client of the
 * app would send it (fetch does not let a caller set Host). A GET without a
 * body unless `options` says otherwise.
 * @param {import('./server.js').Server} server
 * @param {string} host
 * @param {string} requestPath
 * @param {{ method?: string, body?: string, headers?: Record<string, string> }} [options]
 * @returns {Promise<{ status: number, body: string }>}
 */
export function userRequest(server, host, requestPath, options = {}) {
	const url = new URL(server.url);
	const { method = 'GET', body, headers = {} } = options;
	/** @type {Record<string, string>} */
	const sent = { ...headers, host };
	if (body !== undefined) sent['content-length'] = String(Buffer.byteLength(body));
	return new Promise((resolve, reject) => {
		const req = httpRequest(
			{ hostname: url.hostname, port: url.port, method, path: requestPath, headers: sent },
			(res) => {
				let text = '';
				res.setEncoding('utf8');
				res.on('data', (chunk) => (text += chunk));
				res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
			}
		);
		req.on('error', reject);
		req.end(body);
	});
}
