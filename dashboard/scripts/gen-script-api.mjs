// The script API is described once, in docs/script-api.json (guest/src/api.rs
// checks it against what the Rhai engine registers). This script derives the
// two things people read from it, so that neither can drift from the engine:
//
// - src/lib/script-api.json: the editor's completion, signature help, hover
//   docs and "Script API" panel (src/lib/script-api.ts);
// - the tables between the script-api markers in docs/scripting.md.
//
//   node scripts/gen-script-api.mjs           writes both (npm run gen:script-api)
//   node scripts/gen-script-api.mjs --check   fails when either is stale (npm run check)
//
// A vitest test (src/lib/script-api-gen.test.ts) runs the same generation in
// memory and compares it with the files, so a description changed without
// regenerating fails `npm run test:unit` as well.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as prettier from 'prettier';

/**
 * @typedef {{ name: string, type: string }} Param
 * @typedef {{ params: Param[], returns: string }} Signature
 * @typedef {{ name: string, receiver: string | null, signatures: Signature[], summary: string, example: string, docs: string }} ApiFunction
 * @typedef {{ type: string, name: string, returns: string, summary: string, docs: string }} ApiProperty
 * @typedef {{ name: string, type: string, summary: string, triggers: string[], docs: string }} RequestField
 * @typedef {{ functions: ApiFunction[], properties: ApiProperty[], request: RequestField[] }} ScriptApiSource
 *
 * What the editor reads (src/lib/script-api.ts declares the same shapes).
 * @typedef {{ label: string, params: string[], returns: string }} EditorSignature
 * @typedef {{ kind: 'function' | 'method' | 'property' | 'field', name: string, receiver: string | null, section: string, signatures: EditorSignature[], type: string | null, summary: string, example: string, docs: string, triggers: string[] }} EditorEntry
 * @typedef {{ id: string, title: string }} EditorSection
 * @typedef {{ generated: string, sections: EditorSection[], entries: EditorEntry[] }} EditorData
 */

const dashboard = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const paths = {
	source: path.resolve(dashboard, '../docs/script-api.json'),
	editor: path.resolve(dashboard, 'src/lib/script-api.json'),
	guide: path.resolve(dashboard, '../docs/scripting.md')
};

export const START = '<!-- script-api:start -->';
export const END = '<!-- script-api:end -->';

/** The `generated` note of the editor's file, which says where it comes from. */
export const GENERATED = 'from docs/script-api.json by npm run gen:script-api — do not edit';

/**
 * What is wrong with a description, one sentence each; empty when nothing is.
 * The engine-side test checks names and overloads against the engine; this
 * checks what the generated outputs rely on.
 * @param {unknown} json
 * @returns {string[]}
 */
export function problems(json) {
	/** @type {string[]} */
	const found = [];
	const api = /** @type {Partial<ScriptApiSource>} */ (json ?? {});
	const text = (/** @type {unknown} */ v) => typeof v === 'string' && v.trim() !== '';
	for (const list of /** @type {const} */ (['functions', 'properties', 'request'])) {
		if (!Array.isArray(api[list])) found.push(`"${list}" must be an array`);
	}
	if (found.length > 0) return found;
	const seen = new Set();
	for (const f of /** @type {ApiFunction[]} */ (api.functions)) {
		const key = `${f.receiver ?? ''}.${f.name}`;
		if (seen.has(key)) found.push(`${f.name}: listed twice (put overloads under one entry)`);
		seen.add(key);
		for (const field of /** @type {const} */ (['name', 'summary', 'example', 'docs'])) {
			if (!text(f[field])) found.push(`${f.name ?? '?'}: "${field}" must be a non-empty string`);
		}
		if (f.receiver !== null && !text(f.receiver)) {
			found.push(`${f.name}: "receiver" must be null or a type name`);
		}
		if (f.receiver !== null && f.name?.includes('::')) {
			found.push(`${f.name}: a method is called by its plain name`);
		}
		if (!Array.isArray(f.signatures) || f.signatures.length === 0) {
			found.push(`${f.name}: needs at least one signature`);
			continue;
		}
		for (const s of f.signatures) {
			if (!Array.isArray(s.params) || !text(s.returns)) {
				found.push(`${f.name}: each signature needs "params" and "returns"`);
				continue;
			}
			if (s.params.some((p) => !text(p?.name) || !text(p?.type))) {
				found.push(`${f.name}: each param needs a "name" and a "type"`);
			}
			// A method's first param is the value it is called on.
			if (f.receiver !== null && s.params[0]?.type !== f.receiver) {
				found.push(`${f.name}: the first param of a method on ${f.receiver} must be of that type`);
			}
		}
	}
	for (const p of /** @type {ApiProperty[]} */ (api.properties)) {
		for (const field of /** @type {const} */ (['type', 'name', 'returns', 'summary', 'docs'])) {
			if (!text(p[field]))
				found.push(`property ${p.name ?? '?'}: "${field}" must be a non-empty string`);
		}
	}
	for (const r of /** @type {RequestField[]} */ (api.request)) {
		for (const field of /** @type {const} */ (['name', 'type', 'summary', 'docs'])) {
			if (!text(r[field]))
				found.push(`request.${r.name ?? '?'}: "${field}" must be a non-empty string`);
		}
		if (!Array.isArray(r.triggers) || r.triggers.length === 0) {
			found.push(`request.${r.name}: "triggers" must list at least one trigger`);
		}
	}
	return found;
}

