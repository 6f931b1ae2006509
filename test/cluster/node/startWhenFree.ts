// Starts a node cluster, waiting while another process holds the host-wide node lock
// (node/lock.ts). Integration files run one at a time inside one vitest run (fileParallelism
// false), but another run on the same host may hold the node; its tests take minutes, so waiting
// (bounded) is the right answer, not failing. The lock itself is never broken here.
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../controlPlane.ts';
import { sleep } from '../proc.ts';

const HELD = /another node cluster is running/;

export interface StartWhenFreeOptions {
  /** Longest wait for the lock, in ms. */
  waitMs: number;
  retryEveryMs?: number;
  log?: (line: string) => void;
}

export async function startNodeClusterWhenFree(opts: Omit<ControlPlaneOptions, 'node'>, w: StartWhenFreeOptions): Promise<ControlPlane> {
  const deadline = Date.now() + w.waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlane({ ...opts, node: true });
    } catch (e) {
      if (!HELD.test((e as Error).message) || Date.now() + (w.retryEveryMs ?? 10_000) > deadline) throw e;
      if (attempt === 1) w.log?.(`node lock held by another process; waiting up to ${Math.round(w.waitMs / 1000)}s`);
      await sleep(w.retryEveryMs ?? 10_000);
    }
  }
}
