// runBuildScript (test/cluster/buildScript.ts): what the on-demand builds of kube-router and
// Kyverno rely on — progress lines forwarded, a failure named with its exit code and stderr, and a
// build past its timeout killed with everything it started.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuildScript } from '../cluster/buildScript.ts';
import { processAlive, sleep } from '../cluster/proc.ts';
import { scratchDir } from '../support/scratchDir.ts';

function script(body: string): string {
  const path = join(scratchDir('tg-build-script'), 'build.sh');
  writeFileSync(path, `set -eu\n${body}\n`);
  return path;
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('runBuildScript', () => {
  it('forwards only the [build] lines, from stdout and stderr', async () => {
    const lines: string[] = [];
    await runBuildScript('x', script('echo "[build] one"; echo noise; echo "[build] two" >&2'), (l) => lines.push(l), 10_000);
    expect(lines).toEqual(['[build] one', '[build] two']);
  });

  it('rejects naming the build, its exit code and the tail of its stderr', async () => {
    await expect(runBuildScript('thing', script('echo "go: module not found" >&2; exit 3'), () => {}, 10_000)).rejects.toThrow(
      /building thing failed \(exit 3\):\ngo: module not found/,
    );
  });

  it('past its timeout the whole process group is killed, children included', async () => {
    const dir = scratchDir('tg-build-timeout');
    const pidFile = join(dir, 'child.pid');
    const started = Date.now();
    await expect(runBuildScript('slow', script(`sleep 30 & echo $! > ${pidFile}; wait`), () => {}, 500)).rejects.toThrow(/building slow failed/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const child = Number(readFileSync(pidFile, 'utf8'));
    // Killed at once; gone once the orphan is reaped.
    for (let i = 0; i < 50 && processAlive(child) && !isZombie(child); i++) await sleep(100);
    expect(processAlive(child) && !isZombie(child)).toBe(false);
  });
});
