// Detached watchdog for a loopback cluster: `node watchdog.ts OWNER_PID DIR GROUPS_FILE`.
// When the owner process disappears (even by SIGKILL, which skips its exit handlers) it kills
// every process group listed in GROUPS_FILE and removes DIR. It exits by itself as soon as DIR
// is gone (the owner stopped the cluster normally) or after cleaning up.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { processAlive } from './proc.ts';

const [ownerArg, dir, groupsFile] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!owner || !dir || !groupsFile) {
  console.error('usage: watchdog.ts OWNER_PID DIR GROUPS_FILE');
  process.exit(2);
}


function cleanup(): void {
  let groups: number[] = [];
  try {
    groups = readFileSync(groupsFile!, 'utf8').split('\n').map(Number).filter((n) => n > 1);
  } catch {
    /* nothing recorded */
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    rmSync(dir!, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

const timer = setInterval(() => {
  if (!existsSync(dir)) {
    clearInterval(timer);
    return;
  }
  if (!processAlive(owner)) {
    clearInterval(timer);
    cleanup();
  }
}, 1000);
