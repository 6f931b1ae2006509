// Scenarios S2, S3, S4 (test/scenarios/helmSuite.ts) against the guard as a host process next to
// its lane's shared control plane. scenariosInCluster.test.ts runs what the guard's placement
// changes against its Pods.
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { helmScenarioSuite } from '../scenarios/helmSuite.ts';
import { hostProcessPlacement } from '../scenarios/placement.ts';

helmScenarioSuite(hostProcessPlacement(controlPlaneForFile));
