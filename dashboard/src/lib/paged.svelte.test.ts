import { flushSync } from 'svelte';
import { describe, expect, test, vi } from 'vitest';
import { ApiError } from './api';
import { PagedList } from './paged.svelte';

interface Row {
	id: string;
}
interface TestPage {
	rows: Row[];
	next_cursor?: string | null;
}

/** A fetch whose answers the test hands out one by one, in any order. */
function pages() {
	const calls: {
		query: string;
		cursor: string | undefined;
		answer: (page: TestPage) => void;
		fail: (e: unknown) => void;
	}[] = [];
	const fetch = (query: string, cursor: string | undefined) =>
		new Promise<TestPage>((answer, fail) => calls.push({ query, cursor, answer, fail }));
	return { calls, fetch };
}

const rows = (...ids: string[]): Row[] => ids.map((id) => ({ id }));

function list(fetch: (query: string, cursor: string | undefined) => Promise<TestPage>) {
	const onPage = vi.fn();
	const paged = new PagedList({
		fetch,
		items: (page: TestPage) => page.rows,
		key: (row) => row.id,
		onPage
	});
	return { paged, onPage };
}

describe('PagedList', () => {
	test('load shows the first page, and only once it is in', async () => {
		const { calls, fetch } = pages();
		const { paged, onPage } = list(fetch);
		const loading = paged.load('q');
		expect(paged.loading).toBe(true);
		expect(paged.query).toBeNull();
		calls[0].answer({ rows: rows('a', 'b'), next_cursor: 'c1' });
		await loading;
		expect(calls[0]).toMatchObject({ query: 'q', cursor: undefined });
		expect(paged.items).toEqual(rows('a', 'b'));
		expect(paged.query).toBe('q');
		expect(paged.nextCursor).toBe('c1');
		expect(paged.loading).toBe(false);
		expect(onPage).toHaveBeenCalledWith({ rows: rows('a', 'b'), next_cursor: 'c1' }, true);
	});

	test('more follows the cursor with the query the rows came from, without repeating a row', async () => {
		const { calls, fetch } = pages();
		const { paged, onPage } = list(fetch);
		const first = paged.load('q');
		calls[0].answer({ rows: rows('a', 'b'), next_cursor: 'c1' });
		await first;
		// Added here meanwhile, and on the next page too.
		paged.items = [...paged.items, { id: 'c' }];
		const second = paged.more();
		calls[1].answer({ rows: rows('c', 'd'), next_cursor: null });
		await second;
		expect(calls[1]).toMatchObject({ query: 'q', cursor: 'c1' });
		expect(paged.items).toEqual(rows('a', 'b', 'c', 'd'));
		expect(paged.nextCursor).toBeNull();
		expect(onPage).toHaveBeenLastCalledWith({ rows: rows('c', 'd'), next_cursor: null }, false);
	});

	test('more does nothing on the last page or before a first one', async () => {
		const fetch = vi.fn(async () => ({ rows: rows('a') }));
		const { paged } = list(fetch);
		await paged.more();
		expect(fetch).not.toHaveBeenCalled();
		await paged.load('q');
		await paged.more();
		expect(fetch).toHaveBeenCalledTimes(1);
	});

	test('a slow first page of an older query is dropped', async () => {
		const { calls, fetch } = pages();
		const { paged } = list(fetch);
		const old = paged.load('old');
		const fresh = paged.load('new');
		calls[1].answer({ rows: rows('new') });
		await fresh;
		calls[0].answer({ rows: rows('old') });
		await old;
		expect(paged.items).toEqual(rows('new'));
		expect(paged.query).toBe('new');
		expect(paged.loading).toBe(false);
	});

	test('"Load more" of the previous query is dropped once a new load started', async () => {
		const { calls, fetch } = pages();
		const { paged } = list(fetch);
		const first = paged.load('a');
		calls[0].answer({ rows: rows('a1'), next_cursor: 'c' });
		await first;
		const more = paged.more();
		const reload = paged.load('b');
		calls[1].answer({ rows: rows('a2') });
		await more;
		expect(paged.items).toEqual(rows('a1'));
		expect(paged.loading).toBe(true);
		calls[2].answer({ rows: rows('b1') });
		await reload;
		expect(paged.items).toEqual(rows('b1'));
	});

	test('a failure says why and keeps the rows shown', async () => {
		const { calls, fetch } = pages();
		const { paged } = list(fetch);
		const first = paged.load('q');
		calls[0].answer({ rows: rows('a'), next_cursor: 'c' });
		await first;
		const more = paged.more();
		calls[1].fail(new ApiError(400, 'invalid_cursor', 'The cursor is not valid.'));
		await more;
		expect(paged.error).toBe('The cursor is not valid.');
		expect(paged.items).toEqual(rows('a'));
		expect(paged.nextCursor).toBe('c');
		expect(paged.loading).toBe(false);
		// The next load clears the message.
		const again = paged.load('q');
		expect(paged.error).toBe('');
		calls[2].answer({ rows: rows('a') });
		await again;
	});

	test('reset empties the list and drops what is on its way', async () => {
		const { calls, fetch } = pages();
		const { paged } = list(fetch);
		const first = paged.load('q');
		paged.reset();
		expect(paged.loading).toBe(false);
		calls[0].answer({ rows: rows('a') });
		await first;
		expect(paged.items).toEqual([]);
		expect(paged.query).toBeNull();
	});

	test('its state is reactive, as components need', async () => {
		const fetch = vi.fn(async () => ({ rows: rows('a', 'b') }));
		const { paged } = list(fetch);
		const seen: string[] = [];
		const stop = $effect.root(() => {
			$effect(() => {
				seen.push(`${paged.loading ? 'loading' : 'idle'} ${paged.items.length}`);
			});
		});
		try {
			flushSync();
			const loading = paged.load('q');
			flushSync();
			await loading;
			flushSync();
			paged.items[0] = { id: 'z' };
			paged.items = paged.items.filter((row) => row.id !== 'b');
			flushSync();
		} finally {
			stop();
		}
		expect(seen).toEqual(['idle 0', 'loading 0', 'idle 2', 'idle 1']);
	});
});
