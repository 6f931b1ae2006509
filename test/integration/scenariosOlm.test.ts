// Scenarios S1 and S5 (test/scenarios/olmSuite.ts) against the guard as a host process next to
// its lane's shared control plane. scenariosInCluster.test.ts runs what the guard's placement
// changes against its Pods.
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { olmScenarioSuite } from '../scenarios/olmSuite.ts';
import { hostProcessPlacement } from '../scenarios/placement.ts';

olmScenarioSuite(hostProcessPlacement(controlPlaneForFile));
