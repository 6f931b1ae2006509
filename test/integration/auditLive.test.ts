// Live audit review on the real loopback control plane: kube-apiserver's audit webhook backend
// (batch mode, a kubeconfig with the API server's client certificate, as manifests/OPERATIONS.md
// "Live audit review" describes) posts EventLists to one guard's POST /audit, which correlates
// them as they arrive. A correct `helm uninstall` stays silent; the misdirected SDK uninstall of
// incident B comes out of the guard's own log as an "audit finding", without `teardown-guard review`.
// The guard runs as the audit receiver Deployment does (`serve --audit-only`, no credentials for the
// API server: no kubeconfig, no KUBECONFIG, an empty HOME), so the findings need nothing the receiver lacks.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { missingComponents } from '../cluster/paths.ts';
import { waitFor } from '../cluster/proc.ts';
import { startControlPlaneWithGuardAudit, type Guard } from '../scenarios/guard.ts';
import { helm, scenarioRunner } from '../scenarios/harness.ts';
import { helmInstallSimpleApp, S2, s2SdkUninstall } from '../scenarios/scenarios.ts';

let cp: ControlPlane;
let guard: Guard;
const timings: Record<string, number> = {};
const scenario = scenarioRunner(() => cp, timings);
/** Short window so sessions close (and findings come out) seconds after the last event. */
const WINDOW_MS = 5_000;
const CALM = { release: 'calm', namespace: 'calm-apps' } as const;

interface LoggedFinding {
  finding: { code: string; release?: { namespace: string; name: string } };
}

function loggedFindings(): LoggedFinding[] {
  return readFileSync(guard.logPath, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"audit finding"'))
    .map((l) => JSON.parse(l) as LoggedFinding);
}

function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${guard.url}/metrics`, { ca: guard.certs.caPem, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        resolve(body);
      });
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'helm3', 'helm-sdk-uninstall']);
  if (missing.length) throw new Error(`pinned binaries missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  ({ cp, guard } = await startControlPlaneWithGuardAudit((auditWebhook) => startControlPlane({ olm: 'none', auditWebhook }), {
    extraYaml: `audit:\n  windowMs: ${WINDOW_MS}`,
    auditOnly: true,
  }));
});

afterAll(async () => {
  await guard?.stop();
  await cp?.stop();
});

describe('live audit review: the API server posts its audit batches to the guard', () => {
  it('a correct helm uninstall is silent; the misdirected SDK uninstall is reported by the guard itself', async () => {
    await scenario('audit-live', async (t) => {
      await helmInstallSimpleApp(cp, t, CALM.namespace, CALM.release);
      const calm = await helm(cp, t, 3, ['uninstall', CALM.release, '-n', CALM.namespace], 'correct uninstall');
      expect(calm.code).toBe(0);

      await helmInstallSimpleApp(cp, t, S2.namespace);
      const r = await s2SdkUninstall(cp, t);
      expect(r.sdk.code).toBe(0);
      expect(r.records).toEqual([]);

      // Batches leave the API server within a second (--audit-webhook-batch-max-wait=1s); the
      // session closes one window after its last event, moved on by the ingest's clock tick.
      const found = await waitFor(
        'the guard logs the misdirected uninstall',
        60_000,
        () => {
          const hits = loggedFindings().filter((f) => f.finding.code === 'misdirected-uninstall');
          return hits.length > 0 ? hits : undefined;
        },
        500,
      ).catch(async (e: unknown) => {
        const audit = (await metricsText().catch(() => '')).split('\n').filter((l) => l.startsWith('teardown_guard_audit'));
        console.error(`guard log:\n${guard.logTail(40)}\naudit metrics:\n${audit.join('\n')}`);
        throw e;
      });
      expect(found.map((f) => f.finding.release)).toEqual([{ namespace: S2.namespace, name: S2.release }]);
      // The correct uninstall, correlated by the same ingest, produced nothing.
      expect(loggedFindings().filter((f) => JSON.stringify(f).includes(CALM.release))).toEqual([]);

      const metrics = await metricsText();
      expect(Number(/^teardown_guard_audit_events_accepted_total (\d+)/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
      expect(metrics).toMatch(/^teardown_guard_audit_events_dropped_total 0$/m);
      // Every item kube-apiserver sent was read as an audit event (its items carry no apiVersion/kind).
      expect(metrics).toMatch(/^teardown_guard_audit_events_invalid_total 0$/m);
      expect(metrics).toMatch(/^teardown_guard_audit_findings_total\{kind="misdirected-uninstall"\} 1$/m);
    });
  });
});
