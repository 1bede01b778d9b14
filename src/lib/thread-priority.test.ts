import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

/** A thread's nice value from its /proc/.../stat: the 19th field, counted after the command name. */
function niceIn(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}
const thisThreadsStat = () => readFileSync('/proc/thread-self/stat', 'latin1');

test('lowerThreadPriority lowers the worker thread that calls it, not the process', { skip: process.platform !== 'linux' }, async () => {
  const before = niceIn(thisThreadsStat());
  const code = `
    const { parentPort } = require('node:worker_threads');
    const stat = () => require('node:fs').readFileSync('/proc/thread-self/stat', 'latin1');
    const first = stat();
    import(${JSON.stringify(new URL('./thread-priority.ts', import.meta.url).href)}).then(({ lowerThreadPriority }) => {
      lowerThreadPriority(3);
      parentPort.postMessage([first, stat()]);
    });`;
  const worker = new Worker(code, { eval: true });
  const [first, after] = await new Promise<string[]>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await worker.terminate();
  assert.equal(niceIn(first), before);
  assert.equal(niceIn(after), Math.min(19, before + 3));
  assert.equal(niceIn(thisThreadsStat()), before, 'the main thread keeps its priority');
});
