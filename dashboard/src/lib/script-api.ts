// Editor help from the description of the script API: completion of every
// function, module, method and `request` field, signature help while a call's
// arguments are typed, docs on hover, and the entries of the "Script API"
// panel, each with a link to the section of docs/scripting.md that explains it.
//
// src/lib/script-api.json is generated from docs/script-api.json, the one
// description that a Rust test holds to what the engine registers (`npm run
// gen:script-api`, scripts/gen-script-api.mjs), so what the editor offers is
// what a script can call. The functions here are pure and unit-tested; the
// CodeMirror glue at the end only wires them up.

import type {
	Completion,
	CompletionContext,
	CompletionResult,
	CompletionSource
} from '@codemirror/autocomplete';
import type { EditorState, Extension } from '@codemirror/state';
import type { Tooltip } from '@codemirror/view';

export type EntryKind = 'function' | 'method' | 'property' | 'field';

export interface ApiSignature {
	/** `kv::set(key: string, value: any) -> ()`; a method's starts with its receiver's type. */
	label: string;
	/** The arguments as written in the call, `key: string`; a method's receiver is not one. */
	params: string[];
	returns: string;
}

export interface ApiEntry {
	kind: EntryKind;
	/** As written in a script: `kv::get`, `invoke`; a method's, property's or field's name after the dot. */
	name: string;
	/** The type a method or property belongs to (`Response`, `timestamp`, `map`), `request` for a field. */
	receiver: string | null;
	/** The panel's group: a module (`kv`), `global`, a type, or `request`. */
	section: string;
	/** One per overload; none for properties and fields. */
	signatures: ApiSignature[];
	/** A property's or field's type. */
	type: string | null;
	/** A sentence or two; `code` in backticks. */
	summary: string;
	/** One line of Rhai that uses it; empty for properties and fields. */
	example: string;
	/** The anchor of its section in docs/scripting.md. */
	docs: string;
	/** The kinds of run that have a `request` field; empty otherwise. */
	triggers: string[];
}

export interface ApiSection {
	id: string;
	title: string;
}

export interface ScriptApi {
	sections: ApiSection[];
	entries: ApiEntry[];
}

/**
 * The scripting guide the `docs` anchors belong to. The dashboard does not
 * serve the docs, so links go to the repository's copy: the workspace's
 * `repository` (Cargo.toml; a unit test keeps the two together).
 */
export const GUIDE_URL = 'https://example.invalid/picloud/blob/main/docs/scripting.md';

/** The link to a section of the scripting guide. */
export function docsUrl(anchor: string): string {
	return `${GUIDE_URL}#${anchor}`;
}

const KINDS = new Set<string>(['function', 'method', 'property', 'field']);

function isEntry(item: unknown): item is ApiEntry {
	if (!item || typeof item !== 'object') return false;
	const e = item as Record<string, unknown>;
	return (
		KINDS.has(e.kind as string) &&
		typeof e.name === 'string' &&
		e.name !== '' &&
		(e.receiver === null || typeof e.receiver === 'string') &&
		typeof e.section === 'string' &&
		Array.isArray(e.signatures) &&
		e.signatures.every(
			(s: unknown) =>
				!!s &&
				typeof (s as ApiSignature).label === 'string' &&
				Array.isArray((s as ApiSignature).params) &&
				typeof (s as ApiSignature).returns === 'string'
		) &&
		(e.type === null || typeof e.type === 'string') &&
		typeof e.summary === 'string' &&
		typeof e.example === 'string' &&
		typeof e.docs === 'string' &&
		Array.isArray(e.triggers)
	);
}

/**
 * The generated file's contents. Malformed entries are left out and a
 * section without entries is dropped, so a bad file degrades the help
 * instead of breaking the editor.
 */
