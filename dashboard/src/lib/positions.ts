// Source positions in links: an error that names a line (and column) links to
// the script page with `?line=12&column=5`, and the editor puts the cursor
// there.

import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';

export interface SourcePosition {
	line: number;
	column?: number;
}

/** A 1-based line or column from a query parameter, or undefined when it is not one. */
function positive(value: string | null): number | undefined {
	if (value === null || !/^\d{1,9}$/.test(value)) return undefined;
	const n = Number(value);
	return n >= 1 ? n : undefined;
}

/** `?line=12&column=5` → `{ line: 12, column: 5 }`; null without a valid line. */
export function parsePosition(params: URLSearchParams): SourcePosition | null {
	const line = positive(params.get('line'));
	if (line === undefined) return null;
	const column = positive(params.get('column'));
	return column === undefined ? { line } : { line, column };
}

/** The query string for a position: `?line=12&column=5`, or `?line=12`. */
export function positionQuery(position: SourcePosition): string {
	const params = new URLSearchParams({ line: String(position.line) });
	if (position.column) params.set('column', String(position.column));
	return `?${params}`;
}

/**
 * The script page at a source position, when `line` is known; null otherwise
 * (an error without a position gets no link).
 */
export function sourceHref(
	slug: string,
	scriptId: string,
	line: number | null | undefined,
	column?: number | null
): ResolvedPathname | null {
	if (!line || line < 1) return null;
	const page = resolve('/apps/[slug]/scripts/[id]', { slug, id: scriptId });
	// The script page's own path with a query: still a resolved path.
	return (page +
		positionQuery(column && column >= 1 ? { line, column } : { line })) as ResolvedPathname;
}
