// Per-app roles (docs/api.md, "Roles"): what the pages offer to whom. The
// server decides every request on its own (403 `insufficient_role`); this
// only keeps the dashboard from offering what the caller's role cannot do.

import type { AppRole, Role } from './api';

/** From the most to the least: the order of the role selects. */
export const ROLES: readonly Role[] = ['owner', 'developer', 'viewer'];

const RANK: Record<Role, number> = { viewer: 0, developer: 1, owner: 2 };

/** What each role may do, in a few words that follow its name ("a viewer reads …"). */
export const ROLE_HINTS: Record<Role, string> = {
	owner: 'does everything, the app’s settings, domains and roles included',
	developer:
		'changes and runs scripts, and changes routes, triggers, interceptors, variables and data',
	viewer: 'reads everything, logs included, and changes nothing'
};

/** "an owner", "a developer", "a viewer". */
export function aRole(role: Role): string {
	return `${role === 'owner' ? 'an' : 'a'} ${role}`;
}

/**
 * Whether `role` is `needed` or more. No role (an app object from before
 * roles, which this server never sends) counts as the least: a page that
 * offers too little is better than one whose buttons all fail.
 */
export function atLeast(role: Role | null | undefined, needed: Role): boolean {
	return role !== null && role !== undefined && RANK[role] >= RANK[needed];
}

/** Changes scripts, routes, triggers, interceptors, variables, the allow-list and data; runs scripts. */
export function canDevelop(role: Role | null | undefined): boolean {
	return atLeast(role, 'developer');
}

/** Changes the app's settings, slug, domains and roles, and deletes the app. */
export function canOwn(role: Role | null | undefined): boolean {
	return atLeast(role, 'owner');
}

/** The roles someone with `role` may give a token: theirs and the ones below it. */
export function rolesUpTo(role: Role | null | undefined): Role[] {
	return ROLES.filter((r) => atLeast(role, r));
}

/** Whether a string the user picked is a role (select values are plain strings). */
export function isRole(value: string): value is Role {
	return (ROLES as readonly string[]).includes(value);
}

/**
 * The caller's role on an app: the app object's own `role` (what the server
 * says for this request), else what `/auth/me` listed, else owner for a
 * server admin; null when nothing says.
 */
export function roleOn(
	app: { id: string; role?: Role | null },
	who: { serverAdmin: boolean; roles: readonly AppRole[] }
): Role | null {
	if (app.role) return app.role;
	if (who.serverAdmin) return 'owner';
	return who.roles.find((r) => r.app_id === app.id)?.role ?? null;
}

/** Grants by username, as the Roles section lists them. */
export function byUsername<T extends { username: string }>(grants: readonly T[]): T[] {
	return [...grants].sort((a, b) =>
		a.username < b.username ? -1 : a.username > b.username ? 1 : 0
	);
}

/** `grants` with `grant` in place of the user's old one (or added), by username. */
export function placeGrant<T extends { user_id: string; username: string }>(
	grants: readonly T[],
	grant: T
): T[] {
	return byUsername([...grants.filter((g) => g.user_id !== grant.user_id), grant]);
}
