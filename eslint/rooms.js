// The rooms of src/ and what each may import: src/ARCHITECTURE.md §2's table is rendered from
// ROOMS (test/unit/architecture.test.ts fails when it differs), and the lint rules below enforce
// it, so the table and the code cannot drift apart. Tests (*.test.ts) may import anything.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/**
 * Lowest layer first. `imports`: rooms (`k8s/`) or single files (`cluster/view.ts`) a room may
 * import besides itself; `*` is everything. `io`: what it may do, for the table.
 */
export const ROOMS = [
  { room: 'version.ts', imports: [], io: 'none' },
  { room: 'memoByObject.ts', imports: [], io: 'none' },
  { room: 'k8s/', imports: [], io: 'none' },
  { room: 'finalizers/', imports: ['k8s/', 'memoByObject.ts'], io: 'none' },
  { room: 'helm/', imports: ['k8s/'], io: 'none' },
  { room: 'olm/', imports: ['finalizers/', 'k8s/'], io: 'none' },
  { room: 'cluster/', imports: ['finalizers/', 'helm/recordName.ts', 'k8s/', 'version.ts'], io: 'yes: the API server, bounded' },
  { room: 'registry/', imports: ['finalizers/', 'olm/', 'k8s/'], io: 'none' },
  {
    room: 'policies/',
    imports: ['cluster/view.ts', 'helm/', 'olm/', 'finalizers/', 'k8s/', 'memoByObject.ts'],
    io: 'none: every fact comes through the view; what they learn goes to `PolicyInput.learn`',
  },
  { room: 'configSchema.ts', imports: [], io: 'none' },
  { room: 'config.ts', imports: ['configSchema.ts', 'policies/', 'registry/', 'finalizers/', 'k8s/'], io: 'the config file' },
  { room: 'admission/', imports: ['policies/', 'cluster/view.ts', 'k8s/'], io: 'none' },
  {
    room: 'audit/',
    imports: ['registry/', 'helm/', 'olm/', 'finalizers/', 'k8s/', 'config.ts', 'version.ts'],
    io: 'files and stdin (`review`), never the cluster',
  },
  {
    room: 'check/',
    imports: ['policies/', 'cluster/', 'registry/', 'finalizers/', 'helm/', 'k8s/', 'config.ts'],
    io: 'through the view, and (`diagnose`) one list of APIServices when discovery fails',
  },
  { room: 'render/', imports: ['policies/', 'registry/', 'finalizers/', 'k8s/', 'config.ts'], io: 'the manifest files (`render-manifests`)' },
  { room: 'bufferedLogOutput.ts', imports: [], io: 'a file descriptor (stdout), in batches' },
  { room: 'log.ts', imports: ['admission/', 'bufferedLogOutput.ts'], io: 'stdout' },
  { room: 'metrics.ts', imports: ['admission/', 'policies/', 'audit/findings.ts', 'cluster/view.ts'], io: 'none' },
  { room: 'server/', imports: ['*'], io: 'sockets, files, signals' },
  { room: 'cli.ts', imports: ['*'], io: 'the command line' },
];

/** The room of a path relative to src/ (`policies/types.ts` -> `policies/`, `config.ts` -> `config.ts`). */
export function roomOf(path) {
  const [first, ...rest] = path.split(/[\\/]/);
  return rest.length > 0 ? `${first}/` : first;
}

function allowed(fromRoom, target) {
  const entry = ROOMS.find((r) => r.room === fromRoom);
  if (!entry) return false;
  if (roomOf(target) === fromRoom) return true;
  return entry.imports.some((i) => i === '*' || i === target || (i.endsWith('/') && target.startsWith(i)));
}

/** Import specifiers of a file: static, type-only, re-exports and dynamic `import()` alike. */
const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

const importsCache = new Map();
function importsOf(file) {
  const mtime = statSync(file).mtimeMs;
  const cached = importsCache.get(file);
  if (cached && cached.mtime === mtime) return cached.deps;
  const deps = [];
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec?.startsWith('.')) continue;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(SRC + sep) && target.endsWith('.ts') && existsSync(target)) deps.push(target);
  }
  importsCache.set(file, { mtime, deps });
  return deps;
}

/** A path of imports from `from` back to `to`, if any (depth-first over the source files). */
function pathBack(from, to, seen = new Set()) {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const dep of importsOf(from)) {
    const rest = pathBack(dep, to, seen);
    if (rest) return [from, ...rest];
  }
  return undefined;
}

const isSource = (file) => file.startsWith(SRC + sep) && file.endsWith('.ts') && !file.endsWith('.test.ts');

function importNodes(context, check) {
  const visit = (node) => {
    const spec = node.source?.value;
    if (typeof spec === 'string' && spec.startsWith('.')) check(node, resolve(dirname(context.filename), spec));
  };
  return { ImportDeclaration: visit, ExportNamedDeclaration: visit, ExportAllDeclaration: visit, ImportExpression: visit };
}

const allowedImports = {
  meta: { type: 'problem', docs: { description: 'src/ARCHITECTURE.md §2: a room imports only what its row allows' }, schema: [] },
  create(context) {
    if (!isSource(context.filename)) return {};
    const from = roomOf(relative(SRC, context.filename));
    return importNodes(context, (node, target) => {
      if (!target.startsWith(SRC + sep)) return;
      const to = relative(SRC, target).split(sep).join('/');
      if (!allowed(from, to)) {
        context.report({ node, message: `${from} may not import ${to} (src/ARCHITECTURE.md §2, "What each may touch"; the table is eslint/rooms.js)` });
      }
    });
  },
};

const noImportCycle = {
  meta: { type: 'problem', docs: { description: 'no import cycle among the source files, type-only and dynamic imports included' }, schema: [] },
  create(context) {
    if (!isSource(context.filename)) return {};
    const self = context.filename;
    return importNodes(context, (node, target) => {
      if (!isSource(target)) return;
      const back = pathBack(target, self);
      if (back) context.report({ node, message: `import cycle: ${[self, ...back].map((f) => relative(SRC, f)).join(' -> ')}` });
    });
  },
};

export const roomsPlugin = { rules: { 'allowed-imports': allowedImports, 'no-import-cycle': noImportCycle } };

/** The table of src/ARCHITECTURE.md §2, as markdown rows. */
export function roomsTable() {
  const code = (s) => (s === '*' ? 'everything' : `\`${s}\``);
  return [
    '| room | may import | may do I/O |',
    '|---|---|---|',
    ...[...ROOMS].reverse().map((r) => `| \`${r.room}\` | ${r.imports.length === 0 ? 'nothing of src/' : r.imports.map(code).join(', ')} | ${r.io} |`),
  ].join('\n');
}
