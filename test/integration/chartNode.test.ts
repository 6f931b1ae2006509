// The Helm chart (manifests/chart/teardown-guard) installed, upgraded and uninstalled with the
// pinned helm 3 and helm 4 on a real node (test/cluster/README.md, "Node mode"), the way the
// chart's README.md tells users: namespace labelled restricted, serving certificate from
// certs/generate.sh in Secret teardown-guard-tls, its CA as certs.caBundle.
//
// For each helm major, one after the other on the same node:
//   1. `helm install --wait`: every replica Ready, running the image built here; a namespace DELETE
//      (dry run) of a namespace whose CSV finalizer has no controller is denied by the guard,
//      called by the API server through the chart's Service
//   2. `helm upgrade --reuse-values` to 3 replicas and olm-orphaned-finalizers in warn mode: three
//      Ready Pods, none of the old ones, and the same DELETE now admitted with the guard's warning
//   3. `helm uninstall --wait` never blocked by the guard itself: the release, its webhook
//      configuration, ClusterRoles and Pods are gone, and the namespace can be deleted afterwards
//      (at the end, after both majors)
//
// Then, with helm 4 in a namespace of its own, certs.source=generated: the chart's own CA in every
// caBundle, kept by an upgrade, renewed by an upgrade once near its end (both CAs trusted until the
// next), and the Secret gone with the release.
//
// Timings (install until every replica Ready, upgrade, uninstall until no Pod left) are printed as
// "[chart-node-test] ..." lines. The node is host-wide: when another process holds it, this file
// waits for it (bounded; node/startWhenFree.ts). Needs what node.test.ts needs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { GuardImage } from '../cluster/node/images.ts';
import { guardImageForRun } from '../cluster/node/runImage.ts';
import { startNodeClusterWhenFree } from '../cluster/node/startWhenFree.ts';
import { repoRoot } from '../cluster/paths.ts';
import { runOk, waitFor } from '../cluster/proc.ts';
import { csvManifest } from '../scenarios/objects.ts';

const log = (line: string) => process.stderr.write(`[chart-node-test] ${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const CHART = join(repoRoot, 'manifests', 'chart', 'teardown-guard');
const NS = 'teardown-guard';
const RELEASE = 'teardown-guard';
const NS_WEBHOOK = 'namespaces.teardown-guard.io';
const STRANDED = 'stranded';
const GUARD_SELECTOR = 'app.kubernetes.io/name=teardown-guard,app.kubernetes.io/component=webhook';
const LOCK_WAIT_MS = 30 * 60_000;

let cp: ControlPlane;
let work: string;
let image: GuardImage;
let caBundle: string;

interface PodObject {
  metadata: { uid: string; deletionTimestamp?: string };
  status?: { conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ image: string }> };
}

const isReady = (p: PodObject) => !p.metadata.deletionTimestamp && Boolean(p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));

async function guardPods(ns = NS): Promise<PodObject[]> {
  const list = await cp.client.must<{ items: PodObject[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(GUARD_SELECTOR)}`);
  return list.items;
}

/** Resolves once exactly `n` guard Pods exist, all Ready and none of `oldUids`. */
function readyReplicas(n: number, oldUids = new Set<string>(), ns = NS): Promise<PodObject[]> {
  return waitFor(
    `${n} Ready guard Pods`,
    240_000,
    async () => {
      const pods = await guardPods(ns);
      return pods.length === n && pods.every((p) => isReady(p) && !oldUids.has(p.metadata.uid)) ? pods : undefined;
    },
    250,
  );
}

