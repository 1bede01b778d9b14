// Backup and restore of a corpus to every backend, started here on 127.0.0.1 as the tests start
// them: npx node bench/backends.ts CORPUS_DIR [WORK_DIR]. Prints one markdown table row per backend.
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';
import { startCeph } from '../test/services/ceph.ts';
import { startSshd } from '../test/services/sshd.ts';
import { freePort, portOpen, startDaemon, waitFor } from '../test/services/daemon.ts';
const corpus = process.argv[2];
const bytes = Number(execFileSync('du', ['-sb', corpus]).toString().split('\t')[0]);
const base = { ...process.env, LIFEBOAT_PASSWORD: 'bench', LIFEBOAT_KDF_MEMORY_KIB: '1024' };
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
function run(args: string[], env: Record<string, string | undefined>): number {
  const t0 = performance.now();
  execFileSync(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return (performance.now() - t0) / 1000;
}
const work = process.argv[3] ?? '/var/tmp/lifeboat-backend-bench'; rmSync(work, { recursive: true, force: true }); mkdirSync(work);
const ceph = await startCeph();
const sshd = await startSshd();
const port = await freePort();
const serve = startDaemon(process.execPath, [MAIN, 'serve', '--path', `${work}/served`, '--no-auth', '--listen', `127.0.0.1:${port}`], { env: base });
await waitFor('serve', () => portOpen(port));
const cases: Array<[string, string, string[], Record<string, string>]> = [
  ['local', `${work}/local`, [], {}],
  ['s3 (Ceph RGW, memstore)', `s3:${ceph.endpoint}/bench/repo`, [], ceph.env],
  ['sftp (OpenSSH)', `sftp:root@127.0.0.1:${sshd.port}${work}/sftp`, ['-o', `sftp.key=${sshd.clientKey}`, '-o', `sftp.known-hosts=${sshd.knownHosts}`], {}],
  ['rest (lifeboat serve)', `rest:http://127.0.0.1:${port}/r`, [], {}],
  ['rclone (:local: over stdio)', `rclone::local:${work}/rclone`, [], {}],
];
for (const [name, repo, opts, env] of cases) {
  const e = { ...base, ...env };
  run(['init', '-q', '--repo', repo, ...opts], e);
  const b = run(['backup', '-q', '--repo', repo, ...opts, corpus], e);
  rmSync(`${work}/target`, { recursive: true, force: true });
  const r = run(['restore', '-q', '--repo', repo, ...opts, 'latest', '--target', `${work}/target`], e);
  console.log(`| ${name} | ${b.toFixed(1)} s | ${(bytes / 1048576 / b).toFixed(0)} MiB/s | ${r.toFixed(1)} s | ${(bytes / 1048576 / r).toFixed(0)} MiB/s |`);
}
await serve.stop(); await sshd.stop(); await ceph.stop();
rmSync(work, { recursive: true, force: true });
