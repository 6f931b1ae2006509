// Runs the real olm-operator binary as a host process, driven by its Deployment object, because
// this loopback cluster has no kubelet. For every Deployment (or StatefulSet) whose container runs
// `/bin/olm` (upstream's quickstart, OLM shipped inside a chart like Pixie's, any namespace):
//   - Deployment present, spec.replicas >= 1, no deletionTimestamp -> the process runs, with the
//     container's args/env (Downward-API namespace/name resolved, $(VAR) expanded the way the
//     kubelet does) and a kubeconfig holding a TokenRequest token of the pod template's
//     ServiceAccount, so OLM acts with exactly the RBAC the manifests grant it;
//   - its Pods (created by the real deployment/replicaset controllers) are marked Running/Ready
//     through the pods/status subresource, so the Deployment's own status becomes Available
//     through the real controllers rather than by overwriting it;
//   - Deployment deleted, being deleted, or scaled to 0 -> the process is stopped.
// The same supervision runs other real programs the scenarios install by chart (Flux's
// helm-controller, metrics-server: test/cluster/deploymentPrograms.ts) and the operators'
// stand-ins (test/operators/) through `binaries`; StatefulSets are supervised like Deployments,
// their Pods marked Ready so the real statefulset controller counts them available.
// A bounded poll loop (one LIST per tick), not a watch: simpler to stop, and fast enough.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigYaml, serviceAccountToken, type KubeClient } from './kubeClient.ts';
import { binPath } from './paths.ts';
import { startDaemon, tail, waitFor, type Daemon } from './proc.ts';

export interface OlmSupervisorOptions {
  client: KubeClient;
  server: string;
  caPem: string;
  dir: string;
  logDir: string;
  groupsFile?: string;
  log?: (line: string) => void;
  pollMs?: number;
  /**
   * Which containers map to which host program. Keys, tried in this order: the image name
   * without tag or digest, a space, and the container's first command or argument (one image
   * running several programs: Argo CD's argocd-server, argocd-application-controller, ...);
   * the container's command[0]; the image name alone. Values: a binary, run with the
   * container's command[1:] and args, or a command whose own args come first (default:
   * /bin/olm -> the pinned olm build).
   */
  binaries?: Record<string, string | ProgramCommand>;
  /**
   * Flags appended after the container's args for the host process only (last flag wins): a
   * container listens on its own network namespace's ports, a host process must take free
   * 127.0.0.1 ports and read a kubeconfig instead of the in-cluster config.
   */
  hostArgs?: (d: { program: string; namespace: string; name: string; kubeconfig: string; dir: string }) => string[] | Promise<string[]>;
  /** Name of the supervised program in process names and log lines (default olm-operator). */
  label?: string;
}

/** A host program with arguments of its own, placed before the container's. */
export interface ProgramCommand {
  cmd: string;
  args: string[];
}

export interface SupervisedProcess {
  namespace: string;
  name: string;
  uid: string;
  pid: number | undefined;
  startedAt: number;
  restarts: number;
  logPath: string;
}

export interface SupervisorEvent {
  at: number;
  namespace: string;
  name: string;
  what: 'started' | 'stopped' | 'exited' | 'pod-ready' | 'waiting';
  detail?: string;
}

export interface OlmSupervisor {
  running(): SupervisedProcess[];
  isRunning(namespace: string, name: string): boolean;
  waitRunning(namespace: string, name: string, timeoutMs?: number): Promise<void>;
  waitStopped(namespace: string, name: string, timeoutMs?: number): Promise<void>;
  events: SupervisorEvent[];
  diagnostics(lines?: number): string;
  stop(): Promise<void>;
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
}

/** A Deployment or StatefulSet: the fields supervision reads, the same in both. */
interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string; generation?: number };
  spec: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec?: { serviceAccountName?: string; containers?: Container[] } };
  };
}

