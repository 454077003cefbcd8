import { describe, expect, test } from 'vitest';
import sample from './script-api.json';
import { entryAt, matching, parseScriptApi, typedName, type ApiEntry } from './script-api';

const entry = (name: string, section = 'kv'): ApiEntry => ({
	name,
	signature: `${name}(x)`,
	doc: 'Does it.',
	example: `${name}(1);`,
	section
});

describe('the description', () => {
	test('the sample file parses, every entry complete', () => {
		const entries = parseScriptApi(sample);
		expect(entries.map((e) => e.name)).toEqual(['kv::get', 'kv::set', 'log::info']);
	});

	test('an array or { entries }; incomplete entries are left out', () => {
		expect(parseScriptApi([entry('a')])).toHaveLength(1);
		expect(parseScriptApi({ entries: [entry('a'), { name: 'b' }, null, 7] })).toHaveLength(1);
		expect(parseScriptApi({ entries: [{ ...entry('a'), name: '' }] })).toEqual([]);
		expect(parseScriptApi('nonsense')).toEqual([]);
		expect(parseScriptApi(null)).toEqual([]);
	});
});

describe('completion', () => {
	const entries = [entry('kv::set'), entry('kv::get'), entry('log::info', 'log')];

	test('the name being typed, with its module', () => {
		expect(typedName('let v = kv::g')).toBe('kv::g');
		expect(typedName('let v = kv::')).toBe('kv::');
		expect(typedName('  log')).toBe('log');
		expect(typedName('f(')).toBe('');
		expect(typedName('')).toBe('');
	});

	test('entries that start with it, by name', () => {
		expect(matching(entries, 'kv::').map((e) => e.name)).toEqual(['kv::get', 'kv::set']);
		expect(matching(entries, 'KV::S').map((e) => e.name)).toEqual(['kv::set']);
		expect(matching(entries, '').map((e) => e.name)).toEqual(['kv::get', 'kv::set', 'log::info']);
		expect(matching(entries, 'http')).toEqual([]);
	});

	test('the entry under the mouse', () => {
		const line = 'let v = kv::get("a");';
		expect(entryAt(entries, line, 10)?.name).toBe('kv::get');
		expect(entryAt(entries, line, 2)).toBeNull();
		expect(entryAt(entries, 'kv::nope(1)', 3)).toBeNull();
	});
});
