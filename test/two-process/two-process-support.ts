/**
 * Pieces shared by the two-process tests: endpoint and host child processes with their
 * output lines, temporary /dev/shm directories, and reads of the published files (to check
 * bytes and handshake bits from outside both processes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PCI_EP_DMA_METADATA_MAGIC } from '../../dist/device/metadata/metadata-format.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
export const HOST_FIXTURE = fileURLToPath(new URL('../fixtures/two-process-host.mjs', import.meta.url));
export const FALLBACK_FIXTURE = fileURLToPath(new URL('../fixtures/two-process-fallback.mjs', import.meta.url));

/** A child whose stdout lines the test can wait for. */
export class Child {
  readonly lines: string[] = [];
  stderr = '';
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly proc: ChildProcess) {
    let partial = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    proc.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The first stdout line matching `re` (already printed or still to come). */
  waitFor(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr}`)), timeoutMs);
      this.exited.then(({ code, signal }) => reject(new Error(`exited (${code ?? signal}) before a line matching ${re}; stdout: ${this.lines.join(' | ')}; stderr: ${this.stderr}`)));
      this.waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }
}

const children = new Set<Child>();
const dirs = new Set<string>();

/** The environment of a child that must load the addon even if this run forces the fallback. */
export function nativeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.EPDMA_NO_NATIVE;
  return env;
}

export function track(proc: ChildProcess): Child {
  const c = new Child(proc);
  children.add(c);
  return c;
}

/** `node dist/cli/index.js endpoint --shm DIR --wr-chans 4 --rd-chans 4`, up to its ready line. */
export async function startEndpoint(dir: string, extra: string[] = []): Promise<Child> {
  const ep = track(spawn(process.execPath, [CLI, 'endpoint', '--shm', dir, '--wr-chans', '4', '--rd-chans', '4', ...extra], { env: nativeEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
  await ep.waitFor(/^epdma endpoint: ready in /);
  return ep;
}

export function makeShmDir(): string {
  const dir = mkdtempSync('/dev/shm/epdma-2p-test-');
  dirs.add(dir);
  return dir;
}

/** afterEach: SIGKILL every child still running, wait for it, remove every directory. */
export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill('SIGKILL')));
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export interface Manifest {
  epPid: number;
  generation: number;
  regions: { name: string; base: number; size: number; kind: string; file: string; fileOffset: number }[];
  files: Record<string, { name: string; bytes: number }>;
  bars: { index: number; size: number; busAddr: number }[];
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'device.json'), 'utf8')) as Manifest;
}

/** Where a bus address of a RAM region lives in the published files. */
function ramRegionOf(dir: string, addr: number) {
  return readManifest(dir).regions.find((x) => x.kind === 'ram' && addr >= x.base && addr < x.base + x.size);
}

function locate(dir: string, addr: number): { path: string; offset: number } {
  const m = readManifest(dir);
  const r = ramRegionOf(dir, addr);
  if (r === undefined) throw new Error(`address ${addr.toString(16)} is in no published RAM region`);
  return { path: join(dir, m.files[r.file]!.name), offset: r.fileOffset + (addr - r.base) };
}

/** Reads bytes at a bus address straight from the endpoint's files (pread: no mapping). */
export function peek(dir: string, addr: number, length: number): Buffer {
  const { path, offset } = locate(dir, addr);
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Writes bytes at a bus address into the endpoint's files (pwrite: the mappings see them). */
export function poke(dir: string, addr: number, bytes: Uint8Array): void {
  const { path, offset } = locate(dir, addr);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

const CONTROL_MIRROR_BASE_WORDS = 64;
const CONTROL_BAR_WORDS = 128;

/**
 * The metadata CTRL dword as the EP's memory holds it: found through the published iATU
 * mirror (BAR window 0 -> EP-local scratch address) and the first BAR whose memory starts
 * with the metadata magic.
 */
export function metadataCtrl(dir: string): number {
  return peek(dir, metadataAddress(dir) + 8, 4).readUInt32LE(0);
}

/** Stores `value` into the metadata CTRL dword, as the endpoint's own software could. */
export function writeMetadataCtrl(dir: string, value: number): void {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0, 0);
  poke(dir, metadataAddress(dir) + 8, bytes);
}

/** The EP-local address of the metadata BAR's backing (see metadataCtrl). */
function metadataAddress(dir: string): number {
  const m = readManifest(dir);
  const ctl = readFileSync(join(dir, 'control.mem'));
  const words = new Int32Array(ctl.buffer, ctl.byteOffset, ctl.byteLength >> 2);
  for (const b of m.bars) {
    const at = CONTROL_MIRROR_BASE_WORDS + b.index * CONTROL_BAR_WORDS;
    if (words[at + 1]! < 1) continue;
    const localAddr = (words[at + 7]! >>> 0) * 0x1_0000_0000 + (words[at + 6]! >>> 0);
    // A BAR onto registers (no RAM region) cannot hold the metadata; any other error is real.
    if (ramRegionOf(dir, localAddr) === undefined) continue;
    if (peek(dir, localAddr, 4).readUInt32LE(0) === PCI_EP_DMA_METADATA_MAGIC) return localAddr;
  }
  throw new Error('no published BAR holds the metadata magic');
}

export { CTRL_HOST_REQ, CTRL_READY } from '../../dist/device/metadata/metadata-format.js';
