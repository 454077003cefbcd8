// Editor help from a description of the script API: completion of names such
// as `kv::get` and a tooltip with the signature and docs on hover.
//
// The description is src/lib/script-api.json: entries `{name, signature,
// doc, example, section}`. The file in the repository is a three-entry
// SAMPLE; the real one is to be generated from the server's machine-readable
// API description (a backend task), after which nothing here changes. A
// "Script API" side panel and diagnostics while typing (a compile-only
// endpoint) would read the same entries / plug in next to these extensions.

import type {
	CompletionContext,
	CompletionResult,
	CompletionSource
} from '@codemirror/autocomplete';
import type { Extension } from '@codemirror/state';

export interface ApiEntry {
	/** As written in a script: `kv::get`. */
	name: string;
	/** `kv::get(key)`. */
	signature: string;
	/** What it does, in a sentence or two (Markdown-style backticks allowed). */
	doc: string;
	/** One line of Rhai that uses it. */
	example: string;
	/** The group it belongs to (`kv`, `log`, …), for a side panel. */
	section: string;
}

const FIELDS = ['name', 'signature', 'doc', 'example', 'section'] as const;

/**
 * The entries of a description: an array, or `{ entries: [...] }`. Entries
 * without the five string fields are left out, so a half-written file never
 * breaks the editor.
 */
export function parseScriptApi(json: unknown): ApiEntry[] {
	const list = Array.isArray(json)
		? json
		: json && typeof json === 'object' && Array.isArray((json as { entries?: unknown }).entries)
			? (json as { entries: unknown[] }).entries
			: [];
	return list.filter((item): item is ApiEntry => {
		if (!item || typeof item !== 'object') return false;
		const entry = item as Record<string, unknown>;
		return FIELDS.every((field) => typeof entry[field] === 'string') && entry.name !== '';
	});
}

/** The name being typed at the end of `before`: letters, digits, `_` and `::`, e.g. `kv::se`. */
export function typedName(before: string): string {
	return /[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z0-9_]*)*$/.exec(before)?.[0] ?? '';
}

/** The entries whose name starts with what is typed (case-insensitive), by name. */
export function matching(entries: readonly ApiEntry[], typed: string): ApiEntry[] {
	const prefix = typed.toLowerCase();
	return entries
		.filter((e) => e.name.toLowerCase().startsWith(prefix))
		.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The entry whose name covers position `at` of `line` (for hover), if any. */
export function entryAt(entries: readonly ApiEntry[], line: string, at: number): ApiEntry | null {
	for (const m of line.matchAll(/[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z0-9_]+)*/g)) {
		const from = m.index ?? 0;
		if (at >= from && at <= from + m[0].length) {
			return entries.find((e) => e.name === m[0]) ?? null;
		}
	}
	return null;
}

/** A CodeMirror completion source over the entries. */
export function completionSource(entries: readonly ApiEntry[]): CompletionSource {
	return (context: CompletionContext): CompletionResult | null => {
		const line = context.state.doc.lineAt(context.pos);
		const typed = typedName(line.text.slice(0, context.pos - line.from));
		// Unasked, only once a name is under way (`kv:`, `log`): not on every
		// letter of `let`.
		if (!context.explicit && typed.length < 3 && !typed.includes(':')) return null;
		const options = matching(entries, typed).map((e) => ({
			label: e.name,
			detail: e.signature.slice(e.name.length),
			info: `${e.doc}\n\n${e.example}`,
			type: 'function',
			section: e.section
		}));
		if (options.length === 0) return null;
		return { from: context.pos - typed.length, options, validFor: /^[A-Za-z0-9_:]*$/ };
	};
}

/**
 * The editor extensions for the entries: completion (as you type, and
 * Ctrl+Space) and the signature and docs on hover. Loaded on demand, so the
 * editor's first paint does not wait for them.
 */
export async function scriptApiExtensions(entries: readonly ApiEntry[]): Promise<Extension[]> {
	if (entries.length === 0) return [];
	const [{ autocompletion }, { hoverTooltip }] = await Promise.all([
		import('@codemirror/autocomplete'),
		import('@codemirror/view')
	]);
	const hover = hoverTooltip((view, pos) => {
		const line = view.state.doc.lineAt(pos);
		const entry = entryAt(entries, line.text, pos - line.from);
		if (!entry) return null;
		return {
			pos,
			above: true,
			create() {
				const dom = document.createElement('div');
				dom.className = 'cm-api-doc';
				const signature = document.createElement('code');
				signature.textContent = entry.signature;
				const doc = document.createElement('p');
				doc.textContent = entry.doc;
				dom.append(signature, doc);
				return { dom };
			}
		};
	});
	return [autocompletion({ override: [completionSource(entries)] }), hover];
}

/** The description shipped with the dashboard (a sample until it is generated). */
export async function loadScriptApi(): Promise<ApiEntry[]> {
	const json: unknown = (await import('./script-api.json')).default;
	return parseScriptApi(json);
}
