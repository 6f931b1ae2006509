// `npm run cluster:up` / `npm run cluster:down`: a loopback control plane for poking at by hand.
//   node test/cluster/cli.ts up [--olm none|crds|quickstart] [--node] [--keep-dir]
//       builds missing pinned binaries (first run only), starts etcd, kube-apiserver,
//       kube-controller-manager (and OLM, default quickstart; with --node a real node, see
//       README.md "Node mode"), prints the kubeconfig path, and keeps running until Ctrl-C or `down`.
//   node test/cluster/cli.ts down     stops the one started by `up` (pid/state file in the cache dir)
//   node test/cluster/cli.ts status   prints the state file of the running one
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from './controlPlane.ts';
import type { OlmMode } from './olm.ts';
import { cacheDir, clusterDir, missingComponents } from './paths.ts';
import { processAlive, sleep } from './proc.ts';

interface State {
  pid: number;
  kubeconfigPath: string;
  server: string;
  dir: string;
  auditLogPath: string;
  startedAt: string;
}

const stateFile = () => join(cacheDir(), 'cluster', 'state.json');

function readState(): State | undefined {
  try {
    const s = JSON.parse(readFileSync(stateFile(), 'utf8')) as State;
    return processAlive(s.pid) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Builds whatever pinned component is missing (streams build-binaries.sh progress). */
export async function ensureBinaries(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<void> {
  const missing = missingComponents();
  if (!missing.length) return;
  log(`[cluster] building missing components: ${missing.join(', ')} (first run only)`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn('bash', [join(clusterDir, 'build-binaries.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (c) => resolve(c ?? 1));
    child.once('error', () => resolve(127));
  });
  if (code !== 0) throw new Error(`build-binaries.sh failed (exit ${code})`);
}

async function up(args: string[]): Promise<number> {
  const existing = readState();
  if (existing) {
    console.error(`a cluster is already running (pid ${existing.pid}); KUBECONFIG=${existing.kubeconfigPath}\nstop it with: npm run cluster:down`);
    return 1;
  }
  const olmIdx = args.indexOf('--olm');
  const olm = (olmIdx >= 0 ? args[olmIdx + 1] : 'quickstart') as OlmMode;
  if (!['none', 'crds', 'quickstart'].includes(olm)) {
    console.error('--olm must be none, crds or quickstart');
    return 2;
  }
  await ensureBinaries();
  const cp = await startControlPlane({ olm, keepDir: args.includes('--keep-dir'), node: args.includes('--node') });
  mkdirSync(join(cacheDir(), 'cluster'), { recursive: true });
  const state: State = {
    pid: process.pid,
    kubeconfigPath: cp.kubeconfigPath,
    server: cp.server,
    dir: cp.dir,
    auditLogPath: cp.auditLogPath,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(stateFile(), JSON.stringify(state, null, 2));
  console.log(cp.kubeconfigPath);
  process.stderr.write(
    `\nCluster is up (${cp.server}).\n  export KUBECONFIG=${cp.kubeconfigPath}\n  audit log: ${cp.auditLogPath}\n  logs: ${join(cp.dir, 'logs')}\nCtrl-C or \`npm run cluster:down\` stops it.\n`,
  );
  // Stay up until a signal arrives (proc.ts runs cp.stop() on SIGINT/SIGTERM, then exits).
  process.once('exit', () => {
    try {
      const s = JSON.parse(readFileSync(stateFile(), 'utf8')) as State;
      if (s.pid === process.pid) rmSync(stateFile(), { force: true });
    } catch {
      /* gone */
    }
  });
  await new Promise<never>(() => {
    setInterval(() => {}, 1 << 30);
  });
  return 0;
}

async function down(): Promise<number> {
  const s = readState();
  if (!s) {
    console.error('no running cluster (nothing to stop)');
    rmSync(stateFile(), { force: true });
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  for (let i = 0; i < 60 && processAlive(s.pid); i++) await sleep(500);
  if (processAlive(s.pid)) {
    process.kill(s.pid, 'SIGKILL'); // its watchdog kills the daemons and removes the dir
    console.error(`pid ${s.pid} did not stop in 30s; killed (its watchdog cleans up)`);
  }
  rmSync(stateFile(), { force: true });
  console.error(`stopped cluster (pid ${s.pid})`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up':
      return up(rest);
    case 'down':
      return down();
    case 'status': {
      const s = readState();
      if (!s) {
        console.error('no running cluster');
        return 1;
      }
      console.log(JSON.stringify(s, null, 2));
      return 0;
    }
    default:
      console.error('usage: node test/cluster/cli.ts up [--olm none|crds|quickstart] [--keep-dir] | down | status');
      return 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
