import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestBackend } from './rest.ts';

test('a rest: location never shows its password, and plain http to another machine is warned about', async () => {
  const warnings: string[] = [];
  const remote = RestBackend.fromLocation('http://alice:s3cret@backup.example:8000/alice/', {}, (w) => warnings.push(w));
  assert.equal(remote.location, 'rest:http://alice@backup.example:8000/alice/');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /plain http to another machine/);
  assert.ok(!warnings[0].includes('s3cret'));
  await remote.close();
  const local = RestBackend.fromLocation('http://alice:s3cret@127.0.0.1:8000/alice/', {}, (w) => warnings.push(w));
  await local.close();
  assert.equal(warnings.length, 1, 'loopback is fine');
  assert.throws(() => RestBackend.fromLocation('http://alice:s3cret@[bad/', {}), (err: Error) => !err.message.includes('s3cret') && /alice:\*\*\*@/.test(err.message));
  assert.throws(() => RestBackend.fromLocation('ftp://alice:s3cret@host/', {}), (err: Error) => !err.message.includes('s3cret'));
});
