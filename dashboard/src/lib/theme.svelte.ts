// The theme in force, shared by the header's toggle and the editor: the
// user's choice (localStorage) and the device's preference
// (`prefers-color-scheme`), which is followed live while the choice is
// `system`. It sets `data-theme` on <html>, which app.css reads.

import { parseChoice, resolveTheme, THEME_KEY, type Theme, type ThemeChoice } from './theme';

const DARK_QUERY = '(prefers-color-scheme: dark)';

function stored(): ThemeChoice {
	try {
		return parseChoice(localStorage.getItem(THEME_KEY));
	} catch {
		// Storage can be switched off; the device's preference still applies.
		return 'system';
	}
}

class ThemeState {
	choice = $state<ThemeChoice>('system');
	systemDark = $state(false);
	readonly theme: Theme = $derived(resolveTheme(this.choice, this.systemDark));

	#started = false;

	/** Reads the stored choice and starts following the device; once, in the browser. */
	start(): void {
		if (this.#started || typeof window === 'undefined') return;
		this.#started = true;
		this.choice = stored();
		const query = window.matchMedia?.(DARK_QUERY);
		if (query) {
			this.systemDark = query.matches;
			query.addEventListener('change', (event) => {
				this.systemDark = event.matches;
				this.apply();
			});
		}
		this.apply();
	}

	set(choice: ThemeChoice): void {
		this.choice = choice;
		try {
			if (choice === 'system') localStorage.removeItem(THEME_KEY);
			else localStorage.setItem(THEME_KEY, choice);
		} catch {
			// Not remembered, but applied for this page.
		}
		this.apply();
	}

	apply(): void {
		if (typeof document === 'undefined') return;
		document.documentElement.dataset.theme = this.theme;
	}
}

export const theme = new ThemeState();