/**
 * The anchors GitHub gives the headings of a Markdown file: the heading's
 * text in lower case, punctuation dropped, spaces as `-`, and `-1`, `-2` …
 * after repeats. Headings inside fenced code (a shell comment) are not ones.
 * @param {string} markdown
 * @returns {Set<string>}
 */
export function anchors(markdown) {
	/** @type {Set<string>} */
	const found = new Set();
	/** @type {Map<string, number>} */
	const counts = new Map();
	let fence = '';
	for (const line of markdown.split('\n')) {
		const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
		if (marker && (fence === '' || marker.startsWith(fence))) {
			fence = fence === '' ? marker : '';
			continue;
		}
		if (fence !== '') continue;
		const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
		if (!heading) continue;
		const text = heading[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
		const base = text
			.toLowerCase()
			.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
			.replace(/ /g, '-');
		const n = counts.get(base) ?? 0;
		counts.set(base, n + 1);
		found.add(n === 0 ? base : `${base}-${n}`);
	}
	return found;
}

/**
 * The `docs` anchors of a description that are not headings of the guide.
 * @param {ScriptApiSource} api
 * @param {string} markdown
 * @returns {string[]}
 */
export function missingAnchors(api, markdown) {
	const known = anchors(markdown);
	const all = [
		...api.functions.map((f) => [f.receiver ? `${f.receiver}.${f.name}` : f.name, f.docs]),
		...api.properties.map((p) => [`${p.type}.${p.name}`, p.docs]),
		...api.request.map((r) => [`request.${r.name}`, r.docs])
	];
	return all.filter(([, docs]) => !known.has(docs)).map(([name, docs]) => `${name}: #${docs}`);
}

/** @param {Param} p */
const param = (p) => `${p.name}: ${p.type}`;

/**
 * The parameters as the script writes them: a method's receiver is the
 * value before the dot, not an argument.
 * @param {ApiFunction} f
 * @param {Signature} s
 */
const callParams = (f, s) => (f.receiver === null ? s.params : s.params.slice(1)).map(param);

/**
 * `kv::set(key: string, value: any)`, or `Response.header(name: string, value: any)` for a method.
 * @param {ApiFunction} f
 * @param {Signature} s
 */
const call = (f, s) =>
	`${f.receiver === null ? '' : `${f.receiver}.`}${f.name}(${callParams(f, s).join(', ')})`;

/** @param {ApiFunction} f */
const sectionOf = (f) =>
	f.receiver !== null ? f.receiver : f.name.includes('::') ? f.name.split('::')[0] : 'global';

/**
 * The editor's data: one entry per function, method, property and request
 * field, each with its display strings ready, and the panel's sections in
 * the order a script author looks for them (the request first).
 * @param {ScriptApiSource} api
 * @returns {EditorData}
 */
export function editorData(api) {
	/** @type {EditorEntry[]} */
	const entries = [
		...api.request.map((r) => ({
			kind: /** @type {const} */ ('field'),
			name: r.name,
			receiver: 'request',
			section: 'request',
			signatures: [],
			type: r.type,
			summary: r.summary,
			example: '',
			docs: r.docs,
			triggers: r.triggers
		})),
		...api.functions.map((f) => ({
			kind:
				f.receiver === null ? /** @type {const} */ ('function') : /** @type {const} */ ('method'),
			name: f.name,
			receiver: f.receiver,
			section: sectionOf(f),
			signatures: f.signatures.map((s) => ({
				label: `${call(f, s)} -> ${s.returns}`,
				params: callParams(f, s),
				returns: s.returns
			})),
			type: null,
			summary: f.summary,
			example: f.example,
			docs: f.docs,
			triggers: []
		})),
		...api.properties.map((p) => ({
			kind: /** @type {const} */ ('property'),
			name: p.name,
			receiver: p.type,
			section: p.type,
			signatures: [],
			type: p.returns,
			summary: p.summary,
			example: '',
			docs: p.docs,
			triggers: []
		}))
	];
	const ids = [...new Set(entries.map((e) => e.section))];
	// Modules and global functions before the methods of a type.
	const order = (/** @type {string} */ id) =>
		id === 'request'
			? 0
			: id === 'global'
				? 1
				: entries.some((e) => e.section === id && e.kind === 'function')
					? 2
					: 3;
	ids.sort((a, b) => order(a) - order(b));
	const sections = ids.map((id) => {
		const kinds = new Set(entries.filter((e) => e.section === id).map((e) => e.kind));
		const members = [kinds.has('method') && 'methods', kinds.has('property') && 'properties'];
		const title =
			id === 'request'
				? 'request fields'
				: id === 'global'
					? 'Global functions'
					: kinds.has('function')
						? `${id}::`
						: `${id} ${members.filter(Boolean).join(' and ')}`;
		return { id, title };
	});
	return { generated: GENERATED, sections, entries };
}

/**
 * The editor's file, formatted as Prettier formats it (so `npm run lint`
 * passes on what this writes).
 * @param {ScriptApiSource} api
 */
export async function editorJson(api) {
	const options = (await prettier.resolveConfig(paths.editor)) ?? {};
	return prettier.format(JSON.stringify(editorData(api), null, '\t'), {
		...options,
		filepath: paths.editor
	});
}

/**
 * Text for a Markdown table cell: one line, `|` escaped (also inside code,
 * where GitHub needs it too).
 * @param {string} text
 */
const cell = (text) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

/** @param {string} text */
const code = (text) => `\`${text}\``;

/**
 * @param {string[]} head
 * @param {string[][]} rows
 */
const table = (head, rows) =>
	[
		`| ${head.join(' | ')} |`,
		`|${head.map(() => '---').join('|')}|`,
		...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)
	].join('\n');

