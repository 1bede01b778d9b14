// Test helpers: run the real CLI in a child process (as users and scripts do) with a throw-away
// repository and a low-cost KDF, and make temporary directories that are removed after the test.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
export const IS_ROOT = process.getuid?.() === 0;

/** The CLI's cache folder (backups' folder cache) for this test process, not the user's own. */
const CACHE_HOME = mkdtempSync(join(tmpdir(), 'lifeboat-cache-'));
process.on('exit', () => rmSync(CACHE_HOME, { recursive: true, force: true }));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function tempDir(t: TestContext, prefix = 'lifeboat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: Buffer | string; wrapper?: string[] } = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse', XDG_CACHE_HOME: CACHE_HOME, ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const command = [...(options.wrapper ?? []), process.execPath, MAIN, ...args];
  const child = spawn(command[0], command.slice(1), { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes };
}

/** Runs the CLI and fails the test with its output if the exit code is not `expected`. */
export async function cliOk(args: string[], options: Parameters<typeof cli>[1] & { expect?: number } = {}): Promise<CliResult> {
  const r = await cli(args, options);
  const expected = options.expect ?? 0;
  if (r.code !== expected) throw new Error(`lifeboat ${args.join(' ')} exited ${r.code}, expected ${expected}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export async function newRepo(t: TestContext): Promise<string> {
  const repo = join(tempDir(t, 'lifeboat-repo-'), 'repo');
  await cliOk(['init', '--repo', repo]);
  return repo;
}

/**
 * The files of one kind in a local repository, as paths ("config" gives the config file). Only
 * real repository files: a temporary file left by a killed write is not one of them.
 */
export function repoFiles(repo: string, kind: 'config' | 'keys' | 'index' | 'packs' | 'snapshots' | 'locks'): string[] {
  if (kind === 'config') return [join(repo, 'config')];
  const dir = join(repo, kind === 'packs' ? 'data' : kind);
  const named = (d: string) => readdirSync(d).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => join(d, n));
  return kind === 'packs' ? readdirSync(dir).flatMap((d) => named(join(dir, d))) : named(dir);
}

/** Flips one bit of the byte at `at` (default: the middle); an XOR always changes it. */
export function flipByte(path: string, at?: number): void {
  chmodSync(path, 0o644); // repository files are written read-only
  const bytes = readFileSync(path);
  bytes[at ?? Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(path, bytes);
}
