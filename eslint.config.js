// Lint: typescript-eslint's recommended rules over the sources and tests, and the type-checked
// rules that catch real async bugs: a promise nobody awaits or handles, and a promise passed where
// a plain callback is expected (express handlers, event listeners).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { roomsPlugin } from './eslint/rooms.js';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'certs/out/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        performance: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
        queueMicrotask: 'readonly',
        setImmediate: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  // src/ARCHITECTURE.md §2: what each room may import, and no import cycle (eslint/rooms.js).
  {
    files: ['src/**/*.ts'],
    plugins: { rooms: roomsPlugin },
    rules: { 'rooms/allowed-imports': 'error', 'rooms/no-import-cycle': 'error' },
  },
);
