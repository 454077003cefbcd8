import { describe, expect, test } from 'vitest';
import generated from './script-api.json';
import source from '../../../docs/script-api.json';
import {
	callAt,
	completionsFor,
	display,
	entryAt,
	insertText,
	parseScriptApi,
	searchApi,
	signatureHelp,
	typedMember,
	typedName,
	type ApiEntry,
	type ScriptApi
} from './script-api';

const api: ScriptApi = parseScriptApi(generated);

const labels = (before: string, explicit = false) =>
	completionsFor(api, before, explicit)?.options.map((o) => o.label) ?? null;

describe('the generated description', () => {
	test('has every function, property and request field of docs/script-api.json, all complete', () => {
		expect(api.entries).toHaveLength(
			source.functions.length + source.properties.length + source.request.length
		);
		expect(api.entries).toHaveLength(generated.entries.length);
		const names = (kind: string) => api.entries.filter((e) => e.kind === kind).map((e) => e.name);
		expect([...names('function'), ...names('method')].sort()).toEqual(
			source.functions.map((f) => f.name).sort()
		);
		expect(names('field')).toEqual(source.request.map((r) => r.name));
		for (const e of api.entries) {
			expect(e.summary, e.name).not.toBe('');
			expect(e.docs, e.name).toMatch(/^[a-z0-9-]+$/);
			if (e.kind === 'function' || e.kind === 'method') expect(e.example, e.name).not.toBe('');
		}
	});

	test('sections: the request first, then global functions, modules, then types', () => {
		const ids = api.sections.map((s) => s.id);
		expect(ids.slice(0, 3)).toEqual(['request', 'global', 'log']);
		expect(ids).toContain('kv');
		expect(ids.indexOf('Response')).toBeGreaterThan(ids.indexOf('users'));
		expect(api.sections.find((s) => s.id === 'kv')?.title).toBe('kv::');
	});

	test('a method’s receiver is not one of the arguments the script writes', () => {
		const header = api.entries.find((e) => e.name === 'header');
		expect(header?.kind).toBe('method');
		expect(header?.signatures[0].params).toEqual(['name: string', 'value: any']);
		expect(header?.signatures[0].label).toBe(
			'Response.header(name: string, value: any) -> Response'
		);
	});

	test('malformed input: bad entries are left out, sections follow the entries', () => {
		const entry = api.entries[0];
		const parsed = parseScriptApi({
			sections: [{ id: 'request', title: 'request fields' }, { id: 'gone', title: 'Gone' }, 7],
			entries: [entry, { ...entry, kind: 'nonsense' }, { name: 'x' }, null]
		});
		expect(parsed.entries).toEqual([entry]);
		expect(parsed.sections).toEqual([{ id: 'request', title: 'request fields' }]);
		expect(parseScriptApi('nonsense')).toEqual({ sections: [], entries: [] });
		expect(parseScriptApi(null)).toEqual({ sections: [], entries: [] });
		// An entry whose section is not listed gets one of its own.
		expect(parseScriptApi({ entries: [entry] }).sections).toEqual([
			{ id: 'request', title: 'request' }
		]);
	});
});

