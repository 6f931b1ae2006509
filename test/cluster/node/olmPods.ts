// OLM on the node: with a kubelet, olm-operator runs as the Pod its Deployment asks for (the
// image holding the pinned olm binary, images.ts), so there is nothing to supervise. This gives
// the scenarios the same view the host-process supervisor gives (olmSupervisor.ts): which
// olm-operators run, read from their Pods instead of from host processes.
// "Running" means a container running /bin/olm in a Pod that is not being deleted: the kubelet
// sends SIGTERM as soon as a Pod gets its deletionTimestamp, so such a Pod is on its way out, as a
// stopped host process is.
import type { KubeClient } from '../kubeClient.ts';
import { waitFor } from '../proc.ts';
import type { OlmSupervisor, SupervisedProcess, SupervisorEvent } from '../olmSupervisor.ts';

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
  spec?: { containers?: Array<{ name: string; command?: string[] }> };
  status?: {
    phase?: string;
    containerStatuses?: Array<{ name: string; restartCount?: number; state?: { running?: { startedAt?: string }; waiting?: { reason?: string } } }>;
  };
}

const OLM_COMMAND = '/bin/olm';

/** The Deployment a Pod belongs to: its ReplicaSet's name without the pod-template-hash suffix. */
export function deploymentOf(pod: Pod): string | undefined {
  const rs = pod.metadata.ownerReferences?.find((r) => r.kind === 'ReplicaSet')?.name;
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (!rs || !hash || !rs.endsWith(`-${hash}`)) return undefined;
  return rs.slice(0, -(hash.length + 1));
}

/** The olm-operator containers of `pods` that run now, keyed by namespace/Deployment. */
export function runningOlm(pods: Pod[]): SupervisedProcess[] {
  const out: SupervisedProcess[] = [];
  for (const pod of pods) {
    const container = pod.spec?.containers?.find((c) => c.command?.[0] === OLM_COMMAND);
    const deployment = deploymentOf(pod);
    if (!container || !deployment || pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running') continue;
    const status = pod.status.containerStatuses?.find((s) => s.name === container.name);
    const startedAt = status?.state?.running?.startedAt;
    if (!startedAt) continue;
    out.push({
      namespace: pod.metadata.namespace,
      name: deployment,
      uid: pod.metadata.uid,
      pid: undefined,
      startedAt: Date.parse(startedAt),
      restarts: status.restartCount ?? 0,
      logPath: '',
    });
  }
  return out;
}

export interface OlmPodWatcherOptions {
  client: KubeClient;
  log?: (line: string) => void;
  pollMs?: number;
}

/** Polls the node's Pods (one LIST per tick, bounded by stop()) for running olm-operators. */
export function startOlmPodWatcher(o: OlmPodWatcherOptions): OlmSupervisor {
  const log = o.log ?? (() => {});
  const pollMs = o.pollMs ?? 300;
  const events: SupervisorEvent[] = [];
  let current: SupervisedProcess[] = [];
  let waiting = new Map<string, string>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let tickRunning: Promise<void> = Promise.resolve();
  const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

  const note = (e: Omit<SupervisorEvent, 'at'>) => {
    events.push({ at: Date.now(), ...e });
    log(`olm-operator pods: ${e.namespace}/${e.name} ${e.what}${e.detail ? ` (${e.detail})` : ''}`);
  };

  async function tick(): Promise<void> {
    const list = await o.client.get<{ items: Pod[] }>('/api/v1/pods');
    const pods = list?.items ?? [];
    const next = runningOlm(pods);
    const before = new Set(current.map(key));
    const after = new Set(next.map(key));
    for (const p of next) if (!before.has(key(p))) note({ namespace: p.namespace, name: p.name, what: 'started', detail: `Pod uid ${p.uid}` });
    for (const p of current) if (!after.has(key(p))) note({ namespace: p.namespace, name: p.name, what: 'stopped' });
    current = next;
    // Why a Pod does not run (ImagePullBackOff, CrashLoopBackOff): what the diagnostics need.
    const nextWaiting = new Map<string, string>();
    for (const pod of pods) {
      const c = pod.spec?.containers?.find((x) => x.command?.[0] === OLM_COMMAND);
      const reason = pod.status?.containerStatuses?.find((s) => s.name === c?.name)?.state?.waiting?.reason;
      if (c && reason) nextWaiting.set(`${pod.metadata.namespace}/${pod.metadata.name}`, reason);
    }
    for (const [pod, reason] of nextWaiting) {
      if (waiting.get(pod) !== reason) {
        const [namespace = '', name = ''] = pod.split('/');
        note({ namespace, name, what: 'waiting', detail: reason });
      }
    }
    waiting = nextWaiting;
  }

  const loop = () => {
    if (stopped) return;
    tickRunning = tick()
      .catch((e: unknown) => log(`olm-operator pods: tick failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      });
  };
  loop();

  const isRunning = (namespace: string, name: string) => current.some((p) => p.namespace === namespace && p.name === name);
  return {
    events,
    running: () => [...current],
    isRunning,
    async waitRunning(namespace, name, timeoutMs = 60_000) {
      await waitFor(`olm-operator Pod ${namespace}/${name} running`, timeoutMs, async () => (isRunning(namespace, name) ? true : undefined), 100);
    },
    async waitStopped(namespace, name, timeoutMs = 30_000) {
      await waitFor(`olm-operator Pod ${namespace}/${name} stopped`, timeoutMs, async () => (isRunning(namespace, name) ? undefined : true), 100);
    },
    diagnostics: (lines = 30) =>
      `----- olm-operator pods: running ${current.map(key).join(', ') || 'none'}\n${events
        .slice(-lines)
        .map((e) => `${new Date(e.at).toISOString()} ${e.namespace}/${e.name} ${e.what}${e.detail ? ` ${e.detail}` : ''}`)
        .join('\n')}`,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await tickRunning;
    },
  };
}
