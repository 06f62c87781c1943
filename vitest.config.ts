import { defineConfig } from 'vitest/config';

// One project per workspace so `vitest run --project sdk` runs a single component's tests.
// The cluster tier (test/cluster/vitest.config.ts) is separate: it needs root and the Go-built control plane.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { test: { name: 'sdk', include: ['sdk/src/**/*.test.ts'] } },
      { test: { name: 'vault-node', include: ['vault-node/src/**/*.test.ts'] } },
      { test: { name: 'directory-node', include: ['directory-node/src/**/*.test.ts'] } },
      { test: { name: 'operator', include: ['operator/src/**/*.test.ts'] } },
      {
        test: {
          name: 'tooling',
          include: ['test/chart/**/*.test.ts', 'test/bench/**/*.test.ts', 'test/cluster/src/**/*.test.ts'],
        },
      },
      // Real processes on loopback: after the unit projects, one file at a time, so fleets of processes
      // do not compete for the two cores with each other and with unit tests.
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
