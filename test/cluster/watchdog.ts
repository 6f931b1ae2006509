// Detached watchdog for a loopback cluster: `node watchdog.ts OWNER_PID DIR GROUPS_FILE [NODE_LOCK_DIR]`.
// When the owner process disappears (even by SIGKILL, which skips its exit handlers) it kills
// every process group listed in GROUPS_FILE whose leader is still the recorded process, gives the host back (the node mode's restore script,
// while the owner still holds the node lock) and removes DIR. It exits by itself as soon as DIR
// is gone (the owner stopped the cluster normally) or after cleaning up.
import { existsSync, rmSync } from 'node:fs';
import { restoreIfOwner } from './node/lock.ts';
import { liveRecordedGroups, processAlive } from './proc.ts';

const [ownerArg, dir, groupsFile, nodeLockDir] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!owner || !dir || !groupsFile) {
  console.error('usage: watchdog.ts OWNER_PID DIR GROUPS_FILE');
  process.exit(2);
}

function cleanup(): void {
  for (const g of liveRecordedGroups(groupsFile!)) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // Unmounts what lives under DIR, so nothing is removed through a mount below.
  if (nodeLockDir) restoreIfOwner(nodeLockDir, owner);
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
