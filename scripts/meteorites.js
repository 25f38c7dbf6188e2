#!/usr/bin/env node
// The `meteorites` bin: runs the TypeScript CLI through tsx's loader, in this one process.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
