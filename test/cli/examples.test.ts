import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examples = readdirSync(new URL('../../examples/', import.meta.url)).filter((f) => f.endsWith('.mjs'));

describe('examples/', () => {
  it('has the three programs the README lists', () => {
    expect(examples.sort()).toEqual(['rx-pipeline.mjs', 'saturate.mjs', 'transfer-stream.mjs']);
  });

  it.each(examples)('%s runs against the built package and exits 0', (file) => {
    const r = spawnSync(process.execPath, [`examples/${file}`], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  }, 70_000);
});
