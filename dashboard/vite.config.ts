import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// `npm run dev` proxies the API to a running picloud (PICLOUD_URL), so the
// dashboard talks to it same-origin, as it does when embedded in the binary.
const target = process.env.PICLOUD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
	plugins: [sveltekit()],
	server: {
		proxy: {
			'/api': { target, changeOrigin: false },
			'/version': { target, changeOrigin: false }
		}
	},
	// `npm run test:unit`: the unit tests next to the modules in src/lib (the
	// e2e tests in tests/ are Node's test runner's), all in Node.
	test: {
		projects: [
			{
				extends: true,
				test: {
					name: 'lib',
					include: ['src/**/*.test.ts'],
					exclude: ['src/**/*.svelte.test.ts'],
					environment: 'node'
				}
			},
			{
				// Tests of runes modules: transformed and resolved as for the
				// browser, so they and `svelte` itself are Svelte's client runtime,
				// where `$state` is reactive as in the dashboard (Node's default,
				// the server runtime, makes runes plain values).
				extends: true,
				resolve: { conditions: ['browser'] },
				test: {
					name: 'runes',
					include: ['src/**/*.svelte.test.ts'],
					environment: './vitest-environment.ts'
				}
			}
		]
	}
});
