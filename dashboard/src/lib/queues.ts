// The Triggers tab's queue parts: the trigger list split by kind, the queue
// trigger form's checks, and what the Queues section says about each queue
// (an email trigger's queue included: its mail waits like messages).

import type { CronTrigger, EmailTrigger, QueueStats, QueueTrigger, Trigger } from './api';
import { plural } from './format';

/** The app's triggers by kind, each in the API's order (oldest first). */
export function splitTriggers(items: readonly Trigger[]): {
	cron: CronTrigger[];
	queue: QueueTrigger[];
	email: EmailTrigger[];
} {
	const cron: CronTrigger[] = [];
	const queue: QueueTrigger[] = [];
	const email: EmailTrigger[] = [];
	for (const item of items) {
		if (item.kind === 'cron') cron.push(item);
		else if (item.kind === 'queue') queue.push(item);
		else if (item.kind === 'email') email.push(item);
		// A kind this dashboard does not know yet is left out rather than shown wrong.
	}
	return { cron, queue, email };
}

/** `list` with `item` in place of the one with its id, or added at the end. */
export function placeById<T extends { id: string }>(list: readonly T[], item: T): T[] {
	const at = list.findIndex((x) => x.id === item.id);
	return at < 0 ? [...list, item] : list.with(at, item);
}

/** A queue's name, as the API accepts it. */
export const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Why a typed queue name would be refused, or null (nothing typed is not a problem yet). */
export function queueNameProblem(name: string): string | null {
	const trimmed = name.trim();
	if (!trimmed || QUEUE_NAME.test(trimmed)) return null;
	if (trimmed.length > 64) return 'At most 64 characters.';
	return 'Only letters, digits, “.”, “_” and “-”.';
}

export const MAX_ATTEMPTS = { min: 1, max: 100, default: 5 } as const;

/** A typed "max attempts" as the API takes it (a whole number 1-100), or null. */
export function parseMaxAttempts(value: string | number | null | undefined): number | null {
	if (value === null || value === undefined) return null;
	const text = String(value).trim();
	if (!/^\d+$/.test(text)) return null;
	const n = Number(text);
	return n >= MAX_ATTEMPTS.min && n <= MAX_ATTEMPTS.max ? n : null;
}

/** Messages still to run: ready, delayed and in flight (dead letters are not). */
export function pending(queue: QueueStats): number {
	return queue.ready + queue.delayed + queue.in_flight;
}

/**
 * When the oldest message still to run was sent (RFC 3339), from its age at
 * `fetchedAt` (ms since the epoch), so a relative time can move on; null
 * when there is none.
 */
export function oldestSentAt(
	ageMs: number | null | undefined,
	fetchedAt: number = Date.now()
): string | null {
	if (ageMs === null || ageMs === undefined || !Number.isFinite(ageMs) || ageMs < 0) return null;
	return new Date(fetchedAt - ageMs).toISOString();
}

export interface QueueHealth {
	/** The badge: `warn` while messages wait for nothing, `error` with dead letters. */
	level: 'ok' | 'warn' | 'error' | 'idle';
	text: string;
}

/**
 * What the Queues section says about a queue: whether something consumes it
 * (`trigger` is its trigger, when the page knows it) and whether messages
 * died. Waiting messages without a running trigger come first: nothing will
 * happen to them until someone acts.
 */
export function queueHealth(
	queue: QueueStats,
	trigger?: Pick<QueueTrigger | EmailTrigger, 'enabled'> | null
): QueueHealth {
	const waiting = pending(queue);
	if (!queue.trigger_id) {
		return waiting > 0
			? { level: 'warn', text: 'no trigger: messages wait' }
			: { level: 'idle', text: 'no trigger' };
	}
	if (trigger && !trigger.enabled && waiting > 0) {
		return { level: 'warn', text: 'trigger disabled: messages wait' };
	}
	if (queue.dead > 0) return { level: 'error', text: plural(queue.dead, 'dead letter') };
	if (trigger && !trigger.enabled) return { level: 'idle', text: 'trigger disabled' };
	return waiting > 0 ? { level: 'ok', text: 'consuming' } : { level: 'ok', text: 'idle' };
}

/** A dead letter's payload as the list shows it: JSON, indented. */
export function payloadText(payload: unknown): string {
	return JSON.stringify(payload, null, 2) ?? 'null';
}