const dryRunDelete = (name: string) => cp.client.request<{ message?: string }>('DELETE', `/api/v1/namespaces/${name}?dryRun=All`, { timeoutMs: 15_000 });

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function splitRef(ref: string): { repository: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repository: ref.slice(0, i), tag: ref.slice(i + 1) };
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('node mode needs root: run `bash test/bootstrap.sh` as root');
  cp = await startNodeClusterWhenFree({ olm: 'crds' }, { waitMs: LOCK_WAIT_MS, log });
  work = mkdtempSync(join(tmpdir(), 'tg-chart-node-'));
  image = await guardImageForRun(log);
  await cp.node!.importImage(image.path);
  // As the chart's README.md says: the namespace with the restricted Pod Security label, the
  // serving certificate's Secret, its CA as caBundle.
  await kubectlOk(['create', 'namespace', NS]);
  await kubectlOk(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted']);
  const certs = join(work, 'certs');
  await runOk('bash', [join(repoRoot, 'certs', 'generate.sh'), '--out', certs, '--no-kustomize', '--days', '2', '--ca-days', '2'], { timeoutMs: 60_000 });
  await kubectlOk(['-n', NS, 'create', 'secret', 'tls', 'teardown-guard-tls', `--cert=${join(certs, 'tls.crt')}`, `--key=${join(certs, 'tls.key')}`]);
  caBundle = readFileSync(join(certs, 'ca.crt')).toString('base64');
  // A namespace holding a CSV that carries csv-cleanup, with no olm-operator anywhere.
  await kubectlOk(['create', 'namespace', STRANDED]);
  const csv = csvManifest(STRANDED, 'op.v1') as { metadata: Record<string, unknown> };
  csv.metadata['finalizers'] = ['operators.coreos.com/csv-cleanup'];
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(csv));
}, LOCK_WAIT_MS + 600_000);

