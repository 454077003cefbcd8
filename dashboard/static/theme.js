// Sets the colour theme before the first paint, so a dark page does not
// flash white. A file, not an inline script: the dashboard's CSP allows
// scripts from its own origin only. The same rule as src/lib/theme.ts.
(() => {
	let choice = null;
	try {
		choice = localStorage.getItem('picloud-theme');
	} catch {
		// Storage switched off: follow the device.
	}
	const dark =
		choice === 'dark' ||
		(choice !== 'light' && window.matchMedia?.('(prefers-color-scheme: dark)').matches === true);
	document.documentElement.dataset.theme = dark ? 'dark' : 'light';
})();
