// `teardown-guard check namespace|release` and `teardown-guard diagnose namespace`: read-only
// commands against a live cluster (kubeconfig, current or --context). Exit codes fit scripts:
// 0 safe, 1 unsafe (or stuck), 2 error.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import type { KubeClusterView } from '../cluster/kubeClusterView.ts';
import type { KubeHttpClient } from '../cluster/kubeHttp.ts';
import { ACCEPT_JSON, ACCEPT_METADATA_LIST } from '../k8s/mediaTypes.ts';
import { ALWAYS_EXEMPT_USERS, loadPolicySettings } from '../config.ts';
import { decodeReleaseRecord } from '../helm/releaseRecord.ts';
import type { KubeObject, PartialObjectMetadata } from '../k8s/types.ts';
import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';
import type { PolicySettings } from '../policies/settings.ts';
import { latestRecord } from '../policies/releaseRecords.ts';
import { checkNamespace, checkRelease } from './checks.ts';
import { failClosedWebhooks, serviceWebhooks, type FailClosedWebhook } from '../k8s/webhooks.ts';
import { finalizedObject } from '../cluster/liveReads.ts';
import { DEFAULT_MEMORY_CONFIGMAP, DEFAULT_MEMORY_LIMITS } from '../finalizers/memory.ts';
import { diagnoseNamespace, remainingResourceTypes, unavailableApiServices, type Holder, type UnavailableApiService } from './diagnose.ts';
import { renderCheck, renderDiagnosis } from './report.ts';

interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  config?: string;
  guardNamespace: string;
  syncTimeoutMs: string;
  format: string;
}

// client-node and the cluster modules are imported when a command runs, not when the CLI starts.

function isNotFound(err: unknown): boolean {
  return (err as { name?: string; statusCode?: number } | null)?.name === 'KubeApiError' && (err as { statusCode?: number }).statusCode === 404;
}

