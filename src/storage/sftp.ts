// `sftp:[USER@]HOST[:PORT]/PATH`: a repository on a NAS or another office's server over SSH. Key
// or agent authentication; the host key is checked against known_hosts and an unknown or changed
// key is refused (sftp.accept-new-host-key=true adds an unknown one, as ssh's accept-new). A write
// goes to a temporary name, is fsynced (OpenSSH's extension) and renamed; OpenSSH's rename does not
// replace an existing file, which keeps files write-once.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { posix } from 'node:path';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { LifeboatError } from '../errors.ts';
import { StorageError, fileExists, listConfig, FILE_KINDS, kindFolder, objectPath, type Backend, type FileInfo, type FileKind, type ReadRange } from './backend.ts';

interface SftpSettings {
  user: string;
  host: string;
  port: number;
  root: string;
  keyFile?: string;
  knownHosts: string;
  acceptNew: boolean;
}

const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

export class SftpBackend implements Backend {
  readonly location: string;
  readonly #s: SftpSettings;
  #session: Promise<{ client: Client; sftp: SFTPWrapper }> | undefined;

  constructor(settings: SftpSettings) {
    this.#s = settings;
    this.location = `sftp:${settings.user}@${settings.host}${settings.port === 22 ? '' : `:${settings.port}`}${settings.root}`;
  }

  static fromLocation(rest: string, options: Record<string, string>): SftpBackend {
    const m = /^(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)$/.exec(rest);
    if (!m) throw new LifeboatError('USAGE', `"sftp:${rest}" is not a valid SFTP location`, { hint: 'Write it as sftp:[USER@]HOST[:PORT]/PATH, e.g. sftp:backup@nas.office/srv/lifeboat.' });
    const home = homedir();
    const expand = (p: string) => p.replace(/^~(?=\/|$)/, home);
    return new SftpBackend({
      user: m[1] ?? userInfo().username,
      host: m[2].replace(/^\[|\]$/g, ''),
      port: m[3] ? Number(m[3]) : 22,
      root: posix.normalize(m[4]),
      keyFile: options['sftp.key'] ? expand(options['sftp.key']) : undefined,
      knownHosts: expand(options['sftp.known-hosts'] ?? '~/.ssh/known_hosts'),
      acceptNew: options['sftp.accept-new-host-key'] === 'true',
    });
  }

  #path(kind: FileKind, name: string): string {
    return posix.join(this.#s.root, objectPath(kind, name));
  }

