// Diagnostics while typing: the script page sends the editor's text to
// `POST /scripts:check` (api.checkScript) a moment after the last keystroke
// and shows what it finds in the editor (an underline, a gutter marker and a
// hover message) and as a status line under it.
//
// Everything here is plain TypeScript without the DOM or CodeMirror, so it is
// unit-tested (diagnostics.test.ts): where a `{line, column}` lands in a
// document, the status line's words, and `LiveChecker`, which debounces the
// checks and makes sure only the answer for the latest text counts.

import { ApiError } from './api';
import { compileErrorText } from './format';

/** How long after the last keystroke the text is checked. */
export const CHECK_DELAY_MS = 400;

/** One problem in a source: `line` and `column` from 1, when known. */
export interface SourceDiagnostic {
	message: string;
	line?: number | null;
	column?: number | null;
}

/** A check's answer (`ScriptCheck` from `POST /scripts:check`, or a save's). */
export interface CheckAnswer {
	ok: boolean;
	diagnostics: SourceDiagnostic[];
}

/** What checking one text came to. */
export interface CheckResult {
	/** The text that was checked. */
	text: string;
	/** `unavailable`: it could not be checked (not a problem of the script). */
	outcome: 'ok' | 'problems' | 'unavailable';
	/** The problems (`problems` only). */
	diagnostics: SourceDiagnostic[];
	/** Why it could not be checked (`unavailable` only). */
	reason?: string;
}

/** What the editor shows: the latest result, and whether a newer text is being checked. */
export interface CheckState {
	/** A check of the current text is waiting for its delay or its answer. */
	checking: boolean;
	/** The last answer that counted (for an older text while `checking`), or null before any. */
	result: CheckResult | null;
}

export const IDLE: CheckState = { checking: false, result: null };

// ---- Positions ----

/** The part of a document this module reads: CodeMirror's `Text` has it. */
export interface DocLines {
	/** How many lines (at least 1). */
	readonly lines: number;
	/** Line `n` (1-based): its offsets in the document and its text. */
	line(n: number): { from: number; to: number; text: string };
}

/** A string as `DocLines` (CodeMirror's `Text` in the editor; this in tests and elsewhere). */
export function docLines(text: string): DocLines {
	const starts = [0];
	for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
	return {
		lines: starts.length,
		line(n) {
			const from = starts[n - 1];
			const to = n < starts.length ? starts[n] - 1 : text.length;
			return { from, to, text: text.slice(from, to) };
		}
	};
}

/** A word character of Rhai: a token that starts with one runs to the last. */
const WORD = /[\p{L}\p{N}_]/u;

/**
 * Where a diagnostic goes in `doc`, as offsets: from its line and column
 * (counted in characters, as Rhai counts them, not UTF-16 units) to the end
 * of the token there — a name or number, or else the one character. Out of
 * range is clamped: a line past the end is the last line, a column past the
 * end of its line is that line's end (an empty range there); without a
 * column it is the whole line, leading spaces left out.
 */
export function diagnosticRange(
	doc: DocLines,
	position: { line?: number | null; column?: number | null }
): { from: number; to: number } {
	const wanted = Number.isFinite(position.line) ? Math.floor(position.line as number) : 1;
	const line = doc.line(Math.min(Math.max(1, wanted), doc.lines));
	const text = line.text;
	if (!Number.isFinite(position.column) || (position.column as number) < 1) {
		const indent = text.length - text.trimStart().length;
		return { from: line.from + (indent < text.length ? indent : 0), to: line.to };
	}
	// Step over column - 1 characters; a surrogate pair is one.
	let offset = 0;
	for (
		let skip = Math.floor(position.column as number) - 1;
		skip > 0 && offset < text.length;
		skip--
	) {
		offset += (text.codePointAt(offset) ?? 0) > 0xffff ? 2 : 1;
	}
	const from = line.from + offset;
	if (offset >= text.length) return { from: line.to, to: line.to };
	const first = String.fromCodePoint(text.codePointAt(offset) ?? 0);
	let end = offset + first.length;
	if (WORD.test(first)) {
		while (end < text.length) {
			const next = String.fromCodePoint(text.codePointAt(end) ?? 0);
			if (!WORD.test(next)) break;
			end += next.length;
		}
	}
	return { from, to: line.from + end };
}

