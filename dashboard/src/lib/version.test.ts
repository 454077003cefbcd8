import { afterEach, expect, test, vi } from 'vitest';

afterEach(() => {
	vi.unstubAllGlobals();
	vi.resetModules();
});

test('/version is asked once per page load, and again after a failure', async () => {
	const fetchMock = vi
		.fn()
		.mockRejectedValueOnce(new TypeError('Failed to fetch'))
		.mockResolvedValue(new Response(JSON.stringify({ picloud: '0.1.0' })));
	vi.stubGlobal('fetch', fetchMock);
	const { getVersion } = await import('./version');

	await expect(getVersion()).rejects.toMatchObject({ code: 'network_error' });
	const [first, second] = await Promise.all([getVersion(), getVersion()]);
	expect(first).toEqual({ picloud: '0.1.0' });
	expect(second).toBe(first);
	await getVersion();
	expect(fetchMock).toHaveBeenCalledTimes(2);
});
