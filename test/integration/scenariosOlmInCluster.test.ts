// Scenarios S1 and S5 (test/scenarios/olmSuite.ts) against the guard as users run it: Pods on the
// node cluster, installed with `kubectl apply -k`, called through their Service. olm-operator
// runs as its Pod from the pinned binary's image and Pixie's pre-delete hook Job as a Pod
// (issue 11, item 3). The same suite runs against a host-process guard in scenariosOlm.test.ts.
//
// Node mode is one cluster per host: this file waits (bounded) while another holds the node
// (test/integration/scenariosInCluster.test.ts says how). Needs root and the node packages.
import { olmScenarioSuite } from '../scenarios/olmSuite.ts';
import { inClusterPlacement } from '../scenarios/placement.ts';

olmScenarioSuite(inClusterPlacement());
