// A controller's work loop, as controller-runtime and client-go work queues run one: every change
// an informer sees queues the object's key; one worker reconciles keys in order; an outcome of
// 'retry' (or an error) queues the key again after a delay, so a finalizer waiting on something
// else (a ClusterQueue still using a flavor, composite resources still present) is looked at again
// without any event.
import { keyOf, statusOf, type Informer, type KubeObject } from './kube.ts';

export type Outcome = 'done' | 'retry';

export interface LoopOptions<T extends KubeObject> {
  name: string;
  informer: Informer<T>;
  reconcile: (o: T) => Promise<Outcome>;
  log: (line: string) => void;
  retryMs?: number;
}

export class ControllerLoop<T extends KubeObject> {
  private readonly queue = new Set<string>();
  private readonly later = new Map<string, NodeJS.Timeout>();
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly lastError = new Map<string, string>();

  private readonly o: LoopOptions<T>;

  constructor(o: LoopOptions<T>) {
    this.o = o;
    o.informer.onChange((obj, type) => {
      if (type !== 'DELETED') this.enqueue(keyOf(obj));
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
    this.wake?.();
  }

  /** Queues every object of the informer again (what a dependent object's change calls for). */
  enqueueAll(filter: (o: T) => boolean = () => true): void {
    for (const obj of this.o.informer.list()) if (filter(obj)) this.enqueue(keyOf(obj));
  }

  private after(key: string, ms: number): void {
    if (this.later.has(key)) return;
    this.later.set(
      key,
      setTimeout(() => {
        this.later.delete(key);
        this.enqueue(key);
      }, ms),
    );
  }

  async run(): Promise<void> {
    await this.o.informer.synced;
    while (!this.stopped) {
      const next = this.queue.values().next();
      if (next.done) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      const key = next.value;
      this.queue.delete(key);
      const obj = this.o.informer.get(key);
      if (!obj) continue;
      try {
        const outcome = await this.o.reconcile(obj);
        this.lastError.delete(key);
        if (outcome === 'retry') this.after(key, this.o.retryMs ?? 1000);
      } catch (e) {
        const status = statusOf(e);
        const why = e instanceof Error ? e.message : String(e);
        // One line per distinct error, not one per retry.
        if (this.lastError.get(key) !== why) this.o.log(`${this.o.name} ${key}: ${why}`);
        this.lastError.set(key, why);
        this.after(key, status === 409 ? 100 : status === 403 ? 2000 : 1000);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.later.values()) clearTimeout(t);
    this.wake?.();
  }
}
