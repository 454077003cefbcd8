import { describe, expect, test } from 'vitest';
import { describeSchedule, formatInZone } from './cron';

describe('describeSchedule', () => {
	test('five-field schedules in words', () => {
		expect(describeSchedule('*/5 * * * *')).toBe('Every 5 minutes');
		expect(describeSchedule('0 9 * * 1')).toBe('At 09:00, only on Monday');
		expect(describeSchedule(' 0 9 * * 1-5 ')).toBe('At 09:00, Monday through Friday');
		expect(describeSchedule('30 2 1 * *')).toBe('At 02:30, on day 1 of the month');
		expect(describeSchedule('0 9 * * MON')).toBe('At 09:00, only on Monday');
	});

	test('macros', () => {
		expect(describeSchedule('@hourly')).toBe('Every hour');
		expect(describeSchedule('@daily')).toBe('At 00:00');
		expect(describeSchedule('@Weekly')).toBe('At 00:00, only on Sunday');
	});

	test('nothing for what is not a five-field schedule', () => {
		expect(describeSchedule('every five minutes')).toBeNull();
		expect(describeSchedule('*/5 * * * * *')).toBeNull();
		expect(describeSchedule('')).toBeNull();
		expect(describeSchedule('61 * * * *')).toBeNull();
	});
});

describe('formatInZone', () => {
	const at = '2026-12-07T08:00:00Z';

	test('the clock of the trigger’s zone, with its name', () => {
		expect(formatInZone(at, 'Europe/Oslo', 'en-GB')).toBe('Mon 7 Dec, 09:00 CET');
		expect(formatInZone(at, 'UTC', 'en-GB')).toBe('Mon 7 Dec, 08:00 UTC');
	});

	test('an unknown zone falls back to the browser’s; not a date stays as it is', () => {
		expect(formatInZone(at, 'Mars/Olympus', 'en-GB')).toMatch(/7 Dec/);
		expect(formatInZone('soon', 'UTC')).toBe('soon');
	});
});
