import { describe, expect, it } from 'vitest';
import { SMOKE_SETTINGS, runScenarios, type EpdmaBenchHooks, type ScenarioContext } from '../../dist/bench/scenarios.js';

function context(hooks: EpdmaBenchHooks | null, hooksNote?: string): ScenarioContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    settings: { ...SMOKE_SETTINGS },
    hooks,
    ...(hooksNote !== undefined && { hooksNote }),
    log: (line) => lines.push(line),
    failures: [],
    lines,
  };
}

describe('runScenarios', () => {
  it('puts the medians of epdma hooks next to the peers and turns a failing or missing hook into null with a note', async () => {
    const calls: string[] = [];
    let smallOpsRep = 0;
    const hooks: EpdmaBenchHooks = {
      copyBandwidth: async () => 1,
      smallOps: async (opts) => {
        calls.push(`smallOps depth=${opts.depth} durationMs=${opts.durationMs}`);
        return [100, 300, 200][smallOpsRep++]!;
      },
      latency: async (opts) => {
        calls.push(`latency samples=${opts.samples}`);
        return { p50Us: 12, p99Us: 34 };
      },
      idle: async () => {
        throw new Error('testbed would not start');
      },
      afterScenario: async (name) => {
        calls.push(`afterScenario ${name}`);
      },
    };
    const ctx = context(hooks);
    ctx.settings.reps = 3;
    ctx.settings.latencySamples = 50;
    ctx.settings.durationMs = 50;
    const entries = await runScenarios(ctx, ['idle', 'ntb', 'small-ops', 'latency']);

    // Canonical order whatever the order asked for.
    expect(entries.map((e) => `${e.name}:${e.metric}`)).toEqual([
      'small-ops:ops', 'latency:p50', 'latency:p99', 'ntb:throughput', 'ntb:cpu-per-gib', 'idle:cpu',
    ]);
    // Smoke settings have no warmup: 3 measured runs, then afterScenario after each scenario.
    expect(calls).toEqual([
      ...Array(3).fill('smallOps depth=32 durationMs=50'), 'afterScenario small-ops',
      ...Array(3).fill('latency samples=50'), 'afterScenario latency',
      'afterScenario ntb', 'afterScenario idle',
    ]);
    const [small, p50, p99, throughput, cpu, idle] = entries;
    expect(small).toMatchObject({ epdma: 200, unit: 'ops/s' });
    expect(small!.note).toBeUndefined();
    expect(p50).toMatchObject({ epdma: 12, unit: 'us' });
    expect(p99).toMatchObject({ epdma: 34, unit: 'us' });
    for (const e of [small!, p50!, p99!]) {
      expect(Object.keys(e.peers).sort()).toEqual(['comlink', 'piscina', 'postMessage']);
    }
    expect(throughput).toMatchObject({ epdma: null, unit: 'bytes/s', note: 'epdma: the hooks define no ntb()' });
    expect(cpu).toMatchObject({ epdma: null, unit: 'ms' });
    expect(Object.keys(throughput!.peers)).toEqual(['cpu-copy']);
    expect(cpu!.peers['cpu-copy']).toBeGreaterThan(0);
    expect(idle).toMatchObject({ epdma: null, note: 'epdma idle: testbed would not start' });
    expect(typeof idle!.peers['parked-workers']).toBe('number');
    expect(ctx.failures).toEqual([]);
  });

  it('warms all channels up for the ramp before measuring them, and says so in the entry', async () => {
    const calls: string[] = [];
    const hooks: EpdmaBenchHooks = {
      copyBandwidth: async (opts) => {
        calls.push(`${opts.channels} ${opts.size} ${opts.durationMs}`);
        return 1;
      },
      latency: async () => ({ p50Us: 1, p99Us: 1 }),
      idle: async () => 0,
    };
    const ctx = context(hooks);
    Object.assign(ctx.settings, { reps: 2, warmup: true, durationMs: 20, allChannelsRampMs: 70 });
    const entries = await runScenarios(ctx, ['copy-bandwidth']);
    const run = (channels: number | string, size: number, first: number): string[] =>
      [first, 20, 20].map((ms) => `${channels} ${size} ${ms}`);
    expect(calls).toEqual([
      ...run(1, 65536, 20), ...run('all', 65536, 70),
      ...run(1, 1 << 20, 20), ...run('all', 1 << 20, 70),
    ]);
    expect(entries.map((e) => e.note)).toEqual([undefined, 'warmup 70 ms', undefined, 'warmup 70 ms']);
  });

  it('records a copy limit with bandwidth entries and the reason when there are no hooks', async () => {
    const ctx = context(null, 'no hooks (not built)');
    ctx.settings.durationMs = 30;
    const entries = await runScenarios(ctx, ['copy-bandwidth']);
    expect(entries.map((e) => e.name)).toEqual([
      'copy-bandwidth/1ch/64KiB', 'copy-bandwidth/all-ch/64KiB', 'copy-bandwidth/1ch/1MiB', 'copy-bandwidth/all-ch/1MiB',
    ]);
    for (const e of entries) {
      expect(e).toMatchObject({ metric: 'bandwidth', unit: 'bytes/s', epdma: null, note: 'epdma: no hooks (not built)' });
      expect(Object.keys(e.peers)).toEqual(['main-thread-set', 'worker-set-1', 'worker-set-2']);
      expect(e.limit).toBe(Math.max(...Object.values(e.peers)));
    }
    expect(ctx.failures).toEqual([]);
  });

  it('records epdma as null when a hook returns something that is not a finite number', async () => {
    const hooks = { smallOps: async () => NaN } as unknown as EpdmaBenchHooks;
    const ctx = context(hooks);
    ctx.settings.durationMs = 30;
    const [small] = await runScenarios(ctx, ['small-ops']);
    expect(small).toMatchObject({ epdma: null, note: 'epdma smallOps: returned NaN' });
  });
  it('small-ops-batch and loadtest: verify and no-verify in the same run, each with its same-run peer', async () => {
    const calls: string[] = [];
    const hooks = {
      smallOpsBatch: async (opts: { depth: number; durationMs: number }) => {
        calls.push(`smallOpsBatch depth=${opts.depth}`);
        return 5000;
      },
      loadTest: async (opts: { verify: boolean; durationMs: number }) => {
        calls.push(`loadTest verify=${opts.verify} durationMs=${opts.durationMs}`);
        return opts.verify ? 400 : 1000;
      },
    } as unknown as EpdmaBenchHooks;
    const ctx = context(hooks);
    ctx.settings.durationMs = 30;
    const entries = await runScenarios(ctx, ['loadtest', 'small-ops-batch']);
    expect(entries.map((e) => e.name)).toEqual(['small-ops-batch', 'loadtest/verify', 'loadtest/no-verify']);
    const [batch, verify, noVerify] = entries;
    expect(batch).toMatchObject({ metric: 'ops', unit: 'ops/s', epdma: 5000 });
    expect(Object.keys(batch!.peers).sort()).toEqual(['comlink', 'piscina', 'postMessage']);
    expect(verify).toMatchObject({ metric: 'throughput', unit: 'bytes/s', epdma: 400, peers: { 'loadtest/no-verify': 1000 } });
    expect(noVerify).toMatchObject({ metric: 'throughput', unit: 'bytes/s', epdma: 1000 });
    expect(Object.keys(noVerify!.peers), `peer failures: ${ctx.failures.join('; ')}`).toEqual(['worker-set-2']);
    // The load test runs three scenario durations (3 s in a full run), no-verify first.
    expect(calls).toEqual(['smallOpsBatch depth=32', 'loadTest verify=false durationMs=90', 'loadTest verify=true durationMs=90']);
  });
});
