// Runs Helm hook Jobs (annotation helm.sh/hook) of a loopback cluster without a kubelet: the
// Job's container command runs on the host when it is `kubectl` (the common shape of cleanup hooks,
// e.g. Pixie's csv-deleter), or a `sh -c`/`bash -c` script made only of kubectl commands, `sleep`
// and `set` options (e.g. Kyverno's pre-delete scale-to-zero), as the Job's ServiceAccount (a
// TokenRequest token), and the Job's status is then set Complete or Failed through the status
// subresource, the way the Job controller would. Helm waits on that status exactly as on a real
// cluster. A script is never handed to a shell: each line is checked against those three shapes
// and run as its own process, so a chart's hook cannot run anything else on the host. A Job whose
// command is anything else is marked Failed with the reason, never silently passed, unless a test
// registered it as a stand-in (`standIn`, with the reason): then it is marked Complete without
// running. A node cluster (test/cluster/node) runs hook Jobs as real Pods instead.
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
  /**
   * A documented stand-in for one hook Job whose program cannot run here and whose effect on this
   * cluster is nothing (e.g. a prune of labels on Nodes, where there is no Node): the Job is marked
   * Complete without running anything, and its run records the reason. Until `remove()`.
   */
  standIn(namespace: string, name: string, reason: string): { remove(): void };
  stop(): Promise<void>;
}

interface Job {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec?: { activeDeadlineSeconds?: number; template?: { spec?: { serviceAccountName?: string; containers?: Array<{ command?: string[]; args?: string[] }> } } };
  status?: { conditions?: Array<{ type: string; status: string }>; startTime?: string };
}

const DEFAULT_DEADLINE_MS = 300_000;

/** One step of a hook command run on the host: a kubectl invocation or a pause. */
export type HostStep = { cmd: string; args: string[] } | { sleepMs: number };

/** What a hook Job's container runs, as host steps; `errexit` as the script's `set -e` (a bare kubectl command: true). */
export interface HostCommand {
  steps: HostStep[];
  errexit: boolean;
}

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash']);
/** Words a script line may hold: no quotes, expansions, redirections, pipes or separators. */
const PLAIN_WORD = /^[A-Za-z0-9_.:=/,@+%-]+$/;

/** The steps of a script of kubectl commands, `sleep N` and `set` options, or why it is not one. */
function scriptSteps(script: string, kubectl: string): HostCommand | { unsupported: string } {
  const steps: HostStep[] = [];
  let errexit = false;
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    const bad = () => ({ unsupported: `hook script line ${JSON.stringify(line)} is not a plain kubectl command, sleep or set` });
    if (!words.every((w) => PLAIN_WORD.test(w))) return bad();
    if (words[0] === 'set') {
      if (words.slice(1).some((w) => w === 'errexit' || (/^-[a-z]+$/.test(w) && w.includes('e')))) errexit = true;
    } else if (words[0] === 'sleep' && words.length === 2 && /^\d+$/.test(words[1]!)) {
      steps.push({ sleepMs: Number(words[1]) * 1000 });
    } else if (words[0] === 'kubectl') {
      steps.push({ cmd: kubectl, args: words.slice(1) });
    } else return bad();
  }
  return steps.length ? { steps, errexit } : { unsupported: 'hook script runs no command' };
}

/** The Job's command as host steps with `kubectl` resolved to the pinned build, or why it cannot run here. */
export function hostCommand(job: Job, kubectl: string): HostCommand | { unsupported: string } {
  const c = job.spec?.template?.spec?.containers?.[0];
  const argv = [...(c?.command ?? []), ...(c?.args ?? [])];
  const exe = argv[0];
  if (exe && basename(exe) === 'kubectl') return { steps: [{ cmd: kubectl, args: argv.slice(1) }], errexit: true };
  if (exe && SHELLS.has(basename(exe)) && argv.length === 3 && (argv[1] === '-c' || argv[1] === '-ec')) {
    const r = scriptSteps(argv[2]!, kubectl);
    if ('steps' in r && argv[1] === '-ec') r.errexit = true;
    return r;
  }
  return { unsupported: `hook Job command ${JSON.stringify(argv)} is neither kubectl nor a shell script of kubectl commands` };
}

export function startHookJobRunner(o: HookJobRunnerOptions): HookJobRunner {
  const log = o.log ?? (() => {});
  const runs: HookJobRun[] = [];
  const started = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  const standIns = new Map<string, string>();
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
    const standIn = standIns.get(`${namespace}/${name}`);
    if (standIn !== undefined) {
      log(`hook-jobs: ${namespace}/${name}: stand-in, not run: ${standIn}`);
      runs.push({ namespace, name, command: [`stand-in: ${standIn}`], code: 0, output: '', durationMs: 0 });
      await setStatus(job, true, `stand-in, not run: ${standIn}`);
      return;
    }
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
    let code = 0;
    let output = '';
    try {
      writeFileSync(
        kubeconfig,
        kubeconfigYaml({ server: o.server, caPem: o.caPem, user: `system:serviceaccount:${namespace}:${sa}`, token: await tokenFor(namespace, sa), namespace }),
        { mode: 0o600 },
      );
      const deadline = t0 + (job.spec?.activeDeadlineSeconds ?? DEFAULT_DEADLINE_MS / 1000) * 1000;
      for (const step of resolved.steps) {
        if (stopped) break;
        if ('sleepMs' in step) {
          const until = Math.min(Date.now() + step.sleepMs, deadline);
          while (!stopped && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
          code = 0;
          continue;
        }
        const r = await run(step.cmd, step.args, {
          env: { PATH: process.env.PATH, HOME: o.dir, KUBECONFIG: kubeconfig },
          timeoutMs: Math.max(1000, deadline - Date.now()),
        });
        code = r.code;
        output += `${r.stdout}${r.stderr}`;
        if (code !== 0 && resolved.errexit) break;
      }
    } catch (e) {
      code = -1;
      output = e instanceof Error ? e.message : String(e);
    }
    const command = resolved.steps.flatMap((st) => ('sleepMs' in st ? [`sleep ${st.sleepMs / 1000}`] : [[st.cmd, ...st.args].join(' ')]));
    runs.push({ namespace, name, command, code, output, durationMs: Date.now() - t0 });
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
    standIn(namespace, name, reason) {
      const key = `${namespace}/${name}`;
      standIns.set(key, reason);
      return { remove: () => void standIns.delete(key) };
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
