// Starts a real `picloud serve` on a free port with a fresh data directory,
// as the e2e suite's backend; the dashboard is the one embedded in the binary.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** PICLOUD_BIN, or the release binary under CARGO_TARGET_DIR (relative to the repo root). */
export function serverBinary() {
	if (process.env.PICLOUD_BIN) return path.resolve(repoRoot, process.env.PICLOUD_BIN);
	const target = path.resolve(repoRoot, process.env.CARGO_TARGET_DIR || 'target');
	return path.join(target, 'release', 'picloud');
}

/**
 * @typedef {object} Server
 * @property {string} url       e.g. http://127.0.0.1:41234
 * @property {string} username
 * @property {string} password
 * @property {string} token     the bootstrap API token
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<Server>} */
export async function startServer() {
	const bin = serverBinary();
	if (!existsSync(bin)) {
		throw new Error(
			`no picloud binary at ${bin}: build it (cargo build --release -p picloud) or set PICLOUD_BIN`
		);
	}
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picloud-e2e-'));
	const username = 'admin';
	const password = randomBytes(12).toString('hex');
	const token = `pc_e2e_${randomBytes(16).toString('hex')}`;
	/** @type {NodeJS.ProcessEnv} */
	const env = {
		...process.env,
		PICLOUD_ADMIN_USER: username,
		PICLOUD_ADMIN_PASSWORD: password,
		PICLOUD_ADMIN_TOKEN: token,
		PICLOUD_LOG: process.env.PICLOUD_LOG ?? 'warn'
	};
	// The defaults must apply: the tests read the URL the server reports.
	delete env.PICLOUD_PUBLIC_BASE_URL;
	delete env.PICLOUD_LISTEN;
	delete env.PICLOUD_DATA_DIR;
	delete env.PICLOUD_DATABASE_URL;
	// No mail unless a test asks: `email::send` fails saying so, and nothing listens for SMTP.
	delete env.PICLOUD_SMTP_URL;
	delete env.PICLOUD_SMTP_LISTEN;

	const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
		env,
		stdio: ['ignore', 'pipe', 'pipe']
	});
	const exited = new Promise((resolve) =>
		child.once('exit', (code, signal) => resolve({ code, signal }))
	);
	let stderr = '';
	child.stderr.on('data', (chunk) => {
		stderr = (stderr + chunk).slice(-4000);
		if (process.env.E2E_SERVER_LOG) process.stderr.write(chunk);
	});

	const stop = async () => {
		if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
		await exited;
		await rm(dataDir, { recursive: true, force: true });
	};

	const lines = createInterface({ input: child.stdout });
	try {
		const url = await new Promise((resolve, reject) => {
			lines.on('line', (line) => {
				const m = /PiCloud is listening on (http:\/\/\S+)/.exec(line);
				if (m) resolve(m[1]);
			});
			exited.then(({ code, signal }) =>
				reject(new Error(`picloud exited (${code ?? signal}) before listening:\n${stderr}`))
			);
		});
		// Keep draining stdout so the server never blocks on a full pipe.
		lines.on('line', () => {});
		return { url, username, password, token, stop };
	} catch (error) {
		await stop();
		throw error;
	}
}

/**
 * Calls the admin API with the bootstrap token (test setup that is not
 * what the test is about).
 * @param {Server} server
 * @param {string} method
 * @param {string} apiPath  below /api/v1/admin
 * @param {unknown} [body]
 */
export async function adminApi(server, method, apiPath, body) {
	const response = await fetch(`${server.url}/api/v1/admin${apiPath}`, {
		method,
		headers: {
			authorization: `Bearer ${server.token}`,
			...(body === undefined ? {} : { 'content-type': 'application/json' })
		},
		body: body === undefined ? undefined : JSON.stringify(body)
	});
	const text = await response.text();
	if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${text}`);
	return text ? JSON.parse(text) : undefined;
}

/**
 * The error the admin API answers a request with, for the calls `adminApi` treats as failures.
 * @param {Server} server
 * @param {string} method
 * @param {string} apiPath  below /api/v1/admin
 * @param {unknown} body
 * @returns {Promise<{ status: number, code: string, message: string }>}
 */
export async function apiError(server, method, apiPath, body) {
	const response = await fetch(`${server.url}/api/v1/admin${apiPath}`, {
		method,
		headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
		body: JSON.stringify(body)
	});
	const { error } = await response.json();
	return { status: response.status, code: error.code, message: error.message };
}
