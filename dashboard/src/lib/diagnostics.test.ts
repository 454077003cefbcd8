import { Text } from '@codemirror/state';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError } from './api';
import {
	CHECK_DELAY_MS,
	diagnosticRange,
	docLines,
	editorDiagnostics,
	LiveChecker,
	resultText,
	statusLine,
	uncheckable,
	type CheckAnswer,
	type CheckResult,
	type CheckState
} from './diagnostics';

const SOURCE = ['let name = request.params.name;', 'let x = ;', '`Hello, ${name}!`', ''].join('\n');

/** The marked text. */
function marked(text: string, position: { line?: number | null; column?: number | null }) {
	const { from, to } = diagnosticRange(docLines(text), position);
	return text.slice(from, to);
}

describe('diagnosticRange', () => {
	test('from the column to the end of the token there', () => {
		expect(marked(SOURCE, { line: 2, column: 9 })).toBe(';');
		expect(marked(SOURCE, { line: 1, column: 5 })).toBe('name');
		expect(marked(SOURCE, { line: 1, column: 12 })).toBe('request');
		// Inside a name: from there to its end.
		expect(marked(SOURCE, { line: 1, column: 14 })).toBe('quest');
		expect(marked('let n = 12345 + 1;', { line: 1, column: 9 })).toBe('12345');
		expect(diagnosticRange(docLines(SOURCE), { line: 2, column: 9 })).toEqual({
			from: 40,
			to: 41
		});
	});

	test('the same offsets in CodeMirror’s own Text', () => {
		const text = Text.of(SOURCE.split('\n'));
		for (const position of [
			{ line: 2, column: 9 },
			{ line: 1, column: 1 },
			{ line: 3, column: 99 },
			{ line: 9, column: 2 },
			{ line: 2 }
		]) {
			expect(diagnosticRange(text, position)).toEqual(diagnosticRange(docLines(SOURCE), position));
		}
	});

	test('without a column: the whole line, its indentation left out', () => {
		expect(marked('fn f() {\n    throw "no";\n}', { line: 2 })).toBe('throw "no";');
		expect(marked('fn f() {\n    throw "no";\n}', { line: 2, column: null })).toBe('throw "no";');
		expect(diagnosticRange(docLines('a\n\nb'), { line: 2 })).toEqual({ from: 2, to: 2 });
		expect(marked('a\n   \nb', { line: 2 })).toBe('   ');
	});

	test('out of range is clamped into the document', () => {
		const doc = docLines(SOURCE);
		// A column past the line's end: an empty range at the end.
		expect(diagnosticRange(doc, { line: 2, column: 40 })).toEqual({ from: 41, to: 41 });
		// A line past the last: the last line (here empty, at the document's end).
		expect(diagnosticRange(doc, { line: 50, column: 3 })).toEqual({
			from: SOURCE.length,
			to: SOURCE.length
		});
		// Below 1, or not a number: the first line, the first column.
		expect(marked(SOURCE, { line: 0, column: 1 })).toBe('let');
		expect(marked(SOURCE, { line: -3, column: 1 })).toBe('let');
		expect(marked(SOURCE, { line: null, column: 1 })).toBe('let');
		expect(marked(SOURCE, { line: Number.NaN, column: 1 })).toBe('let');
		expect(marked(SOURCE, { line: 1, column: 0 })).toBe('let name = request.params.name;');
		expect(diagnosticRange(docLines(''), { line: 3, column: 3 })).toEqual({ from: 0, to: 0 });
	});

	test('columns count characters, not UTF-16 units', () => {
		const text = 'let s = "😀"; let é = ;';
		// 😀 is two units, one character: column 14 is `let`, 21 the `;`.
		expect(marked(text, { line: 1, column: 14 })).toBe('let');
		expect(marked(text, { line: 1, column: 22 })).toBe(';');
		expect(marked(text, { line: 1, column: 10 })).toBe('😀');
		// A name of letters beyond ASCII is one token.
		expect(marked(text, { line: 1, column: 18 })).toBe('é');
	});

	test('docLines splits like CodeMirror', () => {
		const doc = docLines('a\nbc\n');
		expect(doc.lines).toBe(3);
		expect(doc.line(1)).toEqual({ from: 0, to: 1, text: 'a' });
		expect(doc.line(2)).toEqual({ from: 2, to: 4, text: 'bc' });
		expect(doc.line(3)).toEqual({ from: 5, to: 5, text: '' });
	});
});

