// Route paths (`/users/:id/*`) and domain patterns (`{tenant}.example.com`):
// split into pieces for highlighting and for building example URLs.

export type PieceKind = 'text' | 'param' | 'wild' | 'host-param';

export interface Piece {
	kind: PieceKind;
	text: string;
}

/** `/greet/:name/*` → text `/greet/`, param `:name`, text `/`, wild `*`. */
export function pathPieces(path: string): Piece[] {
	const pieces: Piece[] = [];
	const re = /(:[A-Za-z0-9_]+)|(\*$)/g;
	let last = 0;
	for (const m of path.matchAll(re)) {
		const at = m.index ?? 0;
		if (at > last) pieces.push({ kind: 'text', text: path.slice(last, at) });
		pieces.push({ kind: m[1] ? 'param' : 'wild', text: m[0] });
		last = at + m[0].length;
	}
	if (last < path.length) pieces.push({ kind: 'text', text: path.slice(last) });
	return pieces;
}

/** `{tenant}.example.com` → host-param `{tenant}`, text `.example.com`. */
export function hostPieces(host: string): Piece[] {
	const pieces: Piece[] = [];
	let last = 0;
	for (const m of host.matchAll(/\{[^}]*\}/g)) {
		const at = m.index ?? 0;
		if (at > last) pieces.push({ kind: 'text', text: host.slice(last, at) });
		pieces.push({ kind: 'host-param', text: m[0] });
		last = at + m[0].length;
	}
	if (last < host.length) pieces.push({ kind: 'text', text: host.slice(last) });
	return pieces;
}

/** Names of a path's parameters, in order; a trailing `*` is `wildcard`, as scripts see it. */
export function pathParams(path: string): string[] {
	const names: string[] = [];
	for (const piece of pathPieces(path)) {
		if (piece.kind === 'param') names.push(piece.text.slice(1));
		if (piece.kind === 'wild') names.push('wildcard');
	}
	return names;
}

/** The path with its parameters filled in (percent-encoded, as a client would send them). */
export function fillPath(path: string, values: Record<string, string>): string {
	return pathPieces(path)
		.map((piece) => {
			if (piece.kind === 'param') {
				const v = values[piece.text.slice(1)] ?? '';
				return encodeURIComponent(v);
			}
			if (piece.kind === 'wild') {
				return (values.wildcard ?? '')
					.split('/')
					.map((part) => encodeURIComponent(part))
					.join('/');
			}
			return piece.text;
		})
		.join('');
}

export interface BaseUrl {
	scheme: string;
	/** `:8080`, or empty for the scheme's default port. */
	port: string;
	host: string;
}

/**
 * The origin users reach PiCloud at, from `/version`'s `public_base_url`.
 * A server listening on port 0 reports `:0`; then the port the dashboard
 * itself was loaded from is the best guess.
 */
export function parseBaseUrl(publicBaseUrl: string | null | undefined): BaseUrl {
	try {
		const url = new URL(publicBaseUrl || window.location.origin);
		let port = url.port ? `:${url.port}` : '';
		if (url.port === '0') port = window.location.port ? `:${window.location.port}` : '';
		return { scheme: url.protocol, port, host: url.hostname };
	} catch {
		return { scheme: window.location.protocol, port: '', host: window.location.hostname };
	}
}

/** Names of a host pattern's `{label}` parameters, in order: `{tenant}.example.com` → `tenant`. */
export function hostParams(pattern: string): string[] {
	return hostPieces(pattern)
		.filter((piece) => piece.kind === 'host-param')
		.map((piece) => piece.text.slice(1, -1));
}

/**
 * A host of the pattern: each `{label}` replaced by its value (lower-cased,
 * as host names compare). A label left empty stays `{label}`, so an
 * unfinished host never looks like a real one.
 */
export function fillHost(pattern: string, values: Record<string, string>): string {
	return hostPieces(pattern)
		.map((piece) => {
			if (piece.kind !== 'host-param') return piece.text;
			const value = (values[piece.text.slice(1, -1)] ?? '').trim().toLowerCase();
			return value || piece.text;
		})
		.join('');
}
