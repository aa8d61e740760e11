import { readFileSync } from 'node:fs';

/** The installed package's version (package.json next to dist/), for --version and reports. */
export function epdmaVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
