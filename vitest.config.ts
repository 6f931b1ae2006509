import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Two projects: unit tests (co-located *.test.ts and test/unit: fixtures only, no binary, no
// cluster, no network) and integration tests against real components on loopback
// (test/integration). `npm test` runs both.
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
          // The pinned binaries' cache as on a fresh clone: a unit test that reaches for one fails
          // here too, not only on a machine that has never built them.
          env: { TG_CACHE_DIR: join(tmpdir(), 'tg-unit-tier-has-no-binaries') },
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
