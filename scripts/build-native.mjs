// Builds the optional native addon (build/Release/epdma_native.node) at `npm ci` / `npm install`.
//
// Plain ESM JavaScript because it runs before TypeScript is built. The addon is optional: every
// failure (no compiler, no headers, no node-gyp, not Linux, EPDMA_SKIP_NATIVE=1) ends in exactly
// one line
//     epdma: native addon not built (<short reason>); the in-process path is used
// and exit code 0, so installing epdma never fails because of it. Success prints
//     epdma: native addon built
// and nothing else; node-gyp's chatter is captured, and kept in build/epdma-native-build.log
// when the build fails.
//
// Offline by construction: node-gyp gets --nodedir=<prefix of the running node> (the prefix that
// holds include/node), so it never downloads headers.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nodeDir = dirname(dirname(process.execPath));
const addonPath = join(packageRoot, 'build', 'Release', 'epdma_native.node');
const logPath = join(packageRoot, 'build', 'epdma-native-build.log');
const REASON_MAX = 160;

class NotBuilt extends Error {}

function notBuilt(reason) {
  throw new NotBuilt(reason);
}

function shorten(text) {
  const oneLine = String(text).replace(/\s+/g, ' ').trim();
  return oneLine.length > REASON_MAX ? `${oneLine.slice(0, REASON_MAX - 3)}...` : oneLine;
}

function commandWorks(command, args) {
  const r = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  return !r.error && r.status === 0;
}

function findNodeGyp(requireFromRoot) {
  const candidates = [];
  // npm sets this for lifecycle scripts: the node-gyp bundled with the npm running the install.
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(requireFromRoot.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a local dependency; fall through to npm's bundled copy
  }
  const bundled = ['npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'];
  candidates.push(join(nodeDir, 'lib', 'node_modules', ...bundled));
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  // Last resort: ask npm where its global root is (slow, so only when the guesses missed).
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 60_000 });
  if (!r.error && r.status === 0) {
    const viaNpm = join(r.stdout.trim(), ...bundled);
    if (existsSync(viaNpm)) return viaNpm;
  }
  return undefined;
}

// node-gyp lets npm_config_* / npm_package_config_node_gyp_* environment variables override its
// command line (a user .npmrc with `nodedir=` or `dist-url=` would otherwise win over ours).
function nodeGypEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_config_/i.test(key) && !/^npm_config_python$/i.test(key)) continue;
    if (/^npm_package_config_node_gyp_/i.test(key)) continue;
    env[key] = value;
  }
  // binding.gyp runs `node -p` to locate node-addon-api: make it the node running this script.
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  return env;
}

// The most telling line of a failed build: the compiler's first error, else node-gyp's.
function failureReason(output, status) {
  const lines = output.split('\n');
  const compilerError = lines.find((l) => /\b(fatal )?error:/.test(l) && !l.startsWith('gyp'));
  if (compilerError) return compilerError.replace(/^.*?\b((fatal )?error:)/, '$1');
  const gypError = lines.find((l) => /^gyp ERR! (stack )?\w*Error:/.test(l));
  if (gypError) return gypError.replace(/^gyp ERR! (stack )?/, '');
  const anyGypError = lines.find((l) => l.startsWith('gyp ERR!'));
  if (anyGypError) return anyGypError.replace(/^gyp ERR! /, '');
  return `node-gyp exited with status ${status}`;
}

function build() {
  if (process.env.EPDMA_SKIP_NATIVE === '1') notBuilt('EPDMA_SKIP_NATIVE=1');
  if (process.platform !== 'linux') notBuilt(`platform ${process.platform} has no futex/MAP_SHARED support here`);

  const headers = join(nodeDir, 'include', 'node');
  for (const header of ['node_api.h', 'v8.h', 'common.gypi']) {
    if (!existsSync(join(headers, header))) notBuilt(`no Node headers: ${join(headers, header)} missing`);
  }
  const requireFromRoot = createRequire(join(packageRoot, 'package.json'));
  try {
    requireFromRoot.resolve('node-addon-api');
  } catch {
    notBuilt('node-addon-api is not installed');
  }
  const cxx = process.env.CXX || 'g++';
  if (!commandWorks(cxx, ['--version'])) notBuilt(`no C++ compiler (${cxx})`);
  if (!commandWorks('make', ['--version'])) notBuilt('no make');
  const nodeGyp = findNodeGyp(requireFromRoot);
  if (!nodeGyp) notBuilt('node-gyp not found');

  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`], {
    cwd: packageRoot,
    env: nodeGypEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    timeout: 10 * 60_000,
  });
  if (r.error) notBuilt(`node-gyp did not run: ${r.error.message}`);
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) {
    let where = '';
    try {
      mkdirSync(dirname(logPath), { recursive: true });
      writeFileSync(logPath, output);
      where = '; log in build/epdma-native-build.log';
    } catch {
      // the reason line is still printed
    }
    notBuilt(`${shorten(failureReason(output, r.status))}${where}`);
  }
  if (!existsSync(addonPath)) notBuilt('node-gyp succeeded but build/Release/epdma_native.node is missing');

  // Prove the result loads in this node before calling it built.
  try {
    const addon = createRequire(import.meta.url)(addonPath);
    for (const fn of ['mapShared', 'futexWait', 'futexWake', 'copy']) {
      if (typeof addon[fn] !== 'function') notBuilt(`built addon lacks ${fn}()`);
    }
  } catch (err) {
    if (err instanceof NotBuilt) throw err;
    notBuilt(`built addon does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
}

try {
  build();
  console.log('epdma: native addon built');
} catch (err) {
  const reason = err instanceof NotBuilt ? err.message : `unexpected: ${err instanceof Error ? err.message : String(err)}`;
  console.warn(`epdma: native addon not built (${shorten(reason)}); the in-process path is used`);
}
process.exitCode = 0;
