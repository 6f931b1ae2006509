// The cluster and guard of one scenario suite (helmSuite.ts, olmSuite.ts), at the suite's
// placement: started before its tests, stopped after them with the placement's timings printed.
import { afterAll, beforeAll } from 'vitest';
import type { ControlPlane, ControlPlaneOptions } from '../cluster/controlPlane.ts';
import type { BinaryName } from '../cluster/paths.ts';
import { GuardSession, type ScenarioGuard } from './guard.ts';
import { scenarioRunner } from './harness.ts';
import type { GuardPlacement } from './placement.ts';

export interface SuiteCluster {
  /** The cluster, once the suite's beforeAll has started it. */
  cluster(): ControlPlane;
  guard: GuardSession<ScenarioGuard>;
  /** Step durations the suite adds to; printed with the placement's own after the suite. */
  timings: Record<string, number>;
  scenario: ReturnType<typeof scenarioRunner>;
}

/** Registers the suite's beforeAll/afterAll; `onCluster` receives the cluster once it is up. */
export function suiteCluster(
  placement: GuardPlacement,
  components: BinaryName[],
  options: Omit<ControlPlaneOptions, 'node'>,
  onCluster: (cp: ControlPlane) => void = () => undefined,
): SuiteCluster {
  let cp: ControlPlane | undefined;
  const current = (): ControlPlane => {
    if (!cp) throw new Error('the suite cluster is not up (its beforeAll failed)');
    return cp;
  };
  const guard = new GuardSession<ScenarioGuard>(current, placement.startGuard);
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const missing = placement.missing(components);
    if (missing.length)
      throw new Error(
        `missing for the ${placement.name} guard (${missing.join('; ')}): run \`npm run build:binaries\` (and test/bootstrap.sh as root for the node) first`,
      );
    cp = await placement.startCluster(options);
    onCluster(cp);
  });

  afterAll(async () => {
    await guard.stop();
    await cp?.stop();
    placement.cleanup();
    const all = { ...placement.timings, ...timings };
    console.log(
      `[scenarios ${placement.name}] timings (s): ${Object.entries(all)
        .map(([k, v]) => `${k}=${(v / 1000).toFixed(1)}`)
        .join(' ')}`,
    );
  });

  return { cluster: current, guard, timings, scenario: scenarioRunner(current, timings) };
}
