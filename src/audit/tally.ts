// How the events of an input were counted: every event read is used, outside --since/--until, at
// an earlier stage, or without a usable time; nothing else (src/audit/README.md, "What was read").
// The fast path and the full parser feed the same tally, so both report the same numbers.

export interface EventTally {
  read: number;
  /** At a final stage, with a time, inside the window: what the correlator saw. */
  used: number;
  outsideWindow: number;
  /** RequestReceived/ResponseStarted: the same requests are counted at their final stage. */
  earlierStage: number;
  withoutTime: number;
  /** Span of every event with a time (ms). */
  first?: number;
  last?: number;
  /** Span of the events used (ms). */
  usedFirst?: number;
  usedLast?: number;
}

export type EventFate = 'used' | 'outside-window' | 'earlier-stage' | 'without-time';

export interface TimeWindow {
  since?: number;
  until?: number;
}

export class Tally {
  readonly counts: EventTally = { read: 0, used: 0, outsideWindow: 0, earlierStage: 0, withoutTime: 0 };

  private readonly window: TimeWindow;
  private readonly total: Tally | undefined;

  constructor(window: TimeWindow, total?: Tally) {
    this.window = window;
    this.total = total;
  }

  /** Counts one event from its time (NaN: none) and stage; says what became of it. */
  count(timeMs: number, finalStage: boolean): EventFate {
    const fate = this.fate(timeMs, finalStage);
    this.add(timeMs, fate);
    this.total?.add(timeMs, fate);
    return fate;
  }

  private fate(timeMs: number, finalStage: boolean): EventFate {
    if (Number.isNaN(timeMs)) return 'without-time';
    if (!finalStage) return 'earlier-stage';
    if (this.window.since !== undefined && timeMs < this.window.since) return 'outside-window';
    if (this.window.until !== undefined && timeMs >= this.window.until) return 'outside-window';
    return 'used';
  }

  private add(timeMs: number, fate: EventFate): void {
    const c = this.counts;
    c.read++;
    if (fate === 'without-time') {
      c.withoutTime++;
      return;
    }
    if (c.first === undefined || timeMs < c.first) c.first = timeMs;
    if (c.last === undefined || timeMs > c.last) c.last = timeMs;
    if (fate === 'earlier-stage') {
      c.earlierStage++;
      return;
    }
    if (fate === 'outside-window') {
      c.outsideWindow++;
      return;
    }
    c.used++;
    if (c.usedFirst === undefined || timeMs < c.usedFirst) c.usedFirst = timeMs;
    if (c.usedLast === undefined || timeMs > c.usedLast) c.usedLast = timeMs;
  }
}
