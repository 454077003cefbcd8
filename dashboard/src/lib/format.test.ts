import { describe, expect, test } from 'vitest';
import {
	compactJson,
	compileErrorText,
	formatBytes,
	formatDuration,
	formatInt,
	formatMs,
	formatPercent,
	formatRelative,
	formatTime,
	localInputToIso,
	plural,
	shorten
} from './format';

// Numbers are formatted in the runner's locale: the assertions accept either
// decimal separator and stay below 1,000 where grouping would differ.

describe('formatMs', () => {
	test('picks the precision by magnitude', () => {
		expect(formatMs(0.123)).toBe('0.12 ms');
		expect(formatMs(12.34)).toBe('12.3 ms');
		expect(formatMs(123.4)).toBe('123 ms');
		expect(formatMs(9_999)).toBe('9999 ms');
		expect(formatMs(12_345)).toBe('12.3 s');
	});

	test('shows a dash for no value', () => {
		expect(formatMs(null)).toBe('—');
		expect(formatMs(undefined)).toBe('—');
	});
});

describe('formatPercent', () => {
	test('never rounds a few errors down to 0%', () => {
		expect(formatPercent(0)).toBe('0%');
		expect(formatPercent(0.0004)).toBe('<0.1%');
		expect(formatPercent(0.0123)).toBe('1.2%');
		expect(formatPercent(0.5)).toBe('50%');
		expect(formatPercent(null)).toBe('—');
	});
});

describe('formatBytes', () => {
	test('uses binary units with one decimal below 10', () => {
		expect(formatBytes(0)).toBe('0 B');
		expect(formatBytes(512)).toBe('512 B');
		expect(formatBytes(1536)).toMatch(/^1[.,]5 KiB$/);
		expect(formatBytes(64 * 1024 * 1024)).toBe('64 MiB');
		expect(formatBytes(5 * 1024 ** 4)).toBe('5 TiB');
	});

	test('stops at TiB', () => {
		expect(formatBytes(2048 * 1024 ** 4)).toMatch(/^2[.,\s\u00a0\u202f]?048 TiB$/);
	});

	test('shows a dash for no value', () => {
		expect(formatBytes(undefined)).toBe('—');
	});
});

describe('plural and formatInt', () => {
	test('one is singular, everything else plural', () => {
		expect(plural(1, 'key')).toBe('1 key');
		expect(plural(0, 'key')).toBe('0 keys');
		expect(plural(2, 'entry', 'entries')).toBe('2 entries');
	});

	test('formatInt shows a dash for no value and rounds', () => {
		expect(formatInt(null)).toBe('—');
		expect(formatInt(41.6)).toBe('42');
	});
});

describe('formatDuration', () => {
	test('names each unit that is not zero, largest first', () => {
		expect(formatDuration(604_800)).toBe('7 days');
		expect(formatDuration(3_600)).toBe('1 hour');
		expect(formatDuration(5_400)).toBe('1 hour 30 minutes');
		expect(formatDuration(86_461)).toBe('1 day 1 minute 1 second');
		expect(formatDuration(31_536_000)).toBe('365 days');
	});

	test('drops a fraction of a second; nothing left is 0 seconds', () => {
		expect(formatDuration(60.9)).toBe('1 minute');
		expect(formatDuration(0.5)).toBe('0 seconds');
		expect(formatDuration(0)).toBe('0 seconds');
	});

	test('shows a dash for no value or one that is not a duration', () => {
		expect(formatDuration(null)).toBe('—');
		expect(formatDuration(undefined)).toBe('—');
		expect(formatDuration(-1)).toBe('—');
		expect(formatDuration(Number.NaN)).toBe('—');
	});
});

describe('formatTime', () => {
	test('leaves what is not a date as it is', () => {
		expect(formatTime('not a date')).toBe('not a date');
		expect(formatTime(null)).toBe('—');
		expect(formatTime('')).toBe('—');
	});

	test('formats a real timestamp', () => {
		const text = formatTime('2024-03-05T10:20:30Z');
		expect(text).not.toBe('2024-03-05T10:20:30Z');
		expect(text).toMatch(/2024/);
	});
});

describe('compileErrorText', () => {
	test('puts the position first, without the API suffix', () => {
		expect(compileErrorText("Unexpected ';' (line 3, column 9)", 3, 9)).toBe(
			"Line 3, column 9: Unexpected ';'"
		);
		expect(compileErrorText('Bad thing', 4, null)).toBe('Line 4: Bad thing');
		expect(compileErrorText('Bad thing (line 1, column 2)')).toBe('Bad thing');
	});
});

describe('localInputToIso', () => {
	test('turns a datetime-local value into UTC RFC 3339', () => {
		const iso = localInputToIso('2024-03-05T10:20:30');
		expect(iso).toBe(new Date(2024, 2, 5, 10, 20, 30).toISOString());
	});

	test('is undefined for empty or invalid input, so the filter is left out', () => {
		expect(localInputToIso('')).toBeUndefined();
		expect(localInputToIso('yesterday')).toBeUndefined();
	});
});

describe('compactJson and shorten', () => {
	test('compactJson has no whitespace and shows undefined as null', () => {
		expect(compactJson({ a: [1, 2], b: 'x y' })).toBe('{"a":[1,2],"b":"x y"}');
		expect(compactJson(undefined)).toBe('null');
	});

	test('shorten cuts by characters, never inside a surrogate pair', () => {
		expect(shorten('abc', 3)).toBe('abc');
		expect(shorten('abcd', 3)).toBe('abc…');
		expect(shorten('😀😀😀', 2)).toBe('😀😀…');
	});
});

describe('formatRelative', () => {
	const now = Date.parse('2026-05-10T12:00:00Z');
	const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

	test('the largest unit that fits, rounded down', () => {
		expect(formatRelative(ago(0), now, 'en')).toBe('now');
		expect(formatRelative(ago(42), now, 'en')).toBe('42 seconds ago');
		expect(formatRelative(ago(60), now, 'en')).toBe('1 minute ago');
		expect(formatRelative(ago(59 * 60 + 59), now, 'en')).toBe('59 minutes ago');
		expect(formatRelative(ago(3 * 3600), now, 'en')).toBe('3 hours ago');
		expect(formatRelative(ago(30 * 3600), now, 'en')).toBe('yesterday');
		expect(formatRelative(ago(5 * 86400), now, 'en')).toBe('5 days ago');
		expect(formatRelative(ago(65 * 86400), now, 'en')).toBe('2 months ago');
		expect(formatRelative(ago(800 * 86400), now, 'en')).toBe('2 years ago');
	});

	test('a time a little ahead (another clock) is now; further ahead is in the future', () => {
		expect(formatRelative(ago(-5), now, 'en')).toBe('now');
		expect(formatRelative(ago(-2 * 3600), now, 'en')).toBe('in 2 hours');
	});

	test('a time meant to be ahead (a next run) counts the seconds too', () => {
		expect(formatRelative(ago(-40), now, 'en', true)).toBe('in 40 seconds');
		expect(formatRelative(ago(-4 * 60 - 10), now, 'en', true)).toBe('in 4 minutes');
		expect(formatRelative(ago(90), now, 'en', true)).toBe('1 minute ago');
	});

	test('leaves what is not a date as it is', () => {
		expect(formatRelative('not a date', now, 'en')).toBe('not a date');
	});
});
