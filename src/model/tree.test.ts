import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sameNodes, type TreeNode } from './tree.ts';

function node(overrides: Partial<TreeNode> = {}): TreeNode {
  return {
    name: 'a.txt', type: 'file', mode: 0o644, uid: 1000, gid: 1000, mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789',
    inode: '42', device: '2049', links: 1, size: 3, content: ['ab'.repeat(32)], xattrs: [{ name: 'dXNlci5h', value: 'eA==' }], ...overrides,
  };
}

test('sameNodes: nodes that encode to the same JSON are the same, whatever the key order or undefined members', () => {
  const reordered = Object.fromEntries(Object.entries(node()).reverse()) as unknown as TreeNode;
  assert.ok(sameNodes([node()], [reordered]));
  assert.ok(sameNodes([node({ user: undefined })], [node()]));
  assert.ok(sameNodes([node()], [node({ group: undefined })]));
  assert.ok(sameNodes([], []));
});

test('sameNodes: any difference in a field, an array or a nested object, or in the number of nodes, tells them apart', () => {
  assert.ok(!sameNodes([node()], [node({ ctimeNs: '1700000000123456790' })]));
  assert.ok(!sameNodes([node()], [node({ content: ['ab'.repeat(32), 'cd'.repeat(32)] })]));
  assert.ok(!sameNodes([node()], [node({ content: ['cd'.repeat(32)] })]));
  assert.ok(!sameNodes([node()], [node({ xattrs: [{ name: 'dXNlci5h', value: 'eQ==' }] })]));
  assert.ok(!sameNodes([node()], [node({ xattrs: undefined })]));
  assert.ok(!sameNodes([node()], [node({ user: 'alice' })]));
  assert.ok(!sameNodes([node({ rdev: [8, 1] })], [node({ rdev: [8, 2] })]));
  assert.ok(!sameNodes([node()], [node(), node({ name: 'b.txt' })]));
  assert.ok(!sameNodes([node({ subtree: 'ab' })], [node({ subtree: 'cd' })]));
});