describe('completion', () => {
	test('the name or member being typed', () => {
		expect(typedName('let v = kv::g')).toBe('kv::g');
		expect(typedName('let v = kv::')).toBe('kv::');
		expect(typedName('  log')).toBe('log');
		expect(typedName('f(')).toBe('');
		expect(typedMember('let b = request.bo')).toEqual({ object: 'request', typed: 'bo' });
		expect(typedMember('request.')).toEqual({ object: 'request', typed: '' });
		expect(typedMember('response(200, x).hea')).toEqual({ object: '', typed: 'hea' });
		expect(typedMember('r?.st')).toEqual({ object: 'r', typed: 'st' });
		expect(typedMember('let x = 1.5')).toBeNull();
		expect(typedMember('kv::get')).toBeNull();
	});

	test('kv:: lists the module’s functions, by name', () => {
		expect(labels('let v = kv::')).toEqual([
			'kv::delete',
			'kv::exists',
			'kv::get',
			'kv::incr',
			'kv::list',
			'kv::set'
		]);
		expect(labels('KV::S')).toEqual(['kv::set']);
		expect(completionsFor(api, 'x = kv::s', false)?.length).toBe(5);
		expect(labels('queue:')).toEqual(['queue::send']);
	});

	test('a name lists request, the modules and the global functions', () => {
		expect(labels('let r = inv')).toEqual(['invoke']);
		expect(labels('  res')).toEqual(['response']);
		expect(labels('req')).toEqual(['request']);
		expect(labels('use')).toEqual(['users::']);
		const all = labels('', true) ?? [];
		expect(all).toContain('kv::');
		expect(all).toContain('email::');
		expect(all).toContain('parse_json');
		expect(all).not.toContain('kv::get');
		// Unasked, not on the first letters of every word, nor inside a number.
		expect(labels('le')).toBeNull();
		expect(labels('let x = 1e5')).toBeNull();
		expect(labels('nothing_like_it')).toBeNull();
	});

	test('request. lists the fields and .json()', () => {
		const fields = labels('let b = request.') ?? [];
		expect(fields).toContain('method');
		expect(fields).toContain('json');
		expect(fields).toContain('payload');
		expect(fields).not.toContain('header');
		expect(labels('request.bo')).toEqual(['body', 'body_blob']);
	});

	test('a dot on anything else: methods and properties, once a letter is typed', () => {
		expect(labels('r.')).toBeNull();
		expect(labels('r.', true)).toContain('header');
		expect(labels('response(201, b).hea')).toEqual(['header']);
		expect(labels('started.el')).toEqual(['elapsed', 'elapsed']);
		expect(labels('r.st')).toEqual(['status']);
	});

	test('each option carries its docs: details, sentence and section anchor', () => {
		const set = completionsFor(api, 'kv::set', false)?.options[0];
		expect(set?.detail).toBe('(key: string, value: any) -> () (+1)');
		expect(set?.doc.signatures).toHaveLength(2);
		expect(set?.doc.docs).toBe('key-value-store-kv');
		const body = completionsFor(api, 'request.body', false)?.options[0];
		expect(body?.detail).toBe(': string');
		expect(body?.doc.docs).toBe('the-request');
		const kv = completionsFor(api, 'kv', true)?.options.find((o) => o.label === 'kv::');
		expect(kv?.type).toBe('namespace');
		expect(kv?.doc.docs).toBe('key-value-store-kv');
	});
});