export function parseScriptApi(json: unknown): ScriptApi {
	const data = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
	const entries = Array.isArray(data.entries) ? data.entries.filter(isEntry) : [];
	const listed = Array.isArray(data.sections)
		? data.sections.filter(
				(s): s is ApiSection =>
					!!s && typeof s.id === 'string' && typeof s.title === 'string' && s.title !== ''
			)
		: [];
	const sections = listed.filter((s) => entries.some((e) => e.section === s.id));
	// An entry whose section is not listed still gets one, titled by its id.
	for (const e of entries) {
		if (!sections.some((s) => s.id === e.section))
			sections.push({ id: e.section, title: e.section });
	}
	return { sections, entries };
}

/** How an entry appears in a script: `kv::get`, `.header()`, `.status`, `request.body`. */
export function display(entry: ApiEntry): string {
	switch (entry.kind) {
		case 'function':
			return entry.name;
		case 'method':
			return `.${entry.name}()`;
		case 'property':
			return `.${entry.name}`;
		case 'field':
			return `request.${entry.name}`;
	}
}

/** What a tooltip, a completion's info and the panel show of one thing. */
export interface Doc {
	title: string;
	/** `kv::get(key: string) -> any`, one per overload, or `request.body: string`. */
	signatures: string[];
	summary: string;
	example: string;
	/** The anchor in the guide. */
	docs: string;
}

export function docOf(entry: ApiEntry): Doc {
	const signatures =
		entry.signatures.length > 0
			? entry.signatures.map((s) => s.label)
			: [`${entry.receiver ?? ''}.${entry.name}: ${entry.type ?? 'any'}`];
	return {
		title: display(entry),
		signatures,
		summary: entry.summary,
		example: entry.example,
		docs: entry.docs
	};
}

/** The modules (`kv`, …) with their functions, in the description's order. */
export function modules(api: ScriptApi): { name: string; functions: ApiEntry[] }[] {
	const found = new Map<string, ApiEntry[]>();
	for (const e of api.entries) {
		if (e.kind !== 'function' || !e.name.includes('::')) continue;
		const name = e.name.slice(0, e.name.indexOf('::'));
		found.set(name, [...(found.get(name) ?? []), e]);
	}
	return [...found].map(([name, functions]) => ({ name, functions }));
}

function moduleDoc(name: string, functions: ApiEntry[]): Doc {
	return {
		title: `${name}::`,
		signatures: [],
		summary: `The ${name} module: ${functions.map((f) => f.name.slice(name.length + 2)).join(', ')}.`,
		example: functions[0]?.example ?? '',
		docs: functions[0]?.docs ?? ''
	};
}

/** `request` itself, which every script has (it is a variable, not part of the description). */
const REQUEST_DOC: Doc = {
	title: 'request',
	signatures: ['request: map'],
	summary:
		'The request this execution runs for: its method, path, query, headers, body and more (`request.` lists them).',
	example: 'let name = request.query.name ?? "World";',
	docs: 'the-request'
};

// ---- Completion ----

/**
 * The name being typed at the end of `before`: letters, digits, `_` and
 * `::`, e.g. `kv::se`, or `kv:` on the way to `kv::`.
 */
export function typedName(before: string): string {
	return /[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z0-9_]*)*:?$/.exec(before)?.[0] ?? '';
}

/**
 * A member being typed at the end of `before`: `request.bo` gives object
 * `request` and `bo`. The object is a name, or a call or index that ends
 * with `)` or `]`; `1.5` is a number, not a member.
 */
export function typedMember(before: string): { object: string; typed: string } | null {
	const m = /(?:([A-Za-z_][A-Za-z0-9_]*)|[)\]])\??\.([A-Za-z_][A-Za-z0-9_]*)?$/.exec(before);
	if (!m) return null;
	return { object: m[1] ?? '', typed: m[2] ?? '' };
}

export interface ApiOption {
	label: string;
	type: 'function' | 'method' | 'property' | 'variable' | 'namespace';
	/** Shown after the label: the parameters and result, or the type. */
	detail: string;
	/** The panel section's title, for grouping in the list. */
	section: string;
	doc: Doc;
}

