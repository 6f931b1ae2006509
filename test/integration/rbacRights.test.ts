// What each of the guard's ServiceAccounts may do, asked of the real API server for every install
// path, against the committed list test/fixtures/rbac/expected-rights.json (docs/SECURITY.md,
// "Threat model"). For each install path the RBAC objects (Namespace, ServiceAccounts, Roles,
// ClusterRoles and their bindings) of the rendered manifests are applied to the lane's control
// plane, and for each ServiceAccount `kubectl auth can-i --list --as system:serviceaccount:NS:NAME`
// (the API server's SelfSubjectRulesReview) is read twice: in a namespace where nothing is bound
// ("everywhere": the cluster-wide rights) and in the guard's namespace (what the namespace's Roles
// add). What any ServiceAccount may do (discovery, self reviews: read the same way for one that
// does not exist) is left out, so the list shows what the guard's manifests grant and nothing else.
// A widened or narrowed right fails the test with the difference; to accept it, re-capture:
//   TG_UPDATE_RIGHTS=1 npx vitest run --project integration test/integration/rbacRights.test.ts
// and review the diff of the JSON file. The last case adds a rule and checks the test sees it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { repoRoot } from '../cluster/paths.ts';
import { sleep } from '../cluster/proc.ts';
import { applyRbac, chartRbac, GUARD_NS, kustomizeRbac, type RbacObject } from '../support/guardRbac.ts';

const NS = GUARD_NS;
const EXPECTED_FILE = join(repoRoot, 'test', 'fixtures', 'rbac', 'expected-rights.json');
const UPDATE = process.env['TG_UPDATE_RIGHTS'] === '1';
/** A namespace where no install path binds anything: what a ServiceAccount may do there, it may do everywhere. */
const ELSEWHERE = 'default';
/** Never created: its rights are what every ServiceAccount has, subtracted from the others'. */
const NOBODY = 'teardown-guard-rights-baseline';

/** resource[/name] or url:PATH -> its verbs, space-separated and sorted. */
type Rights = Record<string, string>;
interface AccountRights {
  everywhere: Rights;
  'own namespace, in addition': Rights;
}
type InstallRights = Record<string, AccountRights>;
interface ExpectedFile {
  about: string[];
  installs: Record<string, InstallRights>;
}

interface Install {
  name: string;
  render: () => Promise<RbacObject[]>;
}

let cp: ControlPlane;
let work: string;

const INSTALLS: Install[] = [
  { name: 'kustomize: base + components/audit-receiver', render: () => kustomizeRbac(cp, work, ['components/audit-receiver']) },
  {
    name: 'kustomize: base + components/audit-receiver + components/live-lookups-all-kinds',
    render: () => kustomizeRbac(cp, work, ['components/audit-receiver', 'components/live-lookups-all-kinds']),
  },
  { name: 'kustomize: base + components/without-inference-rbac', render: () => kustomizeRbac(cp, work, ['components/without-inference-rbac']) },
  { name: 'chart: rbac.inference=false', render: () => chartRbac(cp, ['rbac.inference=false']) },
  { name: 'chart: auditReceiver.enabled=true', render: () => chartRbac(cp, ['auditReceiver.enabled=true']) },
];

/**
 * `kubectl auth can-i --list` as a ServiceAccount (with the groups the API server gives a
 * ServiceAccount token), one entry per resource (or resource/name, or non-resource URL).
 */
async function rightsOf(account: string, namespace: string): Promise<Rights> {
  const r = await cp.kubectl([
    'auth',
    'can-i',
    '--list',
    '-n',
    namespace,
    '--as',
    `system:serviceaccount:${NS}:${account}`,
    '--as-group',
    'system:serviceaccounts',
    '--as-group',
    `system:serviceaccounts:${NS}`,
    '--as-group',
    'system:authenticated',
  ]);
  if (r.code !== 0) throw new Error(`kubectl auth can-i --list as ${account} failed:\n${r.stderr}`);
  return parseCanIList(r.stdout);
}

/** The table of `kubectl auth can-i --list`: Resources, Non-Resource URLs, Resource Names, Verbs (columns padded to the widest cell). */
function parseCanIList(text: string): Rights {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0] ?? '';
  const cols = ['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs'].map((c) => header.indexOf(c));
  if (cols.some((c) => c < 0)) throw new Error(`unexpected kubectl auth can-i --list header: ${header}`);
  const verbs = new Map<string, Set<string>>();
  const list = (cell: string): string[] =>
    cell
      .trim()
      .replace(/^\[|\]$/g, '')
      .split(' ')
      .filter(Boolean);
  for (const line of lines.slice(1)) {
    const [resource, urls, names, vs] = cols.map((start, i) => line.slice(start, cols[i + 1] ?? line.length).trim());
    const keys = resource ? (list(names!).length ? list(names!).map((n) => `${resource}/${n}`) : [resource]) : list(urls!).map((u) => `url:${u}`);
    for (const key of keys) {
      const set = verbs.get(key) ?? new Set<string>();
      for (const v of list(vs!)) set.add(v);
      verbs.set(key, set);
    }
  }
  return Object.fromEntries([...verbs].map(([k, v]) => [k, [...v].sort().join(' ')]));
}

