import { describe, expect, test } from 'vitest';
import { dismissKey, nextStep, onboardingSteps } from './onboarding';

describe('onboarding', () => {
	test('a new app has every step to do, the domain first', () => {
		const steps = onboardingSteps({ domains: 0, scripts: 0, routes: 0, calls: 0 });
		expect(steps.map((s) => [s.key, s.done])).toEqual([
			['domain', false],
			['script', false],
			['route', false],
			['call', false]
		]);
		expect(nextStep(steps)?.key).toBe('domain');
	});

	test('each step is checked from its own fact, in any order', () => {
		const steps = onboardingSteps({ domains: 0, scripts: 2, routes: 1, calls: 0 });
		expect(steps.filter((s) => s.done).map((s) => s.key)).toEqual(['script', 'route']);
		expect(nextStep(steps)?.key).toBe('domain');
	});

	test('nothing left once called', () => {
		const steps = onboardingSteps({ domains: 1, scripts: 1, routes: 1, calls: 3 });
		expect(steps.every((s) => s.done)).toBe(true);
		expect(nextStep(steps)).toBeNull();
	});

	test('the checklist is hidden per app', () => {
		expect(dismissKey('a1')).toBe('picloud-onboarding-hidden:a1');
	});
});
