// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
	namespace App {
		// The dashboard has no server side: no Locals, no PageData from a server.
	}
}

export {};
