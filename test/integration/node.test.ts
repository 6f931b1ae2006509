// The guard as users run it (issue 11): its image built here from the project's Dockerfile,
// running as Pods on a real node of the loopback control plane (test/cluster/README.md, "Node
// mode"), installed the way README.md ("Install on a cluster") says, and reached by the API server
// through its Service. Everything is observed on the real components: the Node and Pod objects,
// `kubectl exec`/`logs` through the kubelet, the API server's answers and its audit log.
//
//   1. one node cluster per host: a second one is refused while this one runs
//   2. the node is Ready: the pinned kubelet over containerd, the node IP from the harness; a Job of
//      an image holding only the pinned kubectl (what Helm hook Jobs run) Completes as a Pod there
//   3. both replicas Ready, running the image built here, as uid 65532 with a read-only root and
//      seccomp in force (read inside the container)
//   4. a namespace DELETE (dry run) of a namespace whose CSV finalizer has no controller is denied
//      by the in-cluster guard: the API server names the webhook, the guard Pods log the decision,
//      the audit log carries the guard's annotation and no fail-open
//   5. `kubectl rollout restart` during a stream of such DELETEs: every one is still denied by the
//      guard (none allowed, none failed open in the audit log), and the Pods were replaced
//   6. a drain-like eviction of both Pods: the PodDisruptionBudget refuses the second eviction
//      until the first Pod's replacement is Ready, and the stream is still answered throughout
//   7. the serving certificate rotated as the self-signed overlay says (generate.sh, re-apply): both
//      Pods serve the new certificate without a restart, and the webhook still answers
//   8. both Pods down: the API server fails open (the DELETE is admitted, the audit event carries
//      `failed-open...`), and `review`, run from the image inside a guard Pod, reports guard-bypassed
//   9. the guard never blocks its own uninstall: `kubectl delete -k` of the overlay succeeds
//  10. stop() gives the host back: no link, route, NAT chain, mount, process, cgroup or lock of the
//      node left, the sysctls and fixed host dirs as they were before the cluster started
//
// Timings (image build, node up, install, rollout) are printed as "[node-test] ..." lines.
// Needs root and the node packages; `test/bootstrap.sh` installs them, `build-binaries.sh` builds
// the kubelet, kube-scheduler and the node images. The guard's image is built from the working
// tree; TG_NODE_IMAGE_SOURCE=head builds the last commit instead (while others edit the tree).
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { buildBinaryImage, type GuardImage } from '../cluster/node/images.ts';
import { guardImageForRun } from '../cluster/node/runImage.ts';
import { GUARD_DEPLOYMENT, GUARD_NAMESPACE, installGuard, rotateServingCert, type InstalledGuard } from '../cluster/node/installGuard.ts';
import { NODE_NET, snapshotHost, type HostSnapshot } from '../cluster/node/host.ts';
import { NODE_LOCK_DIR } from '../cluster/node/lock.ts';
import { NODE_NAME } from '../cluster/node/node.ts';
import { missingComponents } from '../cluster/paths.ts';
import { runOk, sleep, waitFor } from '../cluster/proc.ts';
import { csvManifest } from '../scenarios/objects.ts';
import { startNodeCluster } from '../scenarios/placement.ts';

