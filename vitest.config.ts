import { defineConfig } from 'vitest/config';

// Two projects: unit tests (co-located *.test.ts, fixtures only) and integration tests that run
// a real control plane on loopback (test/integration). `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
          // Unit tests that stream hundreds of MiB (hostile inputs, fuzzing) share 2 cores with
          // the integration suite's control plane; 5 s is vitest's default, not a goal of ours.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