// ---- Words ----

/** A diagnostic as one line: "Line 3, column 5: Unexpected ';'". */
export function describeDiagnostic(d: SourceDiagnostic): string {
	return compileErrorText(d.message, d.line, d.column);
}

/** A diagnostic's own words, for the hover beside it in the editor (its position is where it is). */
export function diagnosticMessage(d: SourceDiagnostic): string {
	return compileErrorText(d.message);
}

/** The status line's tone: its colour. */
export type CheckTone = 'muted' | 'good' | 'bad';

/**
 * What a result says, in words: "No problems", the first problem (and how
 * many more), or why it was not checked; empty before any result.
 */
export function resultText(result: CheckResult | null): string {
	if (!result) return '';
	if (result.outcome === 'ok') return 'No problems';
	if (result.outcome === 'unavailable')
		return `Not checked: ${result.reason ?? 'the server could not check it'}`;
	const [first, ...more] = result.diagnostics;
	if (!first) return 'Problems';
	const text = describeDiagnostic(first);
	return more.length === 0 ? text : `${text} (and ${more.length} more)`;
}

/** The status line: "Checking…" while a check is under way, else the result's words. */
export function statusLine(state: CheckState): { text: string; tone: CheckTone } {
	if (state.checking) return { text: 'Checking…', tone: 'muted' };
	const result = state.result;
	const text = resultText(result);
	if (result?.outcome === 'ok') return { text, tone: 'good' };
	if (result?.outcome === 'problems') return { text, tone: 'bad' };
	return { text, tone: 'muted' };
}

/**
 * Why a check could not be done, from what `api.checkScript` threw, and
 * whether to stop trying (`stop`: no later text would fare better).
 */
export function uncheckable(error: unknown): { reason: string; stop: boolean } {
	if (!(error instanceof ApiError)) return { reason: 'the server could not check it', stop: false };
	if (error.code === 'source_too_large') {
		return { reason: 'the source is too large to check', stop: false };
	}
	if (error.code === 'network_error') return { reason: 'cannot reach the server', stop: false };
	// No such app or no access (or a server without `scripts:check`): the
	// same for every text, and the session's end (401) is handled elsewhere.
	if ([401, 403, 404, 405].includes(error.status)) {
		return { reason: 'checking is not available here', stop: true };
	}
	if (error.status === 503)
		return { reason: 'the server could not check it just now', stop: false };
	return { reason: 'the server could not check it', stop: false };
}

// ---- In the editor ----

/** A diagnostic placed in the editor: `line` from 1, `column` from 1 when known. */
export interface PlacedDiagnostic {
	line: number;
	column?: number | null;
	message: string;
}

/**
 * What the editor marks: the live result's problems (those with a line; the
 * status line names the others) and a save's compile error (`saved`), once —
 * a save's error at the same position as a live one is the same problem.
 * While a newer text is being checked, the last result's problems stay.
 */
export function editorDiagnostics(
	state: CheckState | null,
	saved: PlacedDiagnostic | null
): PlacedDiagnostic[] {
	const placed: PlacedDiagnostic[] = [];
	const at = new Set<string>();
	const key = (d: { line: number; column?: number | null }) => `${d.line}:${d.column ?? ''}`;
	const result = state?.result;
	if (result?.outcome === 'problems') {
		for (const d of result.diagnostics) {
			if (!d.line || d.line < 1) continue;
			const one = { line: d.line, column: d.column ?? null, message: diagnosticMessage(d) };
			if (at.has(key(one))) continue;
			at.add(key(one));
			placed.push(one);
		}
	}
	if (saved && !at.has(key({ line: saved.line, column: saved.column ?? null }))) placed.push(saved);
	return placed;
}

// ---- Debounce and order ----

export interface LiveCheckerOptions {
	/** Checks a text; `signal` aborts when its answer is no longer wanted. */
	check: (text: string, signal: AbortSignal) => Promise<CheckAnswer>;
	/** Called with every new state. */
	onstate: (state: CheckState) => void;
	/** After the last change (ms); `CHECK_DELAY_MS` unless given. */
	delay?: number;
	/** Why a failed check failed; `uncheckable` unless given. */
	classify?: (error: unknown) => { reason: string; stop: boolean };
}

