// The scenarios whose outcome the guard's placement can change, against the guard as users run
// it: its image built here, Pods on the node cluster installed with `kubectl apply -k`, called by
// the API server through its Service, reading the cluster with the shipped least-privilege RBAC
// (issue 11, item 3). Every scenario also runs against a host-process guard
// (scenariosHelm.test.ts, scenariosOlm.test.ts); here only what placement changes:
//   - olm-operator as the Pod its Deployment asks for: the incident itself (S1 without the guard:
//     `helm uninstall` stops OLM through the garbage collector and the kubelet), the held-back
//     uninstall run twice (S1 with the guard), OLM's own namespace (S5 with the guard);
//   - Pixie's pre-delete hook Job as a Pod (S1-fix with the guard);
//   - the guard's live reads under its RBAC: the misdirected purge and DELETEs of incident B
//     (S2, S3 in enforce) and the correct teardowns, none of which may come out undecided (S4);
//   - a policy mode changed by `kubectl apply -k` and a rollout (enforce for the Helm scenarios and
//     S1-fix, then warn for S1 and S5).
//
// Node mode is one cluster per host: this file waits (bounded) while another holds the node, and
// vitest runs integration files one at a time (vitest.config.ts, fileParallelism: false), so it
// never races node.test.ts in one run. Needs root and the node packages (test/bootstrap.sh).
import { guardImageForRun } from '../cluster/node/runImage.ts';
import { HELM_SCENARIO_COMPONENTS, helmScenarios } from '../scenarios/helmSuite.ts';
import { OLM_SCENARIO_COMPONENTS, olmScenarios } from '../scenarios/olmSuite.ts';
import { inClusterPlacement } from '../scenarios/placement.ts';
import { suiteCluster } from '../scenarios/suiteCluster.ts';

const suite = suiteCluster(
  inClusterPlacement({ image: guardImageForRun }),
  [...new Set([...HELM_SCENARIO_COMPONENTS, ...OLM_SCENARIO_COMPONENTS])],
  // OLM's CRDs; the Pixie-shaped chart and S5 install OLM itself.
  { olm: 'crds' },
);

// Ordered so that the guard's modes change once: enforce for both policies first, then warn for
// helm-uninstall-namespace (S1, S5 as in the host-process suite).
olmScenarios(suite, ['S1-without', 'S1-fix-with']);
helmScenarios(suite, ['S2-with-enforce', 'S3-with-enforce', 'S4-with']);
olmScenarios(suite, ['S1-with-helm3', 'S5-with']);