const byLabel = (a: ApiOption, b: ApiOption) =>
	a.label < b.label ? -1 : a.label > b.label ? 1 : 0;

function entryOption(api: ScriptApi, e: ApiEntry): ApiOption {
	const first = e.signatures[0];
	const more = e.signatures.length > 1 ? ` (+${e.signatures.length - 1})` : '';
	const section = api.sections.find((s) => s.id === e.section)?.title ?? e.section;
	return {
		label: e.name,
		type: e.kind === 'field' ? 'property' : e.kind,
		detail: first
			? `(${first.params.join(', ')}) -> ${first.returns}${more}`
			: `: ${e.type ?? 'any'}`,
		section,
		doc: docOf(e)
	};
}

/**
 * What to offer at the end of `before` (the line up to the cursor): the
 * options whose label starts with what is typed (case-insensitive), by
 * label, and how many characters before the cursor they replace. `explicit`
 * is Ctrl+Space: then even nothing typed yet gets the whole list.
 *
 * - `request.` lists the request's fields (and `.json()`);
 * - `x.` on anything else lists the methods and properties of the API's
 *   types, once a letter is typed (most of what follows a dot is a map key);
 * - a name lists `request`, the modules (`kv::`) and the global functions,
 *   and `kv:` or `kv::` the module's functions.
 */
export function completionsFor(
	api: ScriptApi,
	before: string,
	explicit: boolean
): { length: number; options: ApiOption[] } | null {
	const member = typedMember(before);
	let candidates: ApiOption[];
	let typed: string;
	if (member) {
		typed = member.typed;
		if (member.object === 'request') {
			candidates = api.entries
				.filter((e) => e.kind === 'field' || (e.kind === 'method' && e.receiver === 'map'))
				.map((e) => entryOption(api, e));
		} else {
			if (!explicit && typed === '') return null;
			candidates = api.entries
				.filter((e) => e.kind === 'method' || e.kind === 'property')
				.map((e) => entryOption(api, e));
		}
	} else {
		typed = typedName(before);
		// Unasked, only once a name is under way (`kv:`, `res`): not on
		// every letter of `let`.
		if (!explicit && typed.length < 3 && !typed.includes(':')) return null;
		// A name right after a digit is part of a number (`1e5`), not a name.
		if (typed !== '' && /[0-9.]$/.test(before.slice(0, before.length - typed.length))) return null;
		candidates = [
			{
				label: 'request',
				type: 'variable',
				detail: ': map',
				section: 'request fields',
				doc: REQUEST_DOC
			},
			...modules(api).map(({ name, functions }) => ({
				label: `${name}::`,
				type: 'namespace' as const,
				detail: 'module',
				section: 'Modules',
				doc: moduleDoc(name, functions)
			})),
			...api.entries.filter((e) => e.kind === 'function').map((e) => entryOption(api, e))
		];
		// `kv:` (or `kv::g`) lists the module's functions, not the module
		// again; before that, the module's functions wait behind its name.
		candidates = typed.includes(':')
			? candidates.filter((o) => o.type === 'function')
			: candidates.filter((o) => !o.label.includes('::') || o.type === 'namespace');
	}
	const prefix = typed.toLowerCase();
	const options = candidates.filter((o) => o.label.toLowerCase().startsWith(prefix)).sort(byLabel);
	if (options.length === 0) return null;
	return { length: typed.length, options };
}

// ---- Signature help ----

export interface Call {
	/** `kv::set`, or `header` for `.header(`. */
	name: string;
	/** Called on a value: `x.header(`. */
	method: boolean;
	/** Where the name starts, and where its `(` is. */
	nameFrom: number;
	open: number;
	/** The argument the cursor is in, from 0. */
	arg: number;
}

type Frame = { bracket: '(' | '[' | '{' | '#{' | '${'; at: number; commas: number };

