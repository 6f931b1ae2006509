// Temporary directories of a unit test file, removed when its tests are done: the unit tier runs
// on every CI run and on developers' machines, and what it leaves in the temp directory adds up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];

// Registered while the importing test file is collected, so on that file's root suite: every
// directory the file made goes once its last test has run, whether it passed or not.
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new empty directory named `<prefix>-XXXXXX` under the temp directory, gone after the file's tests. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  made.push(dir);
  return dir;
}
