import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('a process whose only user of the addon was a worker thread exits cleanly after the worker ends', () => {
  // The addon keeps contexts per thread behind pthread keys. When only a worker had loaded it,
  // Node unloaded it as the worker ended, and the thread's exit then crashed the process (139).
  const chunker = new URL('../repo/chunker.ts', import.meta.url).href;
  const zstd = new URL('./zstd.ts', import.meta.url).href;
  const worker = `const { macBlob } = await import(${JSON.stringify(chunker)});
    const { compressBlob } = await import(${JSON.stringify(zstd)});
    macBlob(new Uint8Array(32), new Uint8Array(100));
    compressBlob(Buffer.alloc(1000, 1));
    (await import('node:worker_threads')).parentPort.postMessage('used');`;
  const main = `import { Worker } from 'node:worker_threads';
    const w = new Worker(${JSON.stringify(worker)}, { eval: true, type: 'module' });
    console.log(await new Promise((resolve) => w.once('message', resolve)));
    await w.terminate();
    console.log('ended');`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', main], { encoding: 'utf8' });
  assert.equal(child.stdout, 'used\nended\n', child.stderr);
  assert.equal(child.status, 0, `exit ${child.status} ${child.signal ?? ''}`);
});
