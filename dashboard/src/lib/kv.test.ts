import { describe, expect, test } from 'vitest';
import { byteOrder, parseTtl, parseValue, placeKey, ttlLeft } from './kv';

describe('byteOrder', () => {
	test('orders by code point, as the API (UTF-8 bytes) does, not by UTF-16 unit', () => {
		// U+1F600 is a surrogate pair (0xD83D…) in UTF-16, which sorts before U+FFFF there.
		expect('😀' < '\uffff').toBe(true);
		expect(byteOrder('😀', '\uffff')).toBeGreaterThan(0);
		expect(['b', '😀', 'a', '\uffff', 'ab'].sort(byteOrder)).toEqual([
			'a',
			'ab',
			'b',
			'\uffff',
			'😀'
		]);
	});

	test('a prefix sorts first; equal keys are equal', () => {
		expect(byteOrder('users', 'users/1')).toBeLessThan(0);
		expect(byteOrder('users/1', 'users')).toBeGreaterThan(0);
		expect(byteOrder('k', 'k')).toBe(0);
	});
});

describe('placeKey', () => {
	const rows = (...keys: string[]) => keys.map((key) => ({ key, v: 0 }));

	test('replaces a key already shown, in place', () => {
		const items = rows('a', 'b', 'c');
		const saved = { key: 'b', v: 1 };
		expect(placeKey(items, saved, '', false)).toEqual([items[0], saved, items[2]]);
		expect(items[1].v).toBe(0);
	});

	test('inserts a new key in byte order', () => {
		expect(placeKey(rows('a', 'c'), { key: 'b', v: 1 }, '', true).map((i) => i.key)).toEqual([
			'a',
			'b',
			'c'
		]);
	});

	test('leaves out a key the filter does not show', () => {
		const items = rows('users/1');
		expect(placeKey(items, { key: 'orders/1', v: 1 }, 'users/', true)).toBe(items);
	});

	test('past the last row, only when there are no more pages', () => {
		const items = rows('a', 'b');
		expect(placeKey(items, { key: 'z', v: 1 }, '', false)).toBe(items);
		expect(placeKey(items, { key: 'z', v: 1 }, '', true).map((i) => i.key)).toEqual([
			'a',
			'b',
			'z'
		]);
	});

	test('an empty table takes it', () => {
		expect(placeKey([], { key: 'a', v: 1 }, '', false)).toEqual([{ key: 'a', v: 1 }]);
	});
});

describe('parseValue', () => {
	test('any JSON', () => {
		expect(parseValue('{"a": [1, null]}')).toEqual({ ok: true, value: { a: [1, null] } });
		expect(parseValue(' "hello" ')).toEqual({ ok: true, value: 'hello' });
		expect(parseValue('null')).toEqual({ ok: true, value: null });
	});

	test('says how to write text, and what to enter when empty', () => {
		const bare = parseValue('hello');
		expect(bare.ok).toBe(false);
		if (!bare.ok) expect(bare.error).toMatch(/^The value is not valid JSON: .+ e\.g\. "hello"\.$/);
		const empty = parseValue('  ');
		expect(empty.ok).toBe(false);
		if (!empty.ok) expect(empty.error).toMatch(/^Enter a value as JSON/);
	});
});

describe('parseTtl', () => {
	test('empty is no TTL; separators are allowed', () => {
		expect(parseTtl(' ')).toEqual({ ok: true, value: undefined });
		expect(parseTtl('3600')).toEqual({ ok: true, value: 3600 });
		expect(parseTtl('86_400')).toEqual({ ok: true, value: 86400 });
		expect(parseTtl('1,000')).toEqual({ ok: true, value: 1000 });
	});

	test.each(['0', '-5', '1.5', 'ten', '1e400'])('refuses %j', (text) => {
		const parsed = parseTtl(text);
		expect(parsed.ok).toBe(false);
		if (!parsed.ok) expect(parsed.error).toMatch(/^TTL: enter a positive whole number/);
	});
});

describe('ttlLeft', () => {
	const now = Date.parse('2024-01-01T00:00:00Z');

	test('the seconds left, rounded up', () => {
		expect(ttlLeft('2024-01-01T00:01:00.500Z', now)).toBe('61');
	});

	test('at least one second for a key about to expire', () => {
		expect(ttlLeft('2023-12-31T23:59:59Z', now)).toBe('1');
	});

	test('empty for a key without expiry or an unreadable time', () => {
		expect(ttlLeft(null, now)).toBe('');
		expect(ttlLeft(undefined, now)).toBe('');
		expect(ttlLeft('someday', now)).toBe('');
	});
});