const log = (line: string) => process.stderr.write(`[node-test] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const GUARD_SELECTOR = 'app.kubernetes.io/name=teardown-guard,app.kubernetes.io/component=webhook';
const NS_WEBHOOK = 'namespaces.teardown-guard.io';
const STRANDED = 'stranded';

let cp: ControlPlane;
let work: string;
let image: GuardImage;
let installed: InstalledGuard;
let nodeUpMs = 0;
let hostBefore: HostSnapshot;
let hostNetBefore: string[];
let podCgroupsBefore: string[];
const podCgroups = () => readdirSync('/sys/fs/cgroup').filter((c) => existsSync(`/sys/fs/cgroup/${c}/${NODE_NET.cgroupRoot}`));

interface PodObject {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ image: string; ready: boolean; restartCount: number }>;
  };
}

/** SHA-256 fingerprint of the certificate a Pod serves on :8443 (the host reaches Pod IPs over the bridge). */
function servedFingerprint(podIP: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: podIP, port: 8443, servername: 'teardown-guard.teardown-guard.svc', rejectUnauthorized: false, timeout: 5000 }, () => {
      const fp = sock.getPeerX509Certificate()?.fingerprint256 ?? '';
      sock.end();
      resolve(fp);
    });
    sock.once('error', reject);
    sock.once('timeout', () => sock.destroy(new Error(`TLS to ${podIP}:8443 timed out`)));
  });
}
interface AuditEvent {
  verb?: string;
  objectRef?: { resource?: string; name?: string };
  annotations?: Record<string, string>;
  responseStatus?: { code?: number };
}

/** The node's host-wide network objects that exist right now (links, blackhole routes, NAT chain). */
async function hostNetwork(): Promise<string[]> {
  const links = (await runOk('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .filter((l) => l.includes('tgnode'))
    .map((l) => `link ${l.split(':')[1]?.trim()}`);
  const routes = (await runOk('ip', ['route', 'show', 'type', 'blackhole'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => `route ${l.trim()}`);
  const nat = (await runOk('iptables', ['-w', '5', '-t', 'nat', '-S'])).stdout
    .split('\n')
    .filter((l) => l.includes(NODE_NET.natChain))
    .map((l) => `nat ${l}`);
  return [...links, ...routes, ...nat];
}

/** Processes whose command line names a path under `dir` (the node's daemons and runtime shims). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(dir) && !cmd.includes('watchdog.ts')) found.push(`${pid} ${cmd.slice(0, 120)}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

function prerequisites(): string[] {
  const missing: string[] = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm', 'kubelet', 'kube-scheduler']);
  if (process.getuid?.() !== 0) missing.push('root (the node mode changes host networking)');
  for (const bin of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/buildah', '/usr/lib/cni/bridge', '/usr/sbin/iptables']) {
    if (!existsSync(bin)) missing.push(`${bin} (test/cluster/node/install-packages.sh)`);
  }
  return missing;
}

async function guardPods(): Promise<PodObject[]> {
  const list = await cp.client.must<{ items: PodObject[] }>(
    'GET',
    `/api/v1/namespaces/${GUARD_NAMESPACE}/pods?labelSelector=${encodeURIComponent(GUARD_SELECTOR)}`,
  );
  return list.items;
}

const isReady = (p: PodObject) => !p.metadata.deletionTimestamp && Boolean(p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));

/** A namespace holding a CSV that carries csv-cleanup, with no olm-operator anywhere: deleting it would hang. */
async function strandedNamespace(name: string): Promise<void> {
  const ns = await cp.kubectl(['create', 'namespace', name]);
  if (ns.code !== 0) throw new Error(`creating namespace ${name}: ${ns.stderr}`);
  const csv = csvManifest(name, 'op.v1') as { metadata: Record<string, unknown> };
  csv.metadata['finalizers'] = ['operators.coreos.com/csv-cleanup'];
  const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(csv) });
  if (r.code !== 0) throw new Error(`creating the CSV failed: ${r.stderr}`);
}

function dryRunDelete(name: string) {
  return cp.client.request<{ message?: string }>('DELETE', `/api/v1/namespaces/${name}?dryRun=All`, { timeoutMs: 15_000 });
}

