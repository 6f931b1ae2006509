// One node cluster per host (test/cluster/README.md, "Node mode"): its bridge, NAT chain, node IP
// and Service-range route are host-wide. The lock is a directory (mkdir is atomic) under /run,
// which a reboot clears together with the network state it stands for. It holds the owner's pid
// and the restore script; a lock whose owner is gone is taken over after running that script.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, processStartTicks } from '../proc.ts';

export const NODE_LOCK_DIR = '/run/teardown-guard-node';

export interface NodeLock {
  dir: string;
  restoreScript: string;
}

/** The lock owner's pid (0: none yet), and whether that process is still the one that took it. */
function ownerOf(dir: string): { pid: number; alive: boolean } {
  try {
    const [pid, ticks] = readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ');
    const n = Number(pid) || 0;
    // Pids come round within a run: a dead owner's pid may be another process's by now.
    return { pid: n, alive: n > 0 && (ticks ? processStartTicks(n) === ticks : processAlive(n)) };
  } catch {
    return { pid: 0, alive: false };
  }
}

/** Runs a leftover restore script (bounded); used for locks whose owner died. */
export function runRestoreScript(path: string): void {
  if (existsSync(path)) spawnSync('bash', [path], { stdio: 'ignore', timeout: 60_000 });
}

export function acquireNodeLock(lockDir = NODE_LOCK_DIR): NodeLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(lockDir, { mode: 0o700 });
      writeFileSync(join(lockDir, 'owner'), `${process.pid} ${processStartTicks(process.pid) ?? ''}\n`);
      return { dir: lockDir, restoreScript: join(lockDir, 'restore.sh') };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = ownerOf(lockDir);
      // No owner yet and just made: another process is between mkdir and writing its pid.
      const justMade = !owner.pid && Date.now() - statSync(lockDir).mtimeMs < 10_000;
      // A live owner may be this very process (a second cluster in the same test file).
      if (justMade || owner.alive) {
        throw new Error(`another node cluster is running (pid ${owner.pid}, lock ${lockDir}); node mode runs one cluster per host`, { cause: e });
      }
      runRestoreScript(join(lockDir, 'restore.sh'));
      rmSync(lockDir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not take the node lock ${lockDir}`);
}

/** Runs the lock's restore script if `pid` still owns the lock (exit handlers, the watchdog). */
export function restoreIfOwner(lockDir: string, pid: number): void {
  if (ownerOf(lockDir).pid !== pid) return;
  runRestoreScript(join(lockDir, 'restore.sh'));
  rmSync(lockDir, { recursive: true, force: true });
}
