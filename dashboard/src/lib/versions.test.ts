import { describe, expect, test } from 'vitest';
import type { ScriptVersion } from './api';
import {
	authorLabel,
	defaultPair,
	foldRows,
	rowsFromChanges,
	sideBySide,
	splitLines,
	type DiffRow
} from './versions';

/** A row as text: "3 a | 3 a", "2 -b | 2 +B", "4 -c |", "| 5 +d"; "$" marks a missing final newline. */
function show(row: DiffRow): string {
	const side = (line: DiffRow['left'], mark: string) =>
		line ? `${line.line} ${mark}${line.text}${line.noNewline ? '$' : ''}` : '';
	const [l, r] = row.kind === 'same' ? ['', ''] : ['-', '+'];
	return `${side(row.left, l)} | ${side(row.right, r)}`.trim();
}

const rows = (oldText: string, newText: string) => sideBySide(oldText, newText).map(show);

describe('splitLines', () => {
	test('a final line break ends the last line; none is marked', () => {
		expect(splitLines('a\nb\n')).toEqual({ lines: ['a', 'b'], noNewlineAtEnd: false });
		expect(splitLines('a\nb')).toEqual({ lines: ['a', 'b'], noNewlineAtEnd: true });
		expect(splitLines('\n')).toEqual({ lines: [''], noNewlineAtEnd: false });
		expect(splitLines('')).toEqual({ lines: [], noNewlineAtEnd: false });
	});
});

describe('sideBySide', () => {
	test('unchanged lines sit side by side with their numbers', () => {
		expect(rows('a\nb\n', 'a\nb\n')).toEqual(['1 a | 1 a', '2 b | 2 b']);
	});

	test('a changed line pairs the removed line with the added one', () => {
		expect(rows('a\nb\nc\n', 'a\nB\nc\n')).toEqual(['1 a | 1 a', '2 -b | 2 +B', '3 c | 3 c']);
	});

	test('more lines removed than added: the rest has an empty right side', () => {
		expect(rows('a\nb\nc\nd\n', 'a\nX\nd\n')).toEqual([
			'1 a | 1 a',
			'2 -b | 2 +X',
			'3 -c |',
			'4 d | 3 d'
		]);
	});

	test('more lines added than removed: the rest has an empty left side', () => {
		expect(rows('a\nb\nd\n', 'a\nX\nY\nZ\nd\n')).toEqual([
			'1 a | 1 a',
			'2 -b | 2 +X',
			'| 3 +Y',
			'| 4 +Z',
			'3 d | 5 d'
		]);
	});

	test('pure insertions and deletions move the other side’s numbering on', () => {
		expect(rows('a\nc\n', 'a\nb\nc\n')).toEqual(['1 a | 1 a', '| 2 +b', '2 c | 3 c']);
		expect(rows('a\nb\nc\n', 'a\nc\n')).toEqual(['1 a | 1 a', '2 -b |', '3 c | 2 c']);
	});

	test('two separate changes are aligned each on its own', () => {
		const oldText = 'one\ntwo\nthree\nfour\nfive\n';
		const newText = 'one\nTWO\nthree\nfour\nFIVE\nsix\n';
		expect(rows(oldText, newText)).toEqual([
			'1 one | 1 one',
			'2 -two | 2 +TWO',
			'3 three | 3 three',
			'4 four | 4 four',
			'5 -five | 5 +FIVE',
			'| 6 +six'
		]);
	});

	test('from and to an empty source', () => {
		expect(rows('', 'a\nb\n')).toEqual(['| 1 +a', '| 2 +b']);
		expect(rows('a\n', '')).toEqual(['1 -a |']);
		expect(rows('', '')).toEqual([]);
	});

	test('a missing final newline is marked where the two differ, not elsewhere', () => {
		expect(rows('a\nb', 'a\nb\n')).toEqual(['1 a | 1 a', '2 -b$ | 2 +b']);
		expect(rows('a\nb', 'x\nb')).toEqual(['1 -a | 1 +x', '2 b | 2 b']);
	});

	test('empty lines keep their place', () => {
		expect(rows('a\n\nb\n', 'a\n\nc\n')).toEqual(['1 a | 1 a', '2  | 2', '3 -b | 3 +c']);
	});
});

