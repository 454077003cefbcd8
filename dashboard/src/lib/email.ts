// The dashboard's mail parts: email triggers' addresses (the Triggers tab's
// "Inbound email" section), the internal queues inbound mail waits in (the
// Queues section), and the mail scripts sent with `email::send` (an
// execution's "Emails sent", the app's "Sent mail").

import type { SentEmail } from './api';
import { shorten } from './format';

/** Inbound mail for an email trigger waits in the queue `email:<local part>` (`email:*`). */
export const EMAIL_QUEUE_PREFIX = 'email:';

/** The local part an email trigger takes for "every address without a trigger of its own". */
export const ANY_ADDRESS = '*';

/** The local part of an email trigger's queue (`support`, `*`), or null for a script's queue. */
export function emailQueueLocal(queue: string): string | null {
	return queue.startsWith(EMAIL_QUEUE_PREFIX) ? queue.slice(EMAIL_QUEUE_PREFIX.length) : null;
}

/** The queue an email trigger's mail waits in, as the server names it (lower case). */
export function emailQueueName(local: string): string {
	return EMAIL_QUEUE_PREFIX + local.trim().toLowerCase();
}

/** An email trigger's address as the page shows it: `support@`, or "any address" for `*`. */
export function emailAddressLabel(local: string): string {
	return local === ANY_ADDRESS ? 'any address' : `${local}@`;
}

/**
 * A queue's name as the Queues section shows it: "Inbound mail to support@"
 * (or "Inbound mail (any address)") for an email trigger's, a script's
 * queue as it is named.
 */
export function queueLabel(queue: string): string {
	const local = emailQueueLocal(queue);
	if (local === null) return queue;
	return local === ANY_ADDRESS ? 'Inbound mail (any address)' : `Inbound mail to ${local}@`;
}

/** The characters of a local part the server takes besides letters and digits. */
const LOCAL_SPECIALS = "!#$%&'+-/=?^_`{|}~.";

/**
 * Why a typed local part would be refused, or null (nothing typed is not a
 * problem yet). The server's rule: `*`, or 1-64 letters, digits and
 * `!#$%&'+-/=?^_`{|}~.`, with no dot first, last or twice in a row. It
 * decides again; this only says so while typing.
 */
export function emailLocalProblem(text: string): string | null {
	const local = text.trim();
	if (!local || local === ANY_ADDRESS) return null;
	if (local.includes('@')) return 'Only the part before the @: the app’s domains come after it.';
	if (local.length > 64) return 'At most 64 characters.';
	for (const c of local) {
		if (!/^[A-Za-z0-9]$/.test(c) && !LOCAL_SPECIALS.includes(c)) {
			return c === '*'
				? '“*” alone takes every address; it cannot be part of one.'
				: `“${c}” cannot be in an address.`;
		}
	}
	if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
		return 'A dot cannot come first, last or twice in a row.';
	}
	return null;
}

/** The statuses a sent message has, for the Sent mail filter. */
export const EMAIL_STATUSES = ['queued', 'sent', 'failed'] as const;

/**
 * A sent message's status badge: `ok` once the relay took it, `error` when
 * it failed for good, `warn` while a failed attempt is retried, `idle` while
 * it waits for its first.
 */
export function emailStatusLevel(
	email: Pick<SentEmail, 'status' | 'attempts'>
): 'ok' | 'warn' | 'error' | 'idle' {
	if (email.status === 'sent') return 'ok';
	if (email.status === 'failed') return 'error';
	return email.attempts > 0 ? 'warn' : 'idle';
}

/** Addresses on one line: `a@x.com, b@y.com`, or `—` for none. */
export function addressList(addresses: readonly string[] | null | undefined): string {
	return addresses && addresses.length > 0 ? addresses.join(', ') : '—';
}

/** The most of a relay's reply a table cell shows (the whole in its title). */
export const REPLY_CHARS = 160;

/** The relay's reply as a cell shows it: shortened, or `—` without one. */
export function replyText(reply: string | null | undefined): string {
	const text = reply?.trim();
	return text ? shorten(text, REPLY_CHARS) : '—';
}
