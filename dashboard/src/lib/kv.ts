// The key-value store's browser-side logic: what a user types into its form,
// and where a key saved here goes among the rows already shown. The server
// checks everything again (docs/scripting.md#key-value-store-kv).

import { errorMessage } from './api';
import type { Parsed } from './documents';

/** The API lists keys in byte order (UTF-8), which is code point order, not UTF-16's. */
export function byteOrder(a: string, b: string): number {
	const left = a[Symbol.iterator]();
	const right = b[Symbol.iterator]();
	for (;;) {
		const x = left.next();
		const y = right.next();
		if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
		const diff = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
		if (diff) return diff;
	}
}

/**
 * The rows with a saved item where the API would list it: in place of the
 * same key, or in byte order if it starts with `prefix`. Past the last row
 * while more pages are to come (`complete` false), it is left for "Load more"
 * to bring.
 */
export function placeKey<T extends { key: string }>(
	items: T[],
	item: T,
	prefix: string,
	complete: boolean
): T[] {
	const at = items.findIndex((i) => i.key === item.key);
	if (at >= 0) return items.with(at, item);
	if (!item.key.startsWith(prefix)) return items;
	const last = items.at(-1);
	if (!complete && last && byteOrder(item.key, last.key) > 0) return items;
	const before = items.findIndex((i) => byteOrder(i.key, item.key) > 0);
	return before < 0 ? [...items, item] : items.toSpliced(before, 0, item);
}

/** A value as typed: any JSON. */
export function parseValue(text: string): Parsed<unknown> {
	try {
		return { ok: true, value: JSON.parse(text) };
	} catch (e) {
		return {
			ok: false,
			error: text.trim()
				? `The value is not valid JSON: ${errorMessage(e)}. Text needs double quotes, e.g. "hello".`
				: 'Enter a value as JSON, e.g. "hello", 42, true, [1, 2] or {"a": 1}.'
		};
	}
}

/** A TTL in seconds as typed (`1_000` and `1,000` too); empty is none: the key stays. */
export function parseTtl(text: string): Parsed<number | undefined> {
	const raw = text.trim().replaceAll('_', '').replaceAll(',', '');
	if (!raw) return { ok: true, value: undefined };
	const n = Number(raw);
	if (!Number.isSafeInteger(n) || n <= 0) {
		return {
			ok: false,
			error:
				'TTL: enter a positive whole number of seconds, or leave it empty to keep the key until it is deleted.'
		};
	}
	return { ok: true, value: n };
}

/**
 * What is left of a key's TTL, as the form's text: saving replaces the TTL,
 * so editing starts from the rest of the current one (at least 1 s).
 */
export function ttlLeft(expiresAt: string | null | undefined, now = Date.now()): string {
	const left = expiresAt ? Math.ceil((Date.parse(expiresAt) - now) / 1000) : NaN;
	return Number.isFinite(left) ? String(Math.max(1, left)) : '';
}
