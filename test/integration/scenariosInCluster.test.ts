// The Helm incidents (S2, S3 and the no-false-positive S4, test/scenarios/helmSuite.ts) against
// the guard as users run it: its image built here, Pods on the node cluster installed with
// `kubectl apply -k`, called by the API server through its Service (issue 11, item 3). The same
// suite runs against a host-process guard in scenariosHelm.test.ts.
//
// Node mode is one cluster per host: this file waits (bounded) while another holds the node, and
// vitest runs integration files one at a time (vitest.config.ts, fileParallelism: false), so it
// never races node.test.ts in one run. Needs root and the node packages (test/bootstrap.sh).
import { helmScenarioSuite } from '../scenarios/helmSuite.ts';
import { inClusterPlacement } from '../scenarios/placement.ts';

helmScenarioSuite(inClusterPlacement());
