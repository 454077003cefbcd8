import { getContext, setContext } from 'svelte';
import type { App, Role } from './api';
import { roleOn } from './roles';
import { session } from './session.svelte';

const KEY = Symbol('app');

/** The app whose pages are open; tabs read it and write back renames and edits. */
export class AppState {
	app = $state<App | null>(null);
	/**
	 * The slug in the address bar while it is being replaced by the app's
	 * current one (a rename, or an old slug's redirect): the pages stay
	 * mounted, so what they show (e.g. "Renamed") survives the URL change.
	 */
	previousSlug = $state<string | null>(null);
	/**
	 * The caller's role on the app, which decides what its pages offer (the
	 * server decides again on every request).
	 */
	/**
	 * The last breadcrumb of a page below a tab (the script's name on the
	 * script page), which the layout shows with the app's tabs; null elsewhere.
	 */
	crumb = $state<string | null>(null);
	readonly role = $derived<Role | null>(this.app ? roleOn(this.app, session) : null);
}

export function setAppState(state: AppState): void {
	setContext(KEY, state);
}

export function appState(): AppState {
	return getContext<AppState>(KEY);
}

/** The app, on a page that is only rendered once the layout has loaded it. */
export function currentApp(): App {
	const app = appState().app;
	if (!app) throw new Error('app pages render only after the app has loaded');
	return app;
}

/** The caller's role on the app whose pages are open (null before it has loaded). */
export function currentRole(): Role | null {
	return appState().role;
}
