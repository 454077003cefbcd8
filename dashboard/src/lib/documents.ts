// Checks of what a user types for document collections, done in the browser so
// a typo costs no round trip and gets a message that says where it is. The
// server checks everything again (docs/scripting.md#documents-docs).

import { errorMessage, type JsonObject } from './api';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const WHERE_EXAMPLE = '{"status": "paid", "total": {"gt": 10}}';
export const DOCUMENT_EXAMPLE = '{"customer": "Ada", "total": 42, "status": "new"}';

/** `docs::find`'s `where` operators. */
const OPERATORS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte'];

const COLLECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export const COLLECTION_RULE = '1 to 64 letters, digits, _, . and -, not starting with . or -';

export function isCollectionName(name: string): boolean {
	return COLLECTION_NAME.test(name);
}

function isObject(value: unknown): value is JsonObject {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): boolean {
	return (
		value === null ||
		typeof value === 'string' ||
		typeof value === 'number' ||
		typeof value === 'boolean'
	);
}

function fail<T>(error: string): Parsed<T> {
	return { ok: false, error };
}

/**
 * A `where` filter in the shape scripts pass to `docs::find`: each top-level
 * field maps to a value it must equal, or to an object of operators. Empty
 * text is no filter.
 */
export function parseWhere(text: string): Parsed<JsonObject | undefined> {
	if (!text.trim()) return { ok: true, value: undefined };
	let where: unknown;
	try {
		where = JSON.parse(text);
	} catch (e) {
		return fail(
			`The filter is not valid JSON: ${errorMessage(e)}. Field names and text need double quotes, e.g. ${WHERE_EXAMPLE}.`
		);
	}
	if (!isObject(where)) {
		return fail(`The filter must be a JSON object of fields, e.g. ${WHERE_EXAMPLE}.`);
	}
	const operators = `"eq", "ne", "lt", "lte", "gt" or "gte"`;
	for (const [field, condition] of Object.entries(where)) {
		if (field === '') return fail('The filter has an empty field name.');
		if (isScalar(condition)) continue;
		if (!isObject(condition)) {
			return fail(
				`"${field}": compare with text, a number, true, false or null, or with operators such as {"gt": 10}; lists cannot be compared.`
			);
		}
		const ops = Object.entries(condition);
		if (ops.length === 0) {
			return fail(`"${field}": give at least one operator, e.g. {"gt": 10}.`);
		}
		for (const [op, operand] of ops) {
			if (!OPERATORS.includes(op)) {
				return fail(`"${field}": unknown operator "${op}"; use ${operators}.`);
			}
			if (!isScalar(operand)) {
				return fail(`"${field}": "${op}" compares with text, a number, true, false or null.`);
			}
			if ((operand === null || typeof operand === 'boolean') && op !== 'eq' && op !== 'ne') {
				return fail(
					`"${field}": "${op}" compares numbers or text; true, false and null work only with "eq" and "ne".`
				);
			}
		}
	}
	return { ok: true, value: where };
}

/** A sort field: a top-level field name, `-` first for descending. Empty text is insertion order. */
export function parseSort(text: string): Parsed<string | undefined> {
	const sort = text.trim();
	if (!sort) return { ok: true, value: undefined };
	const field = sort.startsWith('-') ? sort.slice(1) : sort;
	if (!field || field.startsWith('-')) {
		return fail('Sort by a field name, e.g. total, or -total for the largest first.');
	}
	return { ok: true, value: sort };
}

/** A document to store: a JSON object, without `_id` (PiCloud gives each document its id). */
export function parseDocument(text: string): Parsed<JsonObject> {
	if (!text.trim()) return fail(`Enter the document as a JSON object, e.g. ${DOCUMENT_EXAMPLE}.`);
	let document: unknown;
	try {
		document = JSON.parse(text);
	} catch (e) {
		return fail(
			`The document is not valid JSON: ${errorMessage(e)}. Field names and text need double quotes.`
		);
	}
	if (!isObject(document)) {
		return fail(`A document must be a JSON object, e.g. ${DOCUMENT_EXAMPLE}.`);
	}
	if (Object.hasOwn(document, '_id')) {
		return fail('Leave out "_id": PiCloud gives each document its id, which cannot be changed.');
	}
	return { ok: true, value: document };
}
