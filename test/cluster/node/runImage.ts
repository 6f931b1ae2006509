// The guard's image, built once per `vitest run` for every integration file that installs it on
// the node (node.test.ts, chartNode.test.ts, scenariosInCluster.test.ts): the build takes
// 20-60 s (more under load) and gives the same image for the same tree. The node lane's
// globalSetup (nodeLaneSetup.ts) starts it in the background as the run begins, into the run's
// directory; a file that needs it waits for it, or builds it when nothing did.
// TG_NODE_IMAGE_SOURCE=head builds the last commit instead of the working tree.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { waitFor } from '../proc.ts';
import { buildGuardImage, type GuardImage } from './images.ts';

const BUILT = 'guard-image.json';
const BUILDING = 'guard-image.building';
const FAILED = 'guard-image.failed';
/** Longest wait for a build another process started. */
const BUILD_WAIT_MS = 15 * 60_000;

/** Builds the image into `runDir` and records it there (and a failure, for whoever waits). */
export async function buildRunImage(runDir: string, log?: (line: string) => void): Promise<GuardImage> {
  writeFileSync(join(runDir, BUILDING), String(process.pid));
  try {
    const image = await buildGuardImage({ outDir: runDir, source: process.env.TG_NODE_IMAGE_SOURCE === 'head' ? 'head' : 'worktree', ...(log ? { log } : {}) });
    writeFileSync(join(runDir, BUILT), JSON.stringify(image));
    return image;
  } catch (e) {
    writeFileSync(join(runDir, FAILED), e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    rmSync(join(runDir, BUILDING), { force: true });
  }
}

export async function guardImageForRun(log?: (line: string) => void): Promise<GuardImage> {
  const dir = inject('runDir');
  const read = (): GuardImage | undefined => {
    if (existsSync(join(dir, FAILED))) throw new Error(`the guard's image did not build: ${readFileSync(join(dir, FAILED), 'utf8').slice(-4000)}`);
    if (!existsSync(join(dir, BUILT))) return undefined;
    const image = JSON.parse(readFileSync(join(dir, BUILT), 'utf8')) as GuardImage;
    return existsSync(image.path) ? image : undefined;
  };
  if (!read() && existsSync(join(dir, BUILDING))) {
    log?.('waiting for the guard image this run is building');
    await waitFor('the guard image of this run', BUILD_WAIT_MS, () => read() ?? (existsSync(join(dir, BUILDING)) ? undefined : true), 1000);
  }
  const image = read();
  if (!image) return buildRunImage(dir, log);
  log?.(`guard image ${image.ref} (built for this run in ${(image.buildMs / 1000).toFixed(1)}s)`);
  return { ...image, buildMs: 0 };
}
