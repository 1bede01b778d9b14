// Guards the layers of DESIGN.md: imports point downward only, a layer reaches another only
// through its face, the engine reaches no source or target plug-in, the native addon is loaded
// in one place, no import cycles, the wall clock only in src/lib/clock.ts, and printing only
// in the CLI.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');
const RANK: Record<string, number> = { model: 0, lib: 0, 'errors.ts': 0, storage: 1, repo: 2, sources: 2, engine: 3, protect: 4, server: 5, cli: 6 };
/**
 * The files of a layer that others may import. The chunker and the pack verifier are pure (no
 * storage, no validation library) and are part of repo's face so that worker threads, which cut blobs or verify
 * packs, need not load the whole repository.
 */
const FACES: Record<string, string[]> = { storage: ['storage/open.ts'], repo: ['repo/repository.ts', 'repo/maintenance.ts', 'repo/chunker.ts', 'repo/pack-check.ts', 'repo/key-derivation.ts'] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []));
}

const files = sourceFiles(SRC);
const layerOf = (file: string): string => relative(SRC, file).split('/')[0];
const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)]
    .map((m) => resolve(dirname(file), m[1] ?? m[2]))
    .filter((p) => p.startsWith(SRC));

test('imports point downward only, and across layers only to a layer\'s face', () => {
  const problems: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const target of importsOf(file)) {
      const to = layerOf(target);
      if (to === from) continue;
      if (RANK[to] > RANK[from]) problems.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (upward)`);
      if (RANK[to] === RANK[from] && RANK[to] !== 0) problems.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (sideways: ${from} and ${to} must not know each other)`);
      const face = FACES[to];
      if (face && !face.includes(relative(SRC, target))) problems.push(`${relative(SRC, file)} imports ${relative(SRC, target)}, not the face of ${to}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('outside src/repo nothing reaches past the repository\'s face to its storage, keys or index', () => {
  // Matches a member named backend, indexLoad, keys or index that is used (called, indexed,
  // passed on, reached through); `chunk.index]` and `{ index }` results are other things.
  const reach = /\.(backend|indexLoad)\b|\.(keys|index)\b(?!\s*[\]}])/;
  const offenders = files
    .filter((f) => layerOf(f) !== 'repo')
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
    .filter(([, , line]) => reach.test(line.replace(/\/\/.*$/, '')))
    .map(([f, n, line]) => `${relative(SRC, f)}:${n}: ${line.trim()}`);
  assert.deepEqual(offenders, []);
});

test('the engine knows sources and targets only by their faces, never a plug-in', () => {
  // A plug-in is one file implementing Source or Target; the CLI (and later the server) chooses one.
  const plugIn = /^sources\/(.*-source|.*-target|target-dirs)\.ts$/;
  const offenders = files
    .filter((f) => layerOf(f) === 'engine')
    .flatMap((f) => importsOf(f).map((t) => relative(SRC, t)).filter((t) => plugIn.test(t)).map((t) => `${relative(SRC, f)} imports ${t}`));
  assert.deepEqual(offenders, []);
});

test('the native addon is loaded in one place, src/lib/native-addon.ts, behind its one typed face', () => {
  const offenders = files
    .filter((f) => !f.endsWith('lib/native-addon.ts'))
    .filter((f) => /lifeboat_native|nativeAddon(IfBuilt)?<|process\.dlopen/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(SRC, f));
  assert.deepEqual(offenders, []);
});

test('there are no import cycles', () => {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> '));
      return;
    }
    state.set(f, 'visiting');
    for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('the wall clock is read only in src/lib/clock.ts', () => {
  const offenders = files.filter((f) => !f.endsWith('lib/clock.ts') && /Date\.now\(|new Date\(\)/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders.map((f) => relative(SRC, f)), []);
});

test('only the CLI prints', () => {
  const offenders = files.filter((f) => layerOf(f) !== 'cli' && /console\.|process\.(stdout|stderr)\.write/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders.map((f) => relative(SRC, f)), []);
});

test('source files stay small enough to read in one sitting', () => {
  const large = files.map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
  assert.deepEqual(large, []);
});