describe('rowsFromChanges', () => {
	test('an added chunk before a removed one is paired all the same', () => {
		const changes = [
			{ value: 'a\n', added: false, removed: false, count: 1 },
			{ value: 'B\n', added: true, removed: false, count: 1 },
			{ value: 'b\n', added: false, removed: true, count: 1 },
			{ value: 'c\n', added: false, removed: false, count: 1 }
		];
		expect(rowsFromChanges(changes).map(show)).toEqual(['1 a | 1 a', '2 -b | 2 +B', '3 c | 3 c']);
	});

	test('row kinds', () => {
		const kinds = sideBySide('a\nb\nc\n', 'a\nB\n\nd\n').map((r) => r.kind);
		expect(kinds).toEqual(['same', 'changed', 'changed', 'added']);
	});
});

describe('foldRows', () => {
	const numbered = (n: number, from = 1) =>
		Array.from({ length: n }, (_, i) => `line ${from + i}`).join('\n') + '\n';

	test('long unchanged stretches are folded, keeping three lines around each change', () => {
		// 20 lines, line 10 changed.
		const oldText = numbered(20);
		const newText = oldText.replace('line 10\n', 'line ten\n');
		const segments = foldRows(sideBySide(oldText, newText));
		expect(segments.map((s) => [s.folded, s.rows.length])).toEqual([
			[true, 6], // lines 1-6
			[false, 7], // 7-9, the change, 11-13
			[true, 7] // 14-20
		]);
		expect(segments[1].rows[0].left?.line).toBe(7);
		expect(segments[1].rows[3].kind).toBe('changed');
		// Ids are the index of the first row: stable for the same two sources.
		expect(segments.map((s) => s.id)).toEqual([0, 6, 13]);
	});

	test('a short stretch between two changes stays shown', () => {
		const oldText = numbered(12);
		const newText = oldText.replace('line 2\n', 'line two\n').replace('line 10\n', 'line ten\n');
		const segments = foldRows(sideBySide(oldText, newText));
		// Between the changes: lines 3-9 (7 lines), 3 + 3 kept, 1 left: not worth a fold.
		expect(segments.map((s) => [s.folded, s.rows.length])).toEqual([[false, 12]]);
	});

	test('a longer stretch between two changes folds its middle', () => {
		const oldText = numbered(20);
		const newText = oldText.replace('line 1\n', 'line one\n').replace('line 20\n', 'line twenty\n');
		const segments = foldRows(sideBySide(oldText, newText));
		expect(segments.map((s) => [s.folded, s.rows.length])).toEqual([
			[false, 4], // the change, 2-4
			[true, 12], // 5-16
			[false, 4] // 17-19, the change
		]);
	});

	test('nothing is folded when nothing changed, and no rows make no segments', () => {
		const same = sideBySide(numbered(30), numbered(30));
		expect(foldRows(same).map((s) => [s.folded, s.rows.length])).toEqual([[false, 30]]);
		expect(foldRows([])).toEqual([]);
	});
});

describe('defaultPair', () => {
	const version = (n: number, current = false): ScriptVersion => ({
		version: n,
		sha256: '0'.repeat(64),
		size: 1,
		author: '',
		message: null,
		created_at: '2026-01-01T00:00:00Z',
		current
	});

	test('the current version against the one before it', () => {
		expect(defaultPair([version(3, true), version(2), version(1)])).toEqual({ from: 2, to: 3 });
	});

	test('the one before it is the next in the list, whatever its number (pruned versions)', () => {
		expect(defaultPair([version(9, true), version(4)])).toEqual({ from: 4, to: 9 });
	});

	test('only one version: nothing to compare it with', () => {
		expect(defaultPair([version(1, true)])).toEqual({ from: null, to: 1 });
		expect(defaultPair([])).toEqual({ from: null, to: null });
	});

	test('none marked current: the newest', () => {
		expect(defaultPair([version(5), version(4)])).toEqual({ from: 4, to: 5 });
	});
});

describe('authorLabel', () => {
	test('a dash for an unknown author', () => {
		expect(authorLabel('ada')).toBe('ada');
		expect(authorLabel('token:ci')).toBe('token:ci');
		expect(authorLabel('')).toBe('—');
		expect(authorLabel(null)).toBe('—');
	});
});
