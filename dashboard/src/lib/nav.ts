import { base, resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';

/**
 * Only a path inside the dashboard: `next` comes from the address bar, and
 * following it blindly would make the login page an open redirect.
 */
export function safeNext(next: string | null): string {
	if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) {
		return '/apps';
	}
	if (next === '/login' || next.startsWith('/login?')) return '/apps';
	return next;
}

/** A path inside the dashboard (relative to its base) that is not a literal route. */
export function internal(path: string): ResolvedPathname {
	return (base + safeNext(path)) as ResolvedPathname;
}

/** The sign-in page, coming back to `next` afterwards. */
export function loginUrl(next: string, expired: boolean): ResolvedPathname {
	const parts: string[] = [];
	if (expired) parts.push('expired=1');
	if (next && next !== '/apps') parts.push(`next=${encodeURIComponent(next)}`);
	return parts.length ? resolve(`/login?${parts.join('&')}`) : resolve('/login');
}
