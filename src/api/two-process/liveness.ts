import { existsSync, readFileSync } from 'node:fs';
import { EpdmaError } from '../../device/errors.js';
import { BACKOFF } from '../../protocol/backoff.js';
import { waitUntil } from '../../protocol/wait-until.js';
import { CTL, EP_STATE_STOPPING } from './shm-layout.js';

/**
 * Who is alive on the other side of the files (kill -9 of either process).
 *
 * The host slot (control word HOST_PID) has one writer at a time:
 *   host:     CAS 0 -> pid to attach, then bumps HOST_HEARTBEAT while attached; on close stops
 *             the heartbeat and stores -pid ("leaving").
 *   endpoint: sees its recorded host leave (-pid and a still heartbeat) or die (the process is
 *             gone); resets the delegated channels' engines (a dead host can leave a chunk
 *             running or a stale DONE behind), clears H as if dw-edma-pcie were removed, and
 *             only then stores 0.
 * So a new host can never attach while the endpoint is still cleaning up after the last one,
 * and no single word written into control.mem makes the endpoint drop a live host.
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

/**
 * Host: takes the host slot. Waits (bounded, BACKOFF.hostSlotRelease) while the endpoint cleans
 * up after a previous host; EBUSY if a live host holds it, ENODEV once the endpoint is gone.
 */
export async function claimHostSlot(ctl: Int32Array, o: { dir: string; timeoutMs: number; endpointAlive: () => boolean }): Promise<void> {
  const me = process.pid;
  const claimed = (): boolean => {
    const held = Atomics.compareExchange(ctl, CTL.HOST_PID, 0, me);
    if (held === 0) return true;
    if (held === me) throw new EpdmaError('EBUSY', `openHost: this process (${me}) already has a host open on ${o.dir}`);
    if (held > 0 && processAlive(held)) throw new EpdmaError('EBUSY', `openHost: host process ${held} is attached to ${o.dir}; one host at a time`);
    if (!o.endpointAlive()) throw new EpdmaError('ENODEV', `openHost: the endpoint process of ${o.dir} is not running`);
    return false;
  };
  await waitUntil(claimed, BACKOFF.hostSlotRelease, {
    word: { view: ctl, index: CTL.HOST_PID },
    timeoutMs: o.timeoutMs,
    what: `openHost: waiting for the endpoint of ${o.dir} to release the previous host`,
  });
}

/** Host: gives the slot back; the endpoint finishes the detach (see the module comment). */
export function leaveHostSlot(ctl: Int32Array): void {
  Atomics.compareExchange(ctl, CTL.HOST_PID, process.pid, -process.pid);
}

/** How often an attached host bumps HOST_HEARTBEAT. */
export const HOST_HEARTBEAT_MS = 20;
/** A host whose heartbeat stood still this long may be treated as detached (never alone: see HostWatch). */
export const HOST_HEARTBEAT_STALL_MS = 250;

