import { api, type Version } from './api';

let cached: Promise<Version> | null = null;

/** `/version` never changes while the server runs: ask once per page load. */
export function getVersion(): Promise<Version> {
	cached ??= api.version().catch((error: unknown) => {
		cached = null;
		throw error;
	});
	return cached;
}
