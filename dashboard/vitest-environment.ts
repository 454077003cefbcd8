import { builtinEnvironments, type Environment } from 'vitest/runtime';

// Node, with modules transformed as for the browser: Svelte compiles
// `.svelte.ts` runes for its client runtime, where `$state` is reactive.
export default {
	...builtinEnvironments.node,
	name: 'node-client',
	viteEnvironment: 'client'
} satisfies Environment;
