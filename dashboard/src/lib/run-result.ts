// How the run panel shows a test run's response body: JSON pretty-printed,
// other text as it came, and a body that is not UTF-8 as its size with a
// download link (the API sends it in base64).

/** A response header by name, whatever the case the script wrote it in. */
export function headerValue(headers: Record<string, string>, name: string): string | undefined {
	const wanted = name.toLowerCase();
	for (const [key, value] of Object.entries(headers)) {
		if (key.toLowerCase() === wanted) return value;
	}
	return undefined;
}

/** Whether a content type is JSON: `application/json`, `application/problem+json`, … */
export function isJsonType(contentType: string | undefined): boolean {
	if (!contentType) return false;
	const type = contentType.split(';')[0].trim().toLowerCase();
	return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

export type ShownBody =
	| { kind: 'empty' }
	| { kind: 'json'; text: string }
	| { kind: 'text'; text: string }
	| { kind: 'binary'; bytes: Uint8Array; contentType: string };

/**
 * What to show for a body. Text that parses as a JSON object or array is
 * pretty-printed (whatever its content type says: scripts often answer a
 * map without one); a JSON content type pretty-prints any JSON value.
 */
export function shownBody(
	body: string | null | undefined,
	bodyBase64: string | null | undefined,
	headers: Record<string, string>
): ShownBody {
	const contentType = headerValue(headers, 'content-type');
	if (typeof body === 'string') {
		if (body === '') return { kind: 'empty' };
		const trimmed = body.trim();
		const looksJson = trimmed.startsWith('{') || trimmed.startsWith('[');
		if (looksJson || isJsonType(contentType)) {
			try {
				return { kind: 'json', text: JSON.stringify(JSON.parse(body), null, 2) };
			} catch {
				// Not JSON after all: shown as the text it is.
			}
		}
		return { kind: 'text', text: body };
	}
	if (typeof bodyBase64 === 'string') {
		const bytes = decodeBase64(bodyBase64);
		if (bytes.length === 0) return { kind: 'empty' };
		return { kind: 'binary', bytes, contentType: contentType || 'application/octet-stream' };
	}
	return { kind: 'empty' };
}

/** Standard base64 to bytes; characters outside the alphabet are skipped. */
export function decodeBase64(text: string): Uint8Array {
	const binary = atob(text.replace(/[^A-Za-z0-9+/]/g, ''));
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
	return bytes;
}

const EXTENSIONS: Record<string, string> = {
	'application/pdf': 'pdf',
	'application/zip': 'zip',
	'application/gzip': 'gz',
	'image/png': 'png',
	'image/jpeg': 'jpg',
	'image/gif': 'gif',
	'image/webp': 'webp',
	'application/octet-stream': 'bin'
};

/** A file name for the download: `response.png` for an `image/png` body. */
export function downloadName(contentType: string): string {
	const type = contentType.split(';')[0].trim().toLowerCase();
	return `response.${EXTENSIONS[type] ?? 'bin'}`;
}
