// "Now" for relative times ("3 minutes ago"): reading it in a component
// re-renders that component every 30 seconds while it is on screen. One timer
// for the whole page, running only while something reads the time.

import { createSubscriber } from 'svelte/reactivity';

const TICK_MS = 30_000;

const subscribe = createSubscriber((update) => {
	const timer = setInterval(update, TICK_MS);
	return () => clearInterval(timer);
});

/** The current time in milliseconds, reactive: it moves on every 30 seconds. */
export function now(): number {
	subscribe();
	return Date.now();
}
