// The cluster tier: `npx vitest run --config test/cluster/vitest.config.ts` (root, needs the binaries
// of test/cluster/build.sh). One cluster for the whole run (global setup), files in name order.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { ByFileName } from './tests/sequencer.ts';

export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    name: 'cluster',
    reporters: ['default', './test/summary-reporter.ts'],
    include: ['test/cluster/tests/**/*.test.ts'],
    globalSetup: ['test/cluster/tests/global-setup.ts'],
    fileParallelism: false,
    sequence: { sequencer: ByFileName },
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
