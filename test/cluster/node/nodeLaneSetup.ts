// vitest globalSetup of the node lane (vitest.config.ts): the run's directory, no shared control
// plane (its files start node clusters of their own, one at a time), and the guard's image built
// in the background from the start (runImage.ts), so the files that install it wait less.
import type { TestProject } from 'vitest/node';
import { provideRunDir } from '../sharedClusterSetup.ts';
import { buildRunImage } from './runImage.ts';

const log = (line: string) => process.stderr.write(`[node lane] ${line}\n`);

export default function setup(project: TestProject): () => Promise<void> {
  const run = provideRunDir(project);
  project.provide('sharedCluster', null);
  // Awaited at teardown only: a file that needs the image waits for it (runImage.ts).
  const building =
    process.getuid?.() === 0
      ? buildRunImage(run.dir, log).then(
          () => undefined,
          () => undefined,
        )
      : Promise.resolve();
  return async () => {
    await building;
    run.remove();
  };
}
