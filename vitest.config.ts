import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The integration files in three lanes, each a project that runs its files one at a time
 * (test/cluster/README.md, "Lanes"): "integration" takes every file not named below (a new file
 * lands there), each of the others lists its own. test/run-all.sh runs the projects side by side,
 * one vitest process each (vitest itself runs projects without file parallelism one file at a
 * time, all of them, which `npx vitest run` does). A lane with a shared setup has a control plane
 * of its own for its files that need no special API-server flag; the node lane holds every file
 * that starts a node cluster (one per host at a time).
 */
const LANES: Record<string, { files: string[]; setup: string }> = {
  // operatorOrders rides here: in "integration" that lane ended last by ~280 s (2026-12-07).
  'integration-helm': {
    files: ['scenariosHelm', 'scenariosOperators', 'operatorOrders', 'scenariosFlux', 'auditLive'],
    setup: 'test/cluster/sharedClusterSetup.ts',
  },
  // The corpus brings its own control plane (test/corpus/environment.ts); it rides in the lane
  // whose other files take the least time, so that the lanes end together.
  'integration-node': { files: ['node', 'chartNode', 'scenariosInCluster', 'networkPolicyNode', 'corpus'], setup: 'test/cluster/node/nodeLaneSetup.ts' },
};
const paths = (names: string[]) => names.map((n) => `test/integration/${n}.test.ts`);

function lane(name: string, include: string[], setup: string, exclude: string[] = []) {
  return {
    test: {
      name,
      include,
      exclude,
      environment: 'node',
      testTimeout: 300_000,
      hookTimeout: 300_000,
      globalSetup: [setup],
      fileParallelism: false,
    },
  };
}

// Unit tests (co-located *.test.ts and test/unit: fixtures only, no binary, no cluster, no
// network) and integration tests against real components on loopback (test/integration).
// `npm test` runs them all.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
          // Unit tests that stream hundreds of MiB (hostile inputs, fuzzing) share 2 cores with
          // the integration suite's control planes; 5 s is vitest's default, not a goal of ours.
          testTimeout: 30_000,
          // The pinned binaries' cache as on a fresh clone: a unit test that reaches for one fails
          // here too, not only on a machine that has never built them.
          env: { TG_CACHE_DIR: join(tmpdir(), 'tg-unit-tier-has-no-binaries') },
        },
      },
      lane(
        'integration',
        ['test/integration/**/*.test.ts'],
        'test/cluster/sharedClusterSetup.ts',
        Object.values(LANES).flatMap((l) => paths(l.files)),
      ),
      ...Object.entries(LANES).map(([name, l]) => lane(name, paths(l.files), l.setup)),
    ],
  },
});
