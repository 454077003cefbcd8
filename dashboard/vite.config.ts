import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

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
	}
});
