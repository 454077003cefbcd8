import { afterEach, describe, expect, test, vi } from 'vitest';
import {
	fillHost,
	fillPath,
	hostParams,
	hostPieces,
	parseBaseUrl,
	pathParams,
	pathPieces
} from './patterns';

describe('pathPieces', () => {
	test('splits parameters and a trailing wildcard from the text', () => {
		expect(pathPieces('/greet/:name/*')).toEqual([
			{ kind: 'text', text: '/greet/' },
			{ kind: 'param', text: ':name' },
			{ kind: 'text', text: '/' },
			{ kind: 'wild', text: '*' }
		]);
	});

	test('a `*` inside the path is text: only a trailing one is a wildcard', () => {
		expect(pathPieces('/a*b')).toEqual([{ kind: 'text', text: '/a*b' }]);
	});
});

describe('hostPieces', () => {
	test('marks `{label}` parameters', () => {
		expect(hostPieces('{tenant}.example.com')).toEqual([
			{ kind: 'host-param', text: '{tenant}' },
			{ kind: 'text', text: '.example.com' }
		]);
		expect(hostPieces('api.example.com')).toEqual([{ kind: 'text', text: 'api.example.com' }]);
	});
});

describe('pathParams and fillPath', () => {
	test('names the parameters as scripts see them', () => {
		expect(pathParams('/users/:id/files/*')).toEqual(['id', 'wildcard']);
		expect(pathParams('/static')).toEqual([]);
	});

	test('percent-encodes values, keeping the slashes of the wildcard', () => {
		expect(fillPath('/users/:id/files/*', { id: 'a b/c', wildcard: 'docs/read me.txt' })).toBe(
			'/users/a%20b%2Fc/files/docs/read%20me.txt'
		);
	});

	test('leaves missing values empty', () => {
		expect(fillPath('/users/:id', {})).toBe('/users/');
	});
});

describe('parseBaseUrl', () => {
	afterEach(() => vi.unstubAllGlobals());

	function at(href: string) {
		vi.stubGlobal('window', { location: new URL(href) });
	}

	test('takes scheme, host and port from public_base_url', () => {
		at('http://127.0.0.1:5173/admin');
		expect(parseBaseUrl('https://cloud.example.com:8443')).toEqual({
			scheme: 'https:',
			port: ':8443',
			host: 'cloud.example.com'
		});
		expect(parseBaseUrl('https://cloud.example.com').port).toBe('');
	});

	test('port 0 (a server on a random port) becomes the page’s own port', () => {
		at('http://localhost:41234/admin/apps');
		expect(parseBaseUrl('http://localhost:0')).toEqual({
			scheme: 'http:',
			port: ':41234',
			host: 'localhost'
		});
	});

	test('falls back to the page’s origin when there is no usable URL', () => {
		at('http://pi.lan:8080/admin');
		expect(parseBaseUrl(null)).toEqual({ scheme: 'http:', port: ':8080', host: 'pi.lan' });
		expect(parseBaseUrl('not a url')).toEqual({ scheme: 'http:', port: '', host: 'pi.lan' });
	});
});

describe('hostParams and fillHost', () => {
	test('names the labels of a wildcard claim', () => {
		expect(hostParams('{tenant}.example.com')).toEqual(['tenant']);
		expect(hostParams('{region}.{tenant}.example.com')).toEqual(['region', 'tenant']);
		expect(hostParams('api.example.com')).toEqual([]);
	});

	test('fills the labels; an empty one stays a placeholder', () => {
		expect(fillHost('{tenant}.example.com', { tenant: 'Acme ' })).toBe('acme.example.com');
		expect(fillHost('{region}.{tenant}.example.com', { region: 'eu' })).toBe(
			'eu.{tenant}.example.com'
		);
		expect(fillHost('api.example.com', {})).toBe('api.example.com');
	});
});
