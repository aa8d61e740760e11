import { readFileSync } from 'node:fs';
import { EpdmaError } from '../../device/errors.js';
import { CTL, EP_STATE_STOPPING } from './shm-layout.js';

/**
 * Who is alive on the other side of the files (kill -9 of either process).
 *
 * The host slot (control word HOST_PID) has one writer at a time:
 *   host:     CAS 0 -> pid to attach; on close store -pid ("leaving").
 *   endpoint: sees -pid, or a pid whose process is gone; resets the delegated channels' engines
 *             (a dead host can leave a chunk running or a stale DONE behind), clears H as if
 *             dw-edma-pcie were removed, and only then stores 0.
 * So a new host can never attach while the endpoint is still cleaning up after the last one.
 */

/** True while `pid` names a live process (a zombie counts as dead). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // "pid (comm) S ...": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc: kill(0) said it exists
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Host: takes the host slot. Waits (bounded) while the endpoint cleans up after a previous
 * host; EBUSY if a live host holds it.
 */
export async function claimHostSlot(ctl: Int32Array, o: { dir: string; timeoutMs: number; endpointAlive: () => boolean }): Promise<void> {
  const me = process.pid;
  const deadline = performance.now() + o.timeoutMs;
  for (;;) {
    const held = Atomics.compareExchange(ctl, CTL.HOST_PID, 0, me);
    if (held === 0) return;
    if (held === me) throw new EpdmaError('EBUSY', `openHost: this process (${me}) already has a host open on ${o.dir}`);
    if (held > 0 && processAlive(held)) throw new EpdmaError('EBUSY', `openHost: host process ${held} is attached to ${o.dir}; one host at a time`);
    if (!o.endpointAlive()) throw new EpdmaError('ENODEV', `openHost: the endpoint process of ${o.dir} is not running`);
    if (performance.now() >= deadline) {
      throw new EpdmaError('ETIMEDOUT', `openHost: the endpoint did not release the previous host ${Math.abs(held)} of ${o.dir} within ${o.timeoutMs} ms`);
    }
    await sleep(5);
  }
}

/** Host: gives the slot back; the endpoint finishes the detach (see the module comment). */
export function leaveHostSlot(ctl: Int32Array): void {
  Atomics.compareExchange(ctl, CTL.HOST_PID, process.pid, -process.pid);
}

/**
 * Endpoint: watches the host slot. `onGone` runs once per host that left or died and must
 * leave the device ready for the next host; the slot is freed after it resolved.
 */
export class HostWatch {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastAttached = 0;

  constructor(
    private readonly ctl: Int32Array,
    private readonly hooks: {
      onAttached: (pid: number) => void;
      onGone: (pid: number, how: 'detached' | 'died') => Promise<void>;
    },
    periodMs = 20,
  ) {
    this.timer = setInterval(() => this.tick(), periodMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.busy) return;
    const v = Atomics.load(this.ctl, CTL.HOST_PID);
    if (v === 0) return;
    if (v > 0 && processAlive(v)) {
      if (v !== this.lastAttached) {
        this.lastAttached = v;
        this.hooks.onAttached(v);
      }
      return;
    }
    const pid = Math.abs(v);
    this.busy = true;
    this.hooks.onGone(pid, v < 0 ? 'detached' : 'died').then(
      () => {
        Atomics.compareExchange(this.ctl, CTL.HOST_PID, v, 0);
        this.lastAttached = 0;
        this.busy = false;
      },
      () => {
        this.busy = false; // try again on the next tick
      },
    );
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Host: watches the endpoint process. It died (pid gone), stopped (it says so while shutting
 * down) or was replaced (another generation in the control block): `onDead` once, with why.
 */
export class EndpointWatch {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctl: Int32Array,
    private readonly expect: { pid: number; generation: number },
    private readonly onDead: (reason: string) => void,
    periodMs = 50,
  ) {
    this.timer = setInterval(() => this.check(), periodMs);
    this.timer.unref();
  }

  /** Why the endpoint is gone, or undefined while it runs. */
  reason(): string | undefined {
    const { pid, generation } = this.expect;
    if (!processAlive(pid)) return `endpoint process ${pid} died`;
    if (Atomics.load(this.ctl, CTL.EP_STATE) === EP_STATE_STOPPING) return `endpoint process ${pid} stopped`;
    if (Atomics.load(this.ctl, CTL.EP_PID) !== pid || Atomics.load(this.ctl, CTL.EP_GENERATION) !== generation) {
      return `endpoint process ${pid} was replaced`;
    }
    return undefined;
  }

  private check(): void {
    const why = this.reason();
    if (why === undefined) return;
    this.stop();
    this.onDead(why);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
