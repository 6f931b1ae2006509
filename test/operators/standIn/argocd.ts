// Argo CD v3.5.8 (github.com/argoproj/argo-cd/v3).
// The application-controller (StatefulSet) removes resources-finalizer.argocd.argoproj.io
// (and its /foreground, /background variants) in controller/appcontroller.go:
//   - processAppOperationQueueItem: an Application with no operation and a deletionTimestamp goes
//     to finalizeApplicationDeletion, whose error becomes a DeletionError condition;
//   - finalizeApplicationDeletion: the Application read again (gone: nothing to do); its
//     AppProject read (missing: error, the finalizer stays); the destination cluster resolved,
//     and if it cannot be, every propagation, pre-delete and post-delete finalizer is stripped
//     without deleting anything; pre-delete hooks; when cascading, the app's live managed objects
//     (from its cluster cache, found by tracking) deleted, Foreground or, with the /background
//     variant, Background, and waited for; then UnSetCascadedDeletion and updateFinalizers, a
//     merge patch of metadata.finalizers; post-delete hooks.
// The stand-in reads the managed objects from status.resources instead of a cluster cache, keeps
// those whose argocd.argoproj.io/tracking-id annotation names the app, and does not run
// pre/post-delete hooks (an Application asking for them keeps its finalizer, with the reason).
// argocd-server, a bystander with update and patch on applications, creates the default
// AppProject at start (server/server.go initializeDefaultProject) and otherwise leaves
// Applications alone here.
import type { Behaviour, StandIn } from './context.ts';
import type { Outcome } from './loop.ts';
import { deleting, type KubeObject } from './kube.ts';

const RESOURCES = 'resources-finalizer.argocd.argoproj.io';
const PROPAGATION = [RESOURCES, `${RESOURCES}/foreground`, `${RESOURCES}/background`];
const HOOKS = ['pre-delete-finalizer.argocd.argoproj.io', 'post-delete-finalizer.argocd.argoproj.io'];
const TRACKING = 'argocd.argoproj.io/tracking-id';
/** The in-cluster destination (pkg/apis/application/v1alpha1 KubernetesInternalAPIServerAddr, InClusterName). */
const IN_CLUSTER_SERVER = 'https://kubernetes.default.svc';
const IN_CLUSTER_NAME = 'in-cluster';

type Application = KubeObject & {
  operation?: unknown;
  spec?: { project?: string; destination?: { server?: string; name?: string } };
  status?: {
    resources?: Array<{ group?: string; version: string; kind: string; namespace?: string; name: string }>;
    conditions?: unknown[];
    reconciledAt?: string;
  };
};

const isHookFinalizer = (f: string) => HOOKS.some((h) => f === h || f.startsWith(`${h}/`));

/** REST path of a kind by discovery, memoised per group/version. */
function resolver(s: StandIn): (group: string, version: string, kind: string, ns: string | undefined, name: string) => Promise<string | undefined> {
  const memo = new Map<string, Array<{ name: string; kind: string; namespaced: boolean }>>();
  return async (group, version, kind, ns, name) => {
    const gv = group ? `/apis/${group}/${version}` : `/api/${version}`;
    if (!memo.has(gv)) memo.set(gv, (await s.client.must<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>('GET', gv)).resources);
    const r = memo.get(gv)!.find((x) => x.kind === kind && !x.name.includes('/'));
    if (!r) return undefined;
    return `${gv}${r.namespaced && ns ? `/namespaces/${ns}` : ''}/${r.name}/${name}`;
  };
}

