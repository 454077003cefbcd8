import { StringStream, type IndentContext } from '@codemirror/language';
import { describe, expect, test } from 'vitest';
import { rhaiParser, type RhaiState } from './rhai';

/** Each line's tokens as `[text, style]`, whitespace left out, the state carried across lines. */
function tokens(source: string): [string, string | null][][] {
	const state = rhaiParser.startState!(2);
	return source.split('\n').map((line) => {
		const stream = new StringStream(line, 4, 2);
		const out: [string, string | null][] = [];
		while (!stream.eol()) {
			const style = rhaiParser.token(stream, state);
			const text = stream.current();
			if (text.trim()) out.push([text, style]);
			stream.start = stream.pos;
		}
		return out;
	});
}

/** The state after tokenizing `source`. */
function stateAfter(source: string): RhaiState {
	const state = rhaiParser.startState!(2);
	for (const line of source.split('\n')) {
		const stream = new StringStream(line, 4, 2);
		while (!stream.eol()) {
			rhaiParser.token(stream, state);
			stream.start = stream.pos;
		}
	}
	return state;
}

describe('the Rhai tokenizer', () => {
	test('keywords, definitions, calls, namespaces and literals', () => {
		expect(tokens('fn greet(name) { let n = kv::get("k") ?? 0x1F; true }')[0]).toEqual([
			['fn', 'keyword'],
			['greet', 'variableName.definition'],
			['(', 'bracket'],
			['name', 'variableName'],
			[')', 'bracket'],
			['{', 'brace'],
			['let', 'keyword'],
			['n', 'variableName'],
			['=', 'operator'],
			['kv', 'namespace'],
			['::', 'punctuation'],
			['get', 'variableName.function'],
			['(', 'bracket'],
			['"k"', 'string'],
			[')', 'bracket'],
			['??', 'operator'],
			['0x1F', 'number'],
			[';', 'punctuation'],
			['true', 'bool'],
			['}', 'brace']
		]);
	});

	test('numbers with underscores and exponents, and character literals', () => {
		expect(tokens("1_000 2.5e-3 'a' '\\n'")[0]).toEqual([
			['1_000', 'number'],
			['2.5e-3', 'number'],
			["'a'", 'character'],
			["'\\n'", 'character']
		]);
	});

	test('a template string with an interpolation that has braces of its own', () => {
		expect(tokens('`Hi ${#{a: 1}.a} you`')[0]).toEqual([
			['`', 'string.special'],
			['Hi ', 'string.special'],
			['${', 'meta'],
			['#{', 'brace'],
			['a', 'variableName'],
			[':', 'punctuation'],
			['1', 'number'],
			['}', 'brace'],
			['.', 'punctuation'],
			['a', 'variableName'],
			['}', 'meta'],
			[' you', 'string.special'],
			['`', 'string.special']
		]);
	});

	test('a template string continues on the next line', () => {
		const lines = tokens('let s = `one\ntwo`; x');
		expect(lines[1]).toEqual([
			['two', 'string.special'],
			['`', 'string.special'],
			[';', 'punctuation'],
			['x', 'variableName']
		]);
	});

	test('block comments nest and span lines', () => {
		const lines = tokens('/* a /* b */ still\ncomment */ x');
		expect(lines[0]).toEqual([['/* a /* b */ still', 'comment']]);
		expect(lines[1]).toEqual([
			['comment */', 'comment'],
			['x', 'variableName']
		]);
	});

	test('a trailing backslash continues a string on the next line', () => {
		const lines = tokens('"one \\\ntwo" + x');
		expect(lines[1]).toEqual([
			['two"', 'string'],
			['+', 'operator'],
			['x', 'variableName']
		]);
	});

	test('indents by open brackets, one less before a closing one', () => {
		const state = stateAfter('if x {\n  let a = [');
		expect(state.depth).toBe(2);
		const context = { unit: 2 } as IndentContext;
		expect(rhaiParser.indent!(state, 'x', context)).toBe(4);
		expect(rhaiParser.indent!(state, ']', context)).toBe(2);
		expect(rhaiParser.indent!(stateAfter('/* open'), '', context)).toBeNull();
	});
});