async function kubeConfigOf(flags: ClusterFlags): Promise<KubeConfig> {
  const { KubeConfig } = await import('../cluster/kubeConfig.ts');
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(
      `kubeconfig ${flags.kubeconfig ?? '(default: $KUBECONFIG or ~/.kube/config)'} cannot be loaded: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (flags.context) {
    if (!kc.getContexts().some((c) => c.name === flags.context)) {
      throw new Error(
        `--context ${flags.context}: no such context in the kubeconfig (have: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster; pass --kubeconfig or --context');
  return kc;
}

function settingsOf(flags: ClusterFlags): PolicySettings {
  if (flags.config) {
    return loadPolicySettings(flags.config);
  }
  return {
    exemptNamespaces: ['kube-system'],
    exemptUsers: [...ALWAYS_EXEMPT_USERS],
    finalizerGuards: [...BUILTIN_FINALIZER_GUARDS],
    breakGlassAnnotation: 'teardown-guard.io/break-glass',
  };
}

async function withView<T>(flags: ClusterFlags, settings: PolicySettings, body: (view: KubeClusterView, client: KubeHttpClient) => Promise<T>): Promise<T> {
  const kubeConfig = await kubeConfigOf(flags);
  const { createKubeClusterView } = await import('../cluster/kubeClusterView.ts');
  const { createKubeHttpClient } = await import('../cluster/kubeHttp.ts');
  const timeoutMs = Number(flags.syncTimeoutMs);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`--sync-timeout-ms: "${flags.syncTimeoutMs}" is not a positive number of milliseconds`);
  // The guard's finalizer memory is read (never written): what it learned names controllers
  // whose RBAC is gone.
  const view = createKubeClusterView({
    kubeConfig,
    finalizerGuards: settings.finalizerGuards,
    liveTimeoutMs: 5000,
    memory: { namespace: flags.guardNamespace, name: DEFAULT_MEMORY_CONFIGMAP, limits: DEFAULT_MEMORY_LIMITS },
  });
  const client = createKubeHttpClient(kubeConfig);
  view.start();
  try {
    if (!(await view.waitForSync(timeoutMs))) {
      const behind = view
        .readiness()
        .caches.filter((c) => !c.synced)
        .map((c) => `${c.name}${c.lastError ? ` (${c.lastError})` : ''}`);
      throw new Error(`the cluster view did not sync within ${timeoutMs}ms: ${behind.join(', ')}`);
    }
    return await body(view, client);
  } finally {
    client.close();
    await view.stop();
  }
}

function print(flags: ClusterFlags, value: unknown, text: string): void {
  process.stdout.write(flags.format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

async function fetchLatestRecord(view: KubeClusterView, client: KubeHttpClient, namespace: string, name: string): Promise<KubeObject> {
  const latest = latestRecord(await view.liveReleaseRecords(name), namespace);
  if (!latest) throw new Error(`release ${namespace}/${name} not found (no record sh.helm.release.v1.${name}.v* in ${namespace})`);
  const plural = latest.storage === 'Secret' ? 'secrets' : 'configmaps';
  return client.getJson<KubeObject>({
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(latest.objectName)}`,
    accept: ACCEPT_JSON,
  });
}

/**
 * The version of `group` that serves `plural`, and its kind. A group's preferred version need not
 * serve every resource of the group (operators.coreos.com prefers v2, which serves only
 * OperatorConditions; CSVs are v1alpha1), so the versions are asked in order, preferred first.
 */
async function servingVersion(client: KubeHttpClient, group: string, plural: string): Promise<{ version: string; kind: string } | undefined> {
  let versions = ['v1'];
  if (group !== '') {
    const info = await client.getJson<{ preferredVersion?: { version?: string }; versions?: Array<{ version?: string }> }>({
      path: `/apis/${group}`,
      accept: ACCEPT_JSON,
    });
    const all = (info.versions ?? []).map((v) => v.version).filter((v): v is string => Boolean(v));
    const preferred = info.preferredVersion?.version;
    versions = preferred ? [preferred, ...all.filter((v) => v !== preferred)] : all;
  }
  for (const version of versions) {
    const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    const list = await client.getJson<{ resources?: Array<{ name?: string; kind?: string }> }>({ path, accept: ACCEPT_JSON });
    const found = list.resources?.find((r) => r.name === plural);
    if (found) return { version, kind: found.kind ?? plural };
  }
  return undefined;
}

/** Lists the objects of the resource types the namespace controller says remain, with their finalizers. */
async function holdersOf(client: KubeHttpClient, namespace: KubeObject): Promise<Holder[]> {
  const ns = namespace.metadata?.name ?? '';
  const holders: Holder[] = [];
  for (const type of remainingResourceTypes(namespace)) {
    const dot = type.indexOf('.');
    const plural = dot < 0 ? type : type.slice(0, dot);
    const group = dot < 0 ? '' : type.slice(dot + 1);
    const served = await servingVersion(client, group, plural);
    if (!served) continue; // no longer served (CRD gone): nothing to list
    const { version, kind } = served;
    const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    const list = await client.getJson<{ items?: PartialObjectMetadata[] }>({
      path: `${base}/namespaces/${encodeURIComponent(ns)}/${plural}`,
      accept: ACCEPT_METADATA_LIST,
    });
    for (const item of list.items ?? []) {
      const finalizers = item.metadata.finalizers ?? [];
      if (finalizers.length === 0) continue;
      const apiVersion = group === '' ? version : `${group}/${version}`;
      const holder: Holder = { ref: { apiVersion, kind, namespace: ns, name: item.metadata.name ?? '' }, resource: type, finalizers };
      if (item.metadata.deletionTimestamp) holder.deletionTimestamp = item.metadata.deletionTimestamp;
      const seen = finalizedObject({ group, version, resource: plural, kind }, item);
      if (seen?.statusManagers) holder.statusManagers = seen.statusManagers;
      if (seen?.finalizerManagers) holder.finalizerManagers = seen.finalizerManagers;
      holders.push(holder);
    }
  }
  return holders;
}

/** Unavailable APIServices, read only when the namespace controller reports a discovery failure. */
async function unavailableApiServicesOf(client: KubeHttpClient, namespace: KubeObject): Promise<UnavailableApiService[]> {
  const conditions = (namespace['status'] as { conditions?: Array<{ type?: string; status?: string }> } | undefined)?.conditions ?? [];
  if (!conditions.some((c) => c.type === 'NamespaceDeletionDiscoveryFailure' && c.status === 'True')) return [];
  const list = await client.getJson<{ items?: KubeObject[] }>({ path: '/apis/apiregistration.k8s.io/v1/apiservices', accept: ACCEPT_JSON });
  return unavailableApiServices(list.items ?? []);
}

/** Webhooks that would refuse updates of the holders because their Service is gone (read only when something holds the namespace). */
async function blockingWebhooksOf(client: KubeHttpClient, namespace: KubeObject, holders: Holder[]): Promise<FailClosedWebhook[]> {
  if (holders.length === 0) return [];
  const lists = await Promise.all(
    (['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const).map(async (resource) => {
      const list = await client.getJson<{ items?: KubeObject[] }>({ path: `/apis/admissionregistration.k8s.io/v1/${resource}`, accept: ACCEPT_JSON });
      const kind = resource === 'validatingwebhookconfigurations' ? 'ValidatingWebhookConfiguration' : 'MutatingWebhookConfiguration';
      return (list.items ?? []).map((c) => ({ ...c, kind }));
    }),
  );
  const configurations = lists.flat();
  const services = [...new Set(serviceWebhooks(configurations).map((w) => `${w.service.namespace}/${w.service.name}`))];
  const existing = new Set<string>();
  await Promise.all(
    services.map(async (key) => {
      const [ns, name] = key.split('/') as [string, string];
      try {
        await client.getJson({ path: `/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`, accept: ACCEPT_JSON });
        existing.add(key);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }),
  );
  const resources = [...new Set(holders.map((h) => h.resource))];
  return failClosedWebhooks(configurations, resources, namespace.metadata?.labels ?? {}, (ns, name) => !existing.has(`${ns}/${name}`));
}

function clusterOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
    .option('--context <name>', 'kubeconfig context (default: the current one)')
    .option('--config <file>', 'teardown-guard config file, for extra finalizerGuards')
    .option('--guard-namespace <ns>', "the guard's namespace, where its finalizer memory is read from", 'teardown-guard')
    .option('--sync-timeout-ms <ms>', 'how long to wait for the read-only caches to load', '30000')
    .option('--format <format>', 'text or json', 'text');
}

async function run(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    process.stderr.write(`teardown-guard: ${detail}\n`);
    process.exitCode = 2;
  }
}

export function registerCheckCommands(program: Command): void {
  const check = program
    .command('check')
    .description('say, read-only, what deleting a namespace or uninstalling a release would do (exit 0 safe, 1 unsafe, 2 error)');
  clusterOptions(check.command('namespace <name>').description('would deleting this namespace be denied, or hang?')).action(
    async (name: string, flags: ClusterFlags) =>
      run(async () => {
        const settings = settingsOf(flags);
        const report = await withView(flags, settings, (view) => checkNamespace(name, view, settings));
        print(flags, report, renderCheck(report));
        return report.safe ? 0 : 1;
      }),
  );
  clusterOptions(check.command('release <namespace/name>').description('would `helm uninstall` of this release hang on a finalizer?')).action(
    async (target: string, flags: ClusterFlags) =>
      run(async () => {
        const m = /^([a-z0-9-]+)\/([^/]+)$/.exec(target);
        if (!m || !m[1] || !m[2]) throw new Error(`release "${target}": expected NAMESPACE/NAME, e.g. helm-test/web`);
        const [ns, name] = [m[1], m[2]];
        const settings = settingsOf(flags);
        const report = await withView(flags, settings, async (view, client) => {
          const release = decodeReleaseRecord(await fetchLatestRecord(view, client, ns, name));
          return checkRelease(release, view, settings);
        });
        print(flags, report, renderCheck(report));
        return report.safe ? 0 : 1;
      }),
  );
  const diagnose = program.command('diagnose').description('explain a namespace stuck in Terminating and how to free it (exit 0 not stuck, 1 stuck, 2 error)');
  clusterOptions(
    diagnose.command('namespace <name>').description('which objects and finalizers hold this namespace, and whether their controllers are alive'),
  ).action(async (name: string, flags: ClusterFlags) =>
    run(async () => {
      const settings = settingsOf(flags);
      const result = await withView(flags, settings, async (view, client) => {
        const namespace = await client
          .getJson<KubeObject>({ path: `/api/v1/namespaces/${encodeURIComponent(name)}`, accept: ACCEPT_JSON })
          .catch((err: unknown) => {
            if (isNotFound(err)) throw new Error(`namespace ${name} not found`);
            throw err;
          });
        const holders = await holdersOf(client, namespace);
        return diagnoseNamespace(
          namespace,
          holders,
          view,
          settings,
          await unavailableApiServicesOf(client, namespace),
          await blockingWebhooksOf(client, namespace, holders),
        );
      });
      print(flags, result, renderDiagnosis(result));
      return result.terminating ? 1 : 0;
    }),
  );
}
