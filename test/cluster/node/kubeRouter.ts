// kube-router's network policy controller as the node's NetworkPolicy enforcer (the bridge CNI
// enforces none): the pinned binary (build-kube-router.sh) as a host process with only its firewall
// part, against the node cluster's API server. It writes iptables filter chains and ipsets, which
// are host-wide: a restore step (node.ts addRestoreStep) written before it starts kills it and
// removes them, on stop() and on every path the node's own restore runs (exit handlers, watchdog,
// the next node cluster). Its health and metrics listeners are off (health would bind every
// interface); it talks to the API server on loopback only.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runBuildScript } from '../buildScript.ts';
import type { ControlPlane } from '../controlPlane.ts';
import { cacheDir, clusterDir, versions } from '../paths.ts';
import { GiveUp, run, startDaemon, tail, waitFor } from '../proc.ts';
import { stopWithCluster } from '../stopWithCluster.ts';
import { NODE_NET } from './host.ts';

export const kubeRouterBinPath = () => join(cacheDir(), 'bin', `kube-router-${versions().KUBE_ROUTER_VERSION}`);

/** Chains and ipsets kube-router's network policy controller creates (pkg/controllers/netpol). */
const CHAIN_PREFIXES = ['KUBE-ROUTER-', 'KUBE-NWPLCY-', 'KUBE-POD-FW-'];
// TMP- sets are its swap sets (pkg/utils/ipset.go), left only by a crash mid-swap: "TMP-" and 16
// base32 characters, so another program's TMP-something is neither refused nor removed.
const IPSET_PREFIXES = ['KUBE-SRC-', 'KUBE-DST-', 'TMP-[A-Z2-7]{16}$'];

/** Runs build-kube-router.sh unless the binary is cached; its progress lines go to `log`. */
export async function ensureKubeRouterBuilt(log: (line: string) => void, timeoutMs = 30 * 60_000): Promise<string> {
  const bin = kubeRouterBinPath();
  if (existsSync(bin)) return bin;
  log(`kube-router ${versions().KUBE_ROUTER_VERSION} is not built yet: running test/cluster/node/build-kube-router.sh (minutes on 2 cores, once)`);
  await runBuildScript('kube-router', join(clusterDir, 'node', 'build-kube-router.sh'), log, timeoutMs);
  if (!existsSync(bin)) throw new Error(`building kube-router: build-kube-router.sh exited 0 but left no ${bin}`);
  return bin;
}

/** Next to the restore step, in the node lock's dir: it outlives the cluster's dir, as the step may. */
const PID_FILE = 'kube-router.pid';

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const anyPrefix = (prefixes: string[]) => `^(${prefixes.join('|')})`;

/**
 * The restore step: the process first (a running kube-router would put its rules back), then the
 * jumps from the built-in chains, then its chains (flushed before deleted: they jump to each
 * other), then its ipsets (only once no rule refers to them).
 */
function restoreStep(bin: string): string {
  return [
    '#!/usr/bin/env bash',
    '# Written by test/cluster/node/kubeRouter.ts: removes what its kube-router changed on this host.',
    'set -u',
    `pidf="$(dirname "$0")/${PID_FILE}"`,
    `bin=${q(bin)}`,
    'if [ -f "$pidf" ]; then',
    '  p=$(cat "$pidf")',
    '  if [ -n "$p" ] && [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$bin" ]; then',
    '    kill -9 "$p" 2>/dev/null',
    '    for i in $(seq 1 50); do [ -e "/proc/$p" ] || break; sleep 0.1; done',
    '  fi',
    'fi',
    'for c in INPUT FORWARD OUTPUT; do',
    '  for n in $(iptables -w 5 -L "$c" -n --line-numbers 2>/dev/null | awk \'$2 ~ /^KUBE-ROUTER-/ {print $1}\' | sort -rn); do',
    '    iptables -w 5 -D "$c" "$n" 2>/dev/null',
    '  done',
    'done',
    `chains=$(iptables -w 5 -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /${anyPrefix(CHAIN_PREFIXES)}/ {print $2}')`,
    'for ch in $chains; do iptables -w 5 -F "$ch" 2>/dev/null; done',
    'for ch in $chains; do iptables -w 5 -X "$ch" 2>/dev/null; done',
    `for s in $(ipset list -n 2>/dev/null | grep -E ${q(anyPrefix(IPSET_PREFIXES))}); do ipset destroy "$s" 2>/dev/null; done`,
    'rm -f "$pidf"',
    'exit 0',
    '',
  ].join('\n');
}

