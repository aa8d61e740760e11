/**
 * The load test's verification without the native addon (EPDMA_NO_NATIVE=1): the pure-JS pass
 * (Buffer.compare and Buffer.fill over views made once) must catch every fault the addon's
 * checkAndPoison catches (loadtest.test.ts runs the same suite with the addon).
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
