// The shipped NetworkPolicy (manifests/components/network-policy) enforced on a real node (issue
// 26, item 3): the API server still reaches the webhook, a Pod of another namespace does not, and
// a Pod of the namespace the metrics selector picks does. The node's bridge CNI enforces no
// NetworkPolicy, so kube-router's network policy controller (pinned, built from its Go module:
// test/cluster/node/kubeRouter.ts) runs on the host as the enforcer.
//
//   1. the guard installed as README.md says, kube-router running, no NetworkPolicy yet: a client
//      Pod in namespace `elsewhere` gets the guard Pods' /healthz on 8443 (the control: the
//      refusal below is the policy's, not a network that never worked)
//   2. the component applied, its ipBlock set to the address the API server's connections to the
//      Pods come from on this node (the route's source address): `elsewhere` is refused on every
//      guard Pod, a client in `monitoring` (the component's metrics selector) still gets /healthz,
//      and a namespace DELETE the guard must deny is denied by it (failurePolicy Ignore would
//      admit it if the guard were unreachable), over a connection the API server opened under the
//      policy (its kept-alive ones are closed first: an established connection passes any policy)
//   3. kube-router accepts traffic from the node's own addresses to a Pod ahead of any policy rule
//      (`--src-type LOCAL` in each pod chain), and this API server runs on the node: with the
//      component's placeholder CIDR, which matches nothing, it still reaches the guard. So this
//      file proves that the policy does not cut the API server off, not that the ipBlock is what
//      lets it in; a wrong CIDR with the API server off the node, or another enforcer, is untested
//   4. stopping kube-router and the cluster leaves no chain, ipset or process of it on the host
//
// A Service's ClusterIP leads nowhere from a Pod here (no kube-proxy: only the `kubernetes`
// Service is DNATed), so clients dial the Pod IPs; kube-proxy in iptables mode rewrites a
// ClusterIP to a Pod IP in PREROUTING, before the filter table, so the policy sees that Pod IP.
// Timings are printed as "[netpol-node-test] ..." lines. Needs what node.test.ts needs, and ipset.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { GuardImage } from '../cluster/node/images.ts';
import { applyAndRollOut, GUARD_NAMESPACE, prepareGuardOverlay } from '../cluster/node/installGuard.ts';
import { ensureKubeRouterBuilt, kubeRouterHostState, startKubeRouterFirewall, type KubeRouterFirewall } from '../cluster/node/kubeRouter.ts';
import { NODE_LOCK_DIR } from '../cluster/node/lock.ts';
import { guardImageForRun } from '../cluster/node/runImage.ts';
import { startNodeClusterWhenFree } from '../cluster/node/startWhenFree.ts';
import { processAlive, runOk, waitFor } from '../cluster/proc.ts';
import { csvManifest } from '../scenarios/objects.ts';

