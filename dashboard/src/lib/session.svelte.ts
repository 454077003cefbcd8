import { goto } from '$app/navigation';
import { base, resolve } from '$app/paths';
import { page } from '$app/state';
import { api, setCsrfToken, setUnauthorizedHandler, type AppRole, type User } from './api';
import { loginUrl } from './nav';

/** Who is signed in. Held in memory only; a reload asks /auth/me again. */
export const session = $state<{
	user: User | null;
	expiresAt: string | null;
	/** Creates apps, users and unlimited tokens; owner of every app. */
	serverAdmin: boolean;
	/**
	 * The user's role on each app it may use, as of sign-in (empty for a
	 * server admin). Pages about one app go by the app's own `role`, which
	 * is fresh with every load.
	 */
	roles: AppRole[];
}>({
	user: null,
	expiresAt: null,
	serverAdmin: false,
	roles: []
});

/** `roles`: from /auth/me; sign-in does not answer with them (see `refreshRoles`). */
export function signedIn(
	user: User,
	csrfToken: string | null,
	expiresAt: string | null,
	roles: AppRole[] = []
): void {
	setCsrfToken(csrfToken);
	session.user = user;
	session.expiresAt = expiresAt;
	// A session acts for its user in full: its powers are the user's.
	session.serverAdmin = user.server_admin;
	session.roles = roles;
}

/** The signed-in user changed (e.g. their server-admin flag). */
export function userChanged(user: User): void {
	if (session.user?.id !== user.id) return;
	session.user = user;
	session.serverAdmin = user.server_admin;
}

/** Asks /auth/me for the roles again; a failure leaves the ones known. */
export async function refreshRoles(): Promise<void> {
	try {
		const me = await api.me();
		session.serverAdmin = me.server_admin;
		session.roles = me.roles;
	} catch {
		// Pages about an app read the role from the app itself.
	}
}

export function signedOut(): void {
	setCsrfToken(null);
	session.user = null;
	session.expiresAt = null;
	session.serverAdmin = false;
	session.roles = [];
}

/** The current location, relative to the dashboard's base, to come back to after sign-in. */
export function here(): string {
	const url = page.url;
	return url.pathname.slice(base.length) + url.search;
}

let redirecting = false;
// While signing out, requests still in flight get 401 too: that is no expiry.
let signingOut = false;

/**
 * Any 401 while we believed we were signed in means the session ended on the
 * server (expired, signed out elsewhere, password changed): say so and come
 * back here after the next sign-in.
 */
setUnauthorizedHandler(() => {
	if (!session.user || redirecting || signingOut) return;
	const next = here();
	signedOut();
	redirecting = true;
	goto(loginUrl(next, true), { replaceState: true }).finally(() => {
		redirecting = false;
	});
});

export async function signOut(): Promise<void> {
	signingOut = true;
	try {
		await api.logout();
	} finally {
		signedOut();
		await goto(resolve('/login?signed_out=1'));
		signingOut = false;
	}
}
