// An app's live execution stream (server-sent events) as state a page can
// show: whether it is connected, and each record as it comes. The browser's
// EventSource reconnects on its own after a dropped connection, sending the
// last event id, so the server resumes where the page left off; it gives up
// only when the server answers with an error (the session ended, the app is
// gone), and then so does this.

import type { ExecutionSummary } from './api';
import { parseExecutionEvent } from './logs';

export type LiveState = 'off' | 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** What a LiveStream needs of EventSource (a test passes a fake). */
export interface EventSourceLike {
	readonly readyState: number;
	onopen: ((event: Event) => void) | null;
	onerror: ((event: Event) => void) | null;
	addEventListener(type: string, listener: (event: MessageEvent) => void): void;
	close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

/** EventSource.CLOSED, without needing the global in Node. */
const CLOSED = 2;

export class LiveStream {
	state = $state<LiveState>('off');
	/** Why the stream stopped or last fell behind, for the page to say. */
	note = $state('');

	#source: EventSourceLike | null = null;
	#create: EventSourceFactory;

	constructor(create: EventSourceFactory = (url) => new EventSource(url)) {
		this.#create = create;
	}

	/** Connects to `url` (closing any stream before); `onrecord` gets every record. */
	open(url: string, onrecord: (record: ExecutionSummary) => void): void {
		this.close();
		this.note = '';
		this.state = 'connecting';
		const source = this.#create(url);
		this.#source = source;
		source.onopen = () => {
			if (this.#source === source) this.state = 'live';
		};
		source.onerror = () => {
			if (this.#source !== source) return;
			if (source.readyState === CLOSED) {
				source.close();
				this.#source = null;
				this.state = 'stopped';
				this.note ||= 'The server ended the live updates.';
			} else {
				this.state = 'reconnecting';
			}
		};
		source.addEventListener('execution', (event) => {
			if (this.#source !== source) return;
			const record = parseExecutionEvent(String(event.data));
			if (record) onrecord(record);
		});
		// The page fell too far behind; the server ends the stream and the
		// browser reconnects from the last record it got.
		source.addEventListener('dropped', () => {
			if (this.#source === source) this.note = 'Some live records came too fast to keep up.';
		});
	}

	close(): void {
		this.#source?.close();
		this.#source = null;
		this.state = 'off';
	}
}
