// Before any timing of the Kyverno arm (test/bench/apiserverPath.ts): Kyverno, run for real out
// of cluster (test/cluster/kyverno/kyverno.ts) with orphanedFinalizersPolicy.yaml, gives the same
// allow/deny verdict as the guard on the namespace DELETEs of scenarios S1 and S5
// (test/scenarios/scenarios.ts), through the real API server.
//
// Both reviewers are registered at once, each selecting namespaces by its own label (the guard by
// a namespaceSelector, Kyverno by its policy's match and a matchCondition), so one namespace is
// put in front of one reviewer at a time by relabelling it, and the verdict is a server-side
// dry-run DELETE: nothing is deleted. Both fail closed here (failurePolicy Fail), so an allow
// means the reviewer answered; each answer is also counted on the reviewer's own metrics.
//
// Skipped unless Kyverno has been built (test/cluster/kyverno/build.sh): CI does not build it.
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { OLM_NAMESPACE } from '../cluster/olm.ts';
import { missingComponents } from '../cluster/paths.ts';
import { waitFor } from '../cluster/proc.ts';
import { kyvernoBinPath, kyvernoBuilt, kyvernoVersion, orphanedFinalizersPolicy, startKyverno, type Kyverno } from '../cluster/kyverno/kyverno.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { ensureNamespace, Transcript } from '../scenarios/harness.ts';
import { S1, s1Install, s1ManualCleanup, S5, s5CreateOperator, s5InstallOlm } from '../scenarios/scenarios.ts';

const built = kyvernoBuilt();
if (!built) {
  console.log(
    `[kyvernoVerdicts] skipped: Kyverno ${kyvernoVersion()} is not built (${kyvernoBinPath()} missing). ` +
      'CI does not build it; run `bash test/cluster/kyverno/build.sh` (~20 minutes on 2 cores) to run this test.',
  );
}

const LABEL = 'tg-verdict';
const GUARD_WEBHOOK = 'tg-verdict-guard';
const PROBE = 'tg-verdict-probe';

type Reviewer = 'guard' | 'kyverno';
interface Verdict {
  allowed: boolean;
  message: string;
}

let cp: ControlPlane;
let guard: Guard;
let kyverno: Kyverno;
const t = new Transcript();

