/** The project's TypeScript sources as text, for tests that check how the code is structured. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SourceFile {
  /** Path from the repository root, with forward slashes (e.g. `src/device/dma-chip.ts`). */
  readonly path: string;
  readonly text: string;
}

/** Every `.ts` file under `dir` (relative to the repository root), sorted by path. */
export function sourceFiles(dir = 'src'): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const p = join(abs, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ts')) out.push({ path: relative(ROOT, p).split('\\').join('/'), text: readFileSync(p, 'utf8') });
    }
  };
  walk(join(ROOT, dir));
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The source without comments, so words in prose do not count as code. */
export function codeOnly(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}
