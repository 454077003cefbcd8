// Syntax highlighting for Rhai (https://rhai.rs/book/) as a CodeMirror
// stream tokenizer. It colours; it does not validate: the server compiles
// every save and reports errors with their position.

import { StreamLanguage, type StreamParser, type StringStream } from '@codemirror/language';

const KEYWORDS = new Set([
	'let',
	'const',
	'fn',
	'if',
	'else',
	'while',
	'loop',
	'for',
	'in',
	'do',
	'until',
	'return',
	'throw',
	'try',
	'catch',
	'break',
	'continue',
	'switch',
	'import',
	'export',
	'as',
	'private',
	'global'
]);

/** One level of template-string nesting: its text part, or a `${…}` inside it. */
type Frame = { kind: 'template' } | { kind: 'interpolation'; braces: number };

export interface RhaiState {
	/** Depth of nested block comments (they nest in Rhai). */
	comment: number;
	/** Inside a "…" string continued on the next line with a trailing `\`. */
	string: boolean;
	/** Template strings and the interpolations inside them, innermost last. */
	frames: Frame[];
	/** The last token was `fn`: the next name is a definition. */
	afterFn: boolean;
	/** Open brackets of any kind, for indentation. */
	depth: number;
}

function blockComment(stream: StringStream, state: RhaiState): string {
	while (!stream.eol()) {
		if (stream.match('*/')) {
			state.comment -= 1;
			if (state.comment === 0) break;
		} else if (stream.match('/*')) {
			state.comment += 1;
		} else {
			stream.next();
		}
	}
	return 'comment';
}

function quotedString(stream: StringStream, state: RhaiState): string {
	state.string = false;
	let escaped = false;
	while (!stream.eol()) {
		const ch = stream.next();
		if (escaped) {
			escaped = false;
		} else if (ch === '\\') {
			escaped = true;
		} else if (ch === '"') {
			return 'string';
		}
	}
	// A trailing backslash continues the string on the next line.
	if (escaped) state.string = true;
	return 'string';
}

function templateText(stream: StringStream, state: RhaiState): string {
	if (stream.match('${')) {
		state.frames.push({ kind: 'interpolation', braces: 0 });
		return 'meta';
	}
	if (stream.eat('`')) {
		state.frames.pop();
		return 'string.special';
	}
	while (!stream.eol()) {
		if (stream.peek() === '`' || stream.match('${', false)) break;
		if (stream.next() === '\\') stream.next();
	}
	return 'string.special';
}

/** The tokenizer itself, exported for its tests; the editor uses `rhai`. */
export const rhaiParser: StreamParser<RhaiState> = {
	name: 'rhai',

	startState: () => ({ comment: 0, string: false, frames: [], afterFn: false, depth: 0 }),

	copyState: (state) => ({
		comment: state.comment,
		string: state.string,
		frames: state.frames.map((frame) => ({ ...frame })),
		afterFn: state.afterFn,
		depth: state.depth
	}),

	token(stream, state) {
		if (state.comment > 0) return blockComment(stream, state);
		if (state.string) return quotedString(stream, state);
		const top = state.frames[state.frames.length - 1];
		if (top?.kind === 'template') return templateText(stream, state);

		if (stream.eatSpace()) return null;

		if (stream.match('//')) {
			stream.skipToEnd();
			return 'comment';
		}
		if (stream.match('/*')) {
			state.comment = 1;
			return blockComment(stream, state);
		}
		if (stream.eat('"')) return quotedString(stream, state);
		if (stream.eat('`')) {
			state.frames.push({ kind: 'template' });
			return 'string.special';
		}
		if (stream.match(/^'(?:\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)|[^\\'])'/)) return 'character';

		if (
			stream.match(/^0x[0-9a-fA-F_]+/) ||
			stream.match(/^0o[0-7_]+/) ||
			stream.match(/^0b[01_]+/) ||
			stream.match(/^\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?/)
		) {
			return 'number';
		}

		const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
		if (word) {
			const name = word[0];
			const wasFn = state.afterFn;
			state.afterFn = name === 'fn';
			if (KEYWORDS.has(name)) return 'keyword';
			if (name === 'true' || name === 'false') return 'bool';
			if (name === 'this') return 'self';
			if (wasFn) return 'variableName.definition';
			if (stream.match('::', false)) return 'namespace';
			if (stream.match(/^\s*\(/, false)) return 'variableName.function';
			return 'variableName';
		}
		state.afterFn = false;

		if (stream.match('#{') || stream.eat('{')) {
			if (top?.kind === 'interpolation') top.braces += 1;
			state.depth += 1;
			return 'brace';
		}
		if (stream.eat('}')) {
			if (top?.kind === 'interpolation') {
				if (top.braces === 0) {
					state.frames.pop();
					return 'meta';
				}
				top.braces -= 1;
			}
			state.depth = Math.max(0, state.depth - 1);
			return 'brace';
		}
		if (stream.eat(/[([]/)) {
			state.depth += 1;
			return 'bracket';
		}
		if (stream.eat(/[)\]]/)) {
			state.depth = Math.max(0, state.depth - 1);
			return 'bracket';
		}
		if (stream.match('::')) return 'punctuation';
		if (
			stream.match(
				/^(?:\?\?|\?\.|\?\[|\.\.=?|\*\*=?|<<=?|>>=?|&&|\|\||=>|->|[-+*/%&|^!<>=]=?|[?~])/
			)
		) {
			return 'operator';
		}
		if (stream.eat(/[.,;:]/)) return 'punctuation';
		stream.next();
		return null;
	},

	indent(state, textAfter, context) {
		if (state.comment > 0 || state.string) return null;
		const closing = /^\s*[}\])]/.test(textAfter) ? 1 : 0;
		return Math.max(0, state.depth - closing) * context.unit;
	},

	languageData: {
		commentTokens: { line: '//', block: { open: '/*', close: '*/' } },
		closeBrackets: { brackets: ['(', '[', '{', '"', '`'] },
		indentOnInput: /^\s*[}\]]$/
	}
};

export const rhai = StreamLanguage.define(rhaiParser);
