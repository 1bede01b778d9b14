// `rclone:REMOTE:PATH`: every cloud rclone reaches (OneDrive, Google Drive, Azure Blob, Dropbox,
// B2, WebDAV...). Lifeboat starts `rclone serve restic --stdio REMOTE:PATH`, which speaks the
// REST protocol as HTTP/2 over its stdin and stdout, and talks to it with the REST client.
// `rclone.program` and `rclone.args` options change the command (default: rclone on PATH).
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import http2 from 'node:http2';
import { LifeboatError } from '../errors.ts';
import { boundedBody, RestBackend, type Answer, type RestTransport } from './rest.ts';

export class RcloneBackend {
  static async start(remote: string, options: Record<string, string>): Promise<RestBackend> {
    if (!remote.includes(':')) {
      throw new LifeboatError('USAGE', `"rclone:${remote}" names no remote`, { hint: 'Write it as rclone:REMOTE:PATH, e.g. rclone:onedrive:backups/server1 or rclone::local:/srv/backup.' });
    }
    const program = options['rclone.program'] ?? 'rclone';
    const extra = options['rclone.args']?.split(' ').filter(Boolean) ?? [];
    const child = spawn(program, ['serve', 'restic', '--stdio', ...extra, remote], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const started = await new Promise<Error | undefined>((resolve) => {
      child.once('error', resolve);
      child.once('spawn', () => resolve(undefined));
    });
    if (started) {
      throw new LifeboatError('USAGE', `Cannot start ${program}: ${started.message}`, { hint: 'Install rclone (apt-get install rclone) or set --option rclone.program=PATH.' });
    }
    const transport = http2Transport(child, () => stderr);
    return new RestBackend(new URL('http://rclone/'), transport, `rclone:${remote}`);
  }
}

/** HTTP/2 with prior knowledge over the child's stdin/stdout. */
function http2Transport(child: ChildProcess, stderr: () => string): RestTransport {
  const pipe = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  const session = http2.connect('http://rclone', { createConnection: () => pipe as never });
  let failure: Error | undefined;
  session.on('error', (err) => {
    failure = err;
  });
  child.once('exit', (code, signal) => {
    failure ??= Object.assign(new Error(`rclone exited (${signal ?? code})${stderr() ? `: ${stderr().trim().split('\n').slice(-3).join(' | ')}` : ''}`), { code: 'ECONNRESET' });
    session.destroy();
  });
  return {
    request: (method, url, headers, body, maxBytes) =>
      new Promise<Answer>((resolve, reject) => {
        if (failure) return reject(failure);
        const stream = session.request({ ':method': method, ':path': url.pathname + url.search, ...headers });
        const answer = boundedBody(maxBytes, (err) => {
          reject(err);
          stream.close();
        });
        let status = 0;
        let answerHeaders: Answer['headers'] = {};
        stream.on('response', (h) => {
          status = Number(h[':status']);
          answerHeaders = h as Answer['headers'];
        });
        stream.on('data', (c: Buffer) => answer.add(c));
        stream.on('end', () => resolve({ status, headers: answerHeaders, body: answer.bytes() }));
        stream.on('error', (err) => reject(failure ?? err));
        stream.on('close', () => {
          if (status === 0) reject(failure ?? Object.assign(new Error('rclone closed the request'), { code: 'ECONNRESET' }));
        });
        for (const part of body ?? []) stream.write(part);
        stream.end();
      }),
    close: async () => {
      session.close();
      child.stdin!.end();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        const timer = setTimeout(() => child.kill('SIGTERM'), 2000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
