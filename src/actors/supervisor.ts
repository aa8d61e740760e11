import type { ChannelActor } from './channel-actor.js';

export type SupervisorEventType = 'channel-started' | 'channel-crashed' | 'channel-restarted' | 'channel-stopped';

export interface SupervisorOptions {
  /** Restart intensity: at most `maxRestarts` restarts within `withinMs` (OTP's defaults are 3 in 5 s). */
  readonly maxRestarts?: number;
  readonly withinMs?: number;
  /** First restart delay; doubles with each restart inside the window. */
  readonly backoffMs?: number;
  readonly onEvent: (type: SupervisorEventType, name: string, reason?: string) => void;
}

/** What a supervised child's owner does around a crash. */
export interface ChildHooks {
  /**
   * The worker is dead and not yet restarted: settle what it had in flight (drain its
   * completion ring, complete the taken descriptor 'aborted'). Queued work stays queued.
   */
  readonly onCrash: (reason: string) => void;
  /** Restart intensity exceeded: the channel is stopped for good; fail what is still queued. */
  readonly onStopped: (reason: string) => void;
}

interface Child {
  readonly actor: ChannelActor;
  readonly hooks: ChildHooks;
  restarts: number[];
  /** The pending restart's backoff, cancelled by close(). */
  timer: NodeJS.Timeout | undefined;
}

/**
 * One-for-one supervisor of a side's channel actors: a crashed channel is restarted alone,
 * with the same identity and buffers, after a backoff; beyond the restart intensity it is
 * stopped and reported, the others keep running.
 */
export class Supervisor {
  private readonly maxRestarts: number;
  private readonly withinMs: number;
  private readonly backoffMs: number;
  private readonly onEvent: SupervisorOptions['onEvent'];
  private readonly children = new Map<string, Child>();
  private closed = false;

  constructor(options: SupervisorOptions) {
    this.maxRestarts = options.maxRestarts ?? 3;
    this.withinMs = options.withinMs ?? 5000;
    this.backoffMs = options.backoffMs ?? 10;
    this.onEvent = options.onEvent;
  }

  /** Registers the actor; its ChannelActorOptions.onCrash must call `crashed(actor, reason)`. */
  async startChild(actor: ChannelActor, hooks: ChildHooks): Promise<void> {
    this.children.set(actor.name, { actor, hooks, restarts: [], timer: undefined });
    await actor.start();
    this.onEvent('channel-started', actor.name);
  }

  actor(name: string): ChannelActor | undefined {
    return this.children.get(name)?.actor;
  }

  get actors(): ChannelActor[] {
    return [...this.children.values()].map((c) => c.actor);
  }

  crashed(actor: ChannelActor, reason: string): void {
    const child = this.children.get(actor.name);
    if (child === undefined || this.closed) return;
    this.onEvent('channel-crashed', actor.name, reason);
    child.hooks.onCrash(reason);
    const now = Date.now();
    child.restarts = child.restarts.filter((t) => now - t < this.withinMs);
    if (child.restarts.length >= this.maxRestarts) {
      const why = `restart intensity exceeded: ${child.restarts.length} restarts within ${this.withinMs} ms (last crash: ${reason})`;
      actor.markStopped(why);
      child.hooks.onStopped(why);
      this.onEvent('channel-stopped', actor.name, why);
      return;
    }
    child.restarts.push(now);
    const delay = this.backoffMs * 2 ** (child.restarts.length - 1);
    child.timer = setTimeout(() => {
      child.timer = undefined;
      if (this.closed) return;
      actor.generation++;
      actor.start(() => this.onEvent('channel-restarted', actor.name, `generation ${actor.generation}`)).catch(
        // A worker that dies while starting reports through onCrash again; nothing more here.
        () => undefined,
      );
    }, delay);
  }

  /**
   * Resolves once the channel is running again, or will not be (stopped for good, or closed):
   * the actor's own whenRunning, which settles on the restart itself rather than on a timer.
   */
  async settled(name: string): Promise<void> {
    await this.children.get(name)?.actor.whenRunning().catch(() => undefined);
  }

  /** Stops every child and joins every worker; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.children.values()];
    for (const c of all) if (c.timer !== undefined) clearTimeout(c.timer);
    await Promise.all(all.map((c) => c.actor.stop('closed')));
  }
}
