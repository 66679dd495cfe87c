#!/usr/bin/env node
// Test entry: registers tsx relative to this file (any cwd), then runs cli-main.ts.
import { register } from 'tsx/esm/api';
register();
await import('./cli-main.ts');