/**
 * docs/scripting.md's reference: a table of the global functions and
 * methods, one per module, one of properties and one of `request` fields,
 * each row linked to the section that explains it.
 * @param {ScriptApiSource} api
 * @returns {string}
 */
export function referenceTables(api) {
	/** @param {ApiFunction} f */
	const row = (f) => [
		f.signatures.map((s) => `[${code(call(f, s))}](#${f.docs})`).join('<br>'),
		[...new Set(f.signatures.map((s) => code(s.returns)))].join(' / '),
		f.summary
	];
	const globals = api.functions.filter((f) => !f.name.includes('::'));
	const modules = [...new Set(api.functions.filter((f) => f.name.includes('::')).map(sectionOf))];
	const everyTrigger = new Set(api.request.flatMap((r) => r.triggers));
	const triggers = (/** @type {string[]} */ list) =>
		list.length === everyTrigger.size && list.every((t) => everyTrigger.has(t))
			? 'all'
			: list.map(code).join(', ');
	const parts = [
		'<!-- Generated from docs/script-api.json by `cd dashboard && npm run gen:script-api`: edit that file, not these tables. -->',
		'### Global functions and methods',
		'A method is called on a value, `value.name(..)`; its first column names the type of value it works on.',
		table(['Function', 'Returns', 'What it does'], globals.map(row)),
		...modules.flatMap((m) => [
			`### \`${m}::\` functions`,
			table(
				['Function', 'Returns', 'What it does'],
				api.functions.filter((f) => sectionOf(f) === m).map(row)
			)
		]),
		'### Properties',
		table(
			['Property', 'Type', 'What it does'],
			api.properties.map((p) => [
				`[${code(`${p.type}.${p.name}`)}](#${p.docs})`,
				code(p.returns),
				p.summary
			])
		),
		'### `request` fields',
		'"Triggers" says which runs have the field: `all`, or the kinds of trigger named (`request.trigger`).',
		table(
			['Field', 'Type', 'Triggers', 'What it does'],
			api.request.map((r) => [
				`[${code(`request.${r.name}`)}](#${r.docs})`,
				code(r.type),
				triggers(r.triggers),
				r.summary
			])
		)
	];
	return parts.join('\n\n');
}

