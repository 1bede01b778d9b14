// Prints the README's exit-code table from the error table in src/errors.ts.
// test/readme.test.ts fails when the README and this output differ.
import { EXIT_CODES } from '../src/errors.ts';

export function exitCodeTable(): string {
  return ['| code | meaning |', '| ---: | --- |', ...EXIT_CODES.map(([code, text]) => `| ${code} | ${text} |`)].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(exitCodeTable() + '\n');