describe('words', () => {
	test('the result in one line', () => {
		expect(resultText(null)).toBe('');
		expect(resultText({ text: 'x', outcome: 'ok', diagnostics: [] })).toBe('No problems');
		expect(
			resultText({
				text: 'x',
				outcome: 'problems',
				diagnostics: [{ message: "Unexpected ';' (line 2, column 9)", line: 2, column: 9 }]
			})
		).toBe("Line 2, column 9: Unexpected ';'");
		expect(
			resultText({
				text: 'x',
				outcome: 'problems',
				diagnostics: [
					{ message: 'Module not found: money', line: 1, column: null },
					{ message: 'Other', line: 4, column: 2 },
					{ message: 'Third', line: null }
				]
			})
		).toBe('Line 1: Module not found: money (and 2 more)');
		expect(
			resultText({ text: 'x', outcome: 'problems', diagnostics: [{ message: 'Cycle' }] })
		).toBe('Cycle');
		expect(resultText({ text: 'x', outcome: 'unavailable', diagnostics: [], reason: 'busy' })).toBe(
			'Not checked: busy'
		);
	});

	test('the status line says "Checking…" while a check is under way', () => {
		const ok: CheckResult = { text: 'x', outcome: 'ok', diagnostics: [] };
		expect(statusLine({ checking: true, result: ok })).toEqual({
			text: 'Checking…',
			tone: 'muted'
		});
		expect(statusLine({ checking: false, result: ok })).toEqual({
			text: 'No problems',
			tone: 'good'
		});
		expect(
			statusLine({
				checking: false,
				result: { text: 'x', outcome: 'problems', diagnostics: [{ message: 'm', line: 3 }] }
			})
		).toEqual({ text: 'Line 3: m', tone: 'bad' });
		expect(
			statusLine({
				checking: false,
				result: { text: 'x', outcome: 'unavailable', diagnostics: [], reason: 'r' }
			}).tone
		).toBe('muted');
		expect(statusLine({ checking: false, result: null })).toEqual({ text: '', tone: 'muted' });
	});

	test('a failed check is never a problem of the script', () => {
		expect(uncheckable(new ApiError(400, 'source_too_large', 'Too big'))).toEqual({
			reason: 'the source is too large to check',
			stop: false
		});
		expect(uncheckable(new ApiError(503, 'executor_unavailable', 'No sandbox'))).toEqual({
			reason: 'the server could not check it just now',
			stop: false
		});
		expect(uncheckable(new ApiError(0, 'network_error', 'Down'))).toEqual({
			reason: 'cannot reach the server',
			stop: false
		});
		// The same for every text: stop asking.
		expect(uncheckable(new ApiError(404, 'not_found', 'No such app')).stop).toBe(true);
		expect(uncheckable(new ApiError(403, 'insufficient_role', 'No')).stop).toBe(true);
		expect(uncheckable(new ApiError(500, 'internal_error', 'Oops')).stop).toBe(false);
		expect(uncheckable(new TypeError('x')).stop).toBe(false);
	});
});

describe('editorDiagnostics', () => {
	const problems = (
		...diagnostics: { message: string; line?: number | null; column?: number | null }[]
	): CheckState => ({
		checking: false,
		result: { text: 'x', outcome: 'problems', diagnostics }
	});

	test('the problems with a line, in their own words', () => {
		expect(
			editorDiagnostics(
				problems(
					{ message: "Unexpected ';' (line 2, column 9)", line: 2, column: 9 },
					{ message: 'No position', line: null }
				),
				null
			)
		).toEqual([{ line: 2, column: 9, message: "Unexpected ';'" }]);
	});

	test('a save’s error at the same position is shown once', () => {
		const saved = { line: 2, column: 9, message: "Line 2, column 9: Unexpected ';'" };
		expect(
			editorDiagnostics(problems({ message: "Unexpected ';'", line: 2, column: 9 }), saved)
		).toEqual([{ line: 2, column: 9, message: "Unexpected ';'" }]);
		// Elsewhere (or with nothing checked), it is shown too.
		expect(editorDiagnostics(problems({ message: 'Other', line: 5, column: 1 }), saved)).toEqual([
			{ line: 5, column: 1, message: 'Other' },
			saved
		]);
		expect(editorDiagnostics(null, saved)).toEqual([saved]);
		expect(editorDiagnostics({ checking: false, result: null }, null)).toEqual([]);
	});

	test('nothing for a result without problems', () => {
		expect(
			editorDiagnostics(
				{ checking: false, result: { text: 'x', outcome: 'ok', diagnostics: [] } },
				null
			)
		).toEqual([]);
		expect(
			editorDiagnostics(
				{
					checking: false,
					result: { text: 'x', outcome: 'unavailable', diagnostics: [], reason: 'r' }
				},
				null
			)
		).toEqual([]);
	});
});

