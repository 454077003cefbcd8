// The overview's first-steps checklist for a new app: claim a domain, create
// a script, add a route, call it. Each step is checked from what the app
// really has, not from what the user clicked.

export type StepKey = 'domain' | 'script' | 'route' | 'call';

export interface OnboardingFacts {
	/** Domain claims of the app. */
	domains: number;
	/** Scripts of the app (at least one page's worth counted). */
	scripts: number;
	/** Routes of the app, over all its scripts. */
	routes: number;
	/** Executions of the app that came in over HTTP through a route. */
	calls: number;
}

export interface Step {
	key: StepKey;
	title: string;
	done: boolean;
}

export function onboardingSteps(facts: OnboardingFacts): Step[] {
	return [
		{ key: 'domain', title: 'Claim a domain', done: facts.domains > 0 },
		{ key: 'script', title: 'Create a script', done: facts.scripts > 0 },
		{ key: 'route', title: 'Add a route', done: facts.routes > 0 },
		{ key: 'call', title: 'Call it', done: facts.calls > 0 }
	];
}

/** The first step not done yet, or null when all are. */
export function nextStep(steps: readonly Step[]): Step | null {
	return steps.find((s) => !s.done) ?? null;
}

/** The localStorage key that hides the checklist of one app (a display preference). */
export function dismissKey(appId: string): string {
	return `picloud-onboarding-hidden:${appId}`;
}