/**
 * The kernel's start time of `pid` (/proc/<pid>/stat field 22, clock ticks since boot): with
 * the pid it names one process for good, so a recycled pid is not mistaken for the one we saw.
 * undefined when it cannot be read (no /proc, or the process is gone).
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22 -> index 19 after the ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isSafeInteger(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** Host: keeps HOST_HEARTBEAT moving while it is attached (what HostWatch believes, not the pid word). */
export class HostHeartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(ctl: Int32Array) {
    Atomics.add(ctl, CTL.HOST_HEARTBEAT, 1);
    this.timer = setInterval(() => Atomics.add(ctl, CTL.HOST_HEARTBEAT, 1), HOST_HEARTBEAT_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

interface AttachedHost {
  readonly pid: number;
  readonly startTime: number | undefined;
  heartbeat: number;
  heartbeatAt: number;
}

/**
 * Endpoint: watches the host slot. `onGone` runs once per host that left or died and must
 * leave the device ready for the next host; the slot is freed after it resolved.
 *
 * Once a host is attached, what the endpoint believes about it comes from its own record of
 * that process (pid and kernel start time, taken at attach) and from the host's heartbeat,
 * never from the pid word alone, which anyone mapping control.mem can overwrite:
 *   died:     the recorded process no longer exists (or its pid now names another process);
 *   detached: the word says that very host is leaving (-pid) AND its heartbeat stopped.
 * Any other value in the word while the recorded host lives is ignored (logged once).
 */
export class HostWatch {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private attached: AttachedHost | undefined;
  private complained = false;

  constructor(
    private readonly ctl: Int32Array,
    private readonly hooks: {
      onAttached: (pid: number) => void;
      onGone: (pid: number, how: 'detached' | 'died') => Promise<void>;
      /** The pid word says something the recorded host did not write (once per host). */
      onBogusSlot?: (word: number, pid: number) => void;
    },
    periodMs = 20,
  ) {
    this.timer = setInterval(() => this.tick(), periodMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.busy) return;
    const v = Atomics.load(this.ctl, CTL.HOST_PID);
    const a = this.attached;
    if (a === undefined) {
      if (v === 0) return;
      if (v > 0 && processAlive(v)) {
        this.attached = { pid: v, startTime: processStartTime(v), heartbeat: Atomics.load(this.ctl, CTL.HOST_HEARTBEAT), heartbeatAt: performance.now() };
        this.complained = false;
        this.hooks.onAttached(v);
        return;
      }
      // A slot left by a host that came and went between two ticks.
      this.gone(v, Math.abs(v), v < 0 ? 'detached' : 'died');
      return;
    }
    const now = performance.now();
    const hb = Atomics.load(this.ctl, CTL.HOST_HEARTBEAT);
    if (hb !== a.heartbeat) {
      a.heartbeat = hb;
      a.heartbeatAt = now;
    }
    if (!sameProcess(a)) {
      // Gone for real; it said goodbye first if the word is its -pid.
      this.gone(v, a.pid, v === -a.pid ? 'detached' : 'died');
      return;
    }
    if (v === -a.pid && now - a.heartbeatAt >= HOST_HEARTBEAT_STALL_MS) {
      this.gone(v, a.pid, 'detached');
      return;
    }
    if (v !== a.pid && v !== -a.pid && !this.complained) {
      this.complained = true;
      this.hooks.onBogusSlot?.(v, a.pid);
    }
  }

  private gone(word: number, pid: number, how: 'detached' | 'died'): void {
    this.busy = true;
    this.hooks.onGone(pid, how).then(
      () => {
        // Only the word we judged is cleared: a host can attach only from 0, so nobody raced us.
        // A host of this process waiting in claimHostSlot wakes at once (another one at its next poll).
        Atomics.compareExchange(this.ctl, CTL.HOST_PID, word, 0);
        Atomics.notify(this.ctl, CTL.HOST_PID);
        this.attached = undefined;
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

function sameProcess(a: AttachedHost): boolean {
  if (!processAlive(a.pid)) return false;
  const start = processStartTime(a.pid);
  return a.startTime === undefined || start === undefined || start === a.startTime;
}

/**
 * Host: watches the endpoint process. It died (pid gone), stopped (it says so while shutting
 * down), was replaced (another generation in the control block), withdrew its files, or its
 * heartbeat stood still for `stallMs`: `onDead` once, with why. A reset of the delegated
 * channels (EP_RESETS moved) is reported through `onReset` and is not fatal.
 */
export class EndpointWatch {
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: number;
  private heartbeatAt = performance.now();
  private resets: number;

  constructor(
    private readonly ctl: Int32Array,
    private readonly expect: { pid: number; generation: number; manifestPath: string; stallMs: number },
    private readonly hooks: { onDead: (reason: string) => void; onReset: (resets: number) => void },
    periodMs = 50,
  ) {
    this.heartbeat = Atomics.load(ctl, CTL.EP_HEARTBEAT);
    this.resets = Atomics.load(ctl, CTL.EP_RESETS);
    this.timer = setInterval(() => this.check(), periodMs);
    this.timer.unref();
  }

  /** Why the endpoint is gone, or undefined while it runs. */
  reason(): string | undefined {
    const { pid, generation, manifestPath, stallMs } = this.expect;
    if (!processAlive(pid)) return `endpoint process ${pid} died`;
    if (Atomics.load(this.ctl, CTL.EP_STATE) === EP_STATE_STOPPING) return `endpoint process ${pid} stopped`;
    if (Atomics.load(this.ctl, CTL.EP_PID) !== pid || Atomics.load(this.ctl, CTL.EP_GENERATION) !== generation) {
      return `endpoint process ${pid} was replaced`;
    }
    if (!existsSync(manifestPath)) return `endpoint process ${pid} withdrew ${manifestPath}`;
    const now = performance.now();
    const hb = Atomics.load(this.ctl, CTL.EP_HEARTBEAT);
    if (hb !== this.heartbeat) {
      this.heartbeat = hb;
      this.heartbeatAt = now;
    } else if (now - this.heartbeatAt >= stallMs) {
      return `endpoint process ${pid} stopped responding (no heartbeat for ${Math.round(now - this.heartbeatAt)} ms)`;
    }
    return undefined;
  }

  private check(): void {
    const why = this.reason();
    if (why !== undefined) {
      this.stop();
      this.hooks.onDead(why);
      return;
    }
    const resets = Atomics.load(this.ctl, CTL.EP_RESETS);
    if (resets !== this.resets) {
      this.resets = resets;
      this.hooks.onReset(resets);
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
