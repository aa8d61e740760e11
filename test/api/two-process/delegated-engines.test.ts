/**
 * DelegatedEngines.reset, the endpoint's wait for its engine worker's acknowledgement
 * (BACKOFF.engineResetAck): parked on the ack word, woken by the worker's notify, or by the
 * worker's exit. Every reset that resolved is counted exactly once; resets requested together
 * all resolve on the worker's latest acknowledgement; with no worker the reset fails ESHUTDOWN
 * and counts nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AddressSpace } from '../../../dist/device/bus/address-space.js';
import { ramRegion } from '../../../dist/device/bus/memory-region.js';
import { MmioRegisterFile } from '../../../dist/device/regs/register-file.js';
import { DelegatedEngines } from '../../../dist/api/two-process/delegated-engines.js';
import { nativeAddonOrReport } from '../../support/native-gate.js';
import { within } from '../../support/wait.js';

const addon = nativeAddonOrReport('delegated engines (the engine worker needs the native addon)');

const opened: DelegatedEngines[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
});

/** An engine worker with no delegated channel: what a reset does to engines is not under test here. */
function engines(log: string[] = []) {
  const resets = { view: new Int32Array(new SharedArrayBuffer(8)), index: 1 };
  const registers = MmioRegisterFile.create('unroll', { writeChannels: 0, readChannels: 0 }).buffer;
  const ram = new AddressSpace('ep', [ramRegion('ep-ram', 0x8000_0000, 4096)]).describe();
  const e = new DelegatedEngines({ registers, mapFormat: 'unroll', channels: [], local: ram, remote: new AddressSpace('host').describe() }, (line) => log.push(line), resets);
  opened.push(e);
  return { e, counted: () => Atomics.load(resets.view, resets.index) };
}

describe.skipIf(addon === null)('DelegatedEngines.reset', () => {
  it('resolves once the worker acknowledged, counting each reset exactly once', async () => {
    const { e, counted } = engines();
    e.start();
    await within(e.reset(), 'the first reset');
    expect(counted()).toBe(1);
    await within(e.reset(), 'the second reset');
    expect(counted()).toBe(2);
  });

  it('resets requested together all resolve: the latest acknowledgement covers the earlier requests', async () => {
    const { e, counted } = engines();
    e.start();
    await within(Promise.all([e.reset(), e.reset(), e.reset(), e.reset()]), 'four concurrent resets');
    expect(counted()).toBe(4);
  });

  it('fails ESHUTDOWN, counting nothing, once the worker is gone', async () => {
    const log: string[] = [];
    const { e, counted } = engines(log);
    e.start();
    await within(e.reset(), 'a reset while running');
    await e.close();
    await expect(e.reset()).rejects.toMatchObject({ code: 'ESHUTDOWN', message: 'ESHUTDOWN: delegated engines: the engine worker is not running' });
    expect(counted()).toBe(1);
    expect(log).toEqual([]);
  });
});
