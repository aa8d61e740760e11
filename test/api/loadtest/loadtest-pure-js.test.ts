/**
 * The load test without the native addon (EPDMA_NO_NATIVE=1): the engine copies and wakes up
 * in JS, and the verification must still pass clean runs and catch every fault it catches with
 * the addon (loadtest.test.ts runs the same suite with it).
 */
import './without-addon.js';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, nativeAddonUnavailableReason } from '../../../dist/native/native-addon.js';
import { describeVerification, runLoad, useLoadTestbed } from './loadtest-support.js';

const testbed = useLoadTestbed();

describe('without the addon', () => {
  it('the addon is really off in this process, and a clean run still passes', async () => {
    expect(loadNativeAddon()).toBeNull();
    expect(nativeAddonUnavailableReason()).toContain('EPDMA_NO_NATIVE=1');
    const { final } = await runLoad(testbed(), { iterations: 6, depth: 2, size: 70_000 });
    expect(final).toMatchObject({ transfers: 4 * 6, bytes: 4 * 6 * 70_000, errors: 0, mismatches: 0 });
  });
});

describeVerification('verification (pure JS)', testbed);
