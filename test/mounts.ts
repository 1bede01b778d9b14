// Real small filesystems for fault tests: a tmpfs of a few MiB fills up for real (ENOSPC), and a
// read-only mount refuses writes even to root. Needs root (CI runs as root); elsewhere the test
// is skipped with that reason, but in CI a missing capability fails instead of skipping.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { IS_ROOT } from './helpers.ts';

export function canMount(t: TestContext): boolean {
  if (IS_ROOT) return true;
  if (process.env.CI) throw new Error('fault tests with real full disks need root in CI');
  t.skip('needs root to mount a small tmpfs');
  return false;
}

export function mountTmpfs(t: TestContext, sizeBytes: number, options: { readOnly?: boolean } = {}): string {
  const parent = mkdtempSync(join(tmpdir(), 'lifeboat-mnt-'));
  const dir = join(parent, 'fs');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}${options.readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(parent, { recursive: true, force: true });
  });
  return dir;
}

export function resizeTmpfs(dir: string, sizeBytes: number): void {
  execFileSync('mount', ['-o', `remount,size=${sizeBytes}`, dir]);
}
