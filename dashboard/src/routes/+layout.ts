// A single-page app: the binary serves index.html for every dashboard path
// and all data comes from the admin API in the browser.
export const ssr = false;
export const prerender = false;
