// The time of a line the fast path skips, read from its bytes, so that skipped and parsed lines
// are counted and windowed alike (src/audit/README.md, "Same answer every way"). Only
// kube-apiserver's own encoding is trusted: the Event struct ends with requestReceivedTimestamp,
// stageTimestamp and the optional annotations map, so the line ends either
//   ..."requestReceivedTimestamp":"T1","stageTimestamp":"T2"}
// or ..."requestReceivedTimestamp":"T1","stageTimestamp":"T2","annotations":{...}}
// Anything else (a look-alike key inside the annotations, an escape in the value) answers NaN and
// the caller parses the line instead.

const RECEIVED = Buffer.from('"requestReceivedTimestamp":"', 'latin1');
const STAGE = Buffer.from('","stageTimestamp":"', 'latin1');
const ANNOTATIONS = Buffer.from(',"annotations":{', 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;
/** Longer than any RFC 3339 time with nanoseconds and an offset. */
const MAX_TIME_CHARS = 40;

/** End (index of the closing quote) of a timestamp string starting at `p`, or -1. */
function timeEnd(buf: Buffer, p: number, end: number): number {
  const limit = Math.min(end, p + MAX_TIME_CHARS + 1);
  for (let k = p; k < limit; k++) {
    const c = buf[k];
    if (c === QUOTE) return k > p ? k : -1;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

function matchesAt(buf: Buffer, needle: Buffer, at: number, end: number): boolean {
  return at + needle.length <= end && buf.compare(needle, 0, needle.length, at, at + needle.length) === 0;
}

/** requestReceivedTimestamp of the line buf[start, end) in ms, or NaN when it cannot be read safely. */
export function lineTime(buf: Buffer, start: number, end: number): number {
  // Searched in place (no subarray per line); a match before `start` belongs to another line.
  const p = end - start < RECEIVED.length ? -1 : buf.lastIndexOf(RECEIVED, end - RECEIVED.length);
  if (p < start) return Number.NaN;
  const from = p + RECEIVED.length;
  const q = timeEnd(buf, from, end);
  if (q < 0 || !matchesAt(buf, STAGE, q, end)) return Number.NaN;
  const s2 = q + STAGE.length;
  const q2 = timeEnd(buf, s2, end);
  if (q2 < 0) return Number.NaN;
  const after = q2 + 1;
  const last = after === end - 1 && buf[after] === CLOSE_BRACE;
  if (!last && !matchesAt(buf, ANNOTATIONS, after, end)) return Number.NaN;
  return Date.parse(buf.toString('latin1', from, q));
}
