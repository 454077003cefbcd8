import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// The picloud binary embeds build/ and answers every unknown path under
		// /admin/ with index.html, so the whole dashboard is one client-side app.
		adapter: adapter({ fallback: 'index.html', strict: true }),
		paths: { base: '/admin' },
		// A fixed name instead of the build time, so the same sources give the
		// same files and the binary that embeds them is reproducible.
		version: { name: 'picloud-dashboard' },
		csp: {
			// 'hash' (not 'nonce') because the fallback page is built once and
			// served as a static file: a nonce would be the same for everyone.
			mode: 'hash',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				// CodeMirror injects its styles at run time.
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:'],
				'connect-src': ['self'],
				'frame-ancestors': ['none'],
				'base-uri': ['self'],
				'form-action': ['self']
			}
		}
	}
};

export default config;
