// The CLI's entry on the pinned Node.js 24 (bin/lifeboat starts it; so can `node bin/lifeboat.mjs`).
// Plain JavaScript, so that an older Node.js gets a clear message rather than a syntax error. It
// turns on Node's compile cache, where that is safe, before the TypeScript is loaded.
import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(`lifeboat: Node.js 24 is needed (this is ${process.version}); run ${join(root, 'bin', 'lifeboat')}, or "npm ci" in ${root}\n`);
  process.exit(1);
}
process.env.UV_THREADPOOL_SIZE ??= '8'; // nothing has used libuv's thread pool yet

/**
 * Node.js strips the TypeScript types of every module at each start; its compile cache keeps the
 * result, which halves start-up (0.39 -> 0.17 s for --version) and saves 30 MiB. The cache holds
 * the code that runs, in clear, so it is used only in a folder that nobody else can write to:
 * every folder on its path a real folder (no link), owned by this user or root, writable by no
 * one else. Otherwise (a HOME or XDG_CACHE_HOME that another user owns, as with sudo -E, su -m
 * or a unit with HOME=) there is no cache, only a slower start. NODE_COMPILE_CACHE overrides the
 * place; an empty one turns the cache off.
 */
function compileCacheDir() {
  if (process.env.NODE_COMPILE_CACHE !== undefined) return process.env.NODE_COMPILE_CACHE || undefined;
  let home = process.env.HOME;
  try {
    home ||= homedir();
  } catch {
    return undefined; // no home folder at all (a user without a passwd entry)
  }
  const base = process.env.XDG_CACHE_HOME || (home && join(home, '.cache'));
  const dir = base && join(base, 'lifeboat', 'node-compile-cache');
  return dir && untrustedFolder(dir) === undefined ? dir : undefined;
}

/**
 * src/lib/trusted-folder.ts's rule, written again in JavaScript: loading any TypeScript before the
 * cache is on starts Node's type stripper, which cost every command 16 MiB and 0.1 s.
 */
function untrustedFolder(path) {
  const uid = process.geteuid?.() ?? 0;
  let at = '/';
  for (const part of path.split('/').filter(Boolean)) {
    at = join(at, part);
    let st = lstatSync(at, { throwIfNoEntry: false });
    if (!st) {
      try {
        mkdirSync(at, { mode: 0o700 });
      } catch {
        return `${at} cannot be created`;
      }
      st = lstatSync(at);
    }
    if (!st.isDirectory() || (st.uid !== uid && st.uid !== 0)) return `${at} is not a folder of this user's`;
    if ((st.mode & 0o022) !== 0 && !(st.uid === 0 && st.mode & 0o1000)) return `${at} is writable by others`;
  }
  return undefined;
}

const cache = compileCacheDir();
if (cache) {
  module.enableCompileCache(cache);
  // For the worker threads too: each starts with a copy of process.env.
  process.env.NODE_COMPILE_CACHE = cache;
} else process.env.NODE_COMPILE_CACHE = ''; // and not a planted one for the workers either
await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
