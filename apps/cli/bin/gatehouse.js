#!/usr/bin/env node
// Runs the build (dist/main.js) when there is one, else the TypeScript sources through tsx
// (development; GATEHOUSE_CLI_FROM_SOURCE=1 forces it).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const dist = new URL('../dist/main.js', import.meta.url);
if (existsSync(dist) && !process.env.GATEHOUSE_CLI_FROM_SOURCE) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
