// The request types the webhook benchmark sends: AdmissionReview bodies captured from a real
// kube-apiserver (test/fixtures/admission), retargeted where needed at objects of the benchmark
// cluster (test/bench/populate.ts), plus what answer each one must get, so a run that measured a
// broken path (unsynced cache, failing live read, wrong target) is caught instead of reported.
import { request as httpsRequest } from 'node:https';
import type { AdmissionResponse, AdmissionReview } from '../../src/k8s/admissionReview.ts';
import { capturedReview } from '../support/fixtures.ts';
import { appNamespace, opNamespace } from './populate.ts';

export interface RequestType {
  key: string;
  title: string;
  /** A hot path (answered from the caches only): the p99 goal applies. */
  hot: boolean;
  /** What the guard does for it, for the report. */
  path: string;
  body: string;
  /** Checks the guard's answer; returns a problem or undefined. */
  check(response: AdmissionResponse): string | undefined;
}

function retargetNamespaceDelete(review: AdmissionReview, ns: string): AdmissionReview {
  const copy = structuredClone(review);
  const req = copy.request!;
  req.name = ns;
  req.namespace = ns;
  const meta = req.oldObject?.metadata;
  if (meta) {
    meta.name = ns;
    meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': ns };
  }
  return copy;
}

const noUndecided = (r: AdmissionResponse): string | undefined =>
  (r.warnings ?? []).some((w) => /undecided|not synced|timed out|failed/i.test(w)) ? `undecided answer: ${JSON.stringify(r.warnings)}` : undefined;

const allowedClean = (r: AdmissionResponse): string | undefined => {
  if (!r.allowed) return `denied: ${r.status?.message ?? ''}`.slice(0, 500);
  if ((r.warnings ?? []).length > 0) return `unexpected warnings: ${JSON.stringify(r.warnings).slice(0, 500)}`;
  return undefined;
};

export function requestTypes(): RequestType[] {
  const nsDelete = capturedReview('namespace-delete.json').review;
  const helmOwned = capturedReview('helm-owned-delete-deployment.json').review;
  const crossRelease = capturedReview('helm-owned-delete-other-release.json').review;
  const purge = capturedReview('record-delete-purge.json').review;
  return [
    {
      key: 'ns-delete',
      title: 'namespace DELETE, no CSV',
      hot: true,
      path: 'caches only',
      body: JSON.stringify(retargetNamespaceDelete(nsDelete, appNamespace(0))),
      check: allowedClean,
    },
    {
      key: 'ns-delete-csv',
      title: 'namespace DELETE, 2 CSVs with csv-cleanup, olm-operator alive',
      hot: false,
      path: 'caches + live GET of olm-operator Deployment(s) to confirm "alive"',
      body: JSON.stringify(retargetNamespaceDelete(nsDelete, opNamespace(0))),
      check: allowedClean,
    },
    {
      key: 'helm-owned',
      title: "Helm-owned Deployment DELETE during its release's uninstall",
      hot: true,
      path: 'caches only (own release is uninstalling)',
      body: JSON.stringify(helmOwned),
      check: allowedClean,
    },
    {
      key: 'helm-cross',
      title: 'Helm-owned DELETE, other release of the name uninstalling (flagged)',
      hot: false,
      path: "caches + live LIST of the release's records (Secrets and ConfigMaps); per other release of the name uninstalling (2), live GET of its record and of its own copy of the object",
      body: JSON.stringify(crossRelease),
      check: (r) => {
        const u = noUndecided(r);
        if (u) return u;
        if (!r.allowed) return 'denied (helm-uninstall-namespace defaults to warn)';
        return (r.warnings ?? []).some((w) => w.includes('helm-uninstall-namespace'))
          ? undefined
          : `expected a helm-uninstall-namespace warning, got ${JSON.stringify(r.warnings)}`;
      },
    },
    {
      key: 'record-purge',
      title: 'release record purge (helm uninstall, resources gone)',
      hot: false,
      path: 'decode payload + manifest, live GET of each manifest object (3, bounded)',
      body: JSON.stringify(purge),
      check: allowedClean,
    },
  ];
}

/** One POST /validate over a fresh connection; the parsed AdmissionReview response. */
export function postReview(url: string, body: string, timeoutMs = 10_000): Promise<{ status: number; review: AdmissionReview | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}/validate`,
      {
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let review: AdmissionReview | undefined;
          try {
            review = JSON.parse(text) as AdmissionReview;
          } catch {
            review = undefined;
          }
          resolve({ status: res.statusCode ?? 0, review, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends each request type once to the guard; throws listing every wrong answer. */
export async function verifyAnswers(url: string, types: RequestType[]): Promise<Record<string, AdmissionResponse>> {
  const problems: string[] = [];
  const answers: Record<string, AdmissionResponse> = {};
  for (const t of types) {
    const r = await postReview(url, t.body);
    const response = r.review?.response;
    if (r.status !== 200 || !response) {
      problems.push(`${t.key}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
      continue;
    }
    answers[t.key] = response;
    const problem = t.check(response);
    if (problem) problems.push(`${t.key}: ${problem}`);
  }
  if (problems.length > 0) throw new Error(`the guard did not answer the benchmark requests as expected:\n  ${problems.join('\n  ')}`);
  return answers;
}
