// `lifeboat serve` for tests: started on a free port of 127.0.0.1, stopped after the test.
import type { TestContext } from 'node:test';
import { cliOk, MAIN } from '../helpers.ts';
import { freePort, portOpen, startDaemon, waitFor, type Daemon } from './daemon.ts';

const ENV = { LIFEBOAT_KDF_MEMORY_KIB: '1024' };

export async function serve(t: TestContext, root: string, flags: string[] = [], options: { port?: number; env?: Record<string, string> } = {}): Promise<{ port: number; daemon: Daemon }> {
  const p = options.port ?? (await freePort());
  const daemon = startDaemon(process.execPath, [MAIN, 'serve', '--path', root, '--listen', `127.0.0.1:${p}`, ...flags], { env: { ...process.env, ...ENV, ...options.env } });
  t.after(() => daemon.stop());
  await waitFor('lifeboat serve', () => portOpen(p), 20_000, daemon.output);
  return { port: p, daemon };
}

export async function addUser(root: string, name: string, password: string, env: Record<string, string> = {}): Promise<void> {
  await cliOk(['serve', 'user', 'add', name, '--path', root], { env: { ...ENV, LIFEBOAT_SERVE_PASSWORD: password, ...env } });
}
