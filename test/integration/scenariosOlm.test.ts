// Scenarios S1 and S5 (test/scenarios/olmSuite.ts) against the guard as a host process next to
// the loopback control plane. scenariosOlmInCluster.test.ts runs the same suite against its Pods.
import { olmScenarioSuite } from '../scenarios/olmSuite.ts';
import { hostProcessPlacement } from '../scenarios/placement.ts';

olmScenarioSuite(hostProcessPlacement());
