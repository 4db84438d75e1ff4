#!/usr/bin/env node
// Runs TypeScript 7's `tsc` (the native compiler) with this process's arguments. TypeScript 7's
// package exports no `bin/` path, so the launcher is found next to its package.json.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('typescript/package.json'));
await import(pathToFileURL(join(root, 'bin', 'tsc')).href);
