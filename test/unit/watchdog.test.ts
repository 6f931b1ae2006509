// The loopback cluster's watchdog (test/cluster/watchdog.ts) kills what a dead test worker
// started. Pids come round within a suite run (pid_max is often 32768 and a run spawns tens of
// thousands of processes), so a group recorded long ago may now be led by another lane's process:
// it must be killed only while its leader is still the process that was recorded.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { liveRecordedGroups, processAlive, processStartTicks, sleep, startDaemon, startWatchdog } from '../cluster/proc.ts';
import { scratchDir } from '../support/scratchDir.ts';

const spawned: number[] = [];
afterAll(() => {
  for (const pid of spawned) if (processAlive(pid)) process.kill(-pid, 'SIGKILL');
});

/** A detached `sleep`: the leader of a process group of its own, like the cluster's daemons. */
function groupLeader(): number {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  spawned.push(child.pid!);
  return child.pid!;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(100)) if (check()) return;
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

describe('recorded process groups', () => {
  it('a group counts while its leader is the recorded process, not after it exited or when the pid names another process', async () => {
    const dir = scratchDir('tg-groups');
    const groupsFile = join(dir, 'pgids');
    const daemon = startDaemon({ name: 'sleeper', cmd: 'sleep', args: ['60'], logDir: dir, groupsFile });
    const pid = daemon.child.pid!;
    expect(liveRecordedGroups(groupsFile)).toEqual([pid]);
    await daemon.stop(1000);
    expect(liveRecordedGroups(groupsFile)).toEqual([]);

    // A live process recorded with another start time: the pid came round to someone else.
    const other = groupLeader();
    writeFileSync(groupsFile, `${other} 1\n${other}\n`);
    expect(processStartTicks(other)).not.toBe('1');
    expect(liveRecordedGroups(groupsFile)).toEqual([]);
  });

  it('the watchdog of a dead owner kills the groups it recorded and spares a process that got a recorded pid later', async () => {
    const dir = scratchDir('tg-watchdog');
    const clusterDirOfOwner = join(dir, 'cluster');
    const groupsFile = join(dir, 'pgids');
    const recorded = groupLeader();
    const reused = groupLeader();
    // `reused` stands for a later process that was handed a pid recorded earlier.
    writeFileSync(groupsFile, `${recorded} ${processStartTicks(recorded)}\n${reused} 1\n`);
    const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    spawned.push(owner.pid!);
    mkdirSync(clusterDirOfOwner);
    startWatchdog(owner.pid!, clusterDirOfOwner, groupsFile);
    owner.kill('SIGKILL');
    await until('the watchdog removes the dead owner’s dir', () => !existsSync(clusterDirOfOwner));
    await until('the recorded group is killed', () => !processAlive(recorded));
    expect(processAlive(reused)).toBe(true);
  });
});
