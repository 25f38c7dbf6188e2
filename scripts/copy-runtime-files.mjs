// The second half of `npm run build`: tsc emits only JavaScript, but some modules read files beside
// themselves at run time (the Lua scripts, through LuaScript.fromFile(import.meta.url, ...)). This
// copies every file under <workspace>/src that is not TypeScript to the same place under
// <workspace>/dist, so the compiled module finds it where its source did. Test fixtures stay out.
// Last, it stamps the build as finished (scripts/dist/.built): the `meteorites` bin runs the
// compiled CLI only when none of its sources changed after that stamp.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const WORKSPACES = ['shared', 'dataset', 'charts', 'tools', 'api', 'worker', 'client'];

function* runtimeFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'fixtures') yield* runtimeFiles(path);
    } else if (!entry.name.endsWith('.ts')) yield path;
  }
}

let copied = 0;
for (const workspace of WORKSPACES) {
  const src = join(root, workspace, 'src');
  for (const file of runtimeFiles(src)) {
    const target = join(root, workspace, 'dist', relative(src, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
    copied++;
  }
}
writeFileSync(join(root, 'scripts/dist/.built'), `${new Date().toISOString()}\n`);
if (process.argv.includes('--verbose')) process.stdout.write(`copied ${copied} runtime files into dist/\n`);
