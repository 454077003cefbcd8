import { describe, expect, test } from 'vitest';
import { decodeBase64, downloadName, headerValue, isJsonType, shownBody } from './run-result';

describe('shownBody', () => {
	test('a JSON object or array is pretty-printed, with or without a content type', () => {
		expect(shownBody('{"a":1,"b":[2,3]}', null, {})).toEqual({
			kind: 'json',
			text: '{\n  "a": 1,\n  "b": [\n    2,\n    3\n  ]\n}'
		});
		expect(shownBody('[1]', null, { 'content-type': 'text/plain' })).toEqual({
			kind: 'json',
			text: '[\n  1\n]'
		});
	});

	test('a JSON content type pretty-prints any JSON value', () => {
		expect(shownBody('42', null, { 'Content-Type': 'application/json' })).toEqual({
			kind: 'json',
			text: '42'
		});
		expect(shownBody('"hi"', null, {})).toEqual({ kind: 'text', text: '"hi"' });
	});

	test('text that is not JSON stays as it is', () => {
		expect(shownBody('Hello, ada!', null, {})).toEqual({ kind: 'text', text: 'Hello, ada!' });
		expect(shownBody('{not json', null, { 'content-type': 'application/json' })).toEqual({
			kind: 'text',
			text: '{not json'
		});
	});

	test('empty and absent bodies', () => {
		expect(shownBody('', null, {})).toEqual({ kind: 'empty' });
		expect(shownBody(null, null, {})).toEqual({ kind: 'empty' });
		expect(shownBody(undefined, '', {})).toEqual({ kind: 'empty' });
	});

	test('a binary body is its bytes and type', () => {
		const shown = shownBody(null, 'AAEC/w==', { 'content-type': 'image/png' });
		expect(shown.kind).toBe('binary');
		if (shown.kind !== 'binary') return;
		expect([...shown.bytes]).toEqual([0, 1, 2, 255]);
		expect(shown.contentType).toBe('image/png');
		const untyped = shownBody(null, 'AAE=', {});
		expect(untyped.kind === 'binary' && untyped.contentType).toBe('application/octet-stream');
	});
});

describe('helpers', () => {
	test('headers by name in any case', () => {
		expect(headerValue({ 'Content-Type': 'a' }, 'content-type')).toBe('a');
		expect(headerValue({}, 'content-type')).toBeUndefined();
	});

	test('JSON content types', () => {
		expect(isJsonType('application/json; charset=utf-8')).toBe(true);
		expect(isJsonType('application/problem+json')).toBe(true);
		expect(isJsonType('text/html')).toBe(false);
		expect(isJsonType(undefined)).toBe(false);
	});

	test('base64 and download names', () => {
		expect([...decodeBase64('aGk=')]).toEqual([104, 105]);
		expect(downloadName('image/png')).toBe('response.png');
		expect(downloadName('application/x-unknown')).toBe('response.bin');
	});
});