/** What `rights` grants beyond `minus`, verb by verb. */
function beyond(rights: Rights, minus: Rights): Rights {
  const out: Rights = {};
  for (const [key, verbs] of Object.entries(rights)) {
    const base = new Set((minus[key] ?? '').split(' '));
    const extra = verbs.split(' ').filter((v) => !base.has(v));
    if (extra.length) out[key] = extra.join(' ');
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function installRights(accounts: string[]): Promise<InstallRights> {
  const baseline = { elsewhere: await rightsOf(NOBODY, ELSEWHERE), own: await rightsOf(NOBODY, NS) };
  const out: InstallRights = {};
  for (const account of [...accounts].sort()) {
    const everywhere = beyond(await rightsOf(account, ELSEWHERE), baseline.elsewhere);
    const own = beyond(await rightsOf(account, NS), baseline.own);
    out[account] = { everywhere, 'own namespace, in addition': beyond(own, everywhere) };
  }
  return out;
}

/** Reads until two reads in a row agree: the authorizer follows RBAC objects through its informers. */
async function settledRights(accounts: string[]): Promise<InstallRights> {
  let last = JSON.stringify(await installRights(accounts));
  for (let i = 0; i < 20; i++) {
    await sleep(150);
    const now = await installRights(accounts);
    if (JSON.stringify(now) === last) return now;
    last = JSON.stringify(now);
  }
  throw new Error('the rights kept changing for 3 s after the RBAC objects were applied');
}

const accountsOf = (objects: RbacObject[]): string[] => objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name);

/** The RBAC objects applied now, removed before the next install path (the Namespace stays until the reset). */
let applied: RbacObject[] = [];

const expected: ExpectedFile = UPDATE
  ? {
      about: [
        'What each ServiceAccount of each install path may do, as the API server answers `kubectl auth can-i --list`',
        '(SelfSubjectRulesReview) for it, beyond what every ServiceAccount may do. "everywhere": in a namespace where',
        'nothing is bound (cluster-wide rights); "own namespace, in addition": what its namespace adds. Written by',
        'test/integration/rbacRights.test.ts with TG_UPDATE_RIGHTS=1 (docs/SECURITY.md, "Threat model"); review its diff.',
      ],
      installs: {},
    }
  : (JSON.parse(readFileSync(EXPECTED_FILE, 'utf8')) as ExpectedFile);

beforeAll(async () => {
  cp = await controlPlaneForFile();
  work = mkdtempSync(join(cp.dir, 'rights-'));
});

afterAll(async () => {
  if (UPDATE) writeFileSync(EXPECTED_FILE, `${JSON.stringify(expected, null, 2)}\n`);
  await cp?.stop();
});

describe("what the guard's ServiceAccounts may do, asked of the API server", () => {
  it('lists every install path the expected file holds, and no other', () => {
    if (!UPDATE) expect(Object.keys(expected.installs)).toEqual(INSTALLS.map((i) => i.name));
  });

  it.each(INSTALLS.map((i) => [i.name, i] as const))('%s', async (_name, install) => {
    const objects = await install.render();
    applied = await applyRbac(cp, objects, applied);
    const rights = await settledRights(accountsOf(objects));
    if (UPDATE) expected.installs[install.name] = rights;
    expect(rights, `rights differ from ${relative(repoRoot, EXPECTED_FILE)} (re-capture with TG_UPDATE_RIGHTS=1 and review the diff)`).toEqual(
      expected.installs[install.name],
    );
  });

  it('fails when a rule is added (the control): one more verb on the guard ClusterRole shows up', async () => {
    const role = applied.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'teardown-guard');
    if (!role) throw new Error('ClusterRole teardown-guard not applied');
    const widened = { ...role, rules: [...(role.rules ?? []), { apiGroups: [''], resources: ['pods'], verbs: ['delete'] }] };
    const r = await cp.kubectl(['apply', '-f', '-'], { input: stringify(widened) });
    if (r.code !== 0) throw new Error(`kubectl apply failed:\n${r.stderr}`);
    const rights = await settledRights(['teardown-guard']);
    expect(rights['teardown-guard']!.everywhere['pods']).toContain('delete');
    expect(rights['teardown-guard']).not.toEqual(expected.installs[INSTALLS.at(-1)!.name]!['teardown-guard']);
  });
});
