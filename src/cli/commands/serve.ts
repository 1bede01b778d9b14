// lifeboat serve: a repository server for the office (restic's REST protocol v2), and
// `serve user add|remove|list` for its users file.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LifeboatError } from '../../errors.ts';
import { isLoopbackHost } from '../../lib/redact.ts';
import { createRestServer } from '../../server/rest-server.ts';
import { Authenticator, checkUserName, hashPassword, readUsers, writeUsers } from '../../server/users.ts';
import { flag, stringOption, type Command } from '../command.ts';
import type { Context } from '../context.ts';
import { promptPassword } from '../password.ts';

export const serve: Command = {
  name: 'serve',
  summary: 'Serve the repositories under a folder over HTTP(S) (restic REST protocol v2).',
  usage: 'lifeboat serve --path DIR [--listen ADDR:PORT] [--append-only] [--private-repos] [--tls-cert F --tls-key F] [--no-auth]\n       lifeboat serve user add|remove|list [NAME] --path DIR',
  examples: [
    'lifeboat serve user add alice --path /srv/lifeboat',
    'lifeboat serve --path /srv/lifeboat --listen 0.0.0.0:8000 --append-only --private-repos --tls-cert cert.pem --tls-key key.pem',
    'lifeboat backup --repo rest:https://alice:PASSWORD@backup.office:8000/alice/laptop ~/Documents',
  ],
  options: {
    path: { type: 'string', arg: 'DIR', description: 'the folder whose repositories are served (required)' },
    listen: { type: 'string', arg: 'ADDR:PORT', description: 'where to listen (default 127.0.0.1:8000)' },
    'append-only': { type: 'boolean', description: 'clients can add files, never delete or replace them' },
    'private-repos': { type: 'boolean', description: 'each user sees only the repositories below /USER/' },
    'tls-cert': { type: 'string', arg: 'FILE', description: 'TLS certificate (PEM); with --tls-key, serve HTTPS' },
    'tls-key': { type: 'string', arg: 'FILE', description: 'TLS private key (PEM)' },
    'no-auth': { type: 'boolean', description: 'serve without authentication (only on a trusted network)' },
    'users-file': { type: 'string', arg: 'FILE', description: 'the users file (default DIR/.lifeboat-users)' },
    'max-request-size': { type: 'string', arg: 'MiB', description: 'refuse uploads larger than this (default 128)' },
    'access-log': { type: 'boolean', description: 'print an access log line per request on stdout' },
  },
  async run(ctx, args) {
    const dir = stringOption(args, 'path');
    if (!dir) throw new LifeboatError('USAGE', 'serve needs --path DIR', { hint: 'lifeboat serve --path /srv/lifeboat' });
    const root = resolve(dir);
    const usersFile = stringOption(args, 'users-file') ?? join(root, '.lifeboat-users');
    if (args.positionals[0] === 'user') return await manageUsers(ctx, usersFile, args.positionals.slice(1));
    if (args.positionals.length) throw new LifeboatError('USAGE', `Unexpected argument "${args.positionals[0]}"`);
    const noAuth = flag(args, 'no-auth');
    if (noAuth) ctx.warn('serving WITHOUT authentication (--no-auth): anyone who reaches the port can read and write the repositories');
    else if (readUsers(usersFile).length === 0) {
      throw new LifeboatError('USAGE', `No users in ${usersFile}: every request would be refused`, { hint: `Add one with "lifeboat serve user add NAME --path ${dir}", or give --no-auth explicitly.` });
    }
    const certFile = stringOption(args, 'tls-cert');
    const keyFile = stringOption(args, 'tls-key');
    if (Boolean(certFile) !== Boolean(keyFile)) throw new LifeboatError('USAGE', '--tls-cert and --tls-key go together');
    const [host, port] = parseListen(stringOption(args, 'listen') ?? '127.0.0.1:8000');
    if (!certFile && !isLoopbackHost(host)) ctx.warn(`listening on ${host} without TLS: passwords and repository files cross the network unprotected; give --tls-cert and --tls-key`);
    const server = createRestServer({
      root,
      appendOnly: flag(args, 'append-only'),
      privateRepos: flag(args, 'private-repos'),
      auth: noAuth ? undefined : new Authenticator(usersFile),
      maxRequestBytes: Number(stringOption(args, 'max-request-size') ?? 128) * 1024 * 1024,
      tls: certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
      accessLog: flag(args, 'access-log') ? (line) => ctx.out(line) : undefined,
    });
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', (err) => reject(new LifeboatError('USAGE', `Cannot listen on ${host}:${port}: ${err.message}`)));
      server.listen(port, host, resolveListen);
    });
    const address = server.address() as { address: string; port: number };
    ctx.info(`Serving ${root} on ${certFile ? 'https' : 'http'}://${address.address}:${address.port}/${flag(args, 'append-only') ? ' (append-only)' : ''}`);
    await new Promise<void>((done) => {
      const stop = () => server.close(() => done());
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};

function parseListen(text: string): [string, number] {
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m) throw new LifeboatError('USAGE', `--listen "${text}" is not ADDR:PORT`);
  return [m[1].replace(/^\[|\]$/g, '') || '127.0.0.1', Number(m[2])];
}

async function manageUsers(ctx: Context, file: string, [action, name]: string[]): Promise<number> {
  const users = readUsers(file);
  if (action === 'list') {
    if (ctx.json) ctx.emitJson(users.map((u) => u.name));
    else for (const u of users) ctx.out(u.name);
    return 0;
  }
  if (!name) throw new LifeboatError('USAGE', `serve user ${action ?? ''} needs a user name`, { hint: 'lifeboat serve user add alice --path DIR' });
  checkUserName(name);
  if (action === 'add') {
    const password = process.env.LIFEBOAT_SERVE_PASSWORD ?? (await promptPassword(`Password for ${name}: `));
    if (!password) throw new LifeboatError('USAGE', 'The password is empty');
    const hash = await hashPassword(password);
    writeUsers(file, [...users.filter((u) => u.name !== name), { name, hash }]);
    ctx.out(`${users.some((u) => u.name === name) ? 'Changed the password of' : 'Added'} ${name} in ${file}.`);
    return 0;
  }
  if (action === 'remove') {
    if (!users.some((u) => u.name === name)) throw new LifeboatError('USAGE', `No user "${name}" in ${file}`);
    writeUsers(file, users.filter((u) => u.name !== name));
    ctx.out(`Removed ${name} from ${file}.`);
    return 0;
  }
  throw new LifeboatError('USAGE', `Unknown serve user action "${action}"`, { hint: 'Use add, remove or list.' });
}
