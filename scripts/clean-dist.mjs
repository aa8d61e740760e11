// Empties dist/ before a build: tsc never deletes the output of a source that was moved or
// removed, and a stale module (or a source map pointing at a file that no longer exists) must
// not ship or be tested.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
