import { goto } from '$app/navigation';
import { base, resolve } from '$app/paths';
import { page } from '$app/state';
import { api, setCsrfToken, setUnauthorizedHandler, type User } from './api';
import { loginUrl } from './nav';

/** Who is signed in. Held in memory only; a reload asks /auth/me again. */
export const session = $state<{ user: User | null; expiresAt: string | null }>({
	user: null,
	expiresAt: null
});

export function signedIn(user: User, csrfToken: string | null, expiresAt: string | null): void {
	setCsrfToken(csrfToken);
	session.user = user;
	session.expiresAt = expiresAt;
}

export function signedOut(): void {
	setCsrfToken(null);
	session.user = null;
	session.expiresAt = null;
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
