// The guard as Pods on the node cluster (test/cluster/README.md, "Node mode"): the image built
// from the Dockerfile, imported into the node's containerd, installed with `kubectl apply -k` of
// an overlay that only changes the image (test/cluster/node/installGuard.ts) and reached by the
// API server through its Service. It offers the scenarios what the host-process guard does
// (register, detach, change modes, stop), so the same scenario files run against either.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { GuardImage } from '../cluster/node/images.ts';
import { applyAndRollOut, GUARD_NAMESPACE, guardConfigPath, installGuard } from '../cluster/node/installGuard.ts';
import { waitFor } from '../cluster/proc.ts';
import { decisionsIn } from './guardInPath.ts';
import { WEBHOOK_NAME, type GuardModes, type ScenarioGuard, type StartGuardOptions } from './guard.ts';

const GUARD_SELECTOR = 'app.kubernetes.io/name=teardown-guard,app.kubernetes.io/component=webhook';
const PROBE_NAMESPACE = 'tg-guard-probe';

/** The shipped config.yaml with the scenario's policy modes (every other key as users get it). */
export function withModes(configYaml: string, modes: GuardModes): string {
  const doc = parseYaml(configYaml) as { policies?: Record<string, { mode?: string }> };
  doc.policies ??= {};
  for (const [name, mode] of Object.entries(modes)) doc.policies[name] = { ...doc.policies[name], mode };
  return stringifyYaml(doc);
}

/** Every guard Pod's log (kubectl logs -l shows only 10 lines per Pod unless told otherwise). */
async function guardLogs(cp: ControlPlane, tailLines = -1): Promise<string> {
  const r = await cp.kubectl(['-n', GUARD_NAMESPACE, 'logs', '-l', GUARD_SELECTOR, `--tail=${tailLines}`, '--prefix', '--max-log-requests=10']);
  return `${r.stdout}${r.code === 0 ? '' : r.stderr}`;
}

/**
 * Waits until the API server sends a namespace DELETE (dry run) through the Service to a guard
 * Pod: its decision line for the probe namespace shows up in the Pods' logs.
 */
async function awaitWebhookReached(cp: ControlPlane, timeoutMs: number): Promise<void> {
  await cp.kubectl(['create', 'namespace', PROBE_NAMESPACE]);
  try {
    await waitFor(
      'the in-cluster guard called by the API server',
      timeoutMs,
      async () => {
        await cp.kubectl(['delete', 'namespace', PROBE_NAMESPACE, '--dry-run=server']);
        const logs = await guardLogs(cp);
        return logs.split('\n').some((l) => l.includes('"msg":"decision"') && l.includes(PROBE_NAMESPACE)) ? true : undefined;
      },
      500,
    );
  } finally {
    await cp.kubectl(['delete', 'namespace', PROBE_NAMESPACE, '--timeout=60s']);
  }
}

interface PodMeta {
  metadata: { name: string; deletionTimestamp?: string };
}

/**
 * `rollout status` returns once the new replicas are available, but the old Pods keep answering
 * for shutdown.delayMs after SIGTERM (manifests/base/config.yaml) and the API server's endpoints
 * lag: a request right after it can still meet the old config. A mode change is in force once
 * no old Pod is left.
 */
async function awaitOldPodsGone(cp: ControlPlane, timeoutMs: number): Promise<void> {
  await waitFor(
    'the old guard Pods gone after the rollout',
    timeoutMs,
    async () => {
      const pods = await cp.client.must<{ items: PodMeta[] }>(
        'GET',
        `/api/v1/namespaces/${GUARD_NAMESPACE}/pods?labelSelector=${encodeURIComponent(GUARD_SELECTOR)}`,
      );
      return pods.items.some((p) => p.metadata.deletionTimestamp) ? undefined : true;
    },
    250,
  );
}

export interface InClusterGuard extends ScenarioGuard {
  installMs: number;
  /** Each `setModes` rollout until no old Pod is left, in ms. */
  rolloutMs: number[];
}

/**
 * Installs the guard image on `cp`'s node with the scenario's modes. The webhook configuration
 * comes with the install (failurePolicy as shipped); register() re-applies it after a detach.
 */
export async function startInClusterGuard(cp: ControlPlane, image: GuardImage, workDir: string, o: StartGuardOptions = {}): Promise<InClusterGuard> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[guard-pods] ${l}\n`));
  const timeoutMs = o.timeoutMs ?? 180_000;
  let modes: GuardModes = { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn', ...o.modes };
  const dir = mkdtempSync(join(workDir, 'guard-install-'));
  const installed = await installGuard(cp, dir, image.ref, timeoutMs, (y) => withModes(y, modes));
  log(`installed ${image.ref}: both replicas Ready ${(installed.installMs / 1000).toFixed(1)}s after kubectl apply -k (modes ${JSON.stringify(modes)})`);
  const rolloutMs: number[] = [];
  return {
    installMs: installed.installMs,
    rolloutMs,
    async register(failurePolicy) {
      if (failurePolicy) throw new Error('the in-cluster guard keeps the shipped failurePolicy');
      await applyAndRollOut(cp, installed.overlayDir, timeoutMs);
      await awaitWebhookReached(cp, 30_000);
    },
    // The Pods running now (a rollout replaces them, and their logs with them).
    decisions: async () => decisionsIn((await guardLogs(cp)).split('\n')),
    async unregister() {
      const r = await cp.kubectl(['delete', 'validatingwebhookconfiguration', WEBHOOK_NAME, '--ignore-not-found']);
      if (r.code !== 0) throw new Error(`deleting the webhook configuration failed: ${r.stderr}`);
    },
    async setModes(m) {
      modes = { ...modes, ...m };
      const path = guardConfigPath(dir);
      writeFileSync(path, withModes(readFileSync(path, 'utf8'), modes));
      // A new config.yaml is a new ConfigMap name (generator hash): the Deployment rolls.
      const t0 = Date.now();
      await applyAndRollOut(cp, installed.overlayDir, timeoutMs);
      await awaitOldPodsGone(cp, 60_000);
      const ms = Date.now() - t0;
      rolloutMs.push(ms);
      log(`modes ${JSON.stringify(modes)}: rolled out, old Pods gone, in ${(ms / 1000).toFixed(1)}s`);
    },
    async stop() {
      // The guard must never block its own uninstall (README.md).
      const r = await cp.kubectl(['delete', '-k', installed.overlayDir, '--ignore-not-found', '--timeout=120s'], { timeoutMs: 130_000 });
      if (r.code !== 0) throw new Error(`kubectl delete -k failed: ${r.stderr}`);
    },
  };
}
