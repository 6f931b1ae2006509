// One real node next to the loopback control plane (test/cluster/README.md, "Node mode"):
// containerd (Debian package) with runc and the CNI bridge plugin, the pinned kubelet and
// kube-scheduler, all with per-cluster paths under <cluster dir>/node and free ports. The
// settings each answer a limit of this kind of sandbox; the README lists them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigYaml, type KubeClient } from '../kubeClient.ts';
import { binPath } from '../paths.ts';
import { makeLeaf, type CA, type CertPair } from '../pki.ts';
import { freePort, GiveUp, run, startDaemon, tail, waitFor, type Daemon, type RunResult } from '../proc.ts';
import { createCgroupRoot, NODE_NET, restoreStepsDir, setupHostNetwork, snapshotHost, writeRestoreScript } from './host.ts';
import { runRestoreScript, type NodeLock } from './lock.ts';
import { pauseImageArchive } from './images.ts';

export const NODE_NAME = 'tg-node';

export interface NodePki {
  /** kube-apiserver's client certificate towards the kubelet (logs, exec). */
  apiserverKubeletClient: CertPair;
  kubelet: CertPair;
  kubeletServing: CertPair;
  scheduler: CertPair;
}

export async function makeNodePki(pkiDir: string, ca: CA): Promise<NodePki> {
  const [apiserverKubeletClient, kubelet, kubeletServing, scheduler] = await Promise.all([
    makeLeaf(pkiDir, 'apiserver-kubelet-client', ca, { cn: 'kube-apiserver-kubelet-client', orgs: ['system:masters'], usage: 'client' }),
    makeLeaf(pkiDir, 'kubelet', ca, { cn: `system:node:${NODE_NAME}`, orgs: ['system:nodes'], usage: 'client' }),
    makeLeaf(pkiDir, 'kubelet-serving', ca, { cn: NODE_NAME, dns: [NODE_NAME], ips: [NODE_NET.nodeIP], usage: 'server' }),
    makeLeaf(pkiDir, 'kube-scheduler', ca, { cn: 'system:kube-scheduler', usage: 'client' }),
  ]);
  return { apiserverKubeletClient, kubelet, kubeletServing, scheduler };
}