/** kube-router's chains (and the built-in chains' jumps to them) and ipsets on this host right now. */
export async function kubeRouterHostState(): Promise<string[]> {
  const chainRe = new RegExp(anyPrefix(CHAIN_PREFIXES));
  const rules = (await run('iptables', ['-w', '5', '-S'])).stdout
    .split('\n')
    .filter((l) => l.split(' ').some((w) => chainRe.test(w)))
    .map((l) => `iptables ${l}`);
  const ipsetRe = new RegExp(anyPrefix(IPSET_PREFIXES));
  const sets = (await run('ipset', ['list', '-n'])).stdout
    .split('\n')
    .filter((l) => ipsetRe.test(l))
    .map((l) => `ipset ${l}`);
  return [...rules, ...sets];
}

export interface KubeRouterFirewall {
  pid: number | undefined;
  logPath: string;
  /** Milliseconds from spawn until its top-level chains were in place. */
  readyInMs: number;
  isRunning(): boolean;
  logTail(lines?: number): string;
  /** Stops it and removes its chains and ipsets. */
  stop(): Promise<void>;
}

export interface StartKubeRouterOptions {
  log?: (line: string) => void;
  timeoutMs?: number;
}

/**
 * Starts the firewall on the cluster's node and resolves once its top-level chains are hooked into
 * the built-in ones. Refuses a host that already has kube-router's chains or ipsets: the restore
 * step removes every one of them, and must not take someone else's.
 */
export async function startKubeRouterFirewall(cp: ControlPlane, o: StartKubeRouterOptions = {}): Promise<KubeRouterFirewall> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[kube-router] ${l}\n`));
  const timeoutMs = o.timeoutMs ?? 60_000;
  const node = cp.node;
  if (!node) throw new Error('kube-router needs a node cluster (node: true)');
  const bin = kubeRouterBinPath();
  if (!existsSync(bin)) throw new Error(`kube-router missing (${bin}): run test/cluster/node/build-kube-router.sh, or ensureKubeRouterBuilt() first`);
  if (!existsSync('/usr/sbin/ipset')) throw new Error('ipset missing: run test/cluster/node/install-packages.sh as root');
  const before = await kubeRouterHostState();
  if (before.length) throw new Error(`kube-router's chains or ipsets are already on this host; not starting another:\n${before.join('\n')}`);
  const dir = join(cp.dir, 'kube-router');
  mkdirSync(dir, { recursive: true });
  const restorePath = node.addRestoreStep('kube-router', restoreStep(bin));
  const pidFile = join(dirname(restorePath), PID_FILE);
  const groupsFile = join(cp.dir, 'pgids');
  const t0 = Date.now();
  const daemon = startDaemon({
    name: 'kube-router',
    cmd: bin,
    args: [
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--hostname-override=${node.name}`,
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      '--run-loadbalancer=false',
      `--service-cluster-ip-range=${NODE_NET.serviceRange}`,
      // Its health listener binds every interface; metrics are off by default.
      '--health-port=0',
      '--metrics-port=0',
      '--cache-sync-timeout=30s',
      '--v=1',
    ],
    logDir: join(cp.dir, 'logs'),
    ...(existsSync(groupsFile) ? { groupsFile } : {}),
    env: { PATH: process.env.PATH, HOME: dir },
  });
  writeFileSync(pidFile, `${daemon.child.pid ?? ''}\n`);
  const cancelWatch = stopWithCluster(cp, daemon, 'kube-router', log);
  // The host is given back as soon as the enforcer stops, not only with the node: a test may go on
  // without it.
  const stop = async () => {
    cancelWatch();
    await daemon.stop(5000);
    await run('bash', [restorePath], { timeoutMs: 30_000 });
  };
  try {
    await waitFor(
      "kube-router's chains hooked into INPUT, FORWARD and OUTPUT",
      timeoutMs,
      async () => {
        if (!daemon.isRunning()) throw new GiveUp(`kube-router exited:\n${tail(daemon.logPath, 30)}`);
        const rules = (await run('iptables', ['-w', '5', '-S'])).stdout;
        return ['INPUT', 'FORWARD', 'OUTPUT'].every((c) => new RegExp(`^-A ${c} .*-j KUBE-ROUTER-${c}$`, 'm').test(rules)) ? true : undefined;
      },
      200,
    );
  } catch (e) {
    await stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n----- kube-router log\n${tail(daemon.logPath, 40)}`, { cause: e });
  }
  const readyInMs = Date.now() - t0;
  log(`kube-router ${versions().KUBE_ROUTER_VERSION} firewall running in ${(readyInMs / 1000).toFixed(1)}s (pid ${daemon.child.pid})`);
  return {
    pid: daemon.child.pid,
    logPath: daemon.logPath,
    readyInMs,
    isRunning: () => daemon.isRunning(),
    logTail: (lines = 40) => tail(daemon.logPath, lines),
    stop,
  };
}
