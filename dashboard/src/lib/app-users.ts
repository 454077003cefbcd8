// An app's end users (docs/scripting.md#users): the accounts its scripts make
// with `users::signup`. The browser-side logic of the Users tab and of the
// "End users" settings; the server checks everything again.

import type { AppUser, UsersSettings } from './api';

/** `users.session_ttl`, in seconds: the server's default and bounds. */
export const SESSION_TTL = { def: 604_800, min: 60, max: 31_536_000 } as const;

/** The settings form's fields for an app's `users` (empty: the default). */
export function usersSettingsFields(users: UsersSettings | null | undefined): {
	cookie: string;
	ttl: string;
} {
	return {
		cookie: users?.session_cookie ?? '',
		ttl:
			users?.session_ttl === null || users?.session_ttl === undefined
				? ''
				: String(users.session_ttl)
	};
}

/**
 * The `users` of a `PATCH /apps/{app}` from the settings form, or why it
 * cannot be sent. An empty field is left out (its default); both empty is
 * `null`, all the defaults. The cookie name goes as typed (trimmed), and so
 * does a lifetime out of range: the server names what is wrong with them.
 */
export function usersSettingsBody(
	cookie: string,
	ttl: string
): { users: UsersSettings | null } | { error: string } {
	const users: UsersSettings = {};
	const name = cookie.trim();
	if (name !== '') users.session_cookie = name;
	const raw = ttl.trim().replaceAll('_', '').replaceAll(',', '');
	if (raw !== '') {
		const n = Number(raw);
		if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
			return {
				error:
					'Session lifetime: enter a whole number of seconds, or leave it empty for the default.'
			};
		}
		users.session_ttl = n;
	}
	return { users: Object.keys(users).length ? users : null };
}

/** The rows with `updated` in place of the account with its id (the others as they were). */
export function replaceAccount(items: AppUser[], updated: AppUser): AppUser[] {
	const at = items.findIndex((u) => u.id === updated.id);
	return at < 0 ? items : items.with(at, updated);
}

/** Whether an account's metadata holds anything (scripts set it; `{}` by default). */
export function hasMetadata(user: Pick<AppUser, 'metadata'>): boolean {
	const m: unknown = user.metadata;
	return m !== null && typeof m === 'object' && Object.keys(m).length > 0;
}
