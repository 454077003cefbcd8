import { describe, expect, test } from 'vitest';
import { axisTicks, rangeOf, RANGES, statsQuery } from './stats-range';

/** Bucket starts: `count` of them, `stepMs` apart, from `first`. */
function buckets(first: string, stepMs: number, count: number) {
	const t0 = Date.parse(first);
	return Array.from({ length: count }, (_, i) => ({
		start: new Date(t0 + i * stepMs).toISOString()
	}));
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const utc = { timeZone: 'UTC', locale: 'en-GB' };

describe('ranges', () => {
	test('a key picks its range; anything else is 24 hours', () => {
		expect(rangeOf('1h').buckets).toBe(60);
		expect(rangeOf('7d').buckets).toBe(168);
		expect(rangeOf('nonsense').key).toBe('24h');
		expect(rangeOf(null).key).toBe('24h');
		for (const r of RANGES) expect(r.buckets).toBeLessThanOrEqual(200);
	});

	test('the window ends on the next whole bucket and spans them all', () => {
		const now = Date.parse('2026-12-07T14:37:12.345Z');
		expect(statsQuery(rangeOf('24h'), now)).toEqual({
			since: '2026-12-06T15:00:00.000Z',
			until: '2026-12-07T15:00:00.000Z',
			buckets: 24
		});
		expect(statsQuery(rangeOf('1h'), now)).toEqual({
			since: '2026-12-07T13:38:00.000Z',
			until: '2026-12-07T14:38:00.000Z',
			buckets: 60
		});
		const week = statsQuery(rangeOf('7d'), now);
		expect(Date.parse(week.until) - Date.parse(week.since)).toBe(7 * 24 * HOUR);
	});
});

describe('axisTicks', () => {
	test('24 hours: every 6 hours, dated where a day starts', () => {
		const ticks = axisTicks(buckets('2026-12-06T15:00:00Z', HOUR, 24), rangeOf('24h'), utc);
		expect(ticks).toEqual([
			{ index: 3, text: '6 Dec 18:00' },
			{ index: 9, text: '7 Dec 00:00' },
			{ index: 15, text: '06:00' },
			{ index: 21, text: '12:00' }
		]);
	});

	test('an hour: every 15 minutes, the first one dated', () => {
		const ticks = axisTicks(buckets('2026-12-07T13:38:00Z', MINUTE, 60), rangeOf('1h'), utc);
		expect(ticks.map((t) => t.text)).toEqual(['7 Dec 13:45', '14:00', '14:15', '14:30']);
		expect(ticks[0].index).toBe(7);
	});

	test('a week: midnights with their weekday, at most max of them', () => {
		const ticks = axisTicks(buckets('2026-12-01T00:00:00Z', HOUR, 168), rangeOf('7d'), {
			...utc,
			max: 4
		});
		expect(ticks.map((t) => t.text)).toEqual(['Tue 1', 'Thu 3', 'Sat 5', 'Mon 7']);
		expect(ticks.map((t) => t.index)).toEqual([0, 48, 96, 144]);
	});

	test('in another time zone the round hours are that zone’s', () => {
		const ticks = axisTicks(buckets('2026-12-06T15:00:00Z', HOUR, 24), rangeOf('24h'), {
			timeZone: 'Asia/Kolkata',
			locale: 'en-GB'
		});
		// 15:00 UTC is 20:30 in India: no bucket starts on a whole hour there,
		// so the first, middle and last are labelled.
		expect(ticks).toEqual([
			{ index: 0, text: '6 Dec 20:30' },
			{ index: 11, text: '7 Dec 07:30' },
			{ index: 23, text: '19:30' }
		]);
		const oslo = axisTicks(buckets('2026-12-06T15:00:00Z', HOUR, 24), rangeOf('24h'), {
			timeZone: 'Europe/Oslo',
			locale: 'en-GB'
		});
		expect(oslo[0]).toEqual({ index: 2, text: '6 Dec 18:00' });
	});
});