/**
 * The call whose arguments the cursor (`pos`) is in, if any: the innermost
 * unclosed `(` before it that follows a name, and how many of its commas
 * come first. Strings, characters, template strings (with `${…}` inside)
 * and comments are skipped; inside a comment there is no call. A block
 * (`{` that is not a map's `#{`) ends the search: `f(|x| { … })` is not
 * inside `f`'s arguments in any useful sense.
 */
export function callAt(text: string, pos: number): Call | null {
	const stack: Frame[] = [];
	const end = Math.min(pos, text.length);
	// In the text part of a template string (between `…` or after a `${…}`).
	let template = false;
	let i = 0;
	while (i < end) {
		const ch = text[i];
		if (template) {
			if (ch === '\\') i += 2;
			else if (ch === '`') {
				template = false;
				i += 1;
			} else if (ch === '$' && text[i + 1] === '{') {
				stack.push({ bracket: '${', at: i, commas: 0 });
				template = false;
				i += 2;
			} else i += 1;
			continue;
		}
		if (ch === '/' && text[i + 1] === '/') {
			const newline = text.indexOf('\n', i);
			if (newline < 0 || newline >= end) return null;
			i = newline + 1;
			continue;
		}
		if (ch === '/' && text[i + 1] === '*') {
			// Block comments nest in Rhai.
			let depth = 1;
			i += 2;
			while (i < end && depth > 0) {
				if (text.startsWith('/*', i)) {
					depth += 1;
					i += 2;
				} else if (text.startsWith('*/', i)) {
					depth -= 1;
					i += 2;
				} else i += 1;
			}
			if (depth > 0) return null;
			continue;
		}
		if (ch === '"' || ch === "'") {
			i += 1;
			while (i < end && text[i] !== ch) i += text[i] === '\\' ? 2 : 1;
			i += 1;
			continue;
		}
		if (ch === '`') template = true;
		else if (ch === '(' || ch === '[') stack.push({ bracket: ch, at: i, commas: 0 });
		else if (ch === '{')
			stack.push({ bracket: text[i - 1] === '#' ? '#{' : '{', at: i, commas: 0 });
		else if (ch === ')' || ch === ']' || ch === '}') {
			if (stack.pop()?.bracket === '${') template = true;
		} else if (ch === ',' && stack.length > 0) stack[stack.length - 1].commas += 1;
		i += 1;
	}
	for (let k = stack.length - 1; k >= 0; k--) {
		const frame = stack[k];
		if (frame.bracket === '{') return null;
		if (frame.bracket !== '(') continue;
		const m = /(\??\.)?([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)$/.exec(
			text.slice(Math.max(0, frame.at - 200), frame.at)
		);
		if (!m) return null;
		return {
			name: m[2],
			method: m[1] !== undefined,
			nameFrom: frame.at - m[2].length,
			open: frame.at,
			arg: frame.commas
		};
	}
	return null;
}

export interface SignatureHelp {
	entry: ApiEntry;
	/** The overload that fits the arguments typed so far: the first with more parameters than `arg`. */
	active: number;
	/** The argument being typed, from 0; past every parameter of the active overload when it has fewer. */
	arg: number;
}

/** The API function or method a call is of, with the overload and argument to highlight. */
export function signatureHelp(api: ScriptApi, call: Call): SignatureHelp | null {
	const entry = api.entries.find(
		(e) => e.name === call.name && e.kind === (call.method ? 'method' : 'function')
	);
	if (!entry || entry.signatures.length === 0) return null;
	const fits = entry.signatures.findIndex((s) => s.params.length > call.arg);
	return { entry, active: fits < 0 ? entry.signatures.length - 1 : fits, arg: call.arg };
}

// ---- Hover ----

/**
 * The entry whose name covers position `at` of `line`: a function
 * (`kv::get`, `invoke`), a `request` field, or a method or property after a
 * dot (a method when a `(` follows).
 */
export function entryAt(api: ScriptApi, line: string, at: number): ApiEntry | null {
	for (const m of line.matchAll(/(\??\.)?([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)/g)) {
		const from = (m.index ?? 0) + (m[1]?.length ?? 0);
		const to = from + m[2].length;
		if (at < from || at > to) continue;
		const name = m[2];
		if (!m[1]) return api.entries.find((e) => e.kind === 'function' && e.name === name) ?? null;
		const object = /([A-Za-z_][A-Za-z0-9_]*)$/.exec(line.slice(0, m.index ?? 0))?.[1];
		const called = /^\s*\(/.test(line.slice(to));
		const members = api.entries.filter((e) =>
			object === 'request'
				? (e.kind === 'field' && !called) || (e.kind === 'method' && e.receiver === 'map')
				: e.kind === (called ? 'method' : 'property')
		);
		return members.find((e) => e.name === name) ?? null;
	}
	return null;
}

// ---- The panel's search ----

/**
 * The sections and entries that have every word of `query` (any case) in
 * their name, section, signature or summary. A section named by the query
 * comes first, then those with an entry it names, then the rest: "queue"
 * finds `queue::send` before `request.queue` and the fields whose sentences
 * mention queues.
 */
export function searchApi(
	api: ScriptApi,
	query: string
): { section: ApiSection; entries: ApiEntry[] }[] {
	const words = query.toLowerCase().split(/\s+/).filter(Boolean);
	const groups = api.sections.map((section) => {
		const entries = api.entries.filter((e) => {
			if (e.section !== section.id) return false;
			const doc = docOf(e);
			const text = [doc.title, section.title, ...doc.signatures, e.summary].join(' ').toLowerCase();
			return words.every((w) => text.includes(w));
		});
		const names = (title: string) => words.every((w) => title.toLowerCase().includes(w));
		const rank = names(section.title) ? 0 : entries.some((e) => names(display(e))) ? 1 : 2;
		return { section, entries, rank };
	});
	return groups
		.filter((g) => g.entries.length > 0)
		.sort((a, b) => a.rank - b.rank)
		.map(({ section, entries }) => ({ section, entries }));
}

/** What the panel inserts for an entry: its example, or how it is written. */
export function insertText(entry: ApiEntry): string {
	return entry.example !== '' ? entry.example : display(entry);
}

// ---- DOM for tooltips (browser only) ----

/** Text with `code` in backticks, as nodes (never HTML: the text is not markup). */
function inline(text: string): Node[] {
	return text.split('`').map((part, i) => {
		if (i % 2 === 0) return document.createTextNode(part);
		const code = document.createElement('code');
		code.textContent = part;
		return code;
	});
}

function docsLink(doc: Doc): HTMLAnchorElement {
	const a = document.createElement('a');
	a.className = 'cm-api-docs';
	a.href = docsUrl(doc.docs);
	a.target = '_blank';
	// Another origin, in a new tab: not one of the dashboard's own pages.
	a.rel = 'external noopener noreferrer';
	a.textContent = 'Docs';
	a.title = `docs/scripting.md#${doc.docs}`;
	return a;
}

/** A tooltip's or completion's docs: signatures, the sentence, the example and the link. */
export function docNode(doc: Doc, withSignatures = true): HTMLElement {
	const dom = document.createElement('div');
	dom.className = 'cm-api-doc';
	if (withSignatures) {
		for (const label of doc.signatures) {
			const signature = document.createElement('code');
			signature.className = 'cm-api-signature';
			signature.textContent = label;
			dom.append(signature);
		}
	}
	const summary = document.createElement('p');
	summary.append(...inline(doc.summary));
	dom.append(summary);
	if (doc.example !== '') {
		const example = document.createElement('pre');
		example.className = 'cm-api-example';
		example.textContent = doc.example;
		dom.append(example);
	}
	if (doc.docs !== '') dom.append(docsLink(doc));
	return dom;
}

function signatureHelpNode(help: SignatureHelp): HTMLElement {
	const { entry, active, arg } = help;
	const dom = document.createElement('div');
	dom.className = 'cm-api-doc cm-api-signature-help';
	entry.signatures.forEach((s, i) => {
		const line = document.createElement('code');
		line.className = i === active ? 'cm-api-signature cm-api-active' : 'cm-api-signature';
		line.append(`${entry.kind === 'method' ? '.' : ''}${entry.name}(`);
		s.params.forEach((p, k) => {
			if (k > 0) line.append(', ');
			if (i === active && k === arg) {
				const current = document.createElement('strong');
				current.className = 'cm-api-param';
				current.textContent = p;
				line.append(current);
			} else line.append(p);
		});
		line.append(`) -> ${s.returns}`);
		dom.append(line);
	});
	const summary = document.createElement('p');
	summary.append(...inline(entry.summary));
	dom.append(summary, docsLink(docOf(entry)));
	return dom;
}

// ---- CodeMirror ----

/** A CodeMirror completion source over the description. */
export function completionSource(api: ScriptApi): CompletionSource {
	return (context: CompletionContext): CompletionResult | null => {
		const line = context.state.doc.lineAt(context.pos);
		const found = completionsFor(
			api,
			line.text.slice(0, context.pos - line.from),
			context.explicit
		);
		if (!found) return null;
		const options: Completion[] = found.options.map((o) => ({
			label: o.label,
			type: o.type,
			detail: o.detail,
			section: o.section,
			// The detail shows the first overload; the others are in the info.
			info: () => docNode(o.doc, o.doc.signatures.length > 1)
		}));
		// Filtered here (by prefix), so asked again on every key typed.
		return { from: context.pos - found.length, options, filter: false };
	};
}

/** The signature help tooltip at the cursor, if it is in the arguments of an API call. */
function signatureTooltips(api: ScriptApi, state: EditorState): readonly Tooltip[] {
	const selection = state.selection.main;
	if (!selection.empty || state.readOnly) return [];
	const call = callAt(state.doc.sliceString(0, selection.head), selection.head);
	const help = call && signatureHelp(api, call);
	if (!call || !help) return [];
	return [
		{
			pos: call.nameFrom,
			above: true,
			arrow: false,
			create: () => ({ dom: signatureHelpNode(help) })
		}
	];
}

/**
 * The editor extensions for the description: completion (as you type, and
 * Ctrl+Space), signature help inside a call's parentheses, and docs on
 * hover. Loaded on demand, so the editor's first paint does not wait for them.
 */
export async function scriptApiExtensions(api: ScriptApi): Promise<Extension[]> {
	if (api.entries.length === 0) return [];
	const [{ autocompletion }, { hoverTooltip, showTooltip }, { StateField }] = await Promise.all([
		import('@codemirror/autocomplete'),
		import('@codemirror/view'),
		import('@codemirror/state')
	]);
	const hover = hoverTooltip((view, pos) => {
		const line = view.state.doc.lineAt(pos);
		const entry = entryAt(api, line.text, pos - line.from);
		if (!entry) return null;
		return { pos, above: true, create: () => ({ dom: docNode(docOf(entry)) }) };
	});
	const signatures = StateField.define<readonly Tooltip[]>({
		create: (state) => signatureTooltips(api, state),
		update: (tooltips, tr) =>
			tr.docChanged || tr.selection ? signatureTooltips(api, tr.state) : tooltips,
		provide: (field) => showTooltip.computeN([field], (state) => state.field(field))
	});
	return [autocompletion({ override: [completionSource(api)] }), hover, signatures];
}

/** The generated description shipped with the dashboard. */
export async function loadScriptApi(): Promise<ScriptApi> {
	const json: unknown = (await import('./script-api.json')).default;
	return parseScriptApi(json);
}
