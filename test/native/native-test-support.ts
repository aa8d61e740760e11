/**
 * Shared pieces of the native-addon tests: helper processes (test/fixtures/native-*.mjs) that
 * load the built .node directly, unique /dev/shm directories, and a deterministic way to know
 * another process is blocked in the futex (so a test never races the waiter).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/wait.js';

export const PEER_FIXTURE = fileURLToPath(new URL('../fixtures/native-shm-peer.mjs', import.meta.url));
export const UNMAP_FIXTURE = fileURLToPath(new URL('../fixtures/native-unmap-child.mjs', import.meta.url));
export const FALLBACK_FIXTURE = fileURLToPath(new URL('../fixtures/native-fallback-child.mjs', import.meta.url));
export const LOADER_URL = new URL('../../dist/native/native-addon.js', import.meta.url).href;

/** Same formula as fill in native-shm-peer.mjs. */
export function bytePattern(i: number, seed: number): number {
  return (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
}

export function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = bytePattern(i, seed);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Children and /dev/shm directories, cleaned up by cleanupNativeTestResources() in afterEach.

const children = new Set<ChildProcess>();
const shmDirs = new Set<string>();

/** Environment for a child that must load the addon even if the test run forces the fallback. */
export function envWithNative(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.EPDMA_NO_NATIVE;
  return env;
}

export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function makeShmDir(): string {
  const dir = mkdtempSync('/dev/shm/epdma-native-test-');
  shmDirs.add(dir);
  return dir;
}

export function cleanupNativeTestResources(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of shmDirs) rmSync(dir, { recursive: true, force: true });
  shmDirs.clear();
}

/** Runs a fixture to completion and returns its stdout; rejects on a non-zero exit. */
export function runFixture(
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; execArgv?: string[] } = {},
): Promise<string> {
  const child = trackChild(
    fork(script, args, {
      env: options.env ?? envWithNative(),
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${script} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A request/response peer process (native-shm-peer.mjs).

export interface PeerReply {
  id?: number;
  error?: { code?: string; message: string };
  [key: string]: unknown;
}

export class ShmPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: PeerReply) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: PeerReply) => {
      if (msg.id === undefined) return;
      const waiter = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      waiter?.resolve(msg);
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`peer exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends a request; the reply may carry `error` (see callOk). */
  call(request: Record<string, unknown>): Promise<PeerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, ...request });
    });
  }

  async callOk(request: Record<string, unknown>): Promise<PeerReply> {
    const reply = await this.call(request);
    if (reply.error) throw new Error(`peer ${String(request.op)} failed: ${reply.error.message}`);
    const { id: _id, ...rest } = reply;
    return rest;
  }
}

export function startPeer(addonPath: string): Promise<ShmPeer> {
  const child = trackChild(
    fork(PEER_FIXTURE, [addonPath], {
      env: envWithNative(),
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`peer exited before ready (${code})`)));
    child.once('message', () => resolve(new ShmPeer(child)));
  });
}

// ---------------------------------------------------------------------------------------------
// "Is that process blocked in our futex wait?" /proc/<pid>/syscall shows the system call a
// blocked thread sits in with its arguments; the addon's wait is futex(addr, FUTEX_WAIT_BITSET=9)
// WITHOUT the private flag, which neither V8 nor glibc use (they wait with op | 0x80), so the
// line identifies our wait exactly. The main thread's tid is the pid; workers are other tids.

const SYS_FUTEX: Partial<Record<string, number>> = { x64: 202, arm64: 98 };
const FUTEX_WAIT_BITSET = 9;

function readSyscall(pid: number, tid = pid): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether blockedInSharedFutexWait can work here (Linux /proc, known arch, permission). */
export function procSyscallReadable(): boolean {
  return SYS_FUTEX[process.arch] !== undefined && readSyscall(process.pid) !== undefined;
}

/** A test title that states why the test is skipped where procSyscallReadable() is false. */
export function titleNeedingProcSyscall(title: string): string {
  return procSyscallReadable() ? title : `${title} (skipped: /proc/<pid>/task/<tid>/syscall is not readable here)`;
}

function inSharedFutexWait(line: string | undefined): boolean {
  const fields = line?.trim().split(/\s+/);
  if (fields === undefined || fields.length < 3) return false;
  return Number(fields[0]) === SYS_FUTEX[process.arch] && Number(fields[2]) === FUTEX_WAIT_BITSET;
}

/**
 * Whether `pid`'s main thread (or, with anyThread, any of its threads: a worker) is blocked in
 * the addon's futex wait.
 */
export function blockedInSharedFutexWait(pid: number, anyThread = false): boolean {
  if (!anyThread) return inSharedFutexWait(readSyscall(pid));
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tids.some((tid) => inSharedFutexWait(readSyscall(pid, Number(tid))));
}

/** Resolves once blockedInSharedFutexWait(pid, anyThread) holds; fails after the wait deadline. */
export async function waitUntilBlockedInSharedFutexWait(pid: number, anyThread = false): Promise<void> {
  await waitFor(() => blockedInSharedFutexWait(pid, anyThread), `process ${pid} blocked in the addon's futex wait`);
}
