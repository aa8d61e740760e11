/**
 * `npm pack` gives a tarball a user can install and run: LICENSE and docs/ in it, every source
 * map pointing at a file that ships, and `epdma --version` working from an empty folder it was
 * installed into. Offline: the dependencies are packed from this checkout's node_modules and
 * installed together with epdma (`npm install --offline`), so no registry is needed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

let work: string;
let tarball: string;
let files: string[];
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'epdma-pack-'));
  const packed = JSON.parse(npm(['pack', root, '--pack-destination', work, '--json', '--ignore-scripts'], work)) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  files = packed[0]!.files.map((f) => f.path);
}, 120_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** The dependency closure of the runtime dependencies, as installed here. */
function dependencyClosure(): string[] {
  const seen = new Set<string>();
  const walk = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const p = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(p.dependencies ?? {})) walk(d);
  };
  for (const d of Object.keys(pkg.dependencies)) walk(d);
  return [...seen];
}

describe('npm pack', () => {
  it('ships LICENSE, README, docs and the built code, nothing of the tests or bench results', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/cli/index.js', 'dist/api/index.js', 'dist/api/index.d.ts',
      'docs/cli.md', 'docs/metadata-format.md', 'docs/handshake.md', 'docs/register-map.md', 'docs/tracing.md']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('bench/'))).toEqual([]);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('every source map points at a source file that ships', () => {
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(50);
    const shipped = new Set(files);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      for (const source of sources) expect(shipped.has(normalize(join(dirname(map), source))), `${map} -> ${source}`).toBe(true);
    }
  });

  it('installs into an empty folder without a registry and runs epdma --version', () => {
    const deps = join(work, 'deps');
    mkdirSync(deps);
    for (const d of dependencyClosure()) npm(['pack', join(root, 'node_modules', d), '--pack-destination', deps, '--ignore-scripts', '--silent'], work);
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
    const depTarballs = execFileSync('ls', [deps], { encoding: 'utf8' }).trim().split('\n').map((f) => join(deps, f));
    // --ignore-scripts: the optional native addon build is not what this checks.
    npm(['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, ...depTarballs], app);
    const bin = join(app, 'node_modules', '.bin', 'epdma');
    expect(execFileSync(bin, ['--version'], { cwd: app, encoding: 'utf8' })).toBe(`${pkg.version}\n`);
    expect(execFileSync(bin, ['inspect', '--help'], { cwd: app, encoding: 'utf8' })).toMatch(/^usage: epdma inspect FILE\|DIR/);
    // The package entry resolves by name from the app.
    const entry = execFileSync(process.execPath, ['--input-type=module', '-e', "import('epdma').then((m) => console.log(typeof m.createTestbed, typeof m.EpdmaError))"], { cwd: app, encoding: 'utf8' });
    expect(entry).toBe('function function\n');
  }, 240_000);
});