describe('signature help', () => {
	const at = (text: string) => callAt(text, text.length);

	test('the call and the argument the cursor is in', () => {
		expect(at('kv::set(')).toMatchObject({ name: 'kv::set', method: false, arg: 0, nameFrom: 0 });
		expect(at('let x = kv::set("a", ')).toMatchObject({ name: 'kv::set', arg: 1, nameFrom: 8 });
		expect(at('kv::set("a, b", \'c\', ')).toMatchObject({ name: 'kv::set', arg: 2 });
		expect(at('kv::set("a", [1, 2, 3], ')).toMatchObject({ name: 'kv::set', arg: 2 });
		expect(at('kv::set("a", #{ x: 1, y: ')).toMatchObject({ name: 'kv::set', arg: 1 });
		expect(at('kv::set("a", invoke("b", ')).toMatchObject({ name: 'invoke', arg: 1 });
		expect(at('kv::set("a", invoke("b"), ')).toMatchObject({ name: 'kv::set', arg: 2 });
		expect(at('response(200, x).header("a", ')).toMatchObject({
			name: 'header',
			method: true,
			arg: 1
		});
		expect(at('kv::get(`a${f(1, ')).toMatchObject({ name: 'f', arg: 1 });
		expect(at('kv::get(`a, ${b}, ')).toMatchObject({ name: 'kv::get', arg: 0 });
		expect(at('kv::set(/* a, b */ 1, ')).toMatchObject({ name: 'kv::set', arg: 1 });
		expect(at('kv::set(1, // a, b\n 2, ')).toMatchObject({ name: 'kv::set', arg: 2 });
	});

	test('no call: closed, in a comment, in a block, or not after a name', () => {
		expect(at('kv::set("a", 1);')).toBeNull();
		expect(at('// kv::set(')).toBeNull();
		expect(at('/* kv::set( ')).toBeNull();
		expect(at('fn f(x) { ')).toBeNull();
		expect(at('list.map(|x| { ')).toBeNull();
		expect(at('let x = (1 + ')).toBeNull();
		expect(at('')).toBeNull();
		// Only the text before the cursor counts.
		expect(callAt('kv::get("a")', 8)).toMatchObject({ name: 'kv::get', arg: 0 });
	});

	test('the overload that fits, and the argument to highlight', () => {
		const help = (text: string) => {
			const call = at(text);
			return call && signatureHelp(api, call);
		};
		expect(help('kv::set(')).toMatchObject({ active: 0, arg: 0 });
		expect(help('kv::set("a", 1, ')).toMatchObject({ active: 1, arg: 2 });
		expect(help('kv::set("a", 1, 2, ')).toMatchObject({ active: 1, arg: 3 });
		expect(help('kv::set("a", 1, 2, ')?.entry.name).toBe('kv::set');
		expect(help('x.header(')?.entry.signatures[0].params[0]).toBe('name: string');
		expect(help('timestamp(')).toMatchObject({ active: 0, arg: 0 });
		// Not in the API, or a method's name called as a function.
		expect(help('my_fn(')).toBeNull();
		expect(help('header(')).toBeNull();
	});
});

describe('hover', () => {
	const hover = (line: string, word: string) =>
		entryAt(api, line, line.indexOf(word) + 1)?.name ?? null;

	test('functions, request fields, methods and properties', () => {
		expect(hover('let v = kv::get("a");', 'get')).toBe('kv::get');
		expect(hover('let v = kv::get("a");', 'kv')).toBe('kv::get');
		expect(hover('let b = request.body;', 'body')).toBe('body');
		expect(hover('let o = request.json();', 'json')).toBe('json');
		expect(hover('r.header("a", 1)', 'header')).toBe('header');
		expect(hover('if r.status == 200 {', 'status')).toBe('status');
		expect(entryAt(api, 'let x = started.elapsed;', 17)?.kind).toBe('property');
		expect(entryAt(api, 'let x = started.elapsed();', 17)?.kind).toBe('method');
	});

	test('nothing for what the API does not have', () => {
		expect(hover('let v = kv::get("a");', 'let')).toBeNull();
		expect(hover('kv::nope(1)', 'nope')).toBeNull();
		expect(hover('let x = r.header;', 'header')).toBeNull();
		expect(hover('let x = request.nope;', 'nope')).toBeNull();
	});
});

describe('the panel', () => {
	const found = (query: string) =>
		searchApi(api, query).flatMap((g) => g.entries.map((e) => display(e)));

	test('searches names, sections and sentences, every word, any case', () => {
		expect(found('')).toHaveLength(api.entries.length);
		expect(found('QUEUE')[0]).toBe('queue::send');
		expect(found('queue')).toContain('request.payload');
		expect(found('kv get')).toEqual(['kv::get']);
		expect(found('  header  ')).toContain('.header()');
		expect(found('no such thing at all')).toEqual([]);
		// Sections whose names match come before ones whose sentences do.
		expect(searchApi(api, 'queue')[0].section.id).toBe('queue');
	});

	test('inserts the example, or how a field is written', () => {
		const entry = (name: string, kind: string) =>
			api.entries.find((e) => e.name === name && e.kind === kind) as ApiEntry;
		expect(insertText(entry('kv::get', 'function'))).toBe('let visits = kv::get("visits") ?? 0;');
		expect(insertText(entry('body', 'field'))).toBe('request.body');
		expect(insertText(entry('status', 'property'))).toBe('.status');
	});
});
