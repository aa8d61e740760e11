import { Worker } from 'node:worker_threads';
import { EpdmaError } from '../device/errors.js';
import { ChannelControlBlock } from '../protocol/channel-control-block.js';
import type { ChannelWorkerControl, ChannelWorkerData } from '../protocol/channel-worker-data.js';
import { CompletionRing } from '../protocol/completion-ring.js';
import { CoreWaiters } from '../protocol/core-budget.js';
import { KickWord } from '../protocol/kick-word.js';
import { llMax } from '../device/ll/ll-codec.js';
import { SubmissionRing } from '../protocol/submission-ring.js';
import { createControlClient, type ControlClient } from '../protocol/control-plane.js';

const WORKER_URL = new URL('../workers/channel-worker.js', import.meta.url);

export type ChannelActorState = 'starting' | 'running' | 'crashed' | 'stopped' | 'closed';

export interface ChannelActorOptions {
  /** Worker description without the per-actor buffers, which the actor allocates. */
  readonly spec: Omit<ChannelWorkerData, 'submissions' | 'completions' | 'kick' | 'control' | 'generation'>;
  readonly submissionCapacity?: number;
  readonly controlTimeoutMs?: number;
  /** Called when the worker died without being asked to (the supervisor's hook). */
  readonly onCrash: (actor: ChannelActor, reason: string) => void;
}

/**
 * The main-thread side of one channel actor: the rings and control words it shares with its
 * worker, the worker itself, and the control-plane client. The buffers outlive the worker,
 * so a restarted worker continues on the same queue.
 */
export class ChannelActor {
  readonly name: string;
  readonly submissions: SubmissionRing;
  readonly completions: CompletionRing;
  readonly kick: KickWord;
  readonly control: ChannelControlBlock;
  /** The testbed's core budget's waiters: a worker waiting for a core parks there, not on its kick word. */
  private readonly coreWaiters: CoreWaiters | null;
  private readonly options: ChannelActorOptions;
  private worker: Worker | undefined;
  private client: ControlClient<ChannelWorkerControl> | undefined;
  private exited: Promise<void> = Promise.resolve();
  private intentionalExit = false;
  generation = 0;
  private current: ChannelActorState = 'starting';
  /** Why the supervisor stopped the actor for good. */
  private stoppedBecause = '';
  /** Waiters of whenRunning(), settled by the next 'running', 'stopped' or 'closed'. */
  private running: { readonly promise: Promise<void>; readonly resolve: () => void; readonly reject: (e: Error) => void } | undefined;

  /** The channel core's semantics (the handle follows the same ones on the main thread). */
  get quirks(): ChannelWorkerData['quirks'] {
    return this.options.spec.quirks;
  }

  /** Bursts per chunk: what one LL region holds (the handle's view of a first chunk). */
  get llMax(): number {
    return llMax(this.options.spec.ll.size);
  }

  constructor(options: ChannelActorOptions) {
    this.options = options;
    this.name = options.spec.name;
    this.submissions = SubmissionRing.create(options.submissionCapacity);
    // One completion per descriptor: twice the submission entries leaves room for a full queue
    // plus what the main thread has not drained yet.
    this.completions = CompletionRing.create(this.submissions.capacity * 2);
    this.kick = KickWord.create();
    this.control = ChannelControlBlock.create();
    this.coreWaiters = options.spec.coreBudget === undefined ? null : new CoreWaiters(options.spec.coreBudget.buffer);
  }

  /** Wakes the worker wherever it parks (idle on its kick word, or waiting for a core) to read its control block. */
  private rouse(): void {
    this.kick.kick();
    this.coreWaiters?.rouse();
  }

  get state(): ChannelActorState {
    return this.current;
  }

  private enter(state: ChannelActorState): void {
    this.current = state;
    const waiters = this.running;
    if (waiters === undefined || state === 'starting' || state === 'crashed') return;
    this.running = undefined;
    if (state === 'running') waiters.resolve();
    else waiters.reject(this.shutdown());
  }

  private shutdown(): EpdmaError {
    return new EpdmaError('ESHUTDOWN', this.current === 'stopped' ? `${this.name}: channel stopped: ${this.stoppedBecause}` : `${this.name}: channel closed`);
  }

