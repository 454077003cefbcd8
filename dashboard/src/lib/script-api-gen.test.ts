// The generator (scripts/gen-script-api.mjs) and its outputs: a change to
// docs/script-api.json that was not regenerated fails here.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import {
	anchors,
	editorData,
	END,
	generate,
	missingAnchors,
	paths,
	problems,
	referenceTables,
	START,
	withReference
} from '../../scripts/gen-script-api.mjs';
import { GUIDE_URL } from './script-api';

const read = (file: string) => readFile(file, 'utf8');

const fn = (name: string, receiver: string | null = null) => ({
	name,
	receiver,
	signatures: [
		{
			params: [
				...(receiver ? [{ name: 'self', type: receiver }] : []),
				{ name: 'key', type: 'string' }
			],
			returns: 'any'
		}
	],
	summary: 'Does it.',
	example: `${name}("a");`,
	docs: 'key-value-store-kv'
});

const small = {
	functions: [fn('kv::get'), fn('header', 'Response'), fn('invoke')],
	properties: [
		{ type: 'Response', name: 'status', returns: 'int', summary: 'Its status.', docs: 'responses' }
	],
	request: [
		{ name: 'body', type: 'string', summary: 'The body.', triggers: ['http', 'queue'], docs: 'x' },
		{ name: 'queue', type: 'string', summary: 'A | B.', triggers: ['queue'], docs: 'queues' }
	]
};

describe('the generated files', () => {
	test('are what docs/script-api.json gives (else run `npm run gen:script-api`)', async () => {
		const [sourceText, editorText, guideText] = await Promise.all(
			[paths.source, paths.editor, paths.guide].map(read)
		);
		const { editor, guide } = await generate(sourceText, guideText);
		expect(editorText, 'src/lib/script-api.json is stale: run `npm run gen:script-api`').toBe(
			editor
		);
		expect(
			guideText === guide,
			'docs/scripting.md’s reference tables are stale: run `npm run gen:script-api`'
		).toBe(true);
	});

	test('every docs anchor is a heading of docs/scripting.md', async () => {
		const [sourceText, guideText] = await Promise.all([paths.source, paths.guide].map(read));
		expect(missingAnchors(JSON.parse(sourceText), guideText)).toEqual([]);
	});

	test('the description has nothing the generator refuses', async () => {
		expect(problems(JSON.parse(await read(paths.source)))).toEqual([]);
	});

	test('the docs links go to the repository Cargo.toml names', async () => {
		const cargo = await read(path.resolve(paths.source, '../../Cargo.toml'));
		const repository = /^repository\s*=\s*"([^"]+)"/m.exec(cargo)?.[1];
		expect(repository).toBeTruthy();
		expect(GUIDE_URL).toBe(`${repository}/blob/main/docs/scripting.md`);
	});
});

describe('checks', () => {
	test('a method’s first param is its receiver; names, overloads and fields are there', () => {
		expect(problems(small)).toEqual([]);
		const bad = {
			...small,
			functions: [
				{ ...fn('header', 'Response'), signatures: [{ params: [], returns: 'x' }] },
				fn('kv::get'),
				fn('kv::get'),
				{ ...fn('kv::set'), summary: '' },
				{ ...fn('kv::list'), signatures: [] },
				fn('kv::incr', 'map')
			]
		};
		expect(problems(bad)).toEqual([
			'header: the first param of a method on Response must be of that type',
			'kv::get: listed twice (put overloads under one entry)',
			'kv::set: "summary" must be a non-empty string',
			'kv::list: needs at least one signature',
			'kv::incr: a method is called by its plain name'
		]);
		expect(problems({ functions: [] })).toEqual([
			'"properties" must be an array',
			'"request" must be an array'
		]);
	});

	test('GitHub’s heading anchors, outside code, with repeats numbered', () => {
		const md = [
			'# Guide',
			'## Key-value store: `kv`',
			'## `invoke()`',
			'```sh',
			'# not a heading',
			'```',
			'## What is disabled, and why',
			'### Example',
			'### Example',
			'## See [the API](api.md)'
		].join('\n');
		expect([...anchors(md)]).toEqual([
			'guide',
			'key-value-store-kv',
			'invoke',
			'what-is-disabled-and-why',
			'example',
			'example-1',
			'see-the-api'
		]);
		expect(missingAnchors(small, md)).toEqual([
			'Response.status: #responses',
			'request.body: #x',
			'request.queue: #queues'
		]);
	});
});

describe('outputs', () => {
	test('the editor’s entries: request fields, functions, methods, properties', () => {
		const data = editorData(small);
		expect(data.sections.map((s) => [s.id, s.title])).toEqual([
			['request', 'request fields'],
			['global', 'Global functions'],
			['kv', 'kv::'],
			['Response', 'Response methods and properties']
		]);
		expect(data.entries.map((e) => `${e.kind} ${e.name}`)).toEqual([
			'field body',
			'field queue',
			'function kv::get',
			'method header',
			'function invoke',
			'property status'
		]);
		expect(data.entries[3].signatures).toEqual([
			{ label: 'Response.header(key: string) -> any', params: ['key: string'], returns: 'any' }
		]);
	});

	test('tables: one per group, rows linked to their section, | escaped', () => {
		const tables = referenceTables(small);
		expect(tables).toContain('### Global functions and methods');
		expect(tables).toContain('### `kv::` functions');
		expect(tables).toContain(
			'| [`kv::get(key: string)`](#key-value-store-kv) | `any` | Does it. |'
		);
		expect(tables).toContain('| [`Response.header(key: string)`](#key-value-store-kv) |');
		expect(tables).toContain('| [`Response.status`](#responses) | `int` | Its status. |');
		expect(tables).toContain('| [`request.body`](#x) | `string` | all | The body. |');
		expect(tables).toContain('| [`request.queue`](#queues) | `string` | `queue` | A \\| B. |');
		// Every row of a table has as many cells as its head.
		for (const block of tables.split('\n\n').filter((b) => b.startsWith('|'))) {
			const cells = block.split('\n').map((row) => row.replace(/\\\|/g, '').split('|').length);
			expect(new Set(cells).size, block).toBe(1);
		}
	});

	test('only the text between the markers changes', () => {
		const md = `# Guide\n\nBefore.\n\n${START}\nold\n${END}\n\nAfter.\n`;
		expect(withReference(md, 'NEW')).toBe(
			`# Guide\n\nBefore.\n\n${START}\n\nNEW\n\n${END}\n\nAfter.\n`
		);
		expect(withReference(withReference(md, 'NEW'), 'NEW')).toBe(withReference(md, 'NEW'));
		expect(() => withReference('# Guide\n', 'NEW')).toThrow(/script-api:start/);
		expect(() => withReference(`${END}\n${START}\n`, 'NEW')).toThrow(/in that order/);
	});

	test('a description the outputs cannot come from is refused with its problems', async () => {
		await expect(generate(JSON.stringify({ functions: [] }), '')).rejects.toThrow(
			/"properties" must be an array/
		);
	});
});
