// Display helpers. Times are shown in the browser's locale and time zone.

const dateTime = new Intl.DateTimeFormat(undefined, {
	year: 'numeric',
	month: 'short',
	day: 'numeric',
	hour: '2-digit',
	minute: '2-digit',
	second: '2-digit'
});

const hourMinute = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function formatTime(iso: string | null | undefined): string {
	if (!iso) return '—';
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

export function formatClock(iso: string): string {
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? iso : hourMinute.format(date);
}

export function formatInt(n: number | null | undefined): string {
	return n === null || n === undefined ? '—' : integer.format(n);
}

export function formatMs(ms: number | null | undefined): string {
	if (ms === null || ms === undefined) return '—';
	if (ms < 1) return `${ms.toFixed(2)} ms`;
	if (ms < 100) return `${ms.toFixed(1)} ms`;
	if (ms < 10_000) return `${Math.round(ms)} ms`;
	return `${(ms / 1000).toFixed(1)} s`;
}

export function formatPercent(rate: number | null | undefined): string {
	if (rate === null || rate === undefined) return '—';
	if (rate === 0) return '0%';
	if (rate < 0.001) return '<0.1%';
	return `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)}%`;
}

/** "Line 3, column 9: Unexpected ';'": the position first, without the API's own suffix. */
export function compileErrorText(message: string, line?: number | null, column?: number | null) {
	const bare = message.replace(/\s*\(line \d+, column \d+\)\s*$/, '');
	if (!line) return bare;
	return column ? `Line ${line}, column ${column}: ${bare}` : `Line ${line}: ${bare}`;
}

/** A `<input type="datetime-local">` value (local time) as RFC 3339, or undefined. */
export function localInputToIso(value: string): string | undefined {
	if (!value) return undefined;
	const date = new Date(value);
	return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Binary units: "512 B", "4.5 KiB", "64 MiB" (one decimal below 10). */
export function formatBytes(n: number | null | undefined): string {
	if (n === null || n === undefined) return '—';
	let value = n;
	let unit = 0;
	while (value >= 1024 && unit < UNITS.length - 1) {
		value /= 1024;
		unit++;
	}
	if (unit === 0) return `${integer.format(value)} B`;
	const digits = value < 10 ? 1 : 0;
	const text = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value);
	return `${text} ${UNITS[unit]}`;
}

/** "1 key", "2 keys". */
export function plural(n: number, one: string, many = `${one}s`): string {
	return `${formatInt(n)} ${n === 1 ? one : many}`;
}

const DURATION_UNITS: [string, number][] = [
	['day', 86_400],
	['hour', 3_600],
	['minute', 60],
	['second', 1]
];

/** Whole seconds in words: "7 days", "1 hour 30 minutes", "0 seconds". */
export function formatDuration(seconds: number | null | undefined): string {
	if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
		return '—';
	}
	let rest = Math.floor(seconds);
	const parts: string[] = [];
	for (const [unit, size] of DURATION_UNITS) {
		const n = Math.floor(rest / size);
		rest -= n * size;
		if (n > 0) parts.push(plural(n, unit));
	}
	return parts.length ? parts.join(' ') : plural(0, 'second');
}

/** A JSON value on one line, as the tables show it. */
export function compactJson(value: unknown): string {
	return JSON.stringify(value) ?? 'null';
}

/** The first `max` characters and `…`, when it is longer; never cuts a character in two. */
export function shorten(text: string, max: number): string {
	const chars = Array.from(text);
	return chars.length > max ? chars.slice(0, max).join('') + '…' : text;
}

const RELATIVE_UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
	['second', 60],
	['minute', 60],
	['hour', 24],
	['day', 30],
	['month', 12],
	['year', Infinity]
];

/**
 * "3 minutes ago", "yesterday", "2 months ago": how long ago `iso` was, in
 * the largest unit that fits (rounded down). A time a little ahead of `now`
 * (the server's clock is not the browser's) is "now", unless `future` says
 * the time is meant to be ahead (a next run, an expiry): "in 40 seconds".
 */
export function formatRelative(
	iso: string,
	now: number = Date.now(),
	locale: string | undefined = undefined,
	future = false
): string {
	const then = new Date(iso).getTime();
	if (Number.isNaN(then)) return iso;
	const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
	let elapsed = (now - then) / 1000;
	if (!future && elapsed < 0 && elapsed > -60) elapsed = 0;
	const sign = elapsed < 0 ? 1 : -1;
	let amount = Math.abs(elapsed);
	for (const [unit, size] of RELATIVE_UNITS) {
		if (amount < size) return rtf.format(sign * Math.floor(amount), unit);
		amount /= size;
	}
	return iso;
}
