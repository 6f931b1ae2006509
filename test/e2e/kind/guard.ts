// The guard as it runs on a real cluster: the Deployment from manifests/overlays/self-signed
// (image built from the Dockerfile and loaded by run.sh), behind the same Guard interface the host
// process of test/scenarios/guard.ts offers, so the scenario suite drives either unchanged:
//   - startGuard(cp, { modes })  writes the modes into a ConfigMap the Deployment mounts, scales it
//                                to its 2 replicas, waits for the rollout and for /readyz;
//   - register(failurePolicy)    applies the overlay's own ValidatingWebhookConfiguration (the
//                                shipped rules, selectors and CEL; run.sh rendered it), with the
//                                requested failurePolicy, and waits until the API server calls it;
//   - unregister()               deletes it; setModes() rolls the Deployment with the new modes;
//   - stop()                     scales the Deployment to 0 (the guard is down; the webhook stays);
//   - logTail()                  `kubectl logs` of the guard pods.
// GuardSession, the suite's handle, is bound to these. Everything else (types, config and webhook
// helpers) is re-exported from test/scenarios/guard.ts.
// The guard's URL is the in-cluster Service; it is reached from the host only through the API
// server's service proxy (metrics(), readiness).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import type { ControlPlane } from '../../cluster/controlPlane.ts';
import { repoRoot } from '../../cluster/paths.ts';
import { sleep, waitFor, type Daemon } from '../../cluster/proc.ts';
import { GuardSession as LoopbackGuardSession, type Guard, type GuardCerts, type GuardModes, type StartGuardOptions } from '../../scenarios/guard.ts';
import { tool } from './cluster.ts';

export * from '../../scenarios/guard.ts';

export const GUARD_NAMESPACE = 'teardown-guard';
const DEPLOYMENT = 'teardown-guard';
const CONFIGMAP = 'teardown-guard-e2e-config';
const SELECTOR = 'app.kubernetes.io/name=teardown-guard,app.kubernetes.io/component=webhook';
const PROXY = `/api/v1/namespaces/${GUARD_NAMESPACE}/services/https:teardown-guard:https/proxy`;

function e2eDir(): string {
  const dir = process.env.TG_E2E_DIR;
  if (!dir || !existsSync(join(dir, 'rendered.yaml'))) throw new Error('TG_E2E_DIR is not set or holds no rendered.yaml: run the suite through test/e2e/kind/run.sh');
  return dir;
}