/**
 * Checks the text it is given a moment after the last change, and only the
 * answer for the latest text counts: each check has a sequence number, an
 * older one's answer is dropped (and its request aborted). A text equal to
 * the last checked one is not checked again, and a save's answer (`settle`)
 * counts as a check of the text it saved.
 */
export class LiveChecker {
	readonly #options: LiveCheckerOptions;
	readonly #delay: number;
	/** The latest text given, or null before any. */
	#current: string | null = null;
	#result: CheckResult | null = null;
	#timer: ReturnType<typeof setTimeout> | null = null;
	#inflight: { seq: number; text: string; controller: AbortController } | null = null;
	#seq = 0;
	/** No more checks (a permanent failure); what the last result says stays. */
	#stopped = false;
	#disposed = false;

	constructor(options: LiveCheckerOptions) {
		this.#options = options;
		this.#delay = options.delay ?? CHECK_DELAY_MS;
	}

	/** The text changed: check it after the delay (nothing when it is the one last checked). */
	update(text: string): void {
		this.#schedule(text, this.#delay);
	}

	/** Check it now (a script just opened). */
	now(text: string): void {
		this.#schedule(text, 0);
	}

	/**
	 * A save's answer for `text`: the saved text compiled (`ok`) or not (its
	 * compile error). It counts only while `text` is still the latest text.
	 */
	settle(text: string, answer: CheckAnswer): void {
		if (this.#disposed || (this.#current !== null && text !== this.#current)) return;
		this.#current = text;
		this.#cancel();
		this.#result = toResult(text, answer);
		this.#emit();
	}

	/** Forget everything (another script): nothing checked, nothing pending. */
	reset(): void {
		this.#cancel();
		this.#current = null;
		this.#result = null;
		this.#stopped = false;
		if (!this.#disposed) this.#emit();
	}

	/** No more checks or states (the page is gone). */
	dispose(): void {
		this.#cancel();
		this.#disposed = true;
	}

	get state(): CheckState {
		return { checking: this.#timer !== null || this.#inflight !== null, result: this.#result };
	}

	#schedule(text: string, delay: number): void {
		if (this.#disposed) return;
		this.#current = text;
		if (this.#timer !== null) {
			clearTimeout(this.#timer);
			this.#timer = null;
		}
		if (this.#result?.text === text || this.#stopped) {
			// Checked already (or no checking at all): back to what that said.
			this.#abort();
		} else if (this.#inflight?.text !== text) {
			this.#abort();
			if (delay <= 0) this.#run(text);
			else {
				this.#timer = setTimeout(() => {
					this.#timer = null;
					this.#run(text);
				}, delay);
			}
		}
		this.#emit();
	}

	#run(text: string): void {
		const seq = ++this.#seq;
		const controller = new AbortController();
		this.#inflight = { seq, text, controller };
		let answer: Promise<CheckAnswer>;
		try {
			answer = this.#options.check(text, controller.signal);
		} catch (error) {
			answer = Promise.reject(error);
		}
		answer.then(
			(a) => this.#finish(seq, toResult(text, a)),
			(error: unknown) => {
				if (controller.signal.aborted) return;
				const { reason, stop } = (this.#options.classify ?? uncheckable)(error);
				if (seq === this.#seq && !this.#disposed) this.#stopped ||= stop;
				this.#finish(seq, { text, outcome: 'unavailable', diagnostics: [], reason });
			}
		);
	}

	#finish(seq: number, result: CheckResult): void {
		// Only the latest check counts, and only while its text is the latest.
		if (this.#disposed || seq !== this.#seq || result.text !== this.#current) return;
		this.#inflight = null;
		this.#result = result;
		this.#emit();
	}

	#abort(): void {
		if (!this.#inflight) return;
		this.#inflight.controller.abort();
		this.#inflight = null;
		// Whatever it answers now is stale.
		this.#seq++;
	}

	#cancel(): void {
		if (this.#timer !== null) clearTimeout(this.#timer);
		this.#timer = null;
		this.#abort();
	}

	#emit(): void {
		this.#options.onstate(this.state);
	}
}

function toResult(text: string, answer: CheckAnswer): CheckResult {
	if (answer.ok) return { text, outcome: 'ok', diagnostics: [] };
	return { text, outcome: 'problems', diagnostics: answer.diagnostics };
}
