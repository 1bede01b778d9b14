// The tools the benchmark compares, each as the commands of every phase. A tool is skipped with
// a message when its program is missing. Passwords go through the environment, never argv.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Tool {
  name: string;
  /** Why it cannot run here, or undefined when it can. */
  missing(): string | undefined;
  version(): string;
  env: Record<string, string>;
  init(repo: string): string[][];
  backup(repo: string, source: string, label: string): string[][];
  /** Restores the latest snapshot into `target` (an empty directory). */
  restore(repo: string, target: string): { commands: string[][]; cwd?: string };
  /** Where the restored copy of `source` lands under `target`. */
  restoredRoot(target: string, source: string): string;
  checkReadData(repo: string): string[][];
}

const LIFEBOAT = fileURLToPath(new URL('../bin/lifeboat.mjs', import.meta.url));

function have(program: string): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${program} is not installed (Debian: apt-get install ${program === 'borg' ? 'borgbackup' : program})`;
  }
}

function firstLine(command: string[], env: Record<string, string> = {}): string {
  try {
    return execFileSync(command[0], command.slice(1), { env: { ...process.env, ...env } }).toString().split('\n')[0].trim();
  } catch {
    return `${command[0]} (version unknown)`;
  }
}

export const lifeboat: Tool = {
  name: 'lifeboat',
  missing: () => undefined,
  version: () => firstLine([process.execPath, LIFEBOAT, '--version']),
  env: { LIFEBOAT_PASSWORD: 'bench-lifeboat-pw' },
  init: (repo) => [[process.execPath, LIFEBOAT, 'init', '-q', '--repo', repo]],
  backup: (repo, source) => [[process.execPath, LIFEBOAT, 'backup', '-q', '--repo', repo, source]],
  restore: (repo, target) => ({ commands: [[process.execPath, LIFEBOAT, 'restore', '-q', '--repo', repo, 'latest', '--target', target]] }),
  restoredRoot: (target, source) => target + source,
  checkReadData: (repo) => [[process.execPath, LIFEBOAT, 'check', '-q', '--repo', repo, '--read-data']],
};

export const restic: Tool = {
  name: 'restic',
  missing: () => have('restic'),
  version: () => firstLine(['restic', 'version']),
  env: { RESTIC_PASSWORD: 'bench-restic-pw' },
  // Repository format 2 for compression (restic >= 0.14); its cache inside the work folder.
  init: (repo) => [['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'init', '--repository-version', '2']],
  backup: (repo, source) => [['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'backup', '--compression', 'auto', '--host', 'bench', source]],
  restore: (repo, target) => ({ commands: [['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'restore', 'latest', '--target', target]] }),
  restoredRoot: (target, source) => target + source,
  checkReadData: (repo) => [['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'check', '--read-data']],
};

export const borg: Tool = {
  name: 'borg',
  missing: () => have('borg'),
  version: () => `${firstLine(['borg', '--version'])} (zstd,3, repokey)`,
  env: { BORG_PASSPHRASE: 'bench-borg-pw', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: 'NO' },
  init: (repo) => [['borg', 'init', '--encryption', 'repokey', repo]],
  backup: (repo, source, label) => [['borg', 'create', '--compression', 'zstd,3', `${repo}::${label}`, source]],
  // borg extracts into the current folder; absolute paths lose their leading "/".
  restore: (repo, target) => ({ commands: [['sh', '-c', `borg extract "${repo}::$(borg list --last 1 --format '{archive}' "${repo}")"`]], cwd: target }),
  restoredRoot: (target, source) => target + source,
  checkReadData: (repo) => [['borg', 'check', '--verify-data', repo]],
};

export const TOOLS: Record<string, Tool> = { lifeboat, restic, borg };
