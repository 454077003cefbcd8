import { describe, expect, test } from 'vitest';
import { isCollectionName, parseDocument, parseSort, parseWhere } from './documents';

describe('isCollectionName', () => {
	test('accepts the server’s names', () => {
		for (const name of ['orders', 'a', 'app.events-2024_x', '_private', 'x'.repeat(64)]) {
			expect(isCollectionName(name), name).toBe(true);
		}
	});

	test('refuses what the server refuses', () => {
		for (const name of ['', '.hidden', '-dash', 'with space', 'slash/name', 'x'.repeat(65)]) {
			expect(isCollectionName(name), name).toBe(false);
		}
	});
});

describe('parseWhere', () => {
	test('empty text is no filter', () => {
		expect(parseWhere('  ')).toEqual({ ok: true, value: undefined });
	});

	test('takes equality and operators, as docs::find does', () => {
		const text = '{"status": "paid", "total": {"gt": 10, "lte": 100}, "gone": null}';
		expect(parseWhere(text)).toEqual({ ok: true, value: JSON.parse(text) });
	});

	test.each([
		['{status: "paid"}', /^The filter is not valid JSON: .+ need double quotes/],
		['["paid"]', /^The filter must be a JSON object of fields/],
		['{"": 1}', /empty field name/],
		['{"tags": ["a"]}', /^"tags": compare with text, a number, true, false or null/],
		['{"total": {}}', /^"total": give at least one operator/],
		['{"total": {"greater": 10}}', /^"total": unknown operator "greater"/],
		['{"total": {"gt": [1]}}', /^"total": "gt" compares with text, a number/],
		['{"paid": {"lt": true}}', /^"paid": "lt" compares numbers or text/]
	])('refuses %s with a message that says why', (text, message) => {
		const parsed = parseWhere(text);
		expect(parsed.ok).toBe(false);
		if (!parsed.ok) expect(parsed.error).toMatch(message);
	});

	test('true, false and null work with eq and ne', () => {
		expect(parseWhere('{"paid": {"ne": false}, "x": {"eq": null}}').ok).toBe(true);
	});
});

describe('parseSort', () => {
	test('a field, `-` first for descending; empty is insertion order', () => {
		expect(parseSort(' -total ')).toEqual({ ok: true, value: '-total' });
		expect(parseSort('name')).toEqual({ ok: true, value: 'name' });
		expect(parseSort('')).toEqual({ ok: true, value: undefined });
	});

	test('refuses a bare or doubled minus', () => {
		expect(parseSort('-').ok).toBe(false);
		expect(parseSort('--total').ok).toBe(false);
	});
});

describe('parseDocument', () => {
	test('takes a JSON object', () => {
		expect(parseDocument('{"customer": "Ada", "total": 42}')).toEqual({
			ok: true,
			value: { customer: 'Ada', total: 42 }
		});
	});

	test.each([
		['', /^Enter the document as a JSON object/],
		['{customer: "Ada"}', /^The document is not valid JSON: .+ need double quotes\.$/],
		['[1, 2]', /^A document must be a JSON object/],
		['"text"', /^A document must be a JSON object/],
		['null', /^A document must be a JSON object/],
		['{"_id": "mine"}', /^Leave out "_id"/]
	])('refuses %j', (text, message) => {
		const parsed = parseDocument(text);
		expect(parsed.ok).toBe(false);
		if (!parsed.ok) expect(parsed.error).toMatch(message);
	});
});