const log = (line: string) => process.stderr.write(`[netpol-node-test] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const GUARD_SELECTOR = 'app.kubernetes.io/name=teardown-guard,app.kubernetes.io/component=webhook';
const NS_WEBHOOK = 'namespaces.teardown-guard.io';
const STRANDED = 'stranded';
/** Not picked by any rule of the policy. */
const ELSEWHERE = 'elsewhere';
/** Picked by the component's metrics rule (kubernetes.io/metadata.name: monitoring). */
const MONITORING = 'monitoring';
/** The component's placeholder (a documentation range that matches nothing). */
const PLACEHOLDER_CIDR = '192.0.2.0/24';
const LOCK_WAIT_MS = 30 * 60_000;

let cp: ControlPlane | undefined;
let firewall: KubeRouterFirewall | undefined;
let work: string;
let image: GuardImage;
let baseOverlay: string;
let guardIPs: string[];
let apiServerSource: string;
const t0 = Date.now();

interface PodObject {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

const cluster = () => {
  if (!cp) throw new Error('no cluster');
  return cp;
};

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cluster().kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const dryRunDelete = (name: string) => cluster().client.request<{ message?: string }>('DELETE', `/api/v1/namespaces/${name}?dryRun=All`, { timeoutMs: 15_000 });

/** The host's established TCP connections to a guard Pod's 8443, with their process (`ss -p`). */
async function connectionsToGuard(): Promise<string[]> {
  const lines = (await runOk('ss', ['-tnpH', 'state', 'established'])).stdout.split('\n');
  return lines.filter((l) => guardIPs.some((ip) => l.split(/\s+/).includes(`${ip}:8443`)));
}

/**
 * The guard denied a DELETE over a connection the API server opened now. The API server keeps its
 * webhook connections alive, and kube-router accepts packets of an established connection before
 * any policy: one opened before the policy would prove nothing. So the host's connections to the
 * guard Pods are closed first (`ss -K`), and a kube-apiserver connection is there afterwards. A
 * denial is the guard's answer: with failurePolicy Ignore an unreachable guard admits the DELETE.
 */
async function expectGuardDeniesOnNewConnection(): Promise<void> {
  for (const ip of guardIPs) await runOk('ss', ['-K', '-tn', 'dst', `${ip}:8443`]);
  expect(await connectionsToGuard()).toEqual([]);
  const r = await dryRunDelete(STRANDED);
  expect(r.status, r.text).toBe(403);
  expect(r.body.message).toContain(`admission webhook "${NS_WEBHOOK}" denied the request`);
  const after = await connectionsToGuard();
  expect(
    after.some((l) => l.includes('kube-apiserver')),
    after.join('\n'),
  ).toBe(true);
}

/** An overlay on top of the image overlay that adds the component with `cidr` as its ipBlock. */
function policyOverlay(name: string, cidr: string): string {
  const dir = join(baseOverlay, '..', name);
  mkdirSync(dir, { recursive: true });
  const patch = [{ op: 'replace', path: '/spec/ingress/0/from/0/ipBlock/cidr', value: cidr }];
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../node-image'],
      components: ['../../components/network-policy'],
      patches: [{ target: { kind: 'NetworkPolicy', name: 'teardown-guard' }, patch: JSON.stringify(patch) }],
    }),
  );
  return dir;
}

/** A long-lived Pod of the guard's image (it has node; nothing can be pulled here) to dial from. */
function clientPod(namespace: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: 900,
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'client',
          image: image.ref,
          imagePullPolicy: 'Never',
          command: ['/nodejs/bin/node', '-e', 'setTimeout(() => {}, 900_000)'],
          securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
        },
      ],
    },
  });
}

type Dial = { status: number } | { error: string };

/** GET https://<ip>:8443/healthz from the client Pod of `namespace` (3 s bound, inside the Pod). */
async function dial(namespace: string, ip: string): Promise<Dial> {
  const script = [
    "const https = require('node:https');",
    `const req = https.get({ host: ${JSON.stringify(ip)}, port: 8443, path: '/healthz', rejectUnauthorized: false, timeout: 3000 }, (res) => {`,
    '  console.log(JSON.stringify({ status: res.statusCode })); res.resume(); });',
    "req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));",
    "req.on('error', (e) => console.log(JSON.stringify({ error: e.code || e.message })));",
  ].join(' ');
  const out = await kubectlOk(['-n', namespace, 'exec', 'client', '--', '/nodejs/bin/node', '-e', script]);
  return JSON.parse(out.trim()) as Dial;
}

const dialEvery = (namespace: string) => Promise.all(guardIPs.map((ip) => dial(namespace, ip)));

async function readyPods(namespace: string, selector: string, n: number): Promise<PodObject[]> {
  return waitFor(
    `${n} Ready Pods (${namespace}, ${selector})`,
    120_000,
    async () => {
      const list = await cluster().client.must<{ items: PodObject[] }>(
        'GET',
        `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
      );
      const ready = list.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === n ? ready : undefined;
    },
    250,
  );
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('node mode needs root: run `bash test/bootstrap.sh` as root');
  // Neither needs the node: both before taking it.
  const built = Date.now();
  [image] = await Promise.all([guardImageForRun(log), ensureKubeRouterBuilt(log)]);
  log(`guard image and kube-router ready in ${secs(Date.now() - built)}`);
  cp = await startNodeClusterWhenFree({ olm: 'crds' }, { waitMs: LOCK_WAIT_MS, log });
  const c = cp;
  log(`node cluster up at ${secs(Date.now() - t0)}`);
  work = mkdtempSync(join(tmpdir(), 'tg-netpol-node-'));
  const [fw] = await Promise.all([startKubeRouterFirewall(c, { log }), c.node!.importImage(image.path)]);
  firewall = fw;
  baseOverlay = await prepareGuardOverlay(work, image.ref);
  const installMs = await applyAndRollOut(c, baseOverlay);
  log(`guard installed in ${secs(installMs)} (at ${secs(Date.now() - t0)})`);
  // A namespace holding a CSV that carries csv-cleanup, with no olm-operator: the guard denies its DELETE.
  await kubectlOk(['create', 'namespace', STRANDED]);
  const csv = csvManifest(STRANDED, 'op.v1') as { metadata: Record<string, unknown> };
  csv.metadata['finalizers'] = ['operators.coreos.com/csv-cleanup'];
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(csv));
  for (const ns of [ELSEWHERE, MONITORING]) {
    await kubectlOk(['create', 'namespace', ns]);
    await kubectlOk(['apply', '-f', '-'], clientPod(ns));
  }
  const guards = await readyPods(GUARD_NAMESPACE, GUARD_SELECTOR, 2);
  guardIPs = guards.map((p) => p.status!.podIP!);
  await Promise.all([ELSEWHERE, MONITORING].map((ns) => readyPods(ns, '', 1)));
  // The API server dials the Pod IPs (aggregator routing) from the host: the route's source address.
  const route = (await runOk('ip', ['-o', 'route', 'get', guardIPs[0]!])).stdout;
  apiServerSource = /\bsrc (\S+)/.exec(route)?.[1] ?? '';
  if (!apiServerSource) throw new Error(`no source address in: ${route}`);
  log(`guard Pods ${guardIPs.join(', ')}; the API server's connections come from ${apiServerSource} (at ${secs(Date.now() - t0)})`);
}, LOCK_WAIT_MS + 600_000);

