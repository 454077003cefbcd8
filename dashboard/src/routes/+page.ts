import { redirect } from '@sveltejs/kit';
import { resolve } from '$app/paths';

// The server redirects /admin itself; this covers a client-side visit to the root.
export function load(): never {
	redirect(307, resolve('/apps'));
}
