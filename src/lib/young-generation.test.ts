import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

/** Allocates objects that survive a scavenge or two, yielding between rounds as a command does; prints the young generation's size. */
function youngGenerationAfterChurn(cap: boolean): number {
  const script = `
    import { capYoungGeneration, youngGenerationBytes } from ${JSON.stringify(new URL('./young-generation.ts', import.meta.url).href)};
    if (${cap}) capYoungGeneration(16 * 2 ** 20);
    let keep = [];
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 50000; i++) {
        keep.push({ i, s: 'x' + i });
        if (keep.length > 200000) keep = keep.slice(100000);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    process.stdout.write(String(youngGenerationBytes()));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString());
}

test('the young generation stops growing at its cap; without the cap it grows past it', () => {
  const MiB = 2 ** 20;
  const uncapped = youngGenerationAfterChurn(false);
  const capped = youngGenerationAfterChurn(true);
  assert.ok(uncapped > 32 * MiB, `uncapped: ${uncapped / MiB} MiB (the test's churn must make V8 grow it)`);
  assert.ok(capped >= 16 * MiB && capped <= 32 * MiB, `capped: ${capped / MiB} MiB`);
});
