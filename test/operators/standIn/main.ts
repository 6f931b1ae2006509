// A stand-in controller: one process per supervised workload (test/cluster/olmSupervisor.ts
// starts it while the Deployment or StatefulSet it stands for exists with replicas >= 1, and
// stops it when that workload is deleted or scaled to 0). It acts as the workload's
// ServiceAccount (KUBECONFIG holds a TokenRequest token), so with its RBAC gone it gets 403 like
// the real program. What it does is its operator's finalizer handling, read in that operator's
// source (test/operators/operators.json, each behaviour's file header).
//   node main.ts --tg-operator=NAME --tg-role=ROLE --tg-namespace=NS --tg-workload=NAME --tg-work-dir=DIR [--tg-...] [container args]
import { operatorSpec } from '../manifest.ts';
import { argocdController, argocdServer } from './argocd.ts';
import type { Behaviour, StandIn } from './context.ts';
import { crossplaneCore, crossplaneRbacManager } from './crossplane.ts';
import { flaggerController } from './flagger.ts';
import { karpenterController } from './karpenter.ts';
import { Informer, apiClient, credentialsFrom, type KubeObject } from './kube.ts';
import { kueueController } from './kueue.ts';
import { ControllerLoop } from './loop.ts';

const behaviours: Record<string, Behaviour> = {
  'kueue:controller': kueueController,
  'karpenter-kwok:controller': karpenterController,
  'flagger:controller': flaggerController,
  'crossplane:controller': crossplaneCore,
  'crossplane:rbac-manager': crossplaneRbacManager,
  'argocd:controller': argocdController,
  'argocd:argocd-server': argocdServer,
};

/** A workload that only has to look available (a bystander with nothing to do here). */
const idle: Behaviour = async () => {};

function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of argv) {
    const m = /^--tg-([a-z-]+)=(.*)$/.exec(a);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function main(): Promise<void> {
  const args = flags(process.argv.slice(2));
  for (const k of ['operator', 'role', 'namespace', 'workload', 'work-dir']) if (!args[k]) throw new Error(`--tg-${k} missing`);
  const operator = operatorSpec(args.operator!);
  const workload = operator.workloads.find((w) => w.role === args.role);
  if (!workload) throw new Error(`operator ${operator.name} has no workload with role ${args.role}`);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error('KUBECONFIG not set');
  const creds = credentialsFrom(kubeconfig, `${workload.fieldManager}/v0.0.0 (teardown-guard stand-in)`);
  const client = apiClient(creds);
  const informers: Array<Informer<KubeObject>> = [];
  const loops: Array<ControllerLoop<KubeObject>> = [];
  const s: StandIn = {
    operator,
    workload,
    namespace: args.namespace!,
    workloadName: args.workload!,
    workDir: args['work-dir']!,
    client,
    creds,
    args,
    log,
    informer<T extends KubeObject>(path: string) {
      const i = new Informer<T>(client, creds, path, log);
      informers.push(i as unknown as Informer<KubeObject>);
      i.start();
      return i;
    },
    loop(name, informer, reconcile, retryMs) {
      const l = new ControllerLoop({ name, informer, reconcile, log, ...(retryMs !== undefined ? { retryMs } : {}) });
      loops.push(l as unknown as ControllerLoop<KubeObject>);
      void l.run();
      return l;
    },
  };
  const stop = () => {
    for (const l of loops) l.stop();
    for (const i of informers) i.stop();
    client.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  log(`stand-in for ${operator.displayName} ${workload.kind} ${s.namespace}/${s.workloadName} (role ${workload.role}), field manager ${workload.fieldManager}`);
  const behaviour = workload.role === 'idle' ? idle : behaviours[`${operator.name}:${workload.role}`];
  if (!behaviour) throw new Error(`no stand-in behaviour for ${operator.name}:${workload.role}`);
  await behaviour(s);
  log('running');
  // Informers, loops and servers keep the process alive; an idle stand-in waits for its signal.
  setInterval(() => {}, 1 << 30);
}

main().catch((e: unknown) => {
  process.stdout.write(`${new Date().toISOString()} stand-in failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
