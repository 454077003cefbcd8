// What the script page's History panel shows of a script's versions: which
// two it compares first, and the side-by-side rows of a line diff (jsdiff's
// `diffLines`), with long unchanged stretches folded away.

import { diffLines, type ChangeObject } from 'diff';
import type { ScriptVersion } from './api';

// ---- Side-by-side rows ----

/** One line of one side: its number in that version's source, and its text. */
export interface DiffLine {
	/** From 1. */
	line: number;
	/** Without the line break. */
	text: string;
	/**
	 * The source's last line, without a line break after it: marked only on a
	 * changed line (on both sides of an unchanged one it is the same), so a
	 * diff that is only a final newline is not two identical-looking lines.
	 */
	noNewline: boolean;
}

/**
 * A row of the two columns. `changed` pairs a removed line (left) with the
 * added line that took its place (right); `removed` and `added` have the
 * other side empty.
 */
export type DiffRow =
	| { kind: 'same'; left: DiffLine; right: DiffLine }
	| { kind: 'changed'; left: DiffLine; right: DiffLine }
	| { kind: 'removed'; left: DiffLine; right: null }
	| { kind: 'added'; left: null; right: DiffLine };

/** The lines of a chunk of text, and whether its last one ends without a line break. */
export function splitLines(value: string): { lines: string[]; noNewlineAtEnd: boolean } {
	if (value === '') return { lines: [], noNewlineAtEnd: false };
	const endsWithNewline = value.endsWith('\n');
	const lines = (endsWithNewline ? value.slice(0, -1) : value).split('\n');
	return { lines, noNewlineAtEnd: !endsWithNewline };
}

/**
 * The rows for jsdiff's changes (of `diffLines(old, new)`). In each run of
 * removed and added chunks between two unchanged ones, the removed lines are
 * paired with the added ones in order (`changed` rows); the longer side's
 * rest follows as `removed` or `added` rows.
 */
export function rowsFromChanges(changes: readonly ChangeObject<string>[]): DiffRow[] {
	const rows: DiffRow[] = [];
	let left = 1;
	let right = 1;
	let removed: DiffLine[] = [];
	let added: DiffLine[] = [];

	const lines = (value: string, start: number, marked: boolean): DiffLine[] => {
		const { lines: texts, noNewlineAtEnd } = splitLines(value);
		return texts.map((text, i) => ({
			line: start + i,
			text,
			noNewline: marked && noNewlineAtEnd && i === texts.length - 1
		}));
	};

	const flush = () => {
		const paired = Math.min(removed.length, added.length);
		for (let i = 0; i < paired; i++) {
			rows.push({ kind: 'changed', left: removed[i], right: added[i] });
		}
		for (const line of removed.slice(paired))
			rows.push({ kind: 'removed', left: line, right: null });
		for (const line of added.slice(paired)) rows.push({ kind: 'added', left: null, right: line });
		removed = [];
		added = [];
	};

	for (const change of changes) {
		if (change.removed) {
			const chunk = lines(change.value, left, true);
			removed.push(...chunk);
			left += chunk.length;
		} else if (change.added) {
			const chunk = lines(change.value, right, true);
			added.push(...chunk);
			right += chunk.length;
		} else {
			flush();
			const chunk = lines(change.value, 0, false);
			for (const { text } of chunk) {
				rows.push({
					kind: 'same',
					left: { line: left++, text, noNewline: false },
					right: { line: right++, text, noNewline: false }
				});
			}
		}
	}
	flush();
	return rows;
}

/** Past this long, jsdiff gives up and the two sources are shown as all removed, all added. */
const DIFF_TIMEOUT_MS = 2000;

/** The side-by-side rows of two sources, `oldText` on the left. */
export function sideBySide(oldText: string, newText: string): DiffRow[] {
	const changes = diffLines(oldText, newText, { timeout: DIFF_TIMEOUT_MS }) ?? [
		{ value: oldText, removed: true, added: false, count: 0 },
		{ value: newText, removed: false, added: true, count: 0 }
	];
	return rowsFromChanges(changes);
}

// ---- Folding ----

/** A stretch of rows: shown, or folded away behind a "Show N unchanged lines" button. */
export interface DiffSegment {
	/** The index of its first row: stable for the same two sources. */
	id: number;
	folded: boolean;
	rows: DiffRow[];
}

/**
 * The rows in segments: every unchanged stretch longer than `context` lines
 * around each change (and at least `minFold` more) is folded. Nothing is
 * folded when nothing changed: there is no change to give it context.
 */
export function foldRows(rows: readonly DiffRow[], context = 3, minFold = 2): DiffSegment[] {
	const segments: DiffSegment[] = [];
	if (!rows.some((row) => row.kind !== 'same')) {
		return rows.length ? [{ id: 0, folded: false, rows: [...rows] }] : [];
	}
	const push = (start: number, end: number, folded: boolean) => {
		if (end <= start) return;
		const last = segments.at(-1);
		if (last && !last.folded && !folded) last.rows.push(...rows.slice(start, end));
		else segments.push({ id: start, folded, rows: rows.slice(start, end) });
	};
	let i = 0;
	while (i < rows.length) {
		if (rows[i].kind !== 'same') {
			const start = i;
			while (i < rows.length && rows[i].kind !== 'same') i++;
			push(start, i, false);
			continue;
		}
		const start = i;
		while (i < rows.length && rows[i].kind === 'same') i++;
		// Context after the change before, and before the change after.
		const keepHead = start === 0 ? 0 : context;
		const keepTail = i === rows.length ? 0 : context;
		if (i - start - keepHead - keepTail >= minFold) {
			push(start, start + keepHead, false);
			push(start + keepHead, i - keepTail, true);
			push(i - keepTail, i, false);
		} else {
			push(start, i, false);
		}
	}
	return segments;
}

// ---- The list ----

/**
 * The two versions compared first: the current one (the newest when none
 * is marked) against the one before it in the list; `from` is null when
 * there is no earlier version (a new script, or the older ones pruned).
 */
export function defaultPair(versions: readonly ScriptVersion[]): {
	from: number | null;
	to: number | null;
} {
	if (versions.length === 0) return { from: null, to: null };
	const index = Math.max(
		0,
		versions.findIndex((v) => v.current)
	);
	return { from: versions[index + 1]?.version ?? null, to: versions[index].version };
}

/** Who made a version, for the list: "—" when the server does not know. */
export function authorLabel(author: string | null | undefined): string {
	return author ? author : '—';
}
