// Where the scenario suites run the guard: a host process next to the loopback cluster (fast, the
// default) or Pods on the node cluster, installed as README.md tells users. A suite takes a
// placement as its parameter, so one scenario file runs against either (test/cluster/README.md).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../cluster/controlPlane.ts';
import { buildGuardImage, type GuardImage } from '../cluster/node/images.ts';
import { missingComponents, type BinaryName } from '../cluster/paths.ts';
import { sleep } from '../cluster/proc.ts';
import { startGuard, type StartScenarioGuard } from './guard.ts';
import { startInClusterGuard } from './inClusterGuard.ts';

export interface GuardPlacement {
  name: 'host-process' | 'in-cluster';
  /** Pinned components and host facilities this placement needs that are missing. */
  missing(components: BinaryName[]): string[];
  startCluster(o: Omit<ControlPlaneOptions, 'node'>): Promise<ControlPlane>;
  startGuard: StartScenarioGuard;
  /** Timings of this placement's own steps (image build, node up), for the suite's timing line. */
  timings: Record<string, number>;
  /** Removes what startCluster made besides the cluster (the caller stops the cluster first). */
  cleanup(): void;
}

/**
 * The guard as a host process. `startCluster` is how the cluster comes up: a control plane of its
 * own by default (the demo), its lane's shared one in the integration tests (test/cluster/fileCluster.ts).
 */
export function hostProcessPlacement(startCluster: (o: ControlPlaneOptions) => Promise<ControlPlane> = startControlPlane): GuardPlacement {
  return {
    name: 'host-process',
    missing: (components) => missingComponents(components),
    startCluster: (o) => startCluster(o),
    startGuard,
    timings: {},
    cleanup: () => undefined,
  };
}

const NODE_TOOLS = ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/buildah', '/usr/lib/cni/bridge', '/usr/sbin/iptables'];
const NODE_BUSY = /another node cluster is running/;

/**
 * The node is one per host (test/cluster/node/lock.ts) and another suite or engineer may hold it:
 * retry for a bounded time, never break the lock.
 */
export async function startNodeCluster(o: Omit<ControlPlaneOptions, 'node'>, waitMs: number, log: (l: string) => void): Promise<ControlPlane> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await startControlPlane({ ...o, node: true });
    } catch (e) {
      if (!(e instanceof Error && NODE_BUSY.test(e.message)) || Date.now() > deadline) throw e;
      log(`${e.message}; retrying for up to ${Math.round((deadline - Date.now()) / 1000)}s more`);
      await sleep(10_000);
    }
  }
}

export interface InClusterPlacementOptions {
  /** How long to wait for another node cluster to finish (default 4 minutes, under the hook timeout). */
  nodeWaitMs?: number;
  /** Where the guard's image comes from (default: built here; the node lane builds one, node/runImage.ts). */
  image?: (log: (line: string) => void) => Promise<GuardImage>;
  log?: (line: string) => void;
}

export function inClusterPlacement(o: InClusterPlacementOptions = {}): GuardPlacement {
  const log = o.log ?? ((l: string) => process.stderr.write(`[in-cluster] ${l}\n`));
  const work = mkdtempSync(join(tmpdir(), 'tg-in-cluster-'));
  const timings: Record<string, number> = {};
  let image: GuardImage | undefined;
  return {
    name: 'in-cluster',
    missing(components) {
      const missing: string[] = missingComponents([...components, 'kubelet', 'kube-scheduler']);
      if (process.getuid?.() !== 0) missing.push('root (the node mode changes host networking)');
      for (const bin of NODE_TOOLS) if (!existsSync(bin)) missing.push(`${bin} (test/cluster/node/install-packages.sh)`);
      return missing;
    },
    async startCluster(co) {
      // Built before taking the node: the build does not need it, and another suite may hold it.
      image = o.image
        ? await o.image(log)
        : await buildGuardImage({ outDir: work, source: process.env.TG_NODE_IMAGE_SOURCE === 'head' ? 'head' : 'worktree', log });
      timings['image-build'] = image.buildMs;
      const t0 = Date.now();
      const cp = await startNodeCluster(co, o.nodeWaitMs ?? 240_000, log);
      timings['node-up'] = Date.now() - t0;
      const t1 = Date.now();
      await cp.node!.importImage(image.path);
      timings['image-import'] = Date.now() - t1;
      return cp;
    },
    async startGuard(cp, so) {
      if (!image) throw new Error('startCluster first: the guard image is built there');
      const guard = await startInClusterGuard(cp, image, work, { log, ...so });
      timings['guard-install'] = guard.installMs;
      return guard;
    },
    timings,
    cleanup: () => rmSync(work, { recursive: true, force: true }),
  };
}