interface Pod {
  metadata: { name: string; namespace: string; deletionTimestamp?: string };
  spec?: { containers?: Container[] };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

interface Running {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  daemon: Daemon | undefined;
  startedAt: number;
  restarts: number;
  /** Do not (re)start before this time (crash backoff). */
  notBefore: number;
  logPath: string;
  lastWait?: string;
}

/** An image reference without its tag or digest: `ghcr.io/fluxcd/helm-controller:v1.6.4` -> `ghcr.io/fluxcd/helm-controller`. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** kubelet-style $(VAR) expansion: defined vars replaced, $$ escapes, unknown left as is. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : m;
  });
}

export function startOlmSupervisor(o: OlmSupervisorOptions): OlmSupervisor {
  const log = o.log ?? (() => {});
  const pollMs = o.pollMs ?? 300;
  const binaries = o.binaries ?? { '/bin/olm': binPath('olm') };
  const label = o.label ?? 'olm-operator';
  const procs = new Map<string, Running>();
  const events: SupervisorEvent[] = [];
  const home = join(o.dir, `${label}-home`);
  mkdirSync(home, { recursive: true });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let tickRunning: Promise<void> = Promise.resolve();

  const note = (e: Omit<SupervisorEvent, 'at'>) => {
    events.push({ at: Date.now(), ...e });
    if (e.what !== 'pod-ready') log(`${label} supervisor: ${e.namespace}/${e.name} ${e.what}${e.detail ? ` (${e.detail})` : ''}`);
  };

  function olmContainer(d: Workload): Container | undefined {
    return d.spec.template?.spec?.containers?.find((c) => binaryKey(c) !== undefined);
  }

  function binaryKey(c: Container): string | undefined {
    const image = imageName(c.image ?? '');
    const first = c.command?.[0] ?? c.args?.[0];
    const keys = [...(first !== undefined ? [`${image} ${first}`] : []), ...(c.command?.[0] !== undefined ? [c.command[0]] : []), image];
    return keys.find((k) => k in binaries);
  }

  const tokenFor = (ns: string, sa: string): Promise<string> => serviceAccountToken(o.client, ns, sa, 86_400);

  async function start(p: Running, d: Workload, c: Container): Promise<void> {
    const ns = d.metadata.namespace;
    const podSpec = d.spec.template?.spec ?? {};
    const sa = podSpec.serviceAccountName ?? 'default';
    let token: string;
    try {
      token = await tokenFor(ns, sa);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (p.lastWait !== why) note({ namespace: ns, name: d.metadata.name, what: 'waiting', detail: why });
      p.lastWait = why;
      p.notBefore = Date.now() + 1000;
      return;
    }
    p.lastWait = undefined;
    const kubeconfig = join(o.dir, `${label}-${ns}-${d.metadata.name}.kubeconfig`);
    writeFileSync(kubeconfig, kubeconfigYaml({ server: o.server, caPem: o.caPem, user: `system:serviceaccount:${ns}:${sa}`, token, namespace: ns }), {
      mode: 0o600,
    });
    const vars: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) vars[e.name] = expandVars(e.value, vars);
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') vars[e.name] = ns;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') vars[e.name] = `${d.metadata.name}-host`;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.serviceAccountName') vars[e.name] = sa;
    }
    const command = c.command ?? [];
    const program = binaryKey(c)!;
    const target = binaries[program]!;
    const bin = typeof target === 'string' ? target : target.cmd;
    const workDir = join(o.dir, `${label}-${ns}-${d.metadata.name}`);
    mkdirSync(workDir, { recursive: true });
    const args = [
      ...(typeof target === 'string' ? [] : target.args),
      ...[...command.slice(1), ...(c.args ?? [])].map((a) => expandVars(a, vars)),
      ...((await o.hostArgs?.({ program, namespace: ns, name: d.metadata.name, kubeconfig, dir: workDir })) ?? []),
    ];
    const daemon = startDaemon({
      name: `${label}.${ns}.${d.metadata.name}`,
      cmd: bin,
      args,
      logDir: o.logDir,
      ...(o.groupsFile ? { groupsFile: o.groupsFile } : {}),
      // controller-runtime reads KUBECONFIG (olm's pflag set does not carry --kubeconfig).
      env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig, ...vars },
    });
    p.daemon = daemon;
    p.startedAt = Date.now();
    p.logPath = daemon.logPath;
    note({
      namespace: ns,
      name: d.metadata.name,
      what: 'started',
      detail: `pid ${daemon.child.pid}, ${bin.split('/').pop()} ${args.join(' ')}, as ${ns}:${sa}`,
    });
    void daemon.exited.then((code) => {
      if (p.daemon !== daemon) return;
      p.daemon = undefined;
      if (stopped) return;
      const desired = procs.get(p.key) === p;
      if (desired) {
        p.restarts++;
        const backoff = Math.min(10_000, 1000 * 2 ** Math.min(p.restarts - 1, 4));
        p.notBefore = Date.now() + backoff;
        note({
          namespace: ns,
          name: p.name,
          what: 'exited',
          detail: `code ${code}, restart in ${backoff}ms; last log line: ${tail(daemon.logPath, 2).trim().split('\n').pop() ?? ''}`,
        });
      }
    });
  }

  async function markPodsReady(d: Workload, c: Container): Promise<void> {
    const sel = Object.entries(d.spec.selector?.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (!sel) return;
    const list = await o.client.get<{ items: Pod[] }>(`/api/v1/namespaces/${d.metadata.namespace}/pods?labelSelector=${encodeURIComponent(sel)}`);
    for (const pod of list?.items ?? []) {
      if (pod.metadata.deletionTimestamp) continue;
      const ready = pod.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      if (ready) continue;
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const containers = pod.spec?.containers ?? [c];
      const patch = {
        status: {
          phase: 'Running',
          startTime: now,
          hostIP: '127.0.0.1',
          conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
          containerStatuses: containers.map((k) => ({
            name: k.name,
            image: k.image ?? '',
            imageID: '',
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: now } },
          })),
        },
      };
      const r = await o.client.request('PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
        body: patch,
        contentType: 'application/merge-patch+json',
      });
      if (r.status >= 300 && r.status !== 404 && r.status !== 409) {
        log(`${label} supervisor: marking pod ${pod.metadata.namespace}/${pod.metadata.name} ready failed: ${r.status} ${r.text.slice(0, 300)}`);
      } else if (r.status < 300) {
        note({ namespace: d.metadata.namespace, name: d.metadata.name, what: 'pod-ready', detail: pod.metadata.name });
      }
    }
  }

  async function stopProc(p: Running, why: string): Promise<void> {
    procs.delete(p.key);
    const d = p.daemon;
    p.daemon = undefined;
    if (d) {
      await d.stop(5000);
      note({ namespace: p.namespace, name: p.name, what: 'stopped', detail: why });
    }
  }

  async function tick(): Promise<void> {
    const [deployments, statefulSets] = await Promise.all(
      (['deployments', 'statefulsets'] as const).map((r) => o.client.get<{ items: Omit<Workload, 'kind'>[] }>(`/apis/apps/v1/${r}`)),
    );
    const workloads: Workload[] = [
      ...(deployments?.items ?? []).map((d) => ({ ...d, kind: 'Deployment' as const })),
      ...(statefulSets?.items ?? []).map((d) => ({ ...d, kind: 'StatefulSet' as const })),
    ];
    const seen = new Set<string>();
    for (const d of workloads) {
      const c = olmContainer(d);
      if (!c) continue;
      const key = `${d.kind}/${d.metadata.namespace}/${d.metadata.name}/${d.metadata.uid}`;
      const desired = (d.spec.replicas ?? 1) >= 1 && !d.metadata.deletionTimestamp;
      let p = procs.get(key);
      if (!desired) {
        if (p) await stopProc(p, d.metadata.deletionTimestamp ? `${d.kind} being deleted` : 'scaled to 0');
        continue;
      }
      seen.add(key);
      if (!p) {
        p = {
          key,
          namespace: d.metadata.namespace,
          name: d.metadata.name,
          uid: d.metadata.uid,
          daemon: undefined,
          startedAt: 0,
          restarts: 0,
          notBefore: 0,
          logPath: '',
        };
        procs.set(key, p);
      }
      if (!p.daemon && Date.now() >= p.notBefore) await start(p, d, c);
      if (p.daemon?.isRunning() && Date.now() - p.startedAt > 500) await markPodsReady(d, c);
    }
    for (const p of [...procs.values()]) if (!seen.has(p.key)) await stopProc(p, `${p.key.split('/')[0]} deleted`);
  }

  const loop = () => {
    if (stopped) return;
    tickRunning = tick()
      .catch((e: unknown) => log(`${label} supervisor: tick failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      });
  };
  loop();

  const find = (ns: string, name: string) => [...procs.values()].find((p) => p.namespace === ns && p.name === name);
  return {
    events,
    running: () =>
      [...procs.values()]
        .filter((p) => p.daemon?.isRunning())
        .map((p) => ({
          namespace: p.namespace,
          name: p.name,
          uid: p.uid,
          pid: p.daemon?.child.pid,
          startedAt: p.startedAt,
          restarts: p.restarts,
          logPath: p.logPath,
        })),
    isRunning: (ns, name) => Boolean(find(ns, name)?.daemon?.isRunning()),
    waitRunning: (ns, name, timeoutMs = 60_000) =>
      waitFor(`${label} ${ns}/${name} running`, timeoutMs, () => (find(ns, name)?.daemon?.isRunning() ? true : undefined)).then(() => {}),
    waitStopped: (ns, name, timeoutMs = 60_000) =>
      waitFor(`${label} ${ns}/${name} stopped`, timeoutMs, () => (find(ns, name)?.daemon?.isRunning() ? undefined : true)).then(() => {}),
    diagnostics: (lines = 30) =>
      [...procs.values()]
        .map(
          (p) =>
            `----- ${label} ${p.namespace}/${p.name} (${p.daemon?.isRunning() ? 'running' : 'not running'}, restarts ${p.restarts}) ${p.logPath}\n${p.logPath ? tail(p.logPath, lines) : ''}`,
        )
        .join('\n'),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await tickRunning.catch(() => {});
      for (const p of [...procs.values()]) await stopProc(p, 'supervisor stopped');
    },
  };
}
