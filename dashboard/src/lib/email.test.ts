import { describe, expect, test } from 'vitest';
import {
	addressList,
	emailAddressLabel,
	emailLocalProblem,
	emailQueueLocal,
	emailQueueName,
	emailStatusLevel,
	queueLabel,
	REPLY_CHARS,
	replyText
} from './email';

describe('email triggers’ queues', () => {
	test('an email trigger’s queue is told from a script’s', () => {
		expect(emailQueueLocal('email:support')).toBe('support');
		expect(emailQueueLocal('email:*')).toBe('*');
		expect(emailQueueLocal('jobs')).toBeNull();
		expect(emailQueueLocal('emails')).toBeNull();
	});

	test('labelled by the address it receives', () => {
		expect(queueLabel('email:support')).toBe('Inbound mail to support@');
		expect(queueLabel('email:*')).toBe('Inbound mail (any address)');
		expect(queueLabel('jobs')).toBe('jobs');
		expect(queueLabel('emails')).toBe('emails');
	});

	test('the queue of a local part, as the server names it', () => {
		expect(emailQueueName(' Support ')).toBe('email:support');
		expect(emailQueueName('*')).toBe('email:*');
	});

	test('an address as the trigger list shows it', () => {
		expect(emailAddressLabel('support')).toBe('support@');
		expect(emailAddressLabel('*')).toBe('any address');
	});
});

describe('emailLocalProblem', () => {
	test('what the server takes', () => {
		for (const good of ['', '  ', '*', ' * ', 'support', 'Sales.Team', 'a+b', "o'brien", 'x_1-2']) {
			expect(emailLocalProblem(good)).toBeNull();
		}
		expect(emailLocalProblem('a'.repeat(64))).toBeNull();
	});

	test('what it refuses, and why', () => {
		expect(emailLocalProblem('support@shop.example')).toMatch(/^Only the part before the @/);
		expect(emailLocalProblem('a'.repeat(65))).toBe('At most 64 characters.');
		expect(emailLocalProblem('help desk')).toBe('“ ” cannot be in an address.');
		expect(emailLocalProblem('café')).toBe('“é” cannot be in an address.');
		expect(emailLocalProblem('sup*')).toMatch(/^“\*” alone takes every address/);
		for (const dots of ['.support', 'support.', 'sup..port']) {
			expect(emailLocalProblem(dots)).toBe('A dot cannot come first, last or twice in a row.');
		}
	});
});

describe('sent mail', () => {
	test('the status badge', () => {
		expect(emailStatusLevel({ status: 'sent', attempts: 1 })).toBe('ok');
		expect(emailStatusLevel({ status: 'failed', attempts: 3 })).toBe('error');
		expect(emailStatusLevel({ status: 'queued', attempts: 0 })).toBe('idle');
		expect(emailStatusLevel({ status: 'queued', attempts: 2 })).toBe('warn');
	});

	test('addresses on one line', () => {
		expect(addressList(['ada@example.com', 'bob@example.com'])).toBe(
			'ada@example.com, bob@example.com'
		);
		expect(addressList(['ada@example.com'])).toBe('ada@example.com');
		expect(addressList([])).toBe('—');
		expect(addressList(undefined)).toBe('—');
	});

	test('the relay’s reply, shortened', () => {
		expect(replyText('250 2.0.0 Ok: queued as 4Bx')).toBe('250 2.0.0 Ok: queued as 4Bx');
		expect(replyText('  ')).toBe('—');
		expect(replyText(null)).toBe('—');
		const long = replyText('4'.repeat(REPLY_CHARS + 10));
		expect(Array.from(long)).toHaveLength(REPLY_CHARS + 1);
		expect(long.endsWith('…')).toBe(true);
	});
});
