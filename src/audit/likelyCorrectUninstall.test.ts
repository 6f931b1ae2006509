// The two correct teardowns a Metadata-level log cannot tell from incident B, captured from real
// components (test/fixtures/audit/README.md): they report nothing above low, and the incident-B
// fixtures, as captured and reduced to Metadata level, still report what they did.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { toMetadataLevel } from '../../test/fixtures/audit/metadataLevel.ts';
import type { AuditFinding } from './findings.ts';
import { runReview } from './review.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const dir = fileURLToPath(new URL('../../test/fixtures/audit/', import.meta.url));
const tmp = scratchDir('tg-likely-correct');

const linesOf = (file: string): string[] => {
  const raw = readFileSync(dir + file);
  return (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
};

async function reviewLines(name: string, lines: string[]): Promise<AuditFinding[]> {
  const path = join(tmp, `${name}.jsonl`);
  writeFileSync(path, lines.join('\n') + '\n');
  const fast = await runReview({ inputs: [path] });
  const strict = await runReview({ inputs: [path], strict: true });
  expect(fast.findings).toEqual(strict.findings);
  return fast.findings;
}

const summary = (fs: AuditFinding[]) => fs.map((f) => `${f.severity} ${f.code}${f.release ? ` ${f.release.namespace}/${f.release.name}` : ''}`);
const aboveLow = (fs: AuditFinding[]) => fs.filter((f) => f.severity !== 'low');

/** The captured log with one field of some lines replaced, each replacement checked to happen. */
function rewrite(lines: string[], match: string, from: string, to: string): string[] {
  let n = 0;
  const out = lines.map((l) => {
    if (!l.includes(match)) return l;
    n++;
    return l.replace(from, to);
  });
  expect(n, `lines matching ${match}`).toBeGreaterThan(0);
  return out;
}

describe('Helm CLI uninstall, chart object in another namespace already gone (cli-other-namespace-gone, Metadata level)', () => {
  const lines = linesOf('cli-other-namespace-gone.jsonl');

  it('is one low finding that names the 404 and says what would confirm or clear it', async () => {
    expect(lines.every((l) => JSON.parse(l).level === 'Metadata' && !l.includes('"requestObject"') && !l.includes('"responseObject"'))).toBe(true);
    const found = await reviewLines('cli', lines);
    expect(summary(found)).toEqual(['low misdirected-uninstall multi/two']);
    const [f] = found;
    expect(f?.actor).toEqual({ user: 'admin', userAgent: 'Helm/3.21.4', client: 'helm-cli' });
    expect(f?.title).toBe(
      'unconfirmed misdirected uninstall: release multi/two got 1× 404 in multi-other, most likely objects its chart places there, already gone (Helm CLI)',
    );
    expect(f?.detail).toContain('2 of its DELETEs went to multi-other and 2 to multi; 1 answered 404 Not Found (configmaps/two-remote)');
    expect(f?.detail).toContain('Metadata level');
    // Nothing is known to be left anywhere: no object is called likely-still-present.
    expect(f?.objects).toEqual([]);
    const remedy = f?.remedy.join('\n') ?? '';
    expect(remedy).toContain('kubectl get -n multi-other configmaps/two-remote; and kubectl get -n multi configmaps/two-remote');
    expect(remedy).toContain('helm template two CHART -n multi shows metadata.namespace: multi-other on configmaps/two-remote');
    expect(remedy).toContain('Request or RequestResponse level');
    expect(remedy).toContain('guard-warned (or, in enforce mode, guard-denied) finding on secrets/sh.helm.release.v1.two.v1 in multi');
    expect(f?.evidence.find((e) => e.code === 404 && e.verb === 'delete')).toMatchObject({
      requestURI: '/api/v1/namespaces/multi-other/configmaps/two-remote',
      note: '404: nothing in multi-other (already gone, or never there)',
    });
  });

  it('Helm 4 sends no DELETE for an object already gone: it reads each one first (pkg/action verifyOwnershipBeforeDelete)', () => {
    const four = lines.map((l) => JSON.parse(l) as { verb: string; userAgent: string; objectRef?: { namespace?: string }; responseStatus?: { code?: number } });
    const inOther = four.filter((e) => e.userAgent === 'Helm/4.3.1' && e.objectRef?.namespace === 'multi-other');
    expect(inOther.filter((e) => e.verb === 'delete')).toEqual([]);
    expect(inOther.filter((e) => e.verb === 'get' && e.responseStatus?.code === 404).length).toBeGreaterThanOrEqual(2);
  });

  it("the Helm CLI's user agent is what lowers it: the same requests from an SDK program's agent (Helm/3.21) stay medium", async () => {
    const sdk = rewrite(lines, '"userAgent":"Helm/3.21.4"', '"userAgent":"Helm/3.21.4"', '"userAgent":"Helm/3.21"');
    const found = await reviewLines('cli-as-sdk', sdk);
    expect(summary(found)).toEqual(['medium misdirected-uninstall multi/two']);
    expect(found[0]?.objects.filter((o) => o.state === 'likely-still-present').map((o) => `${o.namespace}/${o.name}`)).toEqual(['multi/two-remote']);
  });
});

describe('Flux helm-controller uninstall into targetNamespace, objects already gone (flux-target-gone, Metadata level)', () => {
  const lines = linesOf('flux-target-gone.jsonl');
  const CONTROLLER = 'system:serviceaccount:flux-system:helm-controller';
  const controllerAgent = (JSON.parse(lines.find((l) => l.includes('"verb":"update"') && l.includes('sh.helm.release.v1.')) ?? '{}') as { userAgent?: string })
    .userAgent;

  it('reports nothing: helm-controller deletes through a REST client without its user agent (Go-http-client), so no uninstall session holds those DELETEs', async () => {
    const deletes = lines
      .map(
        (l) =>
          JSON.parse(l) as {
            verb: string;
            user: { username: string };
            userAgent: string;
            objectRef?: { namespace?: string; resource?: string };
            responseStatus?: { code?: number };
          },
      )
      .filter((e) => e.verb === 'delete' && e.user.username === CONTROLLER && e.objectRef?.resource !== 'secrets');
    expect(deletes.map((e) => `${e.objectRef?.namespace} ${e.responseStatus?.code}`).sort()).toEqual([
      'flux-target 200',
      'flux-target 200',
      'flux-target 404',
      'flux-target 404',
      'flux-target 404',
      'flux-target 404',
    ]);
    expect(new Set(deletes.map((e) => e.userAgent))).toEqual(new Set(['Go-http-client/2.0']));
    expect(controllerAgent).toMatch(/^helm-controller[^/]*\/\S+ \(linux\/\w+\) kubernetes\//);
    expect(await reviewLines('flux', lines)).toEqual([]);
  });

  it('if its DELETEs carried its own user agent, both uninstalls are low: the same client writes the HelmReleases', async () => {
    const sameAgent = rewrite(lines, '"userAgent":"Go-http-client/2.0"', '"userAgent":"Go-http-client/2.0"', `"userAgent":${JSON.stringify(controllerAgent)}`);
    const found = await reviewLines('flux-same-agent', sameAgent);
    expect(summary(found)).toEqual(['low misdirected-uninstall flux-apps/flux-target-api', 'low misdirected-uninstall flux-store/flux-target-web']);
    const [api, web] = found;
    expect(api?.title).toBe(
      "unconfirmed misdirected uninstall: release flux-apps/flux-target-api got 3× 404 in flux-target, most likely its HelmRelease's targetNamespace, objects already gone (Flux helm-controller)",
    );
    expect(api?.detail).toContain('the client that also wrote HelmRelease flux-apps/api at');
    expect(api?.detail).toContain("The release name flux-target-api is Flux's default for HelmRelease flux-apps/api with spec.targetNamespace flux-target.");
    expect(api?.remedy.join('\n')).toContain("kubectl get helmrelease -n flux-apps api -o jsonpath='{.spec.targetNamespace}'");
    // Records in spec.storageNamespace; two of its DELETEs succeeded, one found nothing.
    expect(web?.detail).toContain('3 of its DELETEs went to flux-target and none to flux-store; 1 answered 404 Not Found (configmaps/flux-target-web-config)');
    expect(web?.remedy[0]).toBe(
      'Clear it: kubectl get -n flux-target configmaps/flux-target-web-config; and kubectl get -n flux-store configmaps/flux-target-web-config: NotFound everywhere means they were already gone and nothing was left.',
    );
  });

  it('the HelmRelease writes are what lowers it: without them the same uninstalls are high, as incident B is', async () => {
    const sameAgent = rewrite(lines, '"userAgent":"Go-http-client/2.0"', '"userAgent":"Go-http-client/2.0"', `"userAgent":${JSON.stringify(controllerAgent)}`);
    const withoutHelmReleases = sameAgent.filter((l) => !l.includes('"resource":"helmreleases"'));
    expect(summary(await reviewLines('flux-no-hr', withoutHelmReleases))).toEqual([
      'high misdirected-uninstall flux-apps/flux-target-api',
      'high misdirected-uninstall flux-store/flux-target-web',
    ]);
  });
});

describe('incident B is still reported, as captured and at Metadata level', () => {
  const EXPECTED: Record<string, string[]> = {
    'sdk-misdirected-uninstall.jsonl': ['high misdirected-uninstall helm-test/web'],
    'sdk-cross-release.jsonl': ['high misdirected-uninstall helm-test/web', 'high cross-release-delete helm-test/web'],
    'guard-verdicts.jsonl': [
      'medium guard-warned',
      'medium namespace-finalizer-race',
      'low guard-denied',
      'medium guard-break-glass',
      'high misdirected-uninstall helm-test/web',
      'medium guard-warned',
      'high guard-bypassed',
    ],
    'namespace-stuck.jsonl.gz': ['high namespace-finalizer-race'],
    'no-false-positive.jsonl': [],
  };
  // Without bodies the victims of sdk-cross-release are inferred from their records (medium).
  const AT_METADATA: Record<string, string[]> = {
    ...EXPECTED,
    'sdk-cross-release.jsonl': ['high misdirected-uninstall helm-test/web', 'medium cross-release-delete helm-test/web'],
  };

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(`${file}: ${expected.length} finding(s), as captured and reduced to Metadata level`, async () => {
      const lines = linesOf(file);
      expect(summary(await reviewLines(file, lines))).toEqual(expected);
      expect(summary(await reviewLines(`${file}-metadata`, lines.map(toMetadataLevel)))).toEqual(AT_METADATA[file]);
    });
  }

  it('reading the two correct teardowns together with the incident-B logs adds no finding above low', async () => {
    const all = [...Object.keys(EXPECTED), 'cli-other-namespace-gone.jsonl', 'flux-target-gone.jsonl'].map((f) => dir + f);
    const r = await runReview({ inputs: all });
    expect(summary(aboveLow(r.findings)).sort()).toEqual(
      Object.values(EXPECTED)
        .flat()
        .filter((s) => !s.startsWith('low'))
        .sort(),
    );
  });
});