export const argocdController: Behaviour = async (s) => {
  const base = `/apis/argoproj.io/v1alpha1/namespaces/${s.namespace}`;
  const apps = s.informer<Application>(`${base}/applications`);
  const pathOf = resolver(s);

  const patchFinalizers = (app: Application, finalizers: string[]) =>
    s.client.must('PATCH', `${base}/applications/${app.metadata.name}`, {
      body: { metadata: { finalizers } },
      contentType: 'application/merge-patch+json',
    });

  async function destinationResolvable(app: Application): Promise<boolean> {
    const d = app.spec?.destination ?? {};
    if (d.server === IN_CLUSTER_SERVER || d.name === IN_CLUSTER_NAME) return true;
    const secrets = await s.client.must<{ items: Array<{ data?: Record<string, string> }> }>(
      'GET',
      `/api/v1/namespaces/${s.namespace}/secrets?labelSelector=${encodeURIComponent('argocd.argoproj.io/secret-type=cluster')}`,
    );
    const decode = (v?: string) => (v ? Buffer.from(v, 'base64').toString('utf8') : undefined);
    return secrets.items.some((x) => (d.server && decode(x.data?.server) === d.server) || (d.name && decode(x.data?.name) === d.name));
  }

  async function finalize(cached: Application): Promise<Outcome> {
    const r = await s.client.request<Application>('GET', `${base}/applications/${cached.metadata.name}`);
    if (r.status === 404) return 'done';
    const app = r.body;
    const project = app.spec?.project || 'default';
    const proj = await s.client.request('GET', `${base}/appprojects/${project}`);
    if (proj.status >= 300) throw new Error(`error getting app project "${project}": ${proj.status}`);
    const finalizers = app.metadata.finalizers ?? [];
    if (!(await destinationResolvable(app))) {
      await patchFinalizers(
        app,
        finalizers.filter((f) => !PROPAGATION.includes(f) && !isHookFinalizer(f)),
      );
      s.log(`application ${app.metadata.name}: destination unresolvable, finalizers stripped without deleting`);
      return 'done';
    }
    if (finalizers.includes(HOOKS[0]!)) throw new Error('pre-delete hooks are not reproduced by this stand-in');
    if (finalizers.some((f) => PROPAGATION.includes(f))) {
      const propagationPolicy = finalizers.includes(`${RESOURCES}/background`) ? 'Background' : 'Foreground';
      let remaining = 0;
      for (const res of app.status?.resources ?? []) {
        const path = await pathOf(res.group ?? '', res.version, res.kind, res.namespace, res.name);
        if (!path) continue;
        const live = await s.client.request<KubeObject>('GET', path);
        if (live.status !== 200) continue;
        if (!(live.body.metadata.annotations?.[TRACKING] ?? '').startsWith(`${app.metadata.name}:`)) continue;
        remaining++;
        if (!deleting(live.body)) await s.client.must('DELETE', path, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy } });
      }
      if (remaining > 0) {
        // Not an error: the controller logs it and looks again.
        s.log(`application ${app.metadata.name}: ${remaining} objects remaining for deletion`);
        return 'retry';
      }
      await patchFinalizers(
        app,
        finalizers.filter((f) => !PROPAGATION.includes(f)),
      );
      s.log(`application ${app.metadata.name}: resources deleted, removed ${RESOURCES}`);
      return 'done';
    }
    if (finalizers.some(isHookFinalizer)) throw new Error('post-delete hooks are not reproduced by this stand-in');
    return 'done';
  }

  s.loop('application', apps, async (app) => {
    if (!deleting(app)) {
      // Every refresh persists the app's status (controller/appcontroller.go persistAppStatus:
      // reconciledAt, sync, health, resources); the stand-in writes reconciledAt once, so the
      // objects carry the controller's field manager on their status as the real ones do.
      if (!app.status || !('reconciledAt' in app.status)) {
        await s.client.must('PATCH', `${base}/applications/${app.metadata.name}`, {
          body: { status: { reconciledAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } },
          contentType: 'application/merge-patch+json',
        });
      }
      return 'done';
    }
    if (app.operation) return 'done';
    const finalizers = app.metadata.finalizers ?? [];
    if (!finalizers.some((f) => PROPAGATION.includes(f) || isHookFinalizer(f))) return 'done';
    try {
      return await finalize(app);
    } catch (e) {
      // processAppOperationQueueItem records the error as a DeletionError condition.
      const message = e instanceof Error ? e.message : String(e);
      const conditions = (app.status?.conditions ?? []) as Array<{ type?: string; message?: string }>;
      if (!conditions.some((c) => c.type === 'DeletionError' && c.message === message)) {
        await s.client.request('PATCH', `${base}/applications/${app.metadata.name}`, {
          body: {
            status: {
              conditions: [
                ...conditions.filter((c) => c.type !== 'DeletionError'),
                { type: 'DeletionError', message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
              ],
            },
          },
          contentType: 'application/merge-patch+json',
        });
      }
      throw e;
    }
  });
};

export const argocdServer: Behaviour = async (s) => {
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${s.namespace}/appprojects`;
  for (;;) {
    const r = await s.client.request('GET', `${path}/default`);
    if (r.status === 200) return;
    if (r.status === 404) {
      const c = await s.client.request('POST', path, {
        body: {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'AppProject',
          metadata: { name: 'default', namespace: s.namespace },
          spec: { sourceRepos: ['*'], destinations: [{ server: '*', namespace: '*' }], clusterResourceWhitelist: [{ group: '*', kind: '*' }] },
        },
      });
      if (c.status === 201 || c.status === 409) {
        s.log('created AppProject default');
        return;
      }
      s.log(`creating AppProject default: ${c.status} ${c.text.slice(0, 200)}`);
    } else {
      s.log(`reading AppProject default: ${r.status}`);
    }
    // The real server exits on this error and its Pod restarts; retrying in place is the same here.
    await new Promise((res) => setTimeout(res, 1000));
  }
};