/**
 * The guide with `tables` between its markers; everything else as it was.
 * @param {string} markdown
 * @param {string} tables
 */
export function withReference(markdown, tables) {
	const start = markdown.indexOf(START);
	const end = markdown.indexOf(END);
	if (start < 0 || end < start) {
		throw new Error(`docs/scripting.md needs the lines ${START} and ${END}, in that order`);
	}
	return `${markdown.slice(0, start)}${START}\n\n${tables}\n\n${markdown.slice(end)}`;
}

/**
 * Both outputs from the description's text and the guide as it is now.
 * Throws on a description the outputs cannot be made from.
 * @param {string} sourceText  docs/script-api.json
 * @param {string} guideText   docs/scripting.md
 * @returns {Promise<{ editor: string, guide: string, api: ScriptApiSource }>}
 */
export async function generate(sourceText, guideText) {
	const json = JSON.parse(sourceText);
	const wrong = problems(json);
	if (wrong.length > 0) throw new Error(`docs/script-api.json:\n  ${wrong.join('\n  ')}`);
	const api = /** @type {ScriptApiSource} */ (json);
	return {
		api,
		editor: await editorJson(api),
		guide: withReference(guideText, referenceTables(api))
	};
}

/** @param {string} file */
const read = (file) => readFile(file, 'utf8');

async function main() {
	const check = process.argv.includes('--check');
	const [sourceText, editorText, guideText] = await Promise.all(
		[paths.source, paths.editor, paths.guide].map((f) => read(f).catch(() => ''))
	);
	const { api, editor, guide } = await generate(sourceText, guideText);
	const missing = missingAnchors(api, guide);
	if (missing.length > 0) {
		// A warning, not a failure: the section may be on its way in the same
		// change. The unit test insists.
		console.warn(`warning: no such heading in docs/scripting.md for\n  ${missing.join('\n  ')}`);
	}
	const stale = [
		[paths.editor, editorText, editor],
		[paths.guide, guideText, guide]
	].filter(([, now, wanted]) => now !== wanted);
	const shown = (/** @type {string} */ file) => path.relative(process.cwd(), file);
	if (check) {
		if (stale.length > 0) {
			console.error(
				`stale: ${stale.map(([file]) => shown(file)).join(', ')}; run \`npm run gen:script-api\` after changing docs/script-api.json`
			);
			process.exitCode = 1;
		}
		return;
	}
	// Only what changed is written: docs/scripting.md is often open elsewhere.
	for (const [file, , wanted] of stale) await writeFile(file, wanted);
	console.log(
		`docs/script-api.json (${api.functions.length} functions, ${api.properties.length} properties, ${api.request.length} request fields) → ${
			stale.length > 0 ? stale.map(([file]) => shown(file)).join(', ') : 'nothing changed'
		}`
	);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
	main().catch((error) => {
		console.error(error instanceof Error ? error.message : error);
		process.exitCode = 1;
	});
}
