import { describe, expect, test } from 'vitest';
import type { AppUser } from './api';
import { hasMetadata, replaceAccount, usersSettingsBody, usersSettingsFields } from './app-users';

function account(id: string, email: string, extra: Partial<AppUser> = {}): AppUser {
	return {
		id,
		email,
		verified: false,
		disabled: false,
		metadata: {},
		sessions: 0,
		created_at: '2025-01-01T00:00:00Z',
		updated_at: '2025-01-01T00:00:00Z',
		last_sign_in_at: null,
		...extra
	};
}

describe('usersSettingsBody', () => {
	test('both fields empty: null, all the defaults', () => {
		expect(usersSettingsBody('', '')).toEqual({ users: null });
		expect(usersSettingsBody('  ', ' ')).toEqual({ users: null });
	});

	test('an empty field is left out, so it keeps its default', () => {
		expect(usersSettingsBody(' sid ', '')).toEqual({ users: { session_cookie: 'sid' } });
		expect(usersSettingsBody('', '3600')).toEqual({ users: { session_ttl: 3600 } });
		expect(usersSettingsBody('sid', '86400')).toEqual({
			users: { session_cookie: 'sid', session_ttl: 86400 }
		});
	});

	test('a lifetime may be written with separators', () => {
		expect(usersSettingsBody('', '604_800')).toEqual({ users: { session_ttl: 604800 } });
		expect(usersSettingsBody('', '31,536,000')).toEqual({ users: { session_ttl: 31536000 } });
	});

	test.each(['a week', '1.5', '-60', '1e3', '0x3c', '99999999999999999999'])(
		'a lifetime of %j is not a whole number of seconds',
		(ttl) => {
			const built = usersSettingsBody('sid', ttl);
			expect(built).toHaveProperty('error');
			if ('error' in built) expect(built.error).toMatch(/^Session lifetime: /);
		}
	);

	test('what is out of range or not a cookie name goes to the server, which names it', () => {
		expect(usersSettingsBody('s id', '30')).toEqual({
			users: { session_cookie: 's id', session_ttl: 30 }
		});
	});
});

describe('usersSettingsFields', () => {
	test('the defaults are empty fields', () => {
		expect(usersSettingsFields(undefined)).toEqual({ cookie: '', ttl: '' });
		expect(usersSettingsFields(null)).toEqual({ cookie: '', ttl: '' });
		expect(usersSettingsFields({ session_cookie: null, session_ttl: null })).toEqual({
			cookie: '',
			ttl: ''
		});
	});

	test('what is set, as text, and back to the same body', () => {
		const fields = usersSettingsFields({ session_cookie: 'sid', session_ttl: 3600 });
		expect(fields).toEqual({ cookie: 'sid', ttl: '3600' });
		expect(usersSettingsBody(fields.cookie, fields.ttl)).toEqual({
			users: { session_cookie: 'sid', session_ttl: 3600 }
		});
	});
});

describe('replaceAccount', () => {
	test('puts the updated account in its place', () => {
		const items = [account('1', 'ada@example.com'), account('2', 'bob@example.com')];
		const disabled = account('1', 'ada@example.com', { disabled: true });
		const after = replaceAccount(items, disabled);
		expect(after.map((u) => u.disabled)).toEqual([true, false]);
		expect(items[0].disabled).toBe(false);
	});

	test('leaves the rows alone for an account they do not show', () => {
		const items = [account('1', 'ada@example.com')];
		expect(replaceAccount(items, account('9', 'eve@example.com'))).toBe(items);
	});
});

describe('hasMetadata', () => {
	test('an empty object is none', () => {
		expect(hasMetadata(account('1', 'a@example.com'))).toBe(false);
		expect(hasMetadata(account('1', 'a@example.com', { metadata: { plan: 'pro' } }))).toBe(true);
	});
});
