// The scenario suite, unchanged, against the kind cluster run.sh prepared. The test files import
// the loopback control plane and the host-process guard by these specifiers:
//   '../cluster/controlPlane.ts'  ->  ./controlPlane.ts (connects to the kind cluster)
//   '../scenarios/guard.ts'       ->  ./guard.ts        (the guard Deployment in the cluster)
// and everything else (test/scenarios/*, test/cluster/olm.ts, the assertions) is the same code the
// loopback run executes. Which files: TG_E2E_INCLUDE (comma-separated globs), default the
// scenario suite test/integration/scenarios*.test.ts.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('../../..'),
  resolve: {
    alias: [
      { find: /^\.\.\/cluster\/controlPlane\.ts$/, replacement: here('./controlPlane.ts') },
      { find: /^\.\.\/scenarios\/guard\.ts$/, replacement: here('./guard.ts') },
    ],
  },
  test: {
    name: 'e2e-kind',
    include: (process.env.TG_E2E_INCLUDE ?? 'test/integration/scenarios*.test.ts').split(',').map((s) => s.trim()).filter(Boolean),
    environment: 'node',
    // Real pods: image pulls, rollouts and namespace deletions take longer than on loopback.
    testTimeout: 900_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
