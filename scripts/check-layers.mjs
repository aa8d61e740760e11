// Checks the layer rule of DESIGN.md: a folder of src/ imports only itself and the layers listed
// for it below (type-only and dynamic imports count too). Run by .ci/run; exits 1 and lists every
// import that breaks the rule. Plain ESM so it runs before anything is built.
// Usage: node scripts/check-layers.mjs [SRC_DIR]   (default: this checkout's src/)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = resolve(process.argv[2] ?? join(root, 'src'));

/** Bottom to top. Each layer may import the layers named here, and itself. */
export const LAYERS = {
  device: [],
  native: ['device'],
  protocol: ['device', 'native'],
  'dw-edma': ['device', 'protocol'],
  'pci-epf-dma': ['device'],
  'dw-edma-pcie': ['device', 'protocol'],
  workers: ['device', 'native', 'protocol', 'dw-edma'],
  actors: ['device', 'native', 'protocol'],
  api: ['device', 'native', 'protocol', 'actors', 'pci-epf-dma', 'dw-edma-pcie'],
  bench: ['device', 'api'],
  cli: ['device', 'api', 'bench'],
};

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|mts|cts)$/.test(entry.name)) yield path;
  }
}

const layerOf = (file) => relative(src, file).split(sep)[0];
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

const problems = [];
const seen = new Set();
for (const file of sources(src)) {
  const from = layerOf(file);
  seen.add(from);
  const allowed = LAYERS[from];
  const rel = relative(dirname(src), file);
  if (allowed === undefined) {
    problems.push(`${rel}: folder src/${from} is not a layer (add it to scripts/check-layers.mjs)`);
    continue;
  }
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(IMPORT)) {
    const target = resolve(dirname(file), m[1]);
    if (!target.startsWith(src + sep)) {
      problems.push(`${rel}: imports ${m[1]} from outside src/`);
      continue;
    }
    const to = layerOf(target);
    if (to !== from && !allowed.includes(to)) {
      const line = text.slice(0, m.index).split('\n').length;
      problems.push(`${rel}:${line}: src/${from} imports src/${to} (${m[1]}); src/${from} may import ${allowed.length > 0 ? allowed.map((l) => `src/${l}`).join(', ') : 'nothing else'}`);
    }
  }
}
for (const layer of Object.keys(LAYERS)) {
  if (!seen.has(layer)) problems.push(`src/${layer}: listed as a layer but has no source file`);
}
if (problems.length > 0) {
  process.stderr.write(`layer check: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`layer check: ${seen.size} layers, every import goes down\n`);
