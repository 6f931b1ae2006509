// What the node mode changes on the host, and the script that undoes it (test/cluster/README.md,
// "Node mode"). The bridge, the node IP's veth pair, the NAT chain and the Service-range route are
// host-wide, so only one node cluster runs at a time (lock.ts). The restore script is written
// before anything is changed and is the only undo path: stop(), the exit handlers, the watchdog
// (after SIGKILL) and the next node cluster (after a crash) all run it.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk } from '../proc.ts';

/** Fixed names: one node cluster at a time, so they never collide (lock.ts enforces it). */
export const NODE_NET = {
  bridge: 'tgnode0',
  /** veth pair whose first end carries the node IP (the kubelet refuses a loopback node IP). */
  nodeLink: 'tgnode-ip',
  nodePeer: 'tgnode-ipp',
  podSubnet: '10.213.0.0/24',
  podGateway: '10.213.0.1',
  nodeIP: '10.213.1.1',
  /** Same as the control plane's --service-cluster-ip-range (controlPlane.ts). */
  serviceRange: '10.0.0.0/24',
  kubernetesServiceIP: '10.0.0.1',
  natChain: 'TG-NODE-DNAT',
  cniNetwork: 'tg-node',
  /**
   * The kubelet's cgroupRoot: every Pod cgroup lives under /sys/fs/cgroup/<hierarchy>/tg-node, so
   * the restore never touches the cgroups of anything else on the host (a real kubelet's kubepods).
   */
  cgroupRoot: 'tg-node',
} as const;

const CGROUP_FS = '/sys/fs/cgroup';

/** Host sysctls the kubelet (container manager) and the CNI bridge plugin set. */
const SYSCTLS = [
  'net.ipv4.ip_forward',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
];

/**
 * Host paths the kubelet (container logs links, the device-plugin socket), containerd (shim
 * sockets) and the CNI plugins (result cache) create at fixed locations.
 */
const FIXED_DIRS = ['/var/log/containers', '/var/lib/cni', '/run/containerd', '/var/lib/kubelet'];

export interface HostSnapshot {
  sysctls: Record<string, string>;
  /** FIXED_DIRS that existed before the node started (left in place by the restore). */
  existingDirs: string[];
}

export function snapshotHost(): HostSnapshot {
  const sysctls: Record<string, string> = {};
  for (const k of SYSCTLS) {
    const p = `/proc/sys/${k.replaceAll('.', '/')}`;
    if (existsSync(p)) sysctls[k] = readFileSync(p, 'utf8').trim();
  }
  return { sysctls, existingDirs: FIXED_DIRS.filter((d) => existsSync(d)) };
}

export interface RestoreInputs {
  snapshot: HostSnapshot;
  /** Everything of this node lives under it (containerd, kubelet, CNI, logs). */
  nodeDir: string;
  containerdSocket: string;
  podLogsDir: string;
  /** The lock dir, removed last. */
  lockDir: string;
}

/**
 * Scripts the restore script runs before its own steps: what a test changes on the host beyond
 * the node (a NetworkPolicy enforcer's chains) is undone by every path that gives the host back.
 */