  /**
   * Resolves once the worker runs: at once if it does, else when a (re)start has answered on
   * the control plane, however many starts that takes (a worker that dies while starting is
   * restarted again). Rejects ESHUTDOWN once the actor is stopped for good or closed. What
   * waits out a crash awaits this, never a timer.
   */
  whenRunning(): Promise<void> {
    // A thread already gone whose exit event is still to come is not running: its crash (and
    // the restart) follow, and a caller looping on "call, and on ESHUTDOWN await a restart"
    // must not spin on it.
    if (this.current === 'running' && this.worker !== undefined && this.worker.threadId !== -1) return Promise.resolve();
    if (this.current === 'stopped' || this.current === 'closed') return Promise.reject(this.shutdown());
    if (this.running === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.running = { promise, resolve, reject };
    }
    return this.running.promise;
  }

  /** The supervisor gave up on this actor (restart intensity exceeded): it never runs again. */
  markStopped(reason: string): void {
    this.stoppedBecause = reason;
    this.enter('stopped');
  }

  /** What the worker is started with (its LL region, quirks...). */
  get spec(): ChannelActorOptions['spec'] {
    return this.options.spec;
  }

  /**
   * Starts (or restarts) the worker and resolves once it answers on the control plane.
   * `onRunning` runs the moment the actor is running, before anyone awaiting whenRunning()
   * resumes (so a restart is on the event stream by then).
   */
  async start(onRunning?: () => void): Promise<void> {
    const data: ChannelWorkerData = {
      ...this.options.spec,
      submissions: this.submissions.buffer,
      completions: this.completions.buffer,
      kick: this.kick.buffer,
      control: this.control.buffer,
      generation: this.generation,
    };
    this.control.setGeneration(this.generation);
    this.intentionalExit = false;
    const worker = new Worker(WORKER_URL, { workerData: data, name: `epdma ${this.name}` });
    this.worker = worker;
    this.client = createControlClient<ChannelWorkerControl>(worker, {
      name: this.name,
      timeoutMs: this.options.controlTimeoutMs ?? 5000,
      // Called once the request is posted: only then is the control counter bumped, so a
      // worker that sees the bump finds the message on its port when it returns to its event
      // loop. Bumped before the post, a worker could see it, return to its event loop before the
      // message arrived, and park on its kick word before this kick: the request then waited
      // for the park's timeout (up to a second).
      wake: () => {
        this.control.bumpControl();
        this.rouse();
      },
    });
    this.exited = new Promise((resolve) => {
      let reason = '';
      worker.once('error', (err) => {
        reason = err instanceof Error ? err.message : String(err);
      });
      worker.once('exit', (code) => {
        this.client?.dispose();
        if (this.worker === worker) this.worker = undefined;
        if (!this.intentionalExit && this.current !== 'closed') {
          this.enter('crashed');
          this.options.onCrash(this, reason !== '' ? reason : `worker exited with code ${code}`);
        }
        resolve();
      });
    });
    this.enter('starting');
    await this.call('stats');
    if (this.current === 'starting') {
      this.enter('running');
      onRunning?.();
    }
  }

  get alive(): boolean {
    return this.worker !== undefined;
  }

  /** A control-plane call: rejects ESHUTDOWN if the worker is gone, ETIMEDOUT past the deadline. */
  call<K extends keyof ChannelWorkerControl>(method: K, ...args: Parameters<ChannelWorkerControl[K]>): Promise<Awaited<ReturnType<ChannelWorkerControl[K]>>> {
    const client = this.client;
    if (client === undefined || this.worker === undefined) {
      return Promise.reject(new EpdmaError('ESHUTDOWN', `${this.name}: channel worker is not running (${this.state}) for ${method}`));
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (client.call as any)(method, ...args);
  }

  /** Tells the worker to take new submissions: once per issuePending, only if it sleeps. */
  kickWorker(): void {
    this.kick.kick();
  }

  /** Kills the worker abruptly, as a crash would (for faults.crashChannel). */
  async kill(): Promise<void> {
    const w = this.worker;
    if (w === undefined) throw new EpdmaError('ESHUTDOWN', `${this.name}: no worker to crash (${this.state})`);
    await w.terminate();
    await this.exited;
  }

  /** Stops the worker on purpose (close, or restart intensity exceeded) and joins it. */
  async stop(final: 'closed' | 'stopped'): Promise<void> {
    this.enter(final);
    this.intentionalExit = true;
    const w = this.worker;
    if (w !== undefined) {
      this.control.requestExit();
      this.rouse();
      await w.terminate();
    }
    await this.exited;
    this.client?.dispose();
  }
}