function httpsText(url: string, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function guardReviews(): Promise<number> {
  const text = await httpsText(`${guard.url}/metrics`, guard.certs.caPem);
  let sum = 0;
  for (const m of text.matchAll(/^teardown_guard_admission_requests_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/gm)) sum += Number(m[1]);
  return sum;
}

const reviews = (who: Reviewer): Promise<number> => (who === 'guard' ? guardReviews() : kyverno.admissionRequests());

async function label(ns: string, who: Reviewer | undefined): Promise<void> {
  const r = await cp.client.request('PATCH', `/api/v1/namespaces/${ns}`, {
    contentType: 'application/merge-patch+json',
    body: { metadata: { labels: { [LABEL]: who ?? null } } },
  });
  if (r.status !== 200) throw new Error(`labelling namespace ${ns}: ${r.status} ${r.text.slice(0, 200)}`);
}

/** One reviewer's verdict on DELETE namespace `ns` (server-side dry run), checked to come from that reviewer. */
async function verdict(ns: string, who: Reviewer): Promise<Verdict> {
  await label(ns, who);
  try {
    const before = await reviews(who);
    const r = await cp.client.request<{ message?: string }>('DELETE', `/api/v1/namespaces/${ns}?dryRun=All`, { timeoutMs: 15_000 });
    const after = await reviews(who);
    expect(after, `${who} was not asked about DELETE namespace ${ns}`).toBeGreaterThan(before);
    const v = { allowed: r.status === 200, message: r.status === 200 ? r.warnings.join('; ') : (r.body?.message ?? r.text) };
    t.note(`${who}: DELETE namespace ${ns} -> ${v.allowed ? 'allowed' : 'denied'} ${v.message.slice(0, 300)}`);
    return v;
  } finally {
    await label(ns, undefined);
  }
}

async function bothVerdicts(ns: string): Promise<Record<Reviewer, Verdict>> {
  return { guard: await verdict(ns, 'guard'), kyverno: await verdict(ns, 'kyverno') };
}

/** Waits until the API server calls `who` for a namespace carrying its label (configurations load asynchronously). */
async function waitInForce(who: Reviewer): Promise<void> {
  await label(PROBE, who);
  await waitFor(
    `${who} called by the API server`,
    60_000,
    async () => {
      const before = await reviews(who);
      await cp.client.request('DELETE', `/api/v1/namespaces/${PROBE}?dryRun=All`);
      return (await reviews(who)) > before ? true : undefined;
    },
    500,
  );
  await label(PROBE, undefined);
}

describe.skipIf(!built)(`Kyverno ${built ? kyvernoVersion() : ''} with orphanedFinalizersPolicy.yaml gives the guard's verdicts (S1, S5)`, () => {
  beforeAll(async () => {
    const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm', 'helm3']);
    if (missing.length) throw new Error(`missing pinned components: ${missing.join(', ')}; run \`npm run build:binaries\` first`);
    // OLM CRDs only: S1's chart ships OLM itself; S5 installs upstream OLM afterwards.
    cp = await startControlPlane({ olm: 'crds', log: () => {} });
    guard = await startGuard(cp, { modes: { 'olm-orphaned-finalizers': 'enforce' }, log: () => {} });
    const guardHook = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: GUARD_WEBHOOK },
      webhooks: [
        {
          name: 'namespaces.verdict.teardown-guard.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          timeoutSeconds: 5,
          failurePolicy: 'Fail',
          matchPolicy: 'Equivalent',
          clientConfig: { url: `${guard.url}/validate`, caBundle: Buffer.from(guard.certs.caPem).toString('base64') },
          namespaceSelector: { matchLabels: { [LABEL]: 'guard' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['namespaces'], scope: 'Cluster' }],
        },
      ],
    };
    const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(guardHook) });
    if (r.code !== 0) throw new Error(`registering the guard failed: ${r.stderr}`);
    kyverno = await startKyverno(cp, { log: () => {} });
    await kyverno.applyPolicy(orphanedFinalizersPolicy({ failurePolicy: 'Fail', namespaceLabels: { [LABEL]: 'kyverno' } }));
    await ensureNamespace(cp, PROBE);
    await waitInForce('guard');
    await waitInForce('kyverno');
  });

  afterAll(async () => {
    await kyverno?.stop();
    await guard?.stop();
    await cp?.stop();
    if (t.notes.length) console.log(`[kyvernoVerdicts]\n${t.notes.join('\n')}`);
  });

  it('S1: the operator namespace while OLM runs is allowed by both; once olm-operator is gone both deny it', async () => {
    await s1Install(cp, t);
    const running = await bothVerdicts(S1.operatorNamespace);
    expect(running.guard.allowed, running.guard.message).toBe(true);
    expect(running.kyverno.allowed, running.kyverno.message).toBe(true);

    // OLM removed outside Helm, as in the S1 recovery scenario: the namespace is still Active.
    const del = await cp.kubectl(['delete', 'deployment', 'olm-operator', '-n', S1.olmNamespace]);
    expect(del.code, del.stderr).toBe(0);
    await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000);
    const gone = await bothVerdicts(S1.operatorNamespace);
    expect(gone.guard.allowed).toBe(false);
    expect(gone.guard.message).toContain(`deleting namespace ${S1.operatorNamespace} would leave it Terminating forever`);
    expect(gone.kyverno.allowed).toBe(false);
    expect(gone.kyverno.message).toContain('olm-orphaned-finalizers');
    expect(gone.kyverno.message).toContain(S1.csv);

    await s1ManualCleanup(cp, t);
  });

  it("S5: OLM's own namespace (packageserver carries csv-cleanup) is denied by both; an operator namespace while OLM runs is allowed by both", async () => {
    await s5InstallOlm(cp);
    await s5CreateOperator(cp);
    const olm = await bothVerdicts(OLM_NAMESPACE);
    expect(olm.guard.allowed).toBe(false);
    expect(olm.guard.message).toMatch(/packageserver/);
    expect(olm.kyverno.allowed).toBe(false);
    expect(olm.kyverno.message).toMatch(/packageserver/);
    const operator = await bothVerdicts(S5.operatorNamespace);
    expect(operator.guard.allowed, operator.guard.message).toBe(true);
    expect(operator.kyverno.allowed, operator.kyverno.message).toBe(true);
  });
});