describe('LiveChecker', () => {
	/** A check whose answers the test gives, one per call, in any order. */
	interface Call {
		text: string;
		signal: AbortSignal;
		answer: (a: CheckAnswer) => Promise<void>;
		fail: (error: unknown) => Promise<void>;
	}
	let calls: Call[];
	let states: CheckState[];
	let checker: LiveChecker;

	const OK: CheckAnswer = { ok: true, diagnostics: [] };
	const BAD: CheckAnswer = {
		ok: false,
		diagnostics: [{ message: "Unexpected ';'", line: 1, column: 9 }]
	};
	const last = () => states[states.length - 1];
	// Lets the checker's promise callbacks run.
	const flush = () => new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => undefined);

	beforeEach(() => {
		vi.useFakeTimers();
		calls = [];
		states = [];
		checker = new LiveChecker({
			check: (text, signal) =>
				new Promise<CheckAnswer>((resolve, reject) => {
					calls.push({
						text,
						signal,
						answer: async (a) => {
							resolve(a);
							await flush();
						},
						fail: async (e) => {
							reject(e);
							await flush();
						}
					});
				}),
			onstate: (state) => states.push(state)
		});
	});

	afterEach(() => {
		checker.dispose();
		vi.useRealTimers();
	});

	test('checks the text 400 ms after the last change, once', async () => {
		checker.update('l');
		expect(last()).toEqual({ checking: true, result: null });
		vi.advanceTimersByTime(CHECK_DELAY_MS - 1);
		checker.update('le');
		vi.advanceTimersByTime(CHECK_DELAY_MS - 1);
		checker.update('let x = ;');
		vi.advanceTimersByTime(CHECK_DELAY_MS - 1);
		expect(calls).toHaveLength(0);
		vi.advanceTimersByTime(1);
		expect(calls.map((c) => c.text)).toEqual(['let x = ;']);
		await calls[0].answer(BAD);
		expect(last()).toEqual({
			checking: false,
			result: { text: 'let x = ;', outcome: 'problems', diagnostics: BAD.diagnostics }
		});
	});

	test('only the answer for the latest text counts; the older request is aborted', async () => {
		checker.update('let x = ;');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		checker.update('let x = 1;');
		expect(calls[0].signal.aborted).toBe(true);
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls.map((c) => c.text)).toEqual(['let x = ;', 'let x = 1;']);
		// The newer answer first, then the stale one: the stale one is dropped.
		await calls[1].answer(OK);
		await calls[0].answer(BAD);
		expect(last()).toEqual({
			checking: false,
			result: { text: 'let x = 1;', outcome: 'ok', diagnostics: [] }
		});
		expect(states.filter((s) => s.result?.outcome === 'problems')).toHaveLength(0);
	});

	test('a stale answer that arrives while the next text waits is dropped', async () => {
		checker.update('a');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		checker.update('ab');
		await calls[0].answer(OK);
		expect(last()).toEqual({ checking: true, result: null });
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		await calls[1].answer(BAD);
		expect(last().result?.text).toBe('ab');
	});

	test('a text equal to the last checked one is not checked again', async () => {
		checker.now('let x = 1;');
		expect(calls).toHaveLength(1);
		await calls[0].answer(OK);
		// Typed and undone within the delay: back to what the check said, at once.
		checker.update('let x = 12;');
		expect(last().checking).toBe(true);
		checker.update('let x = 1;');
		expect(last()).toEqual({
			checking: false,
			result: { text: 'let x = 1;', outcome: 'ok', diagnostics: [] }
		});
		vi.advanceTimersByTime(CHECK_DELAY_MS * 3);
		checker.update('let x = 1;');
		vi.advanceTimersByTime(CHECK_DELAY_MS * 3);
		expect(calls).toHaveLength(1);
	});

	test('the text being checked is not sent again', async () => {
		checker.now('a');
		checker.update('ab');
		checker.update('a');
		// The first request for "a" was aborted by "ab": "a" is checked anew.
		expect(calls[0].signal.aborted).toBe(true);
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls.map((c) => c.text)).toEqual(['a', 'a']);
		checker.update('a');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls).toHaveLength(2);
		await calls[1].answer(OK);
		expect(last()).toEqual({
			checking: false,
			result: { text: 'a', outcome: 'ok', diagnostics: [] }
		});
	});

	test('while a newer text is checked, the last result stays (for the editor’s marks)', async () => {
		checker.now('let x = ;');
		await calls[0].answer(BAD);
		checker.update('let x = ;;');
		expect(last()).toEqual({
			checking: true,
			result: { text: 'let x = ;', outcome: 'problems', diagnostics: BAD.diagnostics }
		});
	});

	test('a save’s answer counts as a check of the saved text', async () => {
		checker.update('let x = ;');
		checker.settle('let x = ;', BAD);
		expect(last()).toEqual({
			checking: false,
			result: { text: 'let x = ;', outcome: 'problems', diagnostics: BAD.diagnostics }
		});
		vi.advanceTimersByTime(CHECK_DELAY_MS * 2);
		expect(calls).toHaveLength(0);
		// A save of a text that is no longer the latest does not count.
		checker.update('let x = 1;');
		checker.settle('let x = ;', OK);
		expect(last().checking).toBe(true);
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		await calls[0].answer(OK);
		expect(last().result?.text).toBe('let x = 1;');
	});

	test('a save’s answer aborts the check of the same text', async () => {
		checker.now('a');
		checker.settle('a', OK);
		expect(calls[0].signal.aborted).toBe(true);
		await calls[0].answer(BAD);
		expect(last()).toEqual({
			checking: false,
			result: { text: 'a', outcome: 'ok', diagnostics: [] }
		});
	});

	test('a failed check is "not checked", with no problems, and the next text is tried', async () => {
		checker.now('a');
		await calls[0].fail(new ApiError(503, 'executor_unavailable', 'busy'));
		expect(last()).toEqual({
			checking: false,
			result: {
				text: 'a',
				outcome: 'unavailable',
				diagnostics: [],
				reason: 'the server could not check it just now'
			}
		});
		// Not again for the same text…
		checker.update('a');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls).toHaveLength(1);
		// …but for the next.
		checker.update('ab');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls).toHaveLength(2);
	});

	test('after a failure that every text would meet, it stops checking', async () => {
		checker.now('a');
		await calls[0].fail(new ApiError(404, 'not_found', 'No such app'));
		checker.update('ab');
		vi.advanceTimersByTime(CHECK_DELAY_MS * 2);
		expect(calls).toHaveLength(1);
		expect(last()).toEqual({
			checking: false,
			result: {
				text: 'a',
				outcome: 'unavailable',
				diagnostics: [],
				reason: 'checking is not available here'
			}
		});
		// Another script starts afresh.
		checker.reset();
		expect(last()).toEqual({ checking: false, result: null });
		checker.now('b');
		expect(calls).toHaveLength(2);
	});

	test('a check that throws at once is a failed check', async () => {
		const failing = new LiveChecker({
			check: () => {
				throw new Error('no app');
			},
			onstate: (state) => states.push(state)
		});
		failing.now('a');
		await flush();
		expect(last().result).toMatchObject({ outcome: 'unavailable' });
		failing.dispose();
	});

	test('reset and dispose drop what is pending', async () => {
		checker.now('a');
		checker.update('b');
		checker.reset();
		expect(calls[0].signal.aborted).toBe(true);
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(calls).toHaveLength(1);
		checker.now('c');
		const count = states.length;
		checker.dispose();
		expect(calls[1].signal.aborted).toBe(true);
		await calls[1].answer(OK);
		checker.update('d');
		vi.advanceTimersByTime(CHECK_DELAY_MS);
		expect(states).toHaveLength(count);
		expect(calls).toHaveLength(2);
	});

	test('a custom delay', () => {
		const quickCheck = vi.fn(() => new Promise<CheckAnswer>(() => {}));
		const slowCheck = vi.fn(() => new Promise<CheckAnswer>(() => {}));
		const quick = new LiveChecker({ check: quickCheck, onstate: () => {}, delay: 50 });
		const slow = new LiveChecker({ check: slowCheck, onstate: () => {} });
		quick.update('a');
		slow.update('a');
		vi.advanceTimersByTime(50);
		expect(quickCheck).toHaveBeenCalledOnce();
		expect(slowCheck).not.toHaveBeenCalled();
		expect(slow.state.checking).toBe(true);
		quick.dispose();
		slow.dispose();
	});
});