  #sftp(): Promise<SFTPWrapper> {
    this.#session ??= this.#connect().catch((err) => {
      this.#session = undefined;
      throw err;
    });
    return this.#session.then((s) => s.sftp);
  }

  async #connect(): Promise<{ client: Client; sftp: SFTPWrapper }> {
    const client = new Client();
    // Our own socket, so Nagle's algorithm can be turned off: SFTP is many small request/answer
    // pairs, and with it on each one waits for a delayed ACK (about 40 ms).
    const sock = connect({ host: this.#s.host, port: this.#s.port });
    sock.setNoDelay(true);
    let hostKeyProblem: StorageError | undefined;
    const config: ConnectConfig = {
      sock,
      username: this.#s.user,
      readyTimeout: 20_000,
      keepaliveInterval: 15_000,
      agent: process.env.SSH_AUTH_SOCK,
      privateKey: this.#privateKey(),
      hostVerifier: (key: Buffer) => {
        hostKeyProblem = this.#verifyHostKey(key);
        return hostKeyProblem === undefined;
      },
    };
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
      client.once('error', (err: Error & { level?: string; code?: string }) => {
        if (hostKeyProblem) return reject(hostKeyProblem);
        if (err.level === 'client-authentication') return reject(new StorageError('EACCES', `${this.location}: the server refused the SSH key (${err.message})`, { cause: err }));
        reject(new StorageError('EUNREACHABLE', `cannot reach ${this.location}: ${err.message}`, { transient: err.level === 'client-socket' || err.level === 'client-timeout', cause: err }));
      });
      client.connect(config);
    });
    client.on('error', () => {
      this.#session = undefined; // the next request reconnects
    });
    client.on('close', () => {
      this.#session = undefined;
    });
    return { client, sftp };
  }

  #privateKey(): Buffer | undefined {
    const candidates = this.#s.keyFile ? [this.#s.keyFile] : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => posix.join(homedir(), '.ssh', n));
    for (const file of candidates) if (existsSync(file)) return readFileSync(file);
    if (this.#s.keyFile) throw new LifeboatError('USAGE', `The SSH key file ${this.#s.keyFile} does not exist`);
    return undefined;
  }

  /** undefined when known_hosts has this key for the host; a StorageError saying why not otherwise. */
  #verifyHostKey(key: Buffer): StorageError | undefined {
    const fingerprint = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
    const names = this.#s.port === 22 ? [this.#s.host] : [`[${this.#s.host}]:${this.#s.port}`];
    const lines = existsSync(this.#s.knownHosts) ? readFileSync(this.#s.knownHosts, 'utf8').split('\n') : [];
    // "@revoked" lines name keys never to trust, whatever other lines say, and are never written
    // back as trusted; "@cert-authority" lines are for certificates, which are not used here.
    const entries = lines.map((line) => line.trim().split(/\s+/)).map((f) => (f[0]?.startsWith('@') ? { marker: f[0], fields: f.slice(1) } : { marker: '', fields: f }));
    const matching = entries.filter(({ fields: [hosts, , blob] }) => hosts && !hosts.startsWith('#') && blob && (hosts === '*' || hostMatches(hosts, names)));
    if (matching.some(({ marker, fields }) => marker === '@revoked' && Buffer.from(fields[2], 'base64').equals(key))) {
      return new StorageError('EHOSTKEY', `The host key of ${names[0]} (${fingerprint}) is REVOKED in ${this.#s.knownHosts}: it is never trusted`);
    }
    let otherKey = false;
    for (const { marker, fields } of matching) {
      if (marker) continue;
      if (Buffer.from(fields[2], 'base64').equals(key)) return undefined;
      otherKey = true;
    }
    if (otherKey) {
      return new StorageError('EHOSTKEY', `The host key of ${names[0]} has CHANGED (now ${fingerprint}); ${this.#s.knownHosts} has another one. Someone may be intercepting the connection, or the server was reinstalled: check with its administrator before removing the old line`);
    }
    if (this.#s.acceptNew) {
      const type = key.subarray(4, 4 + key.readUInt32BE(0)).toString();
      appendFileSync(this.#s.knownHosts, `${names[0]} ${type} ${key.toString('base64')}\n`, { mode: 0o600 });
      return undefined;
    }
    return new StorageError('EHOSTKEY', `The host key of ${names[0]} (${fingerprint}) is not in ${this.#s.knownHosts}. Check the fingerprint with the server's administrator, then add it (ssh-keyscan -p ${this.#s.port} ${this.#s.host} >> ${this.#s.knownHosts}), or accept it once with --option sftp.accept-new-host-key=true`);
  }

  exists(): Promise<boolean> {
    return fileExists(this, 'config', 'config');
  }

  async create(): Promise<void> {
    const sftp = await this.#sftp();
    const dirs = [this.#s.root, ...FILE_KINDS.filter((k) => k !== 'config').map((k) => posix.join(this.#s.root, kindFolder(k)))];
    const hex = '0123456789abcdef';
    for (const a of hex) for (const b of hex) dirs.push(posix.dirname(this.#path('packs', a + b)));
    for (const dir of dirs) await this.#mkdirs(sftp, dir);
  }

  async #mkdirs(sftp: SFTPWrapper, dir: string): Promise<void> {
    try {
      await call<void>((cb) => sftp.mkdir(dir, cb), dir);
    } catch (err) {
      if ((err as StorageError).code !== 'ENOENT' && (await this.#isDir(sftp, dir))) return;
      if ((err as StorageError).code === 'ENOENT' && dir !== '/') {
        await this.#mkdirs(sftp, posix.dirname(dir));
        return await this.#mkdirs(sftp, dir);
      }
      if (!(await this.#isDir(sftp, dir))) throw err;
    }
  }

  async #isDir(sftp: SFTPWrapper, dir: string): Promise<boolean> {
    return await call<{ isDirectory(): boolean }>((cb) => sftp.stat(dir, cb), dir).then((st) => st.isDirectory(), () => false);
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    if (kind === 'config') return yield* listConfig(this);
    const sftp = await this.#sftp();
    const folder = posix.join(this.#s.root, kindFolder(kind));
    const dirs = kind === 'packs' ? (await this.#readdir(sftp, folder)).filter((e) => e.longname.startsWith('d')).map((e) => posix.join(folder, e.filename)) : [folder];
    for (const dir of dirs) {
      for (const e of await this.#readdir(sftp, dir)) {
        if (e.longname.startsWith('-') && !e.filename.startsWith('.tmp-')) yield { name: e.filename, sizeBytes: e.attrs.size };
      }
    }
  }

  async #readdir(sftp: SFTPWrapper, dir: string): Promise<Array<{ filename: string; longname: string; attrs: { size: number } }>> {
    try {
      return (await call<Array<{ filename: string; longname: string; attrs: { size: number } }>>((cb) => sftp.readdir(dir, cb), dir)).sort((a, b) => (a.filename < b.filename ? -1 : 1));
    } catch (err) {
      if ((err as StorageError).code === 'ENOENT') return [];
      throw err;
    }
  }

  async read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer> {
    const sftp = await this.#sftp();
    const path = this.#path(kind, name);
    const handle = await call<Buffer>((cb) => sftp.open(path, 'r', cb), `${kind}/${name}`);
    try {
      const offset = range?.offset ?? 0;
      const length = range?.length ?? (await call<{ size: number }>((cb) => sftp.fstat(handle, cb), path)).size;
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = await call<number>((cb) => sftp.read(handle, buf, done, Math.min(length - done, 256 * 1024), offset + done, (err, bytes) => cb(err, bytes)), path);
        if (n === 0) break;
        done += n;
      }
      if (done < length) throw new StorageError('EIO', `short read of ${kind}/${name}: ${done} of ${length} bytes at ${offset}`);
      return buf;
    } finally {
      await call<void>((cb) => sftp.close(handle, cb), path).catch(() => {});
    }
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const sftp = await this.#sftp();
    const final = this.#path(kind, name);
    const tmp = posix.join(posix.dirname(final), `.tmp-${randomBytes(8).toString('hex')}`);
    const handle = await call<Buffer>((cb) => sftp.open(tmp, 'wx', { mode: 0o444 }, cb), `${kind}/${name}`);
    try {
      let position = 0;
      for (const part of data instanceof Uint8Array ? [data] : data) {
        const buf = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
        await call<void>((cb) => sftp.write(handle, buf, 0, buf.byteLength, position, cb), tmp);
        position += buf.byteLength;
      }
      await call<void>((cb) => sftp.ext_openssh_fsync(handle, cb), tmp).catch(() => {}); // servers without the extension
      await call<void>((cb) => sftp.close(handle, cb), tmp);
      if (kind === 'config' && (await this.exists())) throw new StorageError('EEXIST', 'config already exists');
      await call<void>((cb) => sftp.rename(tmp, final, cb), `${kind}/${name}`).catch(async (err: StorageError) => {
        const there = await this.stat(kind, name).then(() => true, () => false);
        throw there ? new StorageError('EEXIST', `${kind}/${name} already exists`) : err;
      });
    } finally {
      await call<void>((cb) => sftp.unlink(tmp, cb), tmp).catch(() => {});
    }
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo> {
    const sftp = await this.#sftp();
    const st = await call<{ size: number }>((cb) => sftp.stat(this.#path(kind, name), cb), `${kind}/${name}`);
    return { name, sizeBytes: st.size };
  }

  async delete(kind: FileKind, name: string): Promise<void> {
    const sftp = await this.#sftp();
    await call<void>((cb) => sftp.unlink(this.#path(kind, name), cb), `${kind}/${name}`);
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) (await session.catch(() => undefined))?.client.end();
  }
}

/** Runs an ssh2 callback call; SFTP status codes become StorageError codes. */
function call<T>(start: (cb: (err: (Error & { code?: number }) | null | undefined, value?: T) => void) => void, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, value) => {
      if (!err) return resolve(value as T);
      if (err.code === SFTP_NO_SUCH_FILE) return reject(new StorageError('ENOENT', `not found: ${what}`, { cause: err }));
      if (err.code === SFTP_PERMISSION_DENIED) return reject(new StorageError('EACCES', `permission denied: ${what}`, { cause: err }));
      const lost = /No response from server|Not connected|closed/i.test(err.message);
      reject(new StorageError(lost ? 'EUNREACHABLE' : 'EIO', `${what}: ${err.message}`, { transient: lost, cause: err }));
    });
  });
}

/** A known_hosts host field: comma-separated names, or a hashed `|1|salt|hash` entry. */
function hostMatches(field: string, names: string[]): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    return names.some((n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash);
  }
  return field.split(',').some((h) => names.includes(h));
}