export const restoreStepsDir = (lockDir: string) => join(lockDir, 'restore.d');

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The undo script: idempotent, every step tolerant, in the reverse order of the changes. */
export function restoreScript(r: RestoreInputs): string {
  const n = NODE_NET;
  const lines = [
    '#!/usr/bin/env bash',
    '# Written by test/cluster/node/host.ts: undoes what one node cluster changed on this host.',
    'set -u',
    // What a test added on top of the node (restoreStepsDir): first, so a host program it stops
    // there cannot react to the Pods going away below.
    `for f in ${q(restoreStepsDir(r.lockDir))}/*.sh; do [ -f "$f" ] && timeout 30 bash "$f"; done`,
    // Shims outlive containerd; they are recognised by the socket of this node's containerd.
    `sock=${q(r.containerdSocket)}`,
    'for p in /proc/[0-9]*; do',
    '  c=$(tr "\\0" " " <"$p/cmdline" 2>/dev/null) || continue',
    '  case "$c" in *containerd-shim*" -address $sock "*|*containerd-shim*" -address $sock") kill -9 "${p#/proc/}" 2>/dev/null ;; esac',
    'done',
    // Every container process is in the kubelet's pod cgroups, under this node's cgroup root.
    `cg=${q(n.cgroupRoot)}`,
    'for i in 1 2 3; do',
    `  for f in $(find ${CGROUP_FS}/*/"$cg" -name cgroup.procs 2>/dev/null); do`,
    '    for pid in $(cat "$f" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done',
    '  done',
    '  sleep 0.2',
    'done',
    `for d in ${CGROUP_FS}/*/"$cg"; do`,
    '  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \\; 2>/dev/null',
    'done',
    // Mounts under the node dir (rootfs overlays, volumes, netns, the kubelet's rshared root):
    // deepest first, so nothing below is ever deleted through a mount.
    `nd=${q(r.nodeDir)}`,
    'for i in 1 2 3; do',
    '  awk -v d="$nd" \'index($5, d"/") == 1 || $5 == d {print $5}\' /proc/self/mountinfo | sort -r | while read -r m; do',
    '    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null',
    '  done',
    'done',
    `iptables -t nat -D PREROUTING -i ${n.bridge} -j ${n.natChain} 2>/dev/null`,
    `iptables -t nat -F ${n.natChain} 2>/dev/null`,
    `iptables -t nat -X ${n.natChain} 2>/dev/null`,
    `ip route del blackhole ${n.serviceRange} 2>/dev/null`,
    `ip link del ${n.bridge} 2>/dev/null`,
    `ip link del ${n.nodeLink} 2>/dev/null`,
    ...Object.entries(r.snapshot.sysctls).map(([k, v]) => `sysctl -q -w ${k}=${q(v)} 2>/dev/null`),
    `find /var/log/containers -maxdepth 1 -type l -lname ${q(`${r.podLogsDir}/*`)} -delete 2>/dev/null`,
    `rm -f /var/lib/cni/results/${n.cniNetwork}-* 2>/dev/null`,
    ...FIXED_DIRS.filter((d) => !r.snapshot.existingDirs.includes(d)).map((d) => `rm -rf ${q(d)}`),
    `rm -rf ${q(r.lockDir)}`,
    'exit 0',
  ];
  return lines.join('\n') + '\n';
}

/**
 * The kubelet's cgroupRoot must exist in every hierarchy before it starts. A new cpuset cgroup
 * starts with no CPUs and no memory nodes; it gets its parent's.
 */
export function createCgroupRoot(): void {
  for (const h of readdirSync(CGROUP_FS)) {
    const parent = join(CGROUP_FS, h);
    if (!existsSync(join(parent, 'cgroup.procs'))) continue;
    const dir = join(parent, NODE_NET.cgroupRoot);
    mkdirSync(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const target = join(dir, f);
      if (existsSync(target) && !readFileSync(target, 'utf8').trim()) writeFileSync(target, readFileSync(join(parent, f), 'utf8'));
    }
  }
}

export function writeRestoreScript(path: string, r: RestoreInputs): void {
  writeFileSync(path, restoreScript(r), { mode: 0o700 });
}

/**
 * The node IP on a veth pair (no `dummy` link type here), the pod bridge with its gateway
 * address (it must exist before containerd reads the CNI config), the DNAT of the `kubernetes`
 * Service IP to the loopback API server (route_localnet on the bridge only), and a blackhole
 * route for the Service range so no ClusterIP traffic leaves the machine (there is no kube-proxy).
 */
export async function setupHostNetwork(apiPort: number): Promise<void> {
  const n = NODE_NET;
  const ip = (...a: string[]) => runOk('ip', a);
  await ip('link', 'add', n.nodeLink, 'type', 'veth', 'peer', 'name', n.nodePeer);
  await ip('addr', 'add', `${n.nodeIP}/32`, 'dev', n.nodeLink);
  await ip('link', 'set', n.nodeLink, 'up');
  await ip('link', 'set', n.nodePeer, 'up');
  await ip('link', 'add', n.bridge, 'type', 'bridge');
  await ip('addr', 'add', `${n.podGateway}/${n.podSubnet.split('/')[1]}`, 'dev', n.bridge);
  await ip('link', 'set', n.bridge, 'up');
  await runOk('sysctl', ['-q', '-w', `net.ipv4.conf.${n.bridge}.route_localnet=1`]);
  await ip('route', 'add', 'blackhole', n.serviceRange);
  const ipt = (...a: string[]) => runOk('iptables', ['-w', '5', '-t', 'nat', ...a]);
  await ipt('-N', n.natChain);
  await ipt('-A', n.natChain, '-d', `${n.kubernetesServiceIP}/32`, '-p', 'tcp', '--dport', '443', '-j', 'DNAT', '--to-destination', `127.0.0.1:${apiPort}`);
  await ipt('-A', 'PREROUTING', '-i', n.bridge, '-j', n.natChain);
}
