import { describe, expect, test } from 'vitest';
import { parsePosition, positionQuery, sourceHref } from './positions';

const params = (query: string) => new URLSearchParams(query);

describe('parsePosition', () => {
	test('a line, with or without a column', () => {
		expect(parsePosition(params('line=12&column=5'))).toEqual({ line: 12, column: 5 });
		expect(parsePosition(params('line=3'))).toEqual({ line: 3 });
	});

	test('no position without a valid line; a bad column is left out', () => {
		expect(parsePosition(params(''))).toBeNull();
		expect(parsePosition(params('column=4'))).toBeNull();
		expect(parsePosition(params('line=0'))).toBeNull();
		expect(parsePosition(params('line=-2'))).toBeNull();
		expect(parsePosition(params('line=2.5'))).toBeNull();
		expect(parsePosition(params('line=abc'))).toBeNull();
		expect(parsePosition(params('line=99999999999'))).toBeNull();
		expect(parsePosition(params('line=7&column=x'))).toEqual({ line: 7 });
		expect(parsePosition(params('line=7&column=0'))).toEqual({ line: 7 });
	});
});

describe('sourceHref', () => {
	test('links to the script page with the position', () => {
		expect(sourceHref('shop', 'abc', 12, 5)).toBe('/admin/apps/shop/scripts/abc?line=12&column=5');
		expect(sourceHref('shop', 'abc', 12)).toBe('/admin/apps/shop/scripts/abc?line=12');
		expect(sourceHref('shop', 'abc', 12, null)).toBe('/admin/apps/shop/scripts/abc?line=12');
	});

	test('no link without a line', () => {
		expect(sourceHref('shop', 'abc', null, 5)).toBeNull();
		expect(sourceHref('shop', 'abc', undefined)).toBeNull();
		expect(sourceHref('shop', 'abc', 0)).toBeNull();
	});

	test('the query string alone', () => {
		expect(positionQuery({ line: 4 })).toBe('?line=4');
		expect(positionQuery({ line: 4, column: 2 })).toBe('?line=4&column=2');
	});
});