afterAll(async () => {
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each([3, 4] as const)('the chart with helm %i on the node', (helm) => {
  const run = async (args: string[]) => {
    const r = await cp.helm(helm, args, { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`helm ${helm} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  it('installs: every replica Ready, the guard denies through its Service', async () => {
    const { repository, tag } = splitRef(image.ref);
    const t0 = Date.now();
    await run([
      'install',
      RELEASE,
      CHART,
      '-n',
      NS,
      '--set',
      `image.repository=${repository}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      `certs.caBundle=${caBundle}`,
      '--wait',
      '--timeout',
      '4m',
    ]);
    const pods = await readyReplicas(2);
    log(`helm ${helm}: install until both replicas Ready ${secs(Date.now() - t0)}`);
    expect(pods.map((p) => p.status?.containerStatuses?.[0]?.image)).toEqual([image.ref, image.ref]);
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(403);
    expect(r.body.message).toContain(`admission webhook "${NS_WEBHOOK}" denied the request`);
  });

  it('upgrades (3 replicas, olm-orphaned-finalizers warn): the Pods replaced, the new mode in force', async () => {
    const before = new Set((await guardPods()).map((p) => p.metadata.uid));
    const t0 = Date.now();
    await run([
      'upgrade',
      RELEASE,
      CHART,
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'replicas=3',
      '--set',
      'policies.olm-orphaned-finalizers.mode=warn',
      '--wait',
      '--timeout',
      '4m',
    ]);
    // The config changed, so every Pod is new (checksum/config); old ones gone, three Ready.
    await readyReplicas(3, before);
    log(`helm ${helm}: upgrade until 3 new replicas Ready and the old ones gone ${secs(Date.now() - t0)}`);
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(200);
    expect(r.warnings.join('\n')).toContain('olm-orphaned-finalizers');
  });

  it('uninstalls, never blocked by the guard itself: release, webhook configuration, ClusterRoles and Pods gone', async () => {
    const t0 = Date.now();
    await run(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '4m']);
    await waitFor('no guard Pod left', 120_000, async () => ((await guardPods()).length === 0 ? true : undefined), 250);
    log(`helm ${helm}: uninstall until no guard Pod left ${secs(Date.now() - t0)}`);
    expect(await cp.client.get('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/teardown-guard')).toBeUndefined();
    expect(await cp.client.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/teardown-guard')).toBeUndefined();
    expect(await cp.client.get(`/api/v1/namespaces/${NS}/services/teardown-guard`)).toBeUndefined();
    const list = await run(['list', '-n', NS, '-q']);
    expect(list.stdout.trim()).toBe('');
    // Nothing guards the stranded namespace any more.
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(200);
    expect(r.warnings).toEqual([]);
  });
});

describe('the chart with certs.source=generated (helm 4) on the node', () => {
  const GEN_NS = 'teardown-guard-gen';
  const helm4 = async (args: string[]) => {
    const r = await cp.helm(4, [...args, '-n', GEN_NS], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`helm 4 ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const tlsSecret = () =>
    cp.client.must<{ data: Record<string, string>; metadata: { annotations?: Record<string, string> } }>(
      'GET',
      `/api/v1/namespaces/${GEN_NS}/secrets/teardown-guard-tls`,
    );
  const caBundles = async () =>
    (
      await cp.client.must<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(
        'GET',
        '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/teardown-guard',
      )
    ).webhooks.map((w) => w.clientConfig.caBundle);
  const certsIn = (b64: string) =>
    Buffer.from(b64, 'base64')
      .toString()
      .match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

  it("installs with no certificate made by hand: the chart's CA in every caBundle, the guard denies through its Service", async () => {
    await kubectlOk(['create', 'namespace', GEN_NS]);
    await kubectlOk(['label', 'namespace', GEN_NS, 'pod-security.kubernetes.io/enforce=restricted']);
    const { repository, tag } = splitRef(image.ref);
    const t0 = Date.now();
    await helm4([
      'install',
      RELEASE,
      CHART,
      '--set',
      `image.repository=${repository}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      'certs.source=generated',
      '--wait',
      '--timeout',
      '4m',
    ]);
    await readyReplicas(2, new Set(), GEN_NS);
    log(`helm 4, certs.source=generated: install until both replicas Ready ${secs(Date.now() - t0)}`);
    const secret = await tlsSecret();
    expect(await caBundles()).toEqual((await caBundles()).map(() => secret.data['ca.crt']));
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(403);
    expect(r.body.message).toContain(`admission webhook "${NS_WEBHOOK}" denied the request`);
  });

  it('an upgrade keeps the certificate; one near its end gets a new pair, the old CA still trusted, no call refused', async () => {
    const before = await tlsSecret();
    await helm4(['upgrade', RELEASE, CHART, '--reuse-values', '--set', 'replicas=1', '--wait', '--timeout', '4m']);
    const kept = await tlsSecret();
    expect(kept.data['tls.crt']).toBe(before.data['tls.crt']);
    expect(await caBundles()).toEqual((await caBundles()).map(() => before.data['ca.crt']));
    // Fewer days left than renewBeforeDays (3650 against 4000): this upgrade renews. (Editing the
    // Secret's annotation instead would make helm 4's server-side apply refuse the upgrade: the
    // field would belong to another manager.)
    await helm4(['upgrade', RELEASE, CHART, '--reuse-values', '--set', 'certs.generated.renewBeforeDays=4000', '--wait', '--timeout', '4m']);
    const renewed = await tlsSecret();
    expect(renewed.data['tls.crt']).not.toBe(before.data['tls.crt']);
    expect(renewed.data['ca.crt']).not.toBe(before.data['ca.crt']);
    const bundles = await caBundles();
    expect(bundles.map((b) => certsIn(b!))).toEqual(bundles.map(() => 2));
    // The Pod serves the old certificate until the kubelet updates its Secret volume: still trusted.
    const r = await dryRunDelete(STRANDED);
    expect(r.status, r.text).toBe(403);
    expect(r.body.message).toContain(`admission webhook "${NS_WEBHOOK}" denied the request`);
  });

  it('uninstalls: the generated Secret goes with the release', async () => {
    await helm4(['uninstall', RELEASE, '--wait', '--timeout', '4m']);
    expect(await cp.client.get(`/api/v1/namespaces/${GEN_NS}/secrets/teardown-guard-tls`)).toBeUndefined();
    await kubectlOk(['delete', 'namespace', GEN_NS, '--timeout=120s']);
  });
});

describe('after both uninstalls', () => {
  it('the guard namespace (with the user-made Secret) deletes', async () => {
    await kubectlOk(['delete', 'namespace', NS, '--timeout=120s']);
    expect(await cp.client.get(`/api/v1/namespaces/${NS}`)).toBeUndefined();
  });
});