function auditEvents(): AuditEvent[] {
  return readFileSync(cp.auditLogPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

/**
 * Dry-run DELETEs of the stranded namespace, one every 50 ms until stopped: each one the guard
 * answers is denied; anything else (allowed = failed open, or an error) is collected.
 */
function deleteStream(): { stop(): Promise<{ total: number; byStatus: Record<number, number>; notDenied: string[] }> } {
  const byStatus: Record<number, number> = {};
  const notDenied: string[] = [];
  let streaming = true;
  const loop = (async () => {
    while (streaming) {
      const res = await dryRunDelete(STRANDED).catch(() => ({ status: 0, body: { message: 'request failed' } }));
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      if (res.status !== 403 || !res.body.message?.includes(NS_WEBHOOK)) notDenied.push(`${res.status}: ${res.body.message ?? ''}`);
      await sleep(50);
    }
  })();
  return {
    async stop() {
      streaming = false;
      await loop;
      return { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus, notDenied };
    },
  };
}

/** The audit events of the stream's DELETEs once all `total` are written, after the first `skip`. */
function streamEvents(skip: number, total: number): Promise<AuditEvent[]> {
  return waitFor(
    'the stream in the audit log',
    20_000,
    () => {
      const ev = namespaceDeletes(STRANDED).slice(skip);
      return ev.length >= total ? ev : undefined;
    },
    500,
  );
}

const namespaceDeletes = (name: string) =>
  auditEvents().filter((e) => e.verb === 'delete' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === name);
const failedOpen = (e: AuditEvent) => Object.keys(e.annotations ?? {}).filter((k) => k.startsWith('failed-open.'));

beforeAll(async () => {
  const missing = prerequisites();
  if (missing.length) throw new Error(`node mode prerequisites missing: ${missing.join('; ')}. Run \`bash test/bootstrap.sh\` as root.`);
  hostBefore = snapshotHost();
  hostNetBefore = await hostNetwork();
  podCgroupsBefore = podCgroups();
  const t0 = Date.now();
  // OLM's CRDs: the guard watches CSVs, and the stranded namespace holds one.
  // Waits (bounded) while another process holds the one node of this host.
  cp = await startNodeCluster({ olm: 'crds' }, 180_000, log);
  nodeUpMs = Date.now() - t0;
  work = mkdtempSync(join(tmpdir(), 'tg-node-test-'));
  image = await guardImageForRun(log);
  const tImport = Date.now();
  await cp.node!.importImage(image.path);
  log(`image imported into the node in ${secs(Date.now() - tImport)}`);
  installed = await installGuard(cp, join(work, 'install'), image.ref);
  log(`timings: image build ${secs(image.buildMs)}, cluster with node up ${secs(nodeUpMs)}, install until both replicas Ready ${secs(installed.installMs)}`);
  await strandedNamespace(STRANDED);
});

afterAll(async () => {
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('node mode', () => {
  it('refuses a second node cluster while this one runs', async () => {
    await expect(startControlPlane({ node: true, log: () => {} })).rejects.toThrow(/another node cluster is running/);
  });

  it('the node is Ready: the pinned kubelet over containerd, the node IP on the host', async () => {
    const node = await cp.client.must<{
      status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string }; addresses: Array<{ type: string; address: string }> };
    }>('GET', `/api/v1/nodes/${NODE_NAME}`);
    expect(node.status.nodeInfo.kubeletVersion).toMatch(/^v1\.36\./);
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE_NET.nodeIP });
  });
});

describe('a pinned binary in an image of its own (what hook Jobs run)', () => {
  it('a Job of the kubectl image Completes as a Pod on the node, reaching the API server with in-cluster config', async () => {
    const kubectlImage = await buildBinaryImage('kubectl', log);
    await cp.node!.importImage(kubectlImage.path);
    const ns = 'hook-job';
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'hook', namespace: ns } },
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'kubectl-version', namespace: ns },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              serviceAccountName: 'hook',
              restartPolicy: 'Never',
              containers: [{ name: 'kubectl', image: kubectlImage.ref, imagePullPolicy: 'Never', args: ['get', '--raw', '/version'] }],
            },
          },
        },
      },
    ];
    const apply = await cp.kubectl(['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n---\n') });
    expect(apply.code, apply.stderr).toBe(0);
    const done = await cp.kubectl(['-n', ns, 'wait', '--for=condition=complete', 'job/kubectl-version', '--timeout=90s'], { timeoutMs: 100_000 });
    const logs = await cp.kubectl(['-n', ns, 'logs', 'job/kubectl-version']);
    expect(done.code, `${done.stderr}\n${logs.stdout}${logs.stderr}`).toBe(0);
    expect((JSON.parse(logs.stdout) as { gitVersion: string }).gitVersion).toMatch(/^v1\.36\./);
    const pods = await cp.client.must<{ items: Array<{ spec: { nodeName?: string } }> }>(
      'GET',
      `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent('job-name=kubectl-version')}`,
    );
    expect(pods.items.map((p) => p.spec.nodeName)).toEqual([NODE_NAME]);
    await cp.kubectl(['delete', 'namespace', ns, '--wait=false']);
  });
});

