/**
 * `npm start`'s job: the built CLI's demo creates the default testbed, moves data host -> EP ->
 * host through delegated and EP-local channels, verifies every byte and exits 0.
 */
import { describe, expect, it } from 'vitest';

import { runCli } from '../support/run-cli.js';
import { runDemo } from '../../dist/cli/demo.js';
import { expectRejects } from '../api/testbed-support.js';

describe('epdma demo', () => {
  it('runs for a second, verifies every byte, exits 0', async () => {
    const r = await runCli(['demo', '--seconds=1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const line = /every byte verified: (\d+) MiB went host -> EP -> host through (\d+) channel actors/.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    expect(Number(line![1])).toBeGreaterThan(0);
    expect(Number(line![2])).toBe(8);
    // The device the host found, and a table row per channel that moved data.
    expect(r.stdout).toMatch(/host sees 0x1234:0x5678 class 080100/);
    expect(r.stdout).toMatch(/0 mismatching bytes/);
    for (const name of ['host/rd0', 'host/rd3', 'endpoint/wr0', 'endpoint/wr3']) expect(r.stdout).toContain(name);
  });

  it('--quirks dw-edma runs the same demo on the kernel driver\'s semantics; a bad value is EINVAL naming it', async () => {
    const r = await runCli(['demo', '--seconds=1', '--quirks', 'dw-edma']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/every byte verified/);
    await expectRejects(runDemo(['--quirks', 'linux']), 'EINVAL', '--quirks', 'linux');
  });
});
