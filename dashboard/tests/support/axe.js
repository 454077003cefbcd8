// Accessibility checks with axe-core (a devDependency), run in the page.
// `page.evaluate` runs outside the page's Content-Security-Policy, which
// refuses every inline or injected <script>; the dashboard's CSP stays on.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** @type {string | undefined} */
let source;

/**
 * The WCAG 2.x A and AA rules axe finds broken on the page, one line each
 * with the first few elements at fault.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
export async function axeViolations(page) {
	source ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
	if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(source);
	return page.evaluate(async () => {
		// @ts-expect-error axe is the global the script above defined.
		const result = await window.axe.run(document, {
			runOnly: {
				type: 'tag',
				values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']
			},
			resultTypes: ['violations']
		});
		return result.violations.map(
			(
				/** @type {{ id: string, impact: string, help: string, nodes: { target: string[] }[] }} */ v
			) =>
				`${v.id} (${v.impact}): ${v.help} — ${v.nodes
					.slice(0, 3)
					.map((n) => n.target.join(' '))
					.join(', ')}`
		);
	});
}

/**
 * No axe violation on the page as it is now.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 */
export async function assertAccessible(page, what) {
	const violations = await axeViolations(page);
	assert.deepEqual(violations, [], `${what}:\n${violations.join('\n')}`);
}
