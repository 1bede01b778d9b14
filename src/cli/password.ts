// Where the password comes from: LIFEBOAT_PASSWORD, --password-file / LIFEBOAT_PASSWORD_FILE, or
// a prompt on the terminal that does not echo. Never from a command-line argument.
import { readFileSync } from 'node:fs';
import { LifeboatError } from '../errors.ts';

export function passwordFromEnvironment(passwordFile: string | undefined): string | undefined {
  if (process.env.LIFEBOAT_PASSWORD !== undefined && process.env.LIFEBOAT_PASSWORD !== '') return process.env.LIFEBOAT_PASSWORD;
  const file = passwordFile ?? process.env.LIFEBOAT_PASSWORD_FILE;
  return file ? readPasswordFile(file) : undefined;
}

/** The first line of a password file (a trailing newline is not part of the password). */
export function readPasswordFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new LifeboatError('USAGE', `Cannot read the password file "${file}": ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a line from the terminal without echoing it. */
export async function promptPassword(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new LifeboatError('USAGE', 'No password given', {
      hint: 'Set LIFEBOAT_PASSWORD or LIFEBOAT_PASSWORD_FILE, or use --password-file FILE.',
    });
  }
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let answer = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (data: Buffer): void => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            resolve(answer);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new LifeboatError('INTERRUPTED', 'Interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else answer += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
