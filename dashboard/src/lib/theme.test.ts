import { describe, expect, test } from 'vitest';
import { choiceLabel, nextChoice, parseChoice, resolveTheme, THEME_CHOICES } from './theme';

describe('theme', () => {
	test('a stored value is a choice; anything else follows the system', () => {
		expect(parseChoice('light')).toBe('light');
		expect(parseChoice('dark')).toBe('dark');
		expect(parseChoice('system')).toBe('system');
		expect(parseChoice(null)).toBe('system');
		expect(parseChoice('')).toBe('system');
		expect(parseChoice('Dark')).toBe('system');
	});

	test('system follows the device; light and dark do not', () => {
		expect(resolveTheme('system', true)).toBe('dark');
		expect(resolveTheme('system', false)).toBe('light');
		expect(resolveTheme('light', true)).toBe('light');
		expect(resolveTheme('dark', false)).toBe('dark');
	});

	test('the button steps through all three and back', () => {
		let choice = THEME_CHOICES[0];
		const seen = [choice];
		for (let i = 0; i < 3; i++) {
			choice = nextChoice(choice);
			seen.push(choice);
		}
		expect(seen).toEqual(['system', 'light', 'dark', 'system']);
	});

	test('labels say what the system choice resolves to', () => {
		expect(choiceLabel('system', 'dark')).toBe('System (dark)');
		expect(choiceLabel('light', 'light')).toBe('Light');
		expect(choiceLabel('dark', 'dark')).toBe('Dark');
	});
});