/** Why the in-cluster guard cannot be used, or undefined when it can. */
export function guardUnavailableReason(): string | undefined {
  try {
    e2eDir();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** The guard config the Deployment gets: manifests/base/config.yaml with the requested modes and log level. */
export function inClusterConfigYaml(modes: GuardModes, logLevel?: string): string {
  const config = parse(readFileSync(join(repoRoot, 'manifests', 'base', 'config.yaml'), 'utf8')) as Record<string, unknown> & {
    policies?: Record<string, { mode?: string }>; log?: { level?: string };
  };
  config.policies ??= {};
  for (const [policy, mode] of Object.entries(modes)) config.policies[policy] = { ...config.policies[policy], mode };
  if (logLevel) config.log = { ...config.log, level: logLevel };
  return stringify(config);
}

export async function startGuard(cp: ControlPlane, o: StartGuardOptions = {}): Promise<Guard> {
  const dir = e2eDir();
  const log = o.log ?? ((l: string) => process.stderr.write(`[guard] ${l}\n`));
  const timeoutMs = o.timeoutMs ?? 240_000;
  const certDir = join(dir, 'certs');
  const certs: GuardCerts = o.certs ?? {
    dir: certDir, caFile: join(certDir, 'ca.crt'), caPem: readFileSync(join(certDir, 'ca.crt'), 'utf8'),
    certFile: join(certDir, 'tls.crt'), keyFile: join(certDir, 'tls.key'),
  };
  const configPath = join(cp.dir, 'guard-config.yaml');
  const logPath = join(cp.dir, 'guard.log');
  writeFileSync(logPath, '');
  let modes: GuardModes = { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn', ...o.modes };

  const kubectlOk = async (args: string[], input?: string) => {
    const r = await cp.kubectl(args, { timeoutMs: timeoutMs, ...(input !== undefined ? { input } : {}) });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    return r;
  };
  const proxyGet = async (path: string) => cp.kubectl(['get', '--raw', `${PROXY}${path}`], { timeoutMs: 15_000 });

  /** Sum of teardown_guard_admission_requests_total over every label and every replica the Service picks. */
  const answered = async (): Promise<number> => {
    const r = await proxyGet('/metrics');
    let sum = 0;
    for (const line of r.stdout.split('\n')) {
      const m = /^teardown_guard_admission_requests_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
      if (m?.[1]) sum += Number(m[1]);
    }
    return sum;
  };

  const rollOut = async () => {
    const yaml = inClusterConfigYaml(modes, o.logLevel);
    writeFileSync(configPath, yaml);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIGMAP, namespace: GUARD_NAMESPACE }, data: { 'config.yaml': yaml } };
    await kubectlOk(['apply', '-f', '-'], stringify(cm));
    const sha = createHash('sha256').update(yaml).digest('hex').slice(0, 16);
    const patch = {
      spec: {
        replicas: 2,
        template: {
          metadata: { annotations: { 'teardown-guard.test/config-sha': sha } },
          spec: { volumes: [{ name: 'config', configMap: { name: CONFIGMAP } }] },
        },
      },
    };
    const t0 = Date.now();
    await kubectlOk(['patch', 'deployment', DEPLOYMENT, '-n', GUARD_NAMESPACE, '--type=strategic', '-p', JSON.stringify(patch)]);
    await kubectlOk(['rollout', 'status', `deployment/${DEPLOYMENT}`, '-n', GUARD_NAMESPACE, `--timeout=${Math.round(timeoutMs / 1000)}s`]);
    await waitFor('in-cluster guard /readyz (through the API server proxy)', timeoutMs, async () => ((await proxyGet('/readyz')).code === 0 ? true : undefined), 1000);
    log(`in-cluster guard ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (modes ${JSON.stringify(modes)})`);
  };

  const logTail = (lines = 40): string => {
    try {
      const text = execFileSync(tool('kubectl', 'kubectl'), ['logs', '-n', GUARD_NAMESPACE, '-l', SELECTOR, `--tail=${lines}`, '--prefix'], { encoding: 'utf8', timeout: 20_000, env: cp.env });
      writeFileSync(logPath, text);
      return text;
    } catch (e) {
      return `(no guard logs: ${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
    }
  };

  const available = (): boolean => {
    try {
      const out = execFileSync(tool('kubectl', 'kubectl'), ['get', 'deployment', DEPLOYMENT, '-n', GUARD_NAMESPACE, '-o', 'jsonpath={.status.availableReplicas}'], { encoding: 'utf8', timeout: 15_000, env: cp.env });
      return Number(out || '0') >= 1;
    } catch {
      return false;
    }
  };

  const stop = async () => {
    await kubectlOk(['scale', 'deployment', DEPLOYMENT, '-n', GUARD_NAMESPACE, '--replicas=0']);
    await waitFor('guard pods gone', 120_000, async () => {
      const r = await cp.kubectl(['get', 'pods', '-n', GUARD_NAMESPACE, '-l', SELECTOR, '-o', 'name']);
      return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
    }, 1000);
  };

  await rollOut();

  // Stand-in for the host process handle: there is no child process, the Deployment is the daemon.
  const daemon = {
    name: 'teardown-guard (in-cluster Deployment)',
    child: undefined,
    logPath,
    exited: new Promise<number | string>(() => {}),
    isRunning: available,
    stop: async () => stop(),
  } as unknown as Daemon;

  const guard: Guard = {
    port: 443,
    url: `https://teardown-guard.${GUARD_NAMESPACE}.svc`,
    certs,
    configPath,
    logPath,
    daemon,
    async register(failurePolicy = 'Fail') {
      const vwc = parseAllDocuments(readFileSync(join(dir, 'rendered.yaml'), 'utf8'))
        .map((d) => d.toJS() as { kind?: string; webhooks?: Array<{ failurePolicy?: string }> } | null)
        .find((d) => d?.kind === 'ValidatingWebhookConfiguration');
      if (!vwc) throw new Error(`${dir}/rendered.yaml has no ValidatingWebhookConfiguration`);
      for (const w of vwc.webhooks ?? []) w.failurePolicy = failurePolicy;
      await kubectlOk(['apply', '-f', '-'], stringify(vwc));
      // The API server loads webhook configurations asynchronously: probe with a dry-run namespace
      // DELETE until the guard's request counter moves (bounded).
      await cp.kubectl(['create', 'namespace', 'tg-guard-probe']);
      const before = await answered().catch(() => 0);
      await waitFor('webhook registered (the in-cluster guard called by the API server)', 60_000, async () => {
        await cp.kubectl(['delete', 'namespace', 'tg-guard-probe', '--dry-run=server']);
        return (await answered().catch(() => before)) > before ? true : undefined;
      }, 1000).catch(() => sleep(3000));
      await cp.kubectl(['delete', 'namespace', 'tg-guard-probe', '--wait=false']);
    },
    async unregister() {
      await cp.kubectl(['delete', 'validatingwebhookconfiguration', 'teardown-guard', '--ignore-not-found']);
      await sleep(1500);
    },
    async setModes(m) {
      modes = { ...modes, ...m };
      await rollOut();
    },
    logTail,
    stop,
  };
  return guard;
}

/**
 * The scenario suite's GuardSession (fails when the guard cannot run, same mode switching), starting the
 * guard Deployment in the kind cluster instead of a host process.
 */
export class GuardSession extends LoopbackGuardSession {
  constructor(cp: () => ControlPlane) {
    super(cp, startGuard);
  }
}
