// What every stand-in gets: its operator's manifest entry, the workload it stands for, a client
// authenticated as that workload's ServiceAccount whose writes carry the real program's field
// manager, and informers and work loops bound to that client.
import type { KubeClient, KubeCredentials } from '../../cluster/kubeClient.ts';
import type { OperatorSpec, WorkloadSpec } from '../manifest.ts';
import { Informer, type KubeObject } from './kube.ts';
import { ControllerLoop, type Outcome } from './loop.ts';

export interface StandIn {
  operator: OperatorSpec;
  workload: WorkloadSpec;
  /** The namespace and name of the Deployment or StatefulSet this process stands for. */
  namespace: string;
  workloadName: string;
  workDir: string;
  client: KubeClient;
  creds: KubeCredentials;
  /** `--tg-<key>=<value>` arguments the supervisor added. */
  args: Record<string, string>;
  log(line: string): void;
  /** A started informer of a collection path (list and watch). */
  informer<T extends KubeObject = KubeObject>(path: string): Informer<T>;
  /** A started work loop over an informer. */
  loop<T extends KubeObject>(name: string, informer: Informer<T>, reconcile: (o: T) => Promise<Outcome>, retryMs?: number): ControllerLoop<T>;
}

export type Behaviour = (s: StandIn) => Promise<void>;
