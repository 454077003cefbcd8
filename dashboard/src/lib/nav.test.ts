import { describe, expect, test } from 'vitest';
import { internal, loginUrl, safeNext } from './nav';

// The dashboard lives under /admin (svelte.config.js), which `$app/paths` applies here too.

describe('safeNext', () => {
	test('keeps a path inside the dashboard', () => {
		expect(safeNext('/apps/shop/overview?tab=1')).toBe('/apps/shop/overview?tab=1');
	});

	test.each(['https://evil.example', '//evil.example/x', '/\\evil.example', 'apps', '', null])(
		'sends %j to the app list instead of off the site',
		(next) => {
			expect(safeNext(next)).toBe('/apps');
		}
	);

	test('never comes back to the login page itself', () => {
		expect(safeNext('/login')).toBe('/apps');
		expect(safeNext('/login?next=/apps')).toBe('/apps');
	});
});

describe('internal', () => {
	test('prefixes the base path, and refuses what safeNext refuses', () => {
		expect(internal('/settings')).toBe('/admin/settings');
		expect(internal('//evil.example')).toBe('/admin/apps');
	});
});

describe('loginUrl', () => {
	test('says the session expired and where to come back to', () => {
		expect(loginUrl('/apps/a?b=1', true)).toBe('/admin/login?expired=1&next=%2Fapps%2Fa%3Fb%3D1');
	});

	test('leaves out what is the default', () => {
		expect(loginUrl('/apps', false)).toBe('/admin/login');
		expect(loginUrl('', true)).toBe('/admin/login?expired=1');
	});
});
