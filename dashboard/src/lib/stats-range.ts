// The overview's time ranges: the window and buckets each asks the stats
// endpoint for (`since`, `until`, `buckets`), and the chart's dated axis.

import type { StatsBucket, StatsQuery } from './api';

export type RangeKey = '1h' | '24h' | '7d';

export interface Range {
	key: RangeKey;
	/** On the picker's button. */
	label: string;
	/** The section's heading. */
	heading: string;
	/** One bucket, in milliseconds: the window ends on a whole one. */
	bucketMs: number;
	buckets: number;
	/** What one bar is, in words: "minute", "hour". */
	per: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const RANGES: readonly Range[] = [
	{ key: '1h', label: '1 h', heading: 'Last hour', bucketMs: MINUTE, buckets: 60, per: 'minute' },
	{ key: '24h', label: '24 h', heading: 'Last 24 hours', bucketMs: HOUR, buckets: 24, per: 'hour' },
	{ key: '7d', label: '7 d', heading: 'Last 7 days', bucketMs: HOUR, buckets: 168, per: 'hour' }
];

export const DEFAULT_RANGE: RangeKey = '24h';

export function rangeOf(key: string | null | undefined): Range {
	return RANGES.find((r) => r.key === key) ?? rangeOf(DEFAULT_RANGE);
}

/**
 * The stats query for a range at `now`: whole buckets (each bar one clock
 * minute or hour), the last one still running.
 */
export function statsQuery(range: Range, now: number): Required<StatsQuery> {
	const until = (Math.floor(now / range.bucketMs) + 1) * range.bucketMs;
	return {
		since: new Date(until - range.buckets * range.bucketMs).toISOString(),
		until: new Date(until).toISOString(),
		buckets: range.buckets
	};
}

interface Clock {
	day: string;
	hour: number;
	minute: number;
}

function clockIn(date: Date, timeZone: string | undefined): Clock {
	const parts = new Intl.DateTimeFormat('en-US', {
		timeZone,
		year: 'numeric',
		month: '2-digit',
		day: '2-digit',
		hour: '2-digit',
		minute: '2-digit',
		hourCycle: 'h23'
	}).formatToParts(date);
	const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
	return {
		day: `${get('year')}-${get('month')}-${get('day')}`,
		hour: Number(get('hour')),
		minute: Number(get('minute'))
	};
}

export interface Tick {
	/** The bucket the label stands under. */
	index: number;
	text: string;
}

/**
 * The axis labels for a chart of `buckets`: at round times (every 15
 * minutes, every 6 hours, every midnight), at most `max` of them. A label
 * names the day where it starts one or is the first, so the axis is dated:
 * "7 Dec 18:00", "00:00" … or, over a week, "Mon 8".
 */
export function axisTicks(
	buckets: readonly Pick<StatsBucket, 'start'>[],
	range: Range,
	options: { timeZone?: string; locale?: string; max?: number } = {}
): Tick[] {
	const { timeZone, locale, max = 5 } = options;
	const time = new Intl.DateTimeFormat(locale, {
		timeZone,
		hour: '2-digit',
		minute: '2-digit',
		hourCycle: 'h23'
	});
	const date = new Intl.DateTimeFormat(locale, { timeZone, day: 'numeric', month: 'short' });
	// Weekday and day apart: some locales put the day first ("7 Mon"), which
	// reads badly on an axis.
	const weekday = new Intl.DateTimeFormat(locale, { timeZone, weekday: 'short' });
	const dayOfMonth = new Intl.DateTimeFormat(locale, { timeZone, day: 'numeric' });

	const round: number[] = [];
	buckets.forEach((bucket, index) => {
		const at = new Date(bucket.start);
		if (Number.isNaN(at.getTime())) return;
		const clock = clockIn(at, timeZone);
		const isRound =
			range.key === '1h'
				? clock.minute % 15 === 0
				: range.key === '24h'
					? clock.minute === 0 && clock.hour % 6 === 0
					: clock.minute === 0 && clock.hour === 0;
		if (isRound) round.push(index);
	});
	// A zone whose offset is not whole hours has no round bucket starts: then
	// the first, middle and last buckets.
	if (round.length === 0 && buckets.length > 0) {
		round.push(...new Set([0, Math.floor((buckets.length - 1) / 2), buckets.length - 1]));
	}
	// Too many for the width: every second one, and so on.
	const step = Math.max(1, Math.ceil(round.length / max));
	const picked = round.filter((_, i) => i % step === 0);

	let lastDay = '';
	return picked.map((index) => {
		const at = new Date(buckets[index].start);
		const clock = clockIn(at, timeZone);
		let text: string;
		if (range.key === '7d') {
			text = `${weekday.format(at)} ${dayOfMonth.format(at)}`;
		} else {
			text = time.format(at);
			if (clock.day !== lastDay) text = `${date.format(at)} ${text}`;
		}
		lastDay = clock.day;
		return { index, text };
	});
}
