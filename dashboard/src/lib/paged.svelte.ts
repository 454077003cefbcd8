// A list the API hands out in pages (the execution log, an app's keys, the
// documents of a collection): its first page for a query, "Load more" after
// it, and the races between the two. One instance per list in a component.

import { errorMessage, type Page } from './api';

export interface PagedOptions<Query, P extends Page, Item> {
	/** One page for `query`, from `cursor` on (undefined: the first page). */
	fetch: (query: Query, cursor: string | undefined) => Promise<P>;
	/** The items of a page. */
	items: (page: P) => Item[];
	/**
	 * What tells two items apart. An item the user added meanwhile may
	 * already be in the list when the page that holds it arrives, and a
	 * keyed `{#each}` must not see it twice.
	 */
	key: (item: Item) => string;
	/** Each page that is shown, `first` for a fresh load: for what else a page carries (usage, quota). */
	onPage?: (page: P, first: boolean) => void;
}

export class PagedList<Query, P extends Page, Item> {
	/** The items shown; a component may edit them (a saved item, a deleted one). */
	items = $state<Item[]>([]);
	/** Where "Load more" continues; null on the last page. */
	nextCursor = $state<string | null>(null);
	/** What the items shown were loaded with; null until a first page is in. */
	query = $state.raw<Query | null>(null);
	loading = $state(false);
	/** Why the last load failed; the items of the one before stay. */
	error = $state('');

	#options: PagedOptions<Query, P, Item>;
	// Bumped by every fresh load, so a page arriving late for an older query
	// (a slow first page, or "Load more" of the previous filter) is dropped.
	#generation = 0;

	constructor(options: PagedOptions<Query, P, Item>) {
		this.#options = options;
	}

	/** The first page for `query`; the items shown change only once it is in. */
	async load(query: Query): Promise<void> {
		const gen = ++this.#generation;
		this.loading = true;
		this.error = '';
		try {
			const page = await this.#options.fetch(query, undefined);
			if (gen !== this.#generation) return;
			this.query = query;
			this.items = this.#options.items(page);
			this.nextCursor = page.next_cursor ?? null;
			this.#options.onPage?.(page, true);
		} catch (e) {
			if (gen === this.#generation) this.error = errorMessage(e);
		} finally {
			if (gen === this.#generation) this.loading = false;
		}
	}

	/** The next page for the query the items were loaded with, appended. */
	async more(): Promise<void> {
		const query = this.query;
		const cursor = this.nextCursor;
		if (query === null || !cursor) return;
		const gen = this.#generation;
		this.loading = true;
		this.error = '';
		try {
			const page = await this.#options.fetch(query, cursor);
			if (gen !== this.#generation) return;
			const { key } = this.#options;
			// eslint-disable-next-line svelte/prefer-svelte-reactivity -- a lookup for this line only, not state
			const present = new Set(this.items.map(key));
			this.items = [
				...this.items,
				...this.#options.items(page).filter((i) => !present.has(key(i)))
			];
			this.nextCursor = page.next_cursor ?? null;
			this.#options.onPage?.(page, false);
		} catch (e) {
			if (gen === this.#generation) this.error = errorMessage(e);
		} finally {
			if (gen === this.#generation) this.loading = false;
		}
	}

	/** Nothing shown, and whatever is still on its way is dropped (another list is chosen). */
	reset(): void {
		this.#generation++;
		this.items = [];
		this.nextCursor = null;
		this.query = null;
		this.loading = false;
		this.error = '';
	}
}
