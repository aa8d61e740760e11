/**
 * The layer check CI runs: the real tree passes, and an import that goes up (a value import, a
 * type-only import, a dynamic import) or a folder that is no layer fails with the file and line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '../../scripts/check-layers.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A src/ tree with one file per layer, each importing what `imports` says. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'epdma-layers-'));
  dirs.push(root);
  const src = join(root, 'src');
  const layers = ['device', 'native', 'protocol', 'dw-edma', 'pci-epf-dma', 'dw-edma-pcie', 'workers', 'actors', 'api', 'bench', 'cli'];
  for (const l of layers) {
    mkdirSync(join(src, l), { recursive: true });
    writeFileSync(join(src, l, 'index.ts'), 'export const x = 1;\n');
  }
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(src, path, '..'), { recursive: true });
    writeFileSync(join(src, path), text);
  }
  return src;
}

describe('scripts/check-layers.mjs', () => {
  it('passes the project tree', () => {
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^layer check: 11 layers, every import goes down\n$/);
  });

  it('passes imports that go down', () => {
    const r = run(tree({ 'api/a.ts': "import { x } from '../device/index.js';\nimport type { y } from '../actors/index.js';\n" }));
    expect(r.status).toBe(0);
  });

  it('fails every import that goes up, value, type-only or dynamic, with file and line', () => {
    const src = tree({
      'device/up.ts': "import { x } from '../api/index.js';\n",
      'workers/w.ts': "\nimport type { C } from '../actors/index.js';\n",
      'protocol/p.ts': "const m = await import('../dw-edma/index.js');\n",
    });
    const r = run(src);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('layer check: 3 problem(s)');
    expect(r.stderr).toContain('src/device/up.ts:1: src/device imports src/api (../api/index.js); src/device may import nothing else');
    expect(r.stderr).toContain('src/workers/w.ts:2: src/workers imports src/actors');
    expect(r.stderr).toContain('src/protocol/p.ts:1: src/protocol imports src/dw-edma');
  });

  it('fails a folder that is not a layer', () => {
    const r = run(tree({ 'misc/m.ts': 'export {};\n' }));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('src/misc/m.ts: folder src/misc is not a layer');
  });
});
