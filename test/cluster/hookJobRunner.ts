// Runs Helm hook Jobs (annotation helm.sh/hook) of a loopback cluster without a kubelet: the
// Job's container command runs as a host process when its executable is `kubectl` (the common
// shape of cleanup hooks, e.g. Pixie's csv-deleter), as the Job's ServiceAccount (a TokenRequest
// token), and the Job's status is then set Complete or Failed through the status subresource, the
// way the Job controller would. Helm waits on that status exactly as on a real cluster. A Job whose
// command is anything else is marked Failed with the reason, never silently passed. A node
// cluster (test/cluster/node) runs hook Jobs as real Pods instead.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { kubeconfigYaml, serviceAccountToken, type KubeClient } from './kubeClient.ts';
import { binPath } from './paths.ts';
import { run } from './proc.ts';

export interface HookJobRunnerOptions {
  client: KubeClient;
  server: string;
  caPem: string;
  dir: string;
  log?: (line: string) => void;
  pollMs?: number;
}

export interface HookJobRun {
  namespace: string;
  name: string;
  command: string[];
  code: number;
  output: string;
  durationMs: number;
}

export interface HookJobRunner {
  runs: HookJobRun[];
  stop(): Promise<void>;
}

interface Job {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec?: { activeDeadlineSeconds?: number; template?: { spec?: { serviceAccountName?: string; containers?: Array<{ command?: string[]; args?: string[] }> } } };
  status?: { conditions?: Array<{ type: string; status: string }>; startTime?: string };
}

const DEFAULT_DEADLINE_MS = 300_000;

/** The Job's command line with `kubectl` resolved to the pinned build, or why it cannot run here. */
export function hostCommand(job: Job, kubectl: string): { cmd: string; args: string[] } | { unsupported: string } {
  const c = job.spec?.template?.spec?.containers?.[0];
  const argv = [...(c?.command ?? []), ...(c?.args ?? [])];
  const exe = argv[0];
  if (!exe || basename(exe) !== 'kubectl') return { unsupported: `hook Job command ${JSON.stringify(argv)} does not start with kubectl` };
  return { cmd: kubectl, args: argv.slice(1) };
}

export function startHookJobRunner(o: HookJobRunnerOptions): HookJobRunner {
  const log = o.log ?? (() => {});
  const runs: HookJobRun[] = [];
  const started = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  mkdirSync(o.dir, { recursive: true });

  const tokenFor = (ns: string, sa: string): Promise<string> => serviceAccountToken(o.client, ns, sa, 3600);

  /** startTime was set when the run began (and is immutable from then on). */
  async function setStatus(job: Job, ok: boolean, message: string): Promise<void> {
    const now = new Date().toISOString();
    const cond = (type: string, reason: string) => ({
      type,
      status: 'True',
      lastProbeTime: now,
      lastTransitionTime: now,
      reason,
      message: message.slice(0, 500),
    });
    // API validation of Job status wants the terminal condition's preconditions too
    // (SuccessCriteriaMet before Complete, FailureTarget before Failed) and completionTime only on success.
    const status = ok
      ? {
          completionTime: now,
          active: 0,
          ready: 0,
          succeeded: 1,
          failed: 0,
          terminating: 0,
          conditions: [cond('SuccessCriteriaMet', 'CompletionsReached'), cond('Complete', 'CompletionsReached')],
        }
      : {
          active: 0,
          ready: 0,
          succeeded: 0,
          failed: 1,
          terminating: 0,
          conditions: [cond('FailureTarget', 'BackoffLimitExceeded'), cond('Failed', 'BackoffLimitExceeded')],
        };
    const r = await o.client.request('PATCH', `/apis/batch/v1/namespaces/${job.metadata.namespace}/jobs/${job.metadata.name}/status`, {
      body: { status },
      contentType: 'application/merge-patch+json',
    });
    if (r.status >= 300) log(`hook-jobs: status of ${job.metadata.namespace}/${job.metadata.name}: ${r.status} ${r.text.slice(0, 300)}`);
  }

  async function runJob(job: Job): Promise<void> {
    const { namespace, name } = job.metadata;
    // Seconds precision, as the API server stores it.
    const startTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await o.client.request('PATCH', `/apis/batch/v1/namespaces/${namespace}/jobs/${name}/status`, {
      body: { status: { startTime, active: 1 } },
      contentType: 'application/merge-patch+json',
    });
    const resolved = hostCommand(job, binPath('kubectl'));
    if ('unsupported' in resolved) {
      log(`hook-jobs: ${namespace}/${name}: ${resolved.unsupported}`);
      runs.push({ namespace, name, command: [], code: -1, output: resolved.unsupported, durationMs: 0 });
      await setStatus(job, false, resolved.unsupported);
      return;
    }
    const sa = job.spec?.template?.spec?.serviceAccountName ?? 'default';
    const kubeconfig = join(o.dir, `hook-${namespace}-${name}.kubeconfig`);
    const t0 = Date.now();
    let code: number;
    let output: string;
    try {
      writeFileSync(
        kubeconfig,
        kubeconfigYaml({ server: o.server, caPem: o.caPem, user: `system:serviceaccount:${namespace}:${sa}`, token: await tokenFor(namespace, sa), namespace }),
        { mode: 0o600 },
      );
      const deadlineMs = (job.spec?.activeDeadlineSeconds ?? DEFAULT_DEADLINE_MS / 1000) * 1000;
      const r = await run(resolved.cmd, resolved.args, { env: { PATH: process.env.PATH, HOME: o.dir, KUBECONFIG: kubeconfig }, timeoutMs: deadlineMs });
      code = r.code;
      output = `${r.stdout}${r.stderr}`;
    } catch (e) {
      code = -1;
      output = e instanceof Error ? e.message : String(e);
    }
    runs.push({ namespace, name, command: [resolved.cmd, ...resolved.args], code, output, durationMs: Date.now() - t0 });
    log(`hook-jobs: ${namespace}/${name} exited ${code} after ${Date.now() - t0} ms: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    await setStatus(job, code === 0, code === 0 ? 'hook command succeeded' : `hook command exited ${code}`);
  }

  async function tick(): Promise<void> {
    const r = await o.client.request<{ items?: Job[] }>('GET', '/apis/batch/v1/jobs');
    for (const job of r.body?.items ?? []) {
      if (!job.metadata.annotations?.['helm.sh/hook'] || job.metadata.deletionTimestamp) continue;
      if (started.has(job.metadata.uid) || (job.status?.conditions ?? []).some((c) => c.status === 'True')) continue;
      started.add(job.metadata.uid);
      const p = runJob(job).catch((e: unknown) =>
        log(`hook-jobs: ${job.metadata.namespace}/${job.metadata.name}: ${e instanceof Error ? e.message : String(e)}`),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
  }

  const pollMs = o.pollMs ?? 300;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    if (stopped) return;
    tick()
      .catch((e: unknown) => log(`hook-jobs: tick failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      });
  };
  loop();
  return {
    runs,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