/** kube-apiserver flags of a cluster with a node and no kube-proxy. */
export function nodeApiserverArgs(pki: NodePki, ca: CA): string[] {
  return [
    // Webhook Services resolve to their endpoint IPs (there is no kube-proxy for ClusterIPs).
    '--enable-aggregator-routing=true',
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
    `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
    `--kubelet-certificate-authority=${ca.cert}`,
  ];
}

export interface NodeStartOptions {
  dir: string;
  logsDir: string;
  groupsFile: string;
  server: string;
  apiPort: number;
  ca: CA;
  pki: NodePki;
  client: KubeClient;
  lock: NodeLock;
  log: (line: string) => void;
  timeoutMs: number;
}

export interface KubeNode {
  name: string;
  ip: string;
  containerdSocket: string;
  /** `ctr` against this node's containerd, namespace k8s.io (the CRI's). */
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Imports an image archive (OCI or docker) into the node; returns ctr's output. */
  importImage(archivePath: string): Promise<string>;
  logs(): Record<string, string>;
  diagnostics(lines?: number): string;
  /**
   * Adds a step to the host restore (host.ts, restoreStepsDir): a bash script run, bounded, before
   * the node's own steps by stop(), the exit handlers, the watchdog and the next node cluster.
   * Written before the change it undoes, like the node's own script. Returns the script's path.
   */
  addRestoreStep(name: string, script: string): string;
  stop(): Promise<void>;
}

const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

function containerdConfig(d: NodePaths, pauseRef: string): string {
  return `version = 2
root = "${d.containerdRoot}"
state = "${d.containerdState}"
# Plugins that would write outside the node dir or need what this host lacks.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${d.containerdSocket}"
[ttrpc]
  address = "${d.containerdSocket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseRef}"
  # No CAP_SYS_RESOURCE here: lowering oom_score_adj fails, and with it every sandbox start.
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${d.runcRoot}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${d.cniConfDir}"
    max_conf_num = 1
`;
}

function cniConflist(d: NodePaths): string {
  const n = NODE_NET;
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: n.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: n.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          // Pods get a route to the Service range only (the DNAT of the API server's Service IP),
          // no default route: nothing from a Pod leaves the machine.
          ipam: { type: 'host-local', ranges: [[{ subnet: n.podSubnet, gateway: n.podGateway }]], routes: [{ dst: n.serviceRange }], dataDir: d.cniIpamDir },
        },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(d: NodePaths, o: NodeStartOptions, ports: { kubelet: number; healthz: number }): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_NET.nodeIP}
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthz}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${o.ca.cert} }
authorization: { mode: Webhook }
tlsCertFile: ${o.pki.kubeletServing.cert}
tlsPrivateKeyFile: ${o.pki.kubeletServing.key}
containerRuntimeEndpoint: unix://${d.containerdSocket}
# This host has cgroup v1 and no systemd. Pods under this node's own cgroup root (host.ts).
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: /${NODE_NET.cgroupRoot}
failSwapOn: false
podLogsDir: ${d.podLogsDir}
volumePluginDir: ${d.volumePluginDir}
# No KUBE-FIREWALL/KUBE-IPTABLES-HINT chains on the host.
makeIPTablesUtilChains: false
# Never remove the imported images (there is no registry to pull them again).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# The disk and memory are shared with other work; only evict when really out of them.
evictionHard: { memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
clusterDomain: cluster.local
# Pod sync every 10 s (default 1 min): a changed Secret reaches its volume within seconds.
syncFrequency: 10s
rotateCertificates: false
serializeImagePulls: false
`;
}

interface NodePaths {
  root: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  podLogsDir: string;
  volumePluginDir: string;
}

function nodePaths(clusterDir: string): NodePaths {
  const root = join(clusterDir, 'node');
  return {
    root,
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    runcRoot: join(root, 'runc'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniIpamDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    podLogsDir: join(root, 'pod-logs'),
    volumePluginDir: join(root, 'kubelet-plugins'),
  };
}

interface NodeCondition {
  type: string;
  status: string;
}
interface NodeObject {
  spec?: { taints?: unknown[] };
  status?: { conditions?: NodeCondition[] };
}

type Ctr = (args: string[], timeoutMs?: number) => Promise<RunResult>;

async function startContainerd(d: NodePaths, o: NodeStartOptions, ctr: Ctr): Promise<Daemon> {
  // The CNI config must be there before containerd starts (it reads it once at start-up here).
  writeFileSync(join(d.cniConfDir, '10-tg-node.conflist'), cniConflist(d));
  writeFileSync(join(d.root, 'containerd.toml'), containerdConfig(d, pauseImageArchive().ref));
  const containerd = startDaemon({
    name: 'containerd',
    cmd: 'containerd',
    args: ['--config', join(d.root, 'containerd.toml')],
    logDir: o.logsDir,
    groupsFile: o.groupsFile,
  });
  await waitFor(
    'containerd',
    o.timeoutMs,
    async () => {
      if (!containerd.isRunning()) throw new GiveUp('containerd exited');
      if (!existsSync(d.containerdSocket)) return undefined;
      return (await ctr(['version'], 5000)).code === 0 ? true : undefined;
    },
    100,
  ).catch(async (e: unknown) => {
    await containerd.stop(5000);
    throw e;
  });
  return containerd;
}

const kubeconfigFor = (o: NodeStartOptions, user: string, cp: CertPair) =>
  kubeconfigYaml({ server: o.server, caPem: o.ca.pem, user, certPem: readFileSync(cp.cert, 'utf8'), keyPem: readFileSync(cp.key, 'utf8') });

async function startKubelet(d: NodePaths, o: NodeStartOptions): Promise<Daemon> {
  const [kubeletPort, healthzPort] = await Promise.all([freePort(), freePort()]);
  const kubeconfig = join(d.root, 'kubelet.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(o, `system:node:${NODE_NAME}`, o.pki.kubelet), { mode: 0o600 });
  writeFileSync(join(d.root, 'kubelet.yaml'), kubeletConfig(d, o, { kubelet: kubeletPort, healthz: healthzPort }));
  return startDaemon({
    name: 'kubelet',
    cmd: binPath('kubelet'),
    logDir: o.logsDir,
    groupsFile: o.groupsFile,
    args: [
      `--config=${join(d.root, 'kubelet.yaml')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${d.kubeletRoot}`,
      `--cert-dir=${join(d.kubeletRoot, 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_NET.nodeIP}`,
      '--v=1',
    ],
  });
}

async function startScheduler(d: NodePaths, o: NodeStartOptions): Promise<Daemon> {
  const port = await freePort();
  const kubeconfig = join(d.root, 'kube-scheduler.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(o, 'system:kube-scheduler', o.pki.scheduler), { mode: 0o600 });
  return startDaemon({
    name: 'kube-scheduler',
    cmd: binPath('kube-scheduler'),
    logDir: o.logsDir,
    groupsFile: o.groupsFile,
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${join(d.root, 'scheduler-certs')}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
  });
}

/** Ready, and the not-ready taint lifted by the node-lifecycle controller (else nothing schedules). */
function waitNodeReady(o: NodeStartOptions, daemons: Daemon[]): Promise<true> {
  return waitFor(
    `node ${NODE_NAME} Ready and untainted`,
    o.timeoutMs,
    async () => {
      for (const dm of daemons) if (!dm.isRunning()) throw new GiveUp(`${dm.name} exited`);
      const n = await o.client.get<NodeObject>(`/api/v1/nodes/${NODE_NAME}`);
      const ready = n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready && !n?.spec?.taints?.length ? true : undefined;
    },
    200,
  );
}

export async function startNode(o: NodeStartOptions): Promise<KubeNode> {
  const t0 = Date.now();
  const d = nodePaths(o.dir);
  for (const p of [d.containerdRoot, d.containerdState, d.runcRoot, d.cniConfDir, d.cniIpamDir, d.kubeletRoot, d.podLogsDir, d.volumePluginDir]) {
    mkdirSync(p, { recursive: true });
  }
  // The undo script exists before the first change.
  writeRestoreScript(o.lock.restoreScript, {
    snapshot: snapshotHost(),
    nodeDir: d.root,
    containerdSocket: d.containerdSocket,
    podLogsDir: d.podLogsDir,
    lockDir: o.lock.dir,
  });
  const daemons: Daemon[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const dm of [...daemons].reverse()) await dm.stop(5000);
    runRestoreScript(o.lock.restoreScript);
  };
  const diagnostics = (lines = 30) =>
    daemons.map((dm) => `----- ${dm.name} (${dm.isRunning() ? 'running' : 'exited'}) ${dm.logPath}\n${tail(dm.logPath, lines)}`).join('\n');
  const ctr: Ctr = (args, timeoutMs = 120_000) => run('ctr', ['--address', d.containerdSocket, '--namespace', 'k8s.io', ...args], { timeoutMs });
  const importImage = async (archivePath: string) => {
    const r = await ctr(['images', 'import', archivePath], 300_000);
    if (r.code !== 0) throw new Error(`ctr images import ${archivePath} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  try {
    await setupHostNetwork(o.apiPort);
    createCgroupRoot();
    daemons.push(await startContainerd(d, o, ctr));
    await importImage(pauseImageArchive().path);
    o.log(`containerd ready in ${secs(t0)}`);
    const tKubelet = Date.now();
    daemons.push(await startKubelet(d, o), await startScheduler(d, o));
    await waitNodeReady(o, daemons);
    o.log(`node ${NODE_NAME} Ready in ${secs(tKubelet)} (kubelet, kube-scheduler; node up in ${secs(t0)})`);
  } catch (err) {
    const diag = diagnostics(40);
    await stop();
    throw new Error(`node failed to start: ${err instanceof Error ? err.message : String(err)}\n${diag}`, { cause: err });
  }

  return {
    name: NODE_NAME,
    ip: NODE_NET.nodeIP,
    containerdSocket: d.containerdSocket,
    ctr,
    importImage,
    logs: () => Object.fromEntries(daemons.map((dm) => [dm.name, dm.logPath])),
    diagnostics,
    addRestoreStep(name, script) {
      if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`restore step name must be [a-z0-9-]+: ${name}`);
      const dir = restoreStepsDir(o.lock.dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const path = join(dir, `${name}.sh`);
      writeFileSync(path, script, { mode: 0o700 });
      return path;
    },
    stop,
  };
}
