import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createControlClient, exposeControl } from '../../dist/protocol/control-plane.js';
import { EpdmaError } from '../../dist/device/errors.js';
import { KickWord } from '../../dist/protocol/kick-word.js';
import { WAIT_DEADLINE_MS } from '../support/wait.js';

const SERVICE = new URL('../fixtures/control-service.mjs', import.meta.url);
const PARKED = new URL('../fixtures/control-parked.mjs', import.meta.url);

/** The API control-service.mjs exposes, as the main thread sees it. */
interface Service {
  configure(next: { deviceAddr: number }): { deviceAddr: number };
  stats(): { submitted: number; completed: number; bytes: bigint; config: { deviceAddr: number } };
  slowEcho(value: string): Promise<string>;
  pause(reason: string): void;
  boom(): void;
  lookalike(): void;
  never(): Promise<void>;
  exitMidCall(code: number): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<EpdmaError> {
  try {
    await promise;
  } catch (error) {
    return error as EpdmaError;
  }
  throw new Error('expected the call to reject');
}

/** Settled before one macrotask passes, i.e. without a round trip to the worker. */
async function settledAtOnce(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  const first = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise((resolve) => setImmediate(() => resolve(pending))),
  ]);
  return first !== pending;
}

describe('control plane over comlink', () => {
  const workers: Worker[] = [];

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  async function start(url: URL, workerData?: unknown): Promise<Worker> {
    const worker = new Worker(url, { workerData });
    workers.push(worker);
    await once(worker, 'online');
    return worker;
  }

  it('calls methods in the worker with structured-clone arguments and results', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/rd0' });
    expect(await control.call('configure', { deviceAddr: 0x8000_1000 })).toEqual({ deviceAddr: 0x8000_1000 });
    expect(await control.call('stats')).toEqual({
      submitted: 3,
      completed: 2,
      bytes: 2n ** 40n,
      config: { deviceAddr: 0x8000_1000 },
    });
    const echoes = await Promise.all(['a', 'b', 'c'].map((v) => control.call('slowEcho', v)));
    expect(echoes).toEqual(['a', 'b', 'c']);
    expect(control.pending).toBe(0);
    control.dispose();
  });

  it('brings an EpdmaError thrown in the worker back with its code, other errors as they are', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/rd0' });
    const err = await rejection(control.call('pause', 'idle'));
    expect(err).toBeInstanceOf(EpdmaError);
    expect(err.code).toBe('EINVAL');
    expect(err.message).toBe("EINVAL: pause: channel state 'idle' is not running");
    expect(err.text).toBe("pause: channel state 'idle' is not running");
    const other = await rejection(control.call('boom'));
    expect(other).not.toBeInstanceOf(EpdmaError);
    expect(other.message).toBe('not an EpdmaError');
    control.dispose();
  });

  it('carries the code as data: a message that merely looks coded stays a plain error, and a code travels whatever the text', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/rd0' });
    // An Error whose message starts like a code is not turned into an EpdmaError.
    const lookalike = await rejection(control.call('lookalike'));
    expect(lookalike).not.toBeInstanceOf(EpdmaError);
    expect(lookalike.message).toBe('EBUSY: only looks like a code');
    // An EpdmaError with a text that has no "CODE: " shape of its own keeps its code.
    const coded = await rejection(control.call('pause', 'x: y'));
    expect(coded).toMatchObject({ code: 'EINVAL', text: "pause: channel state 'x: y' is not running" });
    control.dispose();
  });

  it('rejects with ESHUTDOWN when the worker exits in the middle of a call', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'endpoint/wr2', timeoutMs: 20_000 });
    const err = await rejection(control.call('exitMidCall', 3));
    expect(err).toBeInstanceOf(EpdmaError);
    expect(err.code).toBe('ESHUTDOWN');
    expect(err.message).toBe('ESHUTDOWN: endpoint/wr2: worker exited (code 3) during exitMidCall');
    expect(control.pending).toBe(0);
  });

  it('rejects every call in flight when the worker is terminated', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/wr0', timeoutMs: 20_000 });
    const calls = [control.call('never'), control.call('never')];
    expect(control.pending).toBe(2);
    await worker.terminate();
    for (const call of calls) {
      const err = await rejection(call);
      expect(err.code).toBe('ESHUTDOWN');
      expect(err.message).toBe('ESHUTDOWN: host/wr0: worker exited (code 1) during never');
    }
    expect(control.pending).toBe(0);
  });

  it('rejects at once, without a round trip, after the worker has exited', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/rd1' });
    await rejection(control.call('exitMidCall', 4));
    const late = control.call('stats');
    expect(await settledAtOnce(late)).toBe(true);
    const err = await rejection(late);
    expect(err.code).toBe('ESHUTDOWN');
    expect(err.message).toBe('ESHUTDOWN: host/rd1: worker exited (code 4) during stats');
    // A client made after the exit cannot know the code, but still does not hang.
    const after = createControlClient<Service>(worker, { name: 'host/rd1' });
    const err2 = await rejection(after.call('stats'));
    expect(err2.message).toBe('ESHUTDOWN: host/rd1: worker exited (code unknown) during stats');
  });

  it('rejects with ETIMEDOUT when the method never answers, and stays usable', async () => {
    const worker = await start(SERVICE);
    const control = createControlClient<Service>(worker, { name: 'host/rd0', timeoutMs: 1000 });
    // Warm up: 'online' comes before the worker's modules have loaded and exposed the API.
    expect(await control.call('configure', { deviceAddr: 4 })).toEqual({ deviceAddr: 4 });
    const err = await rejection(control.call('never'));
    expect(err).toBeInstanceOf(EpdmaError);
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toBe('ETIMEDOUT: host/rd0: never did not answer within 1000 ms');
    expect(control.pending).toBe(0);
    expect(await control.call('configure', { deviceAddr: 5 })).toEqual({ deviceAddr: 5 });
    control.dispose();
  });

  it('gives calls before the first answer the boot deadline, later calls the call deadline', async () => {
    // The worker blocks for 400 ms before it exposes its API, as a slow module load would.
    const worker = await start(SERVICE, { bootDelayMs: 400 });
    const control = createControlClient<Service>(worker, { name: 'host/rd0', timeoutMs: 50, bootTimeoutMs: 20_000 });
    expect(await control.call('configure', { deviceAddr: 6 })).toEqual({ deviceAddr: 6 });
    const err = await rejection(control.call('never'));
    expect(err.message).toBe('ETIMEDOUT: host/rd0: never did not answer within 50 ms');
    control.dispose();
    const impatient = createControlClient<Service>(await start(SERVICE, { bootDelayMs: 400 }), { name: 'host/rd1', timeoutMs: 20_000, bootTimeoutMs: 50 });
    expect((await rejection(impatient.call('configure', { deviceAddr: 1 }))).message).toBe('ETIMEDOUT: host/rd1: configure did not answer within 50 ms (worker start)');
    impatient.dispose();
  });

  it('dispose rejects calls in flight, refuses new ones and takes its listeners off the worker', async () => {
    const worker = await start(SERVICE);
    const before = { exit: worker.listenerCount('exit'), message: worker.listenerCount('message') };
    const control = createControlClient<Service>(worker, { name: 'host/rd0', timeoutMs: 20_000 });
    expect(worker.listenerCount('exit')).toBe(before.exit + 1);
    expect(worker.listenerCount('message')).toBe(before.message + 1);
    const inFlight = control.call('never');
    control.dispose();
    const err = await rejection(inFlight);
    expect(err.code).toBe('ESHUTDOWN');
    expect(err.message).toBe('ESHUTDOWN: host/rd0: control client disposed during never');
    const late = control.call('stats');
    expect(await settledAtOnce(late)).toBe(true);
    expect((await rejection(late)).message).toBe('ESHUTDOWN: host/rd0: control client disposed during stats');
    expect(worker.listenerCount('exit')).toBe(before.exit);
    expect(worker.listenerCount('message')).toBe(before.message);
    control.dispose();
    // The worker keeps serving other clients.
    const again = createControlClient<Service>(worker, { name: 'host/rd0' });
    expect(await again.call('configure', { deviceAddr: 9 })).toEqual({ deviceAddr: 9 });
    again.dispose();
  });

  it('reaches a worker parked in Atomics.wait only through the wake hook', async () => {
    const kick = KickWord.create();
    const progress = new Int32Array(new SharedArrayBuffer(8));
    const worker = await start(PARKED, { kick: kick.buffer, progress: progress.buffer, sleepMs: 120_000 });
    // Wait until the worker has parked once (it counts each park before it sleeps).
    const parked = Atomics.waitAsync(progress, 0, 0, WAIT_DEADLINE_MS);
    expect(parked.async ? await parked.value : parked.value).not.toBe('timed-out');
    expect(Atomics.load(progress, 0)).toBeGreaterThan(0);
    const deaf = createControlClient<{ ping(): string }>(worker, { name: 'host/rd0', timeoutMs: 100, bootTimeoutMs: 100 });
    expect((await rejection(deaf.call('ping'))).code).toBe('ETIMEDOUT');
    deaf.dispose();
    const control = createControlClient<{ ping(): string }>(worker, {
      name: 'host/rd0',
      wake: () => kick.kick(),
    });
    // The first request was queued all along; both are served once the kick wakes the worker.
    expect(await control.call('ping')).toBe('pong 2');
    control.dispose();
  });

  it('refuses bad options and exposeControl outside a worker', () => {
    const fake = { on() {}, off() {}, threadId: 1 } as unknown as Worker;
    expect(() => createControlClient(fake, { name: 'x', timeoutMs: 0 })).toThrow(/EINVAL: x: control timeoutMs 0/);
    expect(() => exposeControl({}, null)).toThrow(/EINVAL: exposeControl: not in a worker thread/);
  });
});
