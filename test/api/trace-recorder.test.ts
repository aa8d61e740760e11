/**
 * createTestbed({ trace }) end to end: the file opens as trace-event JSON with the link events
 * of linkDown/linkUp and a worker's crash and restart, and a bad path fails before anything
 * starts.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestbed } from '../../dist/api/testbed.js';
import type { RuntimeEvent } from '../../dist/api/types.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'epdma-trace-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface TraceEvent { ph: string; name: string; pid: number; tid: number; ts: number; cat?: string; s?: string; args?: Record<string, unknown> }

describe('createTestbed({ trace })', () => {
  it('records link-down/up, a worker crash and its restart, and the transfers around them', async () => {
    const file = join(dir, 'lifecycle.json');
    const bed = await createTestbed({ trace: file });
    const events: RuntimeEvent[] = [];
    bed.events$.subscribe((e) => events.push(e));
    try {
      const chan = await bed.host.dma.requestChannel({ name: 'host/rd1' });
      const src = bed.host.memory.alloc(8192);
      const dst = bed.endpoint.memory.alloc(8192);
      const once = async (): Promise<void> => {
        chan.configure({ deviceAddr: dst.addr });
        const d = chan.prepSlaveSg([{ addr: src.addr, length: 4096 }, { addr: src.addr + 4096, length: 4096 }]);
        d.submit();
        chan.issuePending();
        expect((await d.done).result).toBe('ok');
      };
      await once();
      await bed.linkDown();
      await bed.linkUp();
      await bed.faults.crashChannel('host/rd1');
      await vi.waitFor(() => expect(events.map((e) => e.type)).toContain('channel-restarted'), { timeout: 20_000, interval: 20 });
      await once();
      await chan.release();
    } finally {
      await bed.close();
    }
    const trace = JSON.parse(await readFile(file, 'utf8')) as { traceEvents: TraceEvent[]; otherData: Record<string, number> };
    const ev = trace.traceEvents;
    const pidOf = new Map(ev.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.args!['name'] as string, e.pid]));
    const rd1 = pidOf.get('host/rd1')!;
    expect(rd1).toBeGreaterThan(1);
    // Link events are global instants on the testbed track, in order.
    expect(ev.filter((e) => e.cat === 'link').map((e) => [e.name, e.s, e.pid])).toEqual([['ready', 'g', 1], ['link-down', 'g', 1], ['link-up', 'g', 1]]);
    // The crash and the restart on the channel's lifecycle track.
    const life = ev.filter((e) => e.pid === rd1 && e.cat === 'lifecycle').map((e) => e.name);
    expect(life).toEqual(expect.arrayContaining(['channel-started', 'channel-crashed', 'channel-restarted']));
    expect(life.indexOf('channel-crashed')).toBeLessThan(life.indexOf('channel-restarted'));
    // Two descriptors of two bursts each; both bursts fit one chunk.
    const spans = ev.filter((e) => e.pid === rd1 && e.ph === 'X' && e.cat === 'descriptor');
    expect(spans.map((s) => [s.name, s.args!['bytes']])).toEqual([['cookie 1', 8192], ['cookie 2', 8192]]);
    expect(ev.filter((e) => e.pid === rd1 && e.ph === 'X' && e.cat === 'chunk').map((c) => c.args!['cookie'])).toEqual([1, 2]);
    expect(trace.otherData).toMatchObject({ tool: 'epdma', droppedChunkRecords: 0 });
  }, 60_000);

  it('a trace path that cannot be written fails before any worker starts', async () => {
    const missing = join(dir, 'missing', 'x.json');
    await expect(createTestbed({ trace: missing })).rejects.toMatchObject({ code: 'EINVAL', message: `EINVAL: testbed: trace ${JSON.stringify(missing)} cannot be written (ENOENT)` });
    await expect(createTestbed({ trace: '' })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('trace "" is not a file name') });
  });
});