describe('the guard installed from its image, as the README says', () => {
  it('runs two Ready replicas of the image built here, on the pod network', async () => {
    const pods = (await guardPods()).filter(isReady);
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.status?.containerStatuses?.[0]?.image).toBe(image.ref);
      expect(p.status?.podIP?.startsWith(NODE_NET.podSubnet.split('.').slice(0, 3).join('.'))).toBe(true);
    }
  });

  it('runs as uid 65532 with a read-only root and seccomp (read inside the container through kubectl exec)', async () => {
    const pod = (await guardPods()).find(isReady)!;
    const script = [
      "const fs = require('node:fs');",
      "let root = 'writable'; try { fs.writeFileSync('/probe', 'x'); } catch (e) { root = e.code; }",
      "const seccomp = /^Seccomp:\\s*(\\d)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];",
      'console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), root, seccomp }));',
    ].join(' ');
    const r = await cp.kubectl(['-n', GUARD_NAMESPACE, 'exec', pod.metadata.name, '--', '/nodejs/bin/node', '-e', script]);
    expect(r.code, r.stderr).toBe(0);
    // seccomp 2 = filter mode (RuntimeDefault); EROFS = readOnlyRootFilesystem.
    expect(JSON.parse(r.stdout.trim())).toEqual({ uid: 65532, gid: 65532, root: 'EROFS', seccomp: '2' });
  });

  it('answers a namespace DELETE through its Service: denied by the in-cluster guard, logged by its Pod, annotated in the audit log', async () => {
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(403);
    expect(r.body.message).toContain(`admission webhook "${NS_WEBHOOK}" denied the request`);
    // The decision line of one of the two Pods (`kubectl logs` goes through the kubelet).
    await waitFor(
      'the guard Pod logs the decision',
      20_000,
      async () => {
        const logs = await cp.kubectl(['-n', GUARD_NAMESPACE, 'logs', '-l', GUARD_SELECTOR, '--prefix', '--tail=-1']);
        const lines = logs.stdout.split('\n').filter((l) => l.includes('"msg":"decision"') && l.includes(STRANDED));
        return lines.some((l) => l.includes('"verdict":"deny"') && l.includes('"dryRun":true')) ? true : undefined;
      },
      500,
    );
    const events = await waitFor(
      'the audit event of the DELETE',
      20_000,
      () => {
        const ev = namespaceDeletes(STRANDED).filter((e) => e.responseStatus?.code === 403);
        return ev.length ? ev : undefined;
      },
      500,
    );
    expect(Object.keys(events[0]!.annotations ?? {}).some((k) => k.startsWith(`${NS_WEBHOOK}/`))).toBe(true);
    expect(events.flatMap(failedOpen)).toEqual([]);
  });

  it('keeps answering during `kubectl rollout restart`: every DELETE of a stream denied by the guard, none failed open', async () => {
    const before = new Set((await guardPods()).map((p) => p.metadata.uid));
    const auditBefore = namespaceDeletes(STRANDED).length;
    const stream = deleteStream();
    await sleep(2000);
    const t0 = Date.now();
    const restart = await cp.kubectl(['-n', GUARD_NAMESPACE, 'rollout', 'restart', `deploy/${GUARD_DEPLOYMENT}`]);
    expect(restart.code, restart.stderr).toBe(0);
    const status = await cp.kubectl(['-n', GUARD_NAMESPACE, 'rollout', 'status', `deploy/${GUARD_DEPLOYMENT}`, '--timeout=240s'], { timeoutMs: 250_000 });
    expect(status.code, status.stderr).toBe(0);
    // Until the old Pods are gone (their shutdown delay and drain), not only until the new ones are Ready.
    await waitFor('the old guard Pods gone', 120_000, async () => ((await guardPods()).some((p) => before.has(p.metadata.uid)) ? undefined : true), 500);
    const rolloutMs = Date.now() - t0;
    await sleep(2000);
    const { total, byStatus, notDenied } = await stream.stop();
    log(`rollout restart: ${secs(rolloutMs)} until both old Pods were gone; ${total} DELETEs streamed, by status ${JSON.stringify(byStatus)}`);

    const after = await guardPods();
    expect(after.filter(isReady)).toHaveLength(2);
    expect(after.some((p) => before.has(p.metadata.uid))).toBe(false);
    expect(total).toBeGreaterThan(20);
    expect(notDenied).toEqual([]);
    const events = await streamEvents(auditBefore, total);
    expect(events.flatMap(failedOpen)).toEqual([]);
    expect(events.every((e) => e.responseStatus?.code === 403)).toBe(true);
  });

  it('a drain-like eviction of both Pods: the PodDisruptionBudget holds one back until the replacement is Ready; none failed open', async () => {
    const [a, b] = (await guardPods()).filter(isReady);
    expect(b).toBeDefined();
    const auditBefore = namespaceDeletes(STRANDED).length;
    const stream = deleteStream();
    await sleep(1000);
    const evict = (p: PodObject) =>
      cp.client.request<{ message?: string }>('POST', `/api/v1/namespaces/${GUARD_NAMESPACE}/pods/${p.metadata.name}/eviction`, {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata.name, namespace: GUARD_NAMESPACE } },
      });
    // The disruption controller has seen both replicas Ready since the rollout.
    await waitFor(
      'the PodDisruptionBudget allows one disruption',
      60_000,
      async () => {
        const pdb = await cp.client.get<{ status?: { disruptionsAllowed?: number } }>(
          `/apis/policy/v1/namespaces/${GUARD_NAMESPACE}/poddisruptionbudgets/${GUARD_DEPLOYMENT}`,
        );
        return (pdb?.status?.disruptionsAllowed ?? 0) >= 1 ? true : undefined;
      },
      500,
    );
    const t0 = Date.now();
    expect((await evict(a!)).status).toBe(201);
    // minAvailable: 1 with one Pod already going: the second eviction is refused (429), as kubectl drain sees it.
    const refused = await evict(b!);
    expect(refused.status, refused.text).toBe(429);
    // kubectl drain retries; it goes through once the first Pod's replacement is Ready.
    let refusals = 1;
    await waitFor(
      'the second eviction admitted',
      120_000,
      async () => {
        const r = await evict(b!);
        if (r.status === 429) refusals++;
        return r.status === 201 ? true : undefined;
      },
      1000,
    );
    await waitFor(
      'both evicted Pods replaced and gone',
      120_000,
      async () => {
        const pods = await guardPods();
        const gone = !pods.some((p) => p.metadata.uid === a!.metadata.uid || p.metadata.uid === b!.metadata.uid);
        return gone && pods.filter(isReady).length === 2 ? true : undefined;
      },
      500,
    );
    const drainMs = Date.now() - t0;
    await sleep(1000);
    const { total, byStatus, notDenied } = await stream.stop();
    log(`eviction of both Pods: ${secs(drainMs)}, second eviction refused ${refusals} times; ${total} DELETEs streamed, by status ${JSON.stringify(byStatus)}`);
    expect(notDenied).toEqual([]);
    const events = await streamEvents(auditBefore, total);
    expect(events.flatMap(failedOpen)).toEqual([]);
  });

  it('the serving certificate rotated by updating its Secret is served by both Pods without a restart', async () => {
    const pods = (await guardPods()).filter(isReady);
    expect(pods).toHaveLength(2);
    const oldFp = await servedFingerprint(pods[0]!.status!.podIP!);
    const t0 = Date.now();
    const newFp = new X509Certificate(await rotateServingCert(cp, installed)).fingerprint256;
    expect(newFp).not.toBe(oldFp);
    await waitFor(
      'both Pods serving the new certificate',
      180_000,
      async () => {
        const fps = await Promise.all(pods.map((p) => servedFingerprint(p.status!.podIP!)));
        return fps.every((fp) => fp === newFp) ? true : undefined;
      },
      1000,
    );
    log(`certificate rotation: new certificate served by both Pods ${secs(Date.now() - t0)} after re-applying the overlay`);
    const after = await guardPods();
    expect(after.map((p) => p.metadata.uid).sort()).toEqual(pods.map((p) => p.metadata.uid).sort());
    expect(after.map((p) => p.status?.containerStatuses?.[0]?.restartCount)).toEqual([0, 0]);
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(403);
    expect(r.body.message).toContain(NS_WEBHOOK);
  });

  it('both Pods down: the API server fails open, and `review` (run from the image in a guard Pod) reports guard-bypassed', async () => {
    const scale = (replicas: number) => cp.kubectl(['-n', GUARD_NAMESPACE, 'scale', `deploy/${GUARD_DEPLOYMENT}`, `--replicas=${replicas}`]);
    expect((await scale(0)).code).toBe(0);
    await waitFor('no guard Pod left', 120_000, async () => ((await guardPods()).length === 0 ? true : undefined), 500);
    const r = await dryRunDelete(STRANDED);
    // Admitted without the guard: failurePolicy Ignore (manifests/base/validatingwebhookconfiguration.yaml).
    expect(r.status, r.text).toBe(200);
    const bypassed = await waitFor(
      'the fail-open in the audit log',
      20_000,
      () => {
        const ev = namespaceDeletes(STRANDED).filter((e) => e.responseStatus?.code === 200 && failedOpen(e).length);
        return ev.length ? ev : undefined;
      },
      500,
    );
    expect(
      Object.entries(bypassed[0]!.annotations ?? {})
        .filter(([k]) => k.startsWith('failed-open.'))
        .map(([, v]) => v),
    ).toContain(NS_WEBHOOK);

    expect((await scale(2)).code).toBe(0);
    const status = await cp.kubectl(['-n', GUARD_NAMESPACE, 'rollout', 'status', `deploy/${GUARD_DEPLOYMENT}`, '--timeout=120s'], { timeoutMs: 130_000 });
    expect(status.code, status.stderr).toBe(0);
    const pod = (await guardPods()).find(isReady)!;
    const review = await cp.kubectl(
      ['-n', GUARD_NAMESPACE, 'exec', '-i', pod.metadata.name, '--', '/nodejs/bin/node', '/app/bin/teardown-guard.js', 'review', '-', '--format', 'json'],
      {
        input: readFileSync(cp.auditLogPath, 'utf8'),
      },
    );
    // Exit 1: findings.
    expect(review.code, review.stderr).toBe(1);
    const report = JSON.parse(review.stdout) as { findings: Array<{ code: string; namespaces?: string[] }> };
    const found = report.findings.filter((f) => f.code === 'guard-bypassed');
    expect(found.length).toBeGreaterThan(0);
  });

  it('never blocks its own uninstall: `kubectl delete -k` of the overlay succeeds', async () => {
    const r = await cp.kubectl(['delete', '-k', installed.overlayDir, '--timeout=120s'], { timeoutMs: 130_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(await cp.client.get(`/api/v1/namespaces/${GUARD_NAMESPACE}`)).toBeUndefined();
    expect(await cp.client.get('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/teardown-guard')).toBeUndefined();
  });
});

describe('stop()', () => {
  it('gives the host back: nothing of the node left, sysctls and fixed dirs as before', async () => {
    const running = await hostNetwork();
    expect(running.length).toBeGreaterThan(hostNetBefore.length);
    const dir = cp.dir;
    await cp.stop();
    expect(await hostNetwork()).toEqual(hostNetBefore);
    expect(snapshotHost()).toEqual(hostBefore);
    expect(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(dir)),
    ).toEqual([]);
    expect(processesUnder(dir)).toEqual([]);
    expect(existsSync(NODE_LOCK_DIR)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(podCgroups()).toEqual(podCgroupsBefore);
  });
});
