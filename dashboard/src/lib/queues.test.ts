import { describe, expect, test } from 'vitest';
import type { CronTrigger, EmailTrigger, QueueStats, QueueTrigger, Trigger } from './api';
import {
	oldestSentAt,
	parseMaxAttempts,
	payloadText,
	pending,
	placeById,
	queueHealth,
	queueNameProblem,
	splitTriggers
} from './queues';

const cron = (id: string): CronTrigger => ({
	kind: 'cron',
	id,
	script_id: 's1',
	script_name: 'tick',
	schedule: '*/5 * * * *',
	timezone: 'UTC',
	enabled: true,
	next_run_at: '2026-01-01T00:05:00Z',
	last_run_at: null,
	created_at: '2026-01-01T00:00:00Z',
	updated_at: '2026-01-01T00:00:00Z'
});

const onQueue = (id: string, queue: string, enabled = true): QueueTrigger => ({
	kind: 'queue',
	id,
	script_id: 's2',
	script_name: 'worker',
	queue,
	enabled,
	max_attempts: 5,
	created_at: '2026-01-01T00:00:00Z',
	updated_at: '2026-01-01T00:00:00Z'
});

const forAddress = (id: string, email: string, enabled = true): EmailTrigger => ({
	kind: 'email',
	id,
	script_id: 's3',
	script_name: 'inbox',
	email,
	enabled,
	max_attempts: 5,
	created_at: '2026-01-01T00:00:00Z',
	updated_at: '2026-01-01T00:00:00Z'
});

const stats = (over: Partial<QueueStats> = {}): QueueStats => ({
	name: 'jobs',
	ready: 0,
	delayed: 0,
	in_flight: 0,
	dead: 0,
	oldest_age_ms: null,
	trigger_id: 't1',
	...over
});

describe('splitTriggers', () => {
	test('cron, queue and email triggers apart, each in the API’s order', () => {
		const items: Trigger[] = [
			cron('c1'),
			cron('c2'),
			onQueue('q1', 'jobs'),
			forAddress('e1', 'support'),
			onQueue('q2', 'mail'),
			forAddress('e2', '*')
		];
		const { cron: crons, queue, email } = splitTriggers(items);
		expect(crons.map((t) => t.id)).toEqual(['c1', 'c2']);
		expect(queue.map((t) => t.id)).toEqual(['q1', 'q2']);
		expect(email.map((t) => t.email)).toEqual(['support', '*']);
	});

	test('empty lists, and a kind it does not know is left out', () => {
		expect(splitTriggers([])).toEqual({ cron: [], queue: [], email: [] });
		const unknown = { ...cron('x'), kind: 'webhook' } as unknown as Trigger;
		const split = splitTriggers([unknown, cron('c1')]);
		expect(split.cron.map((t) => t.id)).toEqual(['c1']);
		expect([...split.queue, ...split.email]).toEqual([]);
	});
});

describe('placeById', () => {
	test('replaces in place, or appends', () => {
		const list = [onQueue('a', 'x'), onQueue('b', 'y')];
		const changed = { ...list[0], enabled: false };
		expect(placeById(list, changed)).toEqual([changed, list[1]]);
		expect(placeById(list, onQueue('c', 'z')).map((t) => t.id)).toEqual(['a', 'b', 'c']);
		expect(list[0].enabled).toBe(true);
	});
});

describe('queue names and max attempts', () => {
	test('what the API accepts', () => {
		expect(queueNameProblem('')).toBeNull();
		expect(queueNameProblem('jobs')).toBeNull();
		expect(queueNameProblem(' mail.v2_out-1 ')).toBeNull();
		expect(queueNameProblem('a'.repeat(64))).toBeNull();
		expect(queueNameProblem('a'.repeat(65))).toBe('At most 64 characters.');
		expect(queueNameProblem('my queue')).toMatch(/^Only letters, digits/);
		expect(queueNameProblem('jobs/1')).toMatch(/^Only letters, digits/);
	});

	test('max attempts: a whole number 1-100', () => {
		expect(parseMaxAttempts(5)).toBe(5);
		expect(parseMaxAttempts(' 1 ')).toBe(1);
		expect(parseMaxAttempts('100')).toBe(100);
		for (const bad of [0, 101, 2.5, -1, NaN, '', 'five', null, undefined]) {
			expect(parseMaxAttempts(bad)).toBeNull();
		}
	});
});

describe('queue stats', () => {
	test('pending leaves dead letters out', () => {
		expect(pending(stats({ ready: 2, delayed: 3, in_flight: 1, dead: 7 }))).toBe(6);
	});

	test('the oldest message’s send time from its age when fetched', () => {
		const at = Date.parse('2026-03-01T12:00:00Z');
		expect(oldestSentAt(90_000, at)).toBe('2026-03-01T11:58:30.000Z');
		expect(oldestSentAt(0, at)).toBe('2026-03-01T12:00:00.000Z');
		expect(oldestSentAt(null, at)).toBeNull();
		expect(oldestSentAt(undefined, at)).toBeNull();
		expect(oldestSentAt(-5, at)).toBeNull();
	});

	test('health: messages without a trigger wait', () => {
		expect(queueHealth(stats({ trigger_id: null, ready: 3 }))).toEqual({
			level: 'warn',
			text: 'no trigger: messages wait'
		});
		expect(queueHealth(stats({ trigger_id: null, delayed: 1 })).level).toBe('warn');
		// Only dead letters: nothing waits, but nothing would retry them either.
		expect(queueHealth(stats({ trigger_id: null, dead: 2 }))).toEqual({
			level: 'idle',
			text: 'no trigger'
		});
	});

	test('health: a disabled trigger, dead letters, consuming, idle', () => {
		const paused = onQueue('t1', 'jobs', false);
		expect(queueHealth(stats({ ready: 1 }), paused)).toEqual({
			level: 'warn',
			text: 'trigger disabled: messages wait'
		});
		expect(queueHealth(stats(), paused)).toEqual({ level: 'idle', text: 'trigger disabled' });
		expect(queueHealth(stats({ dead: 1 }))).toEqual({ level: 'error', text: '1 dead letter' });
		expect(queueHealth(stats({ dead: 2, ready: 1 }), onQueue('t1', 'jobs')).text).toBe(
			'2 dead letters'
		);
		expect(queueHealth(stats({ in_flight: 1 }))).toEqual({ level: 'ok', text: 'consuming' });
		// An email trigger's queue: the same words.
		expect(
			queueHealth(stats({ name: 'email:support', ready: 2 }), forAddress('t1', 'support', false))
		).toEqual({ level: 'warn', text: 'trigger disabled: messages wait' });
		expect(queueHealth(stats())).toEqual({ level: 'ok', text: 'idle' });
	});
});

describe('payloadText', () => {
	test('indented JSON', () => {
		expect(payloadText({ n: 1, tags: ['a'] })).toBe('{\n  "n": 1,\n  "tags": [\n    "a"\n  ]\n}');
		expect(payloadText('hi')).toBe('"hi"');
		expect(payloadText(undefined)).toBe('null');
	});
});
