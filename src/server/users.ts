// The users file of `lifeboat serve`: one `name:argon2id$m=KiB,t=passes,p=lanes$salt$hash` line per
// user (base64 salt and hash). Checking a password costs an argon2id run, so a successful check is
// remembered for the process (keyed by an HMAC of name and password, never the password itself).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { LifeboatError } from '../errors.ts';
import { argon2id, defaultArgon2idCost, type Argon2idCost } from '../lib/argon2id.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface UserRecord {
  name: string;
  hash: string;
}

export function readUsers(file: string): UserRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((line, i) => {
      const colon = line.indexOf(':');
      if (colon <= 0 || !line.slice(colon + 1).startsWith('argon2id$')) throw new LifeboatError('USAGE', `${file}, line ${i + 1}: not "name:argon2id$..."`);
      return { name: line.slice(0, colon), hash: line.slice(colon + 1) };
    });
}

export function writeUsers(file: string, users: readonly UserRecord[]): void {
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, users.map((u) => `${u.name}:${u.hash}\n`).join(''), { mode: 0o600 });
  renameSync(tmp, file);
}

export function checkUserName(name: string): void {
  if (!NAME.test(name)) throw new LifeboatError('USAGE', `"${name}" is not a valid user name (letters, digits, . _ -; at most 64)`);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const params = defaultArgon2idCost();
  const hash = await derive(password, salt, params);
  return `argon2id$m=${params.memoryKiB},t=${params.passes},p=${params.parallelism}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^argon2id\$m=(\d+),t=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[5], 'base64');
  const got = await derive(password, Buffer.from(m[4], 'base64'), { memoryKiB: Number(m[1]), passes: Number(m[2]), parallelism: Number(m[3]) });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function derive(password: string, salt: Buffer, cost: Argon2idCost): Promise<Buffer> {
  return argon2id(Buffer.from(password, 'utf8'), salt, cost);
}

/** Checks Basic credentials against the users file, re-read when it changes on disk. */
export class Authenticator {
  readonly #file: string;
  readonly #secret = randomBytes(32);
  readonly #verified = new Set<string>();
  #users = new Map<string, string>();
  #loadedText = '';
  /** A hash of a random password, checked for names that are not users. */
  #dummy: string | undefined;

  constructor(file: string) {
    this.#file = file;
    this.#reload();
  }

  #reload(): void {
    let text = '';
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch {
      // A missing file means no users: every request is refused.
    }
    if (text === this.#loadedText) return;
    this.#loadedText = text;
    this.#users = new Map(readUsers(this.#file).map((u) => [u.name, u.hash]));
    this.#verified.clear(); // a removed user or a changed password takes effect at once
  }

  /** The user name if the credentials are right, else undefined. */
  async check(name: string, password: string): Promise<string | undefined> {
    this.#reload();
    const stored = this.#users.get(name);
    if (!stored) {
      // The same argon2id work as for a known name: answering at once would tell names apart.
      await verifyPassword(password, (this.#dummy ??= await hashPassword(randomBytes(16).toString('hex'))));
      return undefined;
    }
    const memo = createHmac('sha256', this.#secret).update(`${name}\0${password}\0${stored}`).digest('hex');
    if (this.#verified.has(memo)) return name;
    if (!(await verifyPassword(password, stored))) return undefined;
    this.#verified.add(memo);
    return name;
  }
}
