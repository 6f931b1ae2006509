// src/ARCHITECTURE.md §2's table of what each room may import is rendered from eslint/rooms.js,
// whose lint rules enforce it: this test keeps the document equal to what is enforced (it prints
// the table to paste when they differ), and shows the rules catch what they must.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { ROOMS, roomsPlugin, roomsTable } from '../../eslint/rooms.js';

const START = '<!-- rooms-table:start -->';
const END = '<!-- rooms-table:end -->';

describe('src/ARCHITECTURE.md', () => {
  it("§2's import table is the one eslint/rooms.js enforces", () => {
    const doc = readFileSync(new URL('../../src/ARCHITECTURE.md', import.meta.url), 'utf8');
    const start = doc.indexOf(START);
    const end = doc.indexOf(END);
    expect(start, `ARCHITECTURE.md needs a ${START} ... ${END} section`).toBeGreaterThan(0);
    expect(doc.slice(start + START.length, end).trim(), `ARCHITECTURE.md's table is stale; replace it with:\n${roomsTable()}`).toBe(roomsTable());
  });

  it('lists the rooms lowest first: each imports only rooms listed before it (so none imports upward)', () => {
    ROOMS.forEach(({ room, imports }, i) => {
      const below = ROOMS.slice(0, i).map((r) => r.room);
      for (const target of imports) {
        if (target === '*') continue;
        expect(
          below.some((b) => target === b || (b.endsWith('/') && target.startsWith(b))),
          `${room} imports ${target}, which is not listed below it`,
        ).toBe(true);
      }
    });
  });

  it('the lint rules report an upward import and a cycle', () => {
    const linter = new Linter({ configType: 'flat' });
    const config: Linter.Config[] = [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { rooms: roomsPlugin },
        rules: { 'rooms/allowed-imports': 'error', 'rooms/no-import-cycle': 'error' },
      },
    ];
    const lint = (file: string, text: string) =>
      linter.verify(text, config, { filename: new URL(`../../src/${file}`, import.meta.url).pathname }).map((m) => m.ruleId ?? m.message);
    // A policy importing the server's wiring is upward.
    expect(lint('policies/upward.ts', "import { runServe } from '../server/services.ts';\nexport const x = runServe;\n")).toEqual(['rooms/allowed-imports']);
    // config.ts imports policies/index.ts: policies/index.ts importing config.ts back is a cycle (and upward).
    expect(lint('policies/index.ts', "import type { Config } from '../config.ts';\nexport type C = Config;\n")).toEqual([
      'rooms/allowed-imports',
      'rooms/no-import-cycle',
    ]);
    // What the table allows passes.
    expect(lint('policies/fine.ts', "import type { ClusterView } from '../cluster/view.ts';\nexport type V = ClusterView;\n")).toEqual([]);
  });
});
