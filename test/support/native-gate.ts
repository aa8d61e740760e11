/**
 * Whether a test file's native-addon suites run. The addon is optional, so a machine without a
 * compiler skips them with the reason; but a machine that can build it must not skip them
 * silently (a broken build would turn whole suites grey and CI green). `.ci/run` sets
 * EPDMA_REQUIRE_NATIVE=1 where the build prerequisites exist, and then a missing addon is one
 * failing test that names the loader's reason.
 */
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, nativeAddonUnavailableReason, type NativeAddon } from '../../dist/native/native-addon.js';

export const NATIVE_REQUIRED = process.env.EPDMA_REQUIRE_NATIVE === '1';

/**
 * The addon, or null after registering, under `suite`, the test that reports its absence:
 * skipped with the reason, or failing with it when EPDMA_REQUIRE_NATIVE=1.
 */
export function nativeAddonOrReport(suite: string): NativeAddon | null {
  const addon = loadNativeAddon();
  if (addon) return addon;
  const reason = nativeAddonUnavailableReason();
  describe(suite, () => {
    if (NATIVE_REQUIRED) {
      it('needs the native addon (EPDMA_REQUIRE_NATIVE=1)', () => {
        expect(reason, 'the native addon must load where CI can build it').toBeUndefined();
      });
    } else {
      it.skip(`skipped: native addon unavailable (${reason})`, () => {});
    }
  });
  return null;
}
