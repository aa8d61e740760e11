import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Channel actors are worker threads and some tests map shared memory or fork processes:
    // forks isolate them so a crashed worker or a leaked handle cannot poison another file.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    fileParallelism: true,
    maxWorkers: 2,
    // A test that asserts nothing passes by luck: make it fail instead.
    expect: { requireAssertions: true },
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
