// Where the serving process's log lines go: an in-memory buffer written to a file descriptor in
// batches, off the review's path (ARCHITECTURE.md §3, "Admission").
//
// Why not pino.destination (sonic-boom) in its asynchronous mode: each of its writes goes through
// libuv's thread pool and a callback, and measured at about 7 us of CPU per decision line against
// 0.3-0.5 us for joining lines and writing them with one write(2) per batch (docs/PERFORMANCE.md).
// A batch is written on the tick after the one that filled it, so the review that fills it has
// already been answered; the rest is written every flushIntervalMs, and synchronously on every way
// the process ends (flushOnExit in log.ts). Only a SIGKILL can lose lines: at most the last
// flushIntervalMs of them, never much more than bufferBytes.
import { writeSync as fsWriteSync } from 'node:fs';

/** The log destination pino writes to, with the two flushes the exit paths need. */
export interface BufferedDestination {
  stream: { write(line: string): void };
  /** Writes what is buffered now, synchronously (exit paths). Never throws. */
  flushSync(): void;
  /** Flushes and stops the interval. */
  stop(): void;
}

export interface BufferedOutputOptions {
  fd: number;
  /** Buffered characters that start a write on the next tick. */
  bufferBytes: number;
  /** The longest a line waits in the buffer while the process runs. */
  flushIntervalMs: number;
  /** How long an exit path keeps retrying a descriptor that would block before it gives up. */
  exitRetryMs?: number;
  /** fs.writeSync; tests pass a descriptor that fills up or fails. */
  write?: (fd: number, data: Buffer, offset: number, length: number) => number;
}

/**
 * Buffered characters past which writing waits for a descriptor that would block (a reader that
 * stopped reading): the process slows down rather than losing lines or growing without bound.
 */
const BLOCKING_BEYOND_BYTES = 4 * 1024 * 1024;
const RETRY_AFTER_MS = 10;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

const wouldBlock = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'EAGAIN';

export function bufferedOutput(o: BufferedOutputOptions): BufferedDestination {
  const write = o.write ?? ((fd, data, offset, length) => fsWriteSync(fd, data, offset, length));
  const exitRetryMs = o.exitRetryMs ?? 2_000;
  let lines: string[] = [];
  let buffered = 0;
  /** Bytes of an earlier batch the descriptor did not take yet; written before anything newer. */
  let unwritten: Buffer | undefined;
  let scheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;

  /** Writes `unwritten` and then the buffer; true when the descriptor would block. */
  const writeOut = (): boolean => {
    if (lines.length > 0) {
      const batch = Buffer.from(lines.join(''), 'utf8');
      unwritten = unwritten ? Buffer.concat([unwritten, batch]) : batch;
      lines = [];
      buffered = 0;
    }
    let offset = 0;
    try {
      while (unwritten && offset < unwritten.length) offset += write(o.fd, unwritten, offset, unwritten.length - offset);
      unwritten = undefined;
      return false;
    } catch (err) {
      if (wouldBlock(err)) {
        unwritten = unwritten?.subarray(offset);
        return true;
      }
      // The descriptor is gone (EPIPE, EBADF): nothing buffered can reach it any more.
      unwritten = undefined;
      return false;
    }
  };

  const flush = (): void => {
    scheduled = false;
    if (!writeOut() || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      flush();
    }, RETRY_AFTER_MS);
    retryTimer.unref();
  };

  const flushSync = (): void => {
    const giveUpAt = Date.now() + exitRetryMs;
    while (writeOut() && Date.now() < giveUpAt) Atomics.wait(sleepCell, 0, 0, RETRY_AFTER_MS);
  };

  const timer = setInterval(flush, o.flushIntervalMs);
  timer.unref();

  return {
    stream: {
      write(line) {
        lines.push(line);
        buffered += line.length;
        if (buffered + (unwritten?.length ?? 0) > BLOCKING_BEYOND_BYTES) flushSync();
        else if (buffered >= o.bufferBytes && !scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      },
    },
    flushSync,
    stop() {
      clearInterval(timer);
      clearTimeout(retryTimer);
      retryTimer = undefined;
      flushSync();
    },
  };
}
