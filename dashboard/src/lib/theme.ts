// The colour theme: light, dark, or whatever the device prefers. The choice
// is a display preference, so it is kept in localStorage (nothing secret is:
// see api.ts for the CSRF token, which never leaves memory).
// static/theme.js applies the same rule before the first paint; keep the two
// in step.

export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

/** The localStorage key (static/theme.js reads it too). */
export const THEME_KEY = 'picloud-theme';

/** The choices in the order the header's button steps through them. */
export const THEME_CHOICES: readonly ThemeChoice[] = ['system', 'light', 'dark'];

/** A stored value as a choice; anything else (nothing stored, an old value) is `system`. */
export function parseChoice(stored: string | null | undefined): ThemeChoice {
	return stored === 'light' || stored === 'dark' ? stored : 'system';
}

/** The theme to show for a choice, given whether the device prefers dark. */
export function resolveTheme(choice: ThemeChoice, systemDark: boolean): Theme {
	if (choice === 'system') return systemDark ? 'dark' : 'light';
	return choice;
}

/** The choice after `choice`: system → light → dark → system. */
export function nextChoice(choice: ThemeChoice): ThemeChoice {
	const at = THEME_CHOICES.indexOf(choice);
	return THEME_CHOICES[(at + 1) % THEME_CHOICES.length];
}

/** "System (dark)", "Light": the choice as the header's button names it. */
export function choiceLabel(choice: ThemeChoice, resolved: Theme): string {
	if (choice === 'system') return `System (${resolved})`;
	return choice === 'light' ? 'Light' : 'Dark';
}
