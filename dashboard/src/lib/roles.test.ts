import { describe, expect, test } from 'vitest';
import type { AppRole, Role } from './api';
import {
	aRole,
	atLeast,
	byUsername,
	canDevelop,
	canOwn,
	isRole,
	placeGrant,
	ROLES,
	roleOn,
	rolesUpTo
} from './roles';

describe('what a role may do', () => {
	test.each<[Role | null | undefined, boolean, boolean]>([
		['owner', true, true],
		['developer', true, false],
		['viewer', false, false],
		[null, false, false],
		[undefined, false, false]
	])('%s: develops %s, owns %s', (role, develops, owns) => {
		expect(canDevelop(role)).toBe(develops);
		expect(canOwn(role)).toBe(owns);
	});

	test('every role is at least a viewer; no role is not even that', () => {
		for (const role of ROLES) expect(atLeast(role, 'viewer')).toBe(true);
		expect(atLeast(null, 'viewer')).toBe(false);
	});

	test('a token gets at most its maker’s role, highest first', () => {
		expect(rolesUpTo('owner')).toEqual(['owner', 'developer', 'viewer']);
		expect(rolesUpTo('developer')).toEqual(['developer', 'viewer']);
		expect(rolesUpTo('viewer')).toEqual(['viewer']);
		expect(rolesUpTo(null)).toEqual([]);
	});

	test('with its article', () => {
		expect(ROLES.map(aRole)).toEqual(['an owner', 'a developer', 'a viewer']);
	});

	test('only the three role names are roles', () => {
		expect(ROLES.every(isRole)).toBe(true);
		expect(isRole('admin')).toBe(false);
		expect(isRole('Owner')).toBe(false);
		expect(isRole('')).toBe(false);
	});
});

describe('the caller’s role on an app', () => {
	const roles: AppRole[] = [{ app_id: 'a1', slug: 'shop', role: 'developer' }];

	test('the app’s own role comes first', () => {
		expect(roleOn({ id: 'a1', role: 'viewer' }, { serverAdmin: false, roles })).toBe('viewer');
		expect(roleOn({ id: 'a2', role: 'owner' }, { serverAdmin: false, roles: [] })).toBe('owner');
	});

	test('without one: a server admin owns it, anyone else has what /auth/me listed', () => {
		expect(roleOn({ id: 'a9' }, { serverAdmin: true, roles: [] })).toBe('owner');
		expect(roleOn({ id: 'a1', role: null }, { serverAdmin: false, roles })).toBe('developer');
		expect(roleOn({ id: 'a2' }, { serverAdmin: false, roles })).toBeNull();
	});
});

describe('the list of grants', () => {
	const grant = (user_id: string, username: string, role: Role) => ({ user_id, username, role });

	test('is by username', () => {
		const list = [grant('2', 'vera', 'viewer'), grant('1', 'olly', 'owner')];
		expect(byUsername(list).map((g) => g.username)).toEqual(['olly', 'vera']);
		// The list given is left as it was.
		expect(list[0].username).toBe('vera');
	});

	test('a new grant goes in its place; a changed one replaces the user’s old one', () => {
		let list = [grant('1', 'olly', 'owner'), grant('3', 'vera', 'viewer')];
		list = placeGrant(list, grant('2', 'dev', 'developer'));
		expect(list.map((g) => g.username)).toEqual(['dev', 'olly', 'vera']);
		list = placeGrant(list, grant('3', 'vera', 'developer'));
		expect(list).toEqual([
			grant('2', 'dev', 'developer'),
			grant('1', 'olly', 'owner'),
			grant('3', 'vera', 'developer')
		]);
	});
});
