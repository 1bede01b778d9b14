#!/usr/bin/env node
// The lifeboat command. Plain JavaScript that any Node.js runs (20 included): it re-launches the
// CLI on the Node.js 24 pinned by the npm package "node", which runs the TypeScript directly.
// Started by that Node.js already, it runs the CLI in its own process instead.
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const pinned = [join(root, 'node_modules', 'node', 'bin', 'node'), join(root, 'node_modules', '.bin', 'node')].find((p) => existsSync(p));
const major = Number(process.versions.node.split('.')[0]);

if (!pinned && major < 24) {
  process.stderr.write(`lifeboat: Node.js 24 is needed (this is ${process.version}); run "npm ci" in ${root} to install it\n`);
  process.exit(1);
}
const node = pinned ?? process.execPath;
// File creation and metadata calls are slow on some disks but parallelise well: a larger libuv
// thread pool lets restore create many files at once.
const env = { UV_THREADPOOL_SIZE: '8', ...compileCache(), ...process.env };
/**
 * Node.js strips the TypeScript types of every module at each start (a WebAssembly transformer);
 * its compile cache keeps the result, which halves start-up (0.39 -> 0.17 s for --version) and
 * saves 30 MiB. The cache lives in the user's own cache folder, never in a shared /tmp, so that
 * nobody else can plant code in it. NODE_COMPILE_CACHE (or an empty one) overrides it.
 */
function compileCache() {
  let home = process.env.HOME;
  try {
    home ||= homedir();
  } catch {
    // no home folder at all (a user without a passwd entry): no cache, just a slower start
  }
  const base = process.env.XDG_CACHE_HOME || (home && join(home, '.cache'));
  return base ? { NODE_COMPILE_CACHE: join(base, 'lifeboat', 'node-compile-cache') } : {};
}

if (realpathSync(node) === realpathSync(process.execPath)) {
  // Already on the right Node.js: a second process would cost 60 ms of every command. Nothing has
  // used libuv's thread pool yet, so its size can still be set here.
  process.env.UV_THREADPOOL_SIZE = env.UV_THREADPOOL_SIZE;
  if (env.NODE_COMPILE_CACHE) {
    module.enableCompileCache(env.NODE_COMPILE_CACHE);
    // For the worker threads too: each starts with a copy of process.env, and without the cache
    // strips the types of every module it loads again (a verify worker was ready after 0.2 s
    // instead of 0.1 s).
    process.env.NODE_COMPILE_CACHE = env.NODE_COMPILE_CACHE;
  }
  await import(pathToFileURL(main).href);
} else {
  relaunch();
}

function relaunch() {
  // One thread for V8's background work (concurrent marking, compiling) instead of four: on a
  // small machine they took cores from the threads doing the backup. Interleaved pairs on the
  // bench corpus: a small-change re-backup 1.52 -> 1.41 s, a restore 4.77 -> 4.44 s, full backup,
  // no-change re-backup and check unchanged. A V8 option can only be given at start, so a CLI
  // started directly by the pinned Node.js (the branch above) runs without it.
  const child = spawn(node, ['--disable-warning=ExperimentalWarning', '--v8-pool-size=1', main, ...process.argv.slice(2)], { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  child.on('error', (err) => {
    process.stderr.write(`lifeboat: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
}
