// Cron schedules in words ("Every 5 minutes", "At 09:00, only on Monday"),
// by cronstrue, for the five-field expressions (and @-macros) the server's
// triggers take; and a time shown in a trigger's own time zone.

import cronstrue from 'cronstrue';

const MACROS: Record<string, string> = {
	'@yearly': '0 0 1 1 *',
	'@annually': '0 0 1 1 *',
	'@monthly': '0 0 1 * *',
	'@weekly': '0 0 * * 0',
	'@daily': '0 0 * * *',
	'@midnight': '0 0 * * *',
	'@hourly': '0 * * * *'
};

/**
 * A schedule in words, or null when it is not a five-field expression that
 * reads as one. The server decides what it accepts; this only explains.
 */
export function describeSchedule(schedule: string): string | null {
	const text = schedule.trim();
	const expression = MACROS[text.toLowerCase()] ?? text;
	if (expression.split(/\s+/).length !== 5) return null;
	try {
		return cronstrue.toString(expression, {
			use24HourTimeFormat: true,
			throwExceptionOnParseError: true,
			verbose: false
		});
	} catch {
		return null;
	}
}

/**
 * A time as a clock in `timeZone` shows it, with the zone's short name:
 * "Mon 7 Dec, 09:00 CET". An unknown zone falls back to the browser's.
 */
export function formatInZone(
	iso: string,
	timeZone: string,
	locale: string | undefined = undefined
): string {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return iso;
	const options: Intl.DateTimeFormatOptions = {
		weekday: 'short',
		day: 'numeric',
		month: 'short',
		hour: '2-digit',
		minute: '2-digit',
		hourCycle: 'h23',
		timeZoneName: 'short'
	};
	try {
		return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(date);
	} catch {
		return new Intl.DateTimeFormat(locale, options).format(date);
	}
}
