import { describe, expect, test } from 'vitest';
import type { ExecutionSummary } from './api';
import { LiveStream, type EventSourceLike } from './live.svelte';

class FakeSource implements EventSourceLike {
	readyState = 0;
	closed = false;
	onopen: ((event: Event) => void) | null = null;
	onerror: ((event: Event) => void) | null = null;
	listeners: Record<string, ((event: MessageEvent) => void)[]> = {};

	constructor(readonly url: string) {}

	addEventListener(type: string, listener: (event: MessageEvent) => void) {
		(this.listeners[type] ??= []).push(listener);
	}

	close() {
		this.closed = true;
		this.readyState = 2;
	}

	emit(type: string, data: unknown) {
		const event = { data: JSON.stringify(data) } as MessageEvent;
		for (const listener of this.listeners[type] ?? []) listener(event);
	}
}

function stream() {
	const sources: FakeSource[] = [];
	const live = new LiveStream((url) => {
		const source = new FakeSource(url);
		sources.push(source);
		return source;
	});
	const records: ExecutionSummary[] = [];
	return { live, sources, records, onrecord: (r: ExecutionSummary) => records.push(r) };
}

describe('LiveStream', () => {
	test('connects, then hands on each record', () => {
		const { live, sources, records, onrecord } = stream();
		live.open('/stream?last_event_id=4', onrecord);
		expect(live.state).toBe('connecting');
		expect(sources[0].url).toBe('/stream?last_event_id=4');
		sources[0].readyState = 1;
		sources[0].onopen?.(new Event('open'));
		expect(live.state).toBe('live');
		sources[0].emit('execution', { id: 'a', seq: 5, started_at: '2026-01-01T00:00:00Z' });
		sources[0].emit('execution', { nonsense: true });
		expect(records.map((r) => r.id)).toEqual(['a']);
	});

	test('a dropped connection is retried by the browser; a refusal stops it', () => {
		const { live, sources, onrecord } = stream();
		live.open('/s', onrecord);
		sources[0].readyState = 0;
		sources[0].onerror?.(new Event('error'));
		expect(live.state).toBe('reconnecting');
		sources[0].readyState = 2;
		sources[0].onerror?.(new Event('error'));
		expect(live.state).toBe('stopped');
		expect(live.note).toMatch(/ended/);
	});

	test('falling behind is said; the stream goes on', () => {
		const { live, sources, onrecord } = stream();
		live.open('/s', onrecord);
		sources[0].emit('dropped', { error: { code: 'stream_lagged' } });
		expect(live.note).toMatch(/too fast/);
	});

	test('opening again closes the old stream, whose late events are ignored', () => {
		const { live, sources, records, onrecord } = stream();
		live.open('/one', onrecord);
		live.open('/two', onrecord);
		expect(sources[0].closed).toBe(true);
		sources[0].emit('execution', { id: 'old', seq: 1, started_at: '2026-01-01T00:00:00Z' });
		sources[1].emit('execution', { id: 'new', seq: 2, started_at: '2026-01-01T00:00:00Z' });
		expect(records.map((r) => r.id)).toEqual(['new']);
		live.close();
		expect(sources[1].closed).toBe(true);
		expect(live.state).toBe('off');
	});
});