afterAll(async () => {
  await firewall?.stop();
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  log(`file done in ${secs(Date.now() - t0)}`);
});

describe("the network-policy component on a node, enforced by kube-router's network policy controller", () => {
  it('without the policy: a Pod of another namespace reaches every guard Pod (the control)', async () => {
    expect(await dialEvery(ELSEWHERE)).toEqual(guardIPs.map(() => ({ status: 200 })));
    await expectGuardDeniesOnNewConnection();
  });

  it("with the policy: that Pod is refused, the metrics namespace's Pod and the API server still reach the guard", async () => {
    const t = Date.now();
    await kubectlOk(['apply', '-k', policyOverlay('netpol', `${apiServerSource}/32`)]);
    const refused = await waitFor(
      'kube-router to refuse the other namespace',
      30_000,
      async () => {
        const r = await dialEvery(ELSEWHERE);
        return r.every((d) => 'error' in d) ? r : undefined;
      },
      250,
    );
    log(`policy in force ${secs(Date.now() - t)} after kubectl apply`);
    // kube-router answers with REJECT (ICMP port unreachable): refused at once, not timed out.
    expect(refused).toEqual(guardIPs.map(() => ({ error: 'ECONNREFUSED' })));
    expect(await dialEvery(MONITORING)).toEqual(guardIPs.map(() => ({ status: 200 })));
    await expectGuardDeniesOnNewConnection();
    // Still refused after the admitted calls: not a transient state of the sync.
    expect(await dialEvery(ELSEWHERE)).toEqual(guardIPs.map(() => ({ error: 'ECONNREFUSED' })));
  });

  it("kube-router admits the node's own addresses before the policy: the placeholder CIDR does not cut the API server off here", async () => {
    await kubectlOk(['apply', '-k', policyOverlay('netpol-placeholder', PLACEHOLDER_CIDR)]);
    // Synced once kube-router's ipsets hold the placeholder and no longer the node's address.
    await waitFor(
      'the placeholder CIDR instead of the API server address in the ipsets of kube-router',
      30_000,
      async () => {
        const members = (await runOk('ipset', ['list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
        return members.includes(PLACEHOLDER_CIDR) && !members.includes(apiServerSource) && !members.includes(`${apiServerSource}/32`) ? true : undefined;
      },
      250,
    );
    await expectGuardDeniesOnNewConnection();
    expect(await dialEvery(ELSEWHERE)).toEqual(guardIPs.map(() => ({ error: 'ECONNREFUSED' })));
  });

  it('leaves nothing behind: no chain, ipset or process of kube-router, and the node lock released', async () => {
    const pid = firewall!.pid!;
    await firewall!.stop();
    expect(processAlive(pid)).toBe(false);
    expect(await kubeRouterHostState()).toEqual([]);
    await cp!.stop();
    cp = undefined;
    firewall = undefined;
    // Another run waiting for the node may hold the lock by now, but not this process.
    let owner = '';
    try {
      owner = readFileSync(join(NODE_LOCK_DIR, 'owner'), 'utf8').trim();
    } catch {
      /* no lock, or one being taken */
    }
    expect(owner).not.toBe(String(process.pid));
    expect(await kubeRouterHostState()).toEqual([]);
  });
});
