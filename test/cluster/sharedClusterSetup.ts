// vitest globalSetup of an integration lane (vitest.config.ts): starts the lane's shared control
// plane (sharedCluster.ts) before its first test file and stops it after its last. Test files get it
// through fileCluster.ts. TG_SHARED_CLUSTER=off makes every file start its own, as before. Also
// the run's directory, for what files build once and share (node/runImage.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { missingComponents } from './paths.ts';
import { startSharedCluster, type SharedClusterInfo } from './sharedCluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's shared control plane; null when there is none (every file starts its own). */
    sharedCluster: SharedClusterInfo | null;
    /** A directory for this run only (removed after it). */
    runDir: string;
  }
}

const log = (line: string) => process.stderr.write(`[shared cluster] ${line}\n`);

/** Gives `project` a directory for this run only; remove() after the run. */
export function provideRunDir(project: TestProject): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tg-run-'));
  project.provide('runDir', dir);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const run = provideRunDir(project);
  // Missing binaries: no shared cluster; each file then fails saying what to build.
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'olm']);
  if (process.env.TG_SHARED_CLUSTER === 'off' || missing.length) {
    if (missing.length) log(`not started: missing ${missing.join(', ')}`);
    project.provide('sharedCluster', null);
    return async () => run.remove();
  }
  const { cp, info } = await startSharedCluster((line) => log(`${project.name}: ${line}`)).catch((e: unknown) => {
    run.remove();
    throw e;
  });
  project.provide('sharedCluster', info);
  return async () => {
    await cp.stop();
    run.remove();
  };
}
