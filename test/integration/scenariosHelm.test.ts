// Scenarios S2, S3, S4 (test/scenarios/helmSuite.ts) against the guard as a host process next to
// the loopback control plane. scenariosInCluster.test.ts runs the same suite against its Pods.
import { helmScenarioSuite } from '../scenarios/helmSuite.ts';
import { hostProcessPlacement } from '../scenarios/placement.ts';

helmScenarioSuite(hostProcessPlacement());
