// The Source and Target faces are what databases and mailboxes will implement: a source that is
// neither files nor one stream (here: a mailbox-like tree of folders whose messages are streams,
// held in memory) goes through the same pipeline, restores byte for byte, and its unchanged
// entries are not read again by the next backup; a target that is neither a folder nor a tar
// stream (here: in memory) receives every entry through the same restore pipeline.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupSource } from '../src/engine/backup.ts';
import { restoreSnapshot } from '../src/engine/restore.ts';
import { FilesTarget } from '../src/sources/files-target.ts';
import { nameFields, type TreeNode } from '../src/model/tree.ts';
import { Repository } from '../src/repo/repository.ts';
import type { EntryStats, FolderListing } from '../src/sources/dir-scan.ts';
import type { Source } from '../src/sources/source.ts';
import type { FileContent, Place, Target } from '../src/sources/target.ts';
import { LocalBackend } from '../src/storage/local.ts';
import { newRepo, tempDir } from './helpers.ts';
import { PASSWORD } from './hostile-repo.ts';

type Folder = Map<string, Folder | Buffer>;

function stats(entry: Folder | Buffer, version: bigint): EntryStats {
  const dir = !Buffer.isBuffer(entry);
  const no = (): boolean => false;
  return {
    dev: 1n, ino: 0n, mode: BigInt((dir ? constants.S_IFDIR : constants.S_IFREG) | 0o600), nlink: 1n, uid: 0n, gid: 0n, rdev: 0n,
    size: dir ? 0n : BigInt(entry.length), blocks: 0n, mtimeNs: version, ctimeNs: version, xattrListBytes: 0,
    isFile: () => !dir, isDirectory: () => dir, isSymbolicLink: no, isFIFO: no, isCharacterDevice: no, isBlockDevice: no,
  };
}

/** A tree in memory; `reads` counts the messages whose content the pipeline asked for. */
function mailboxSource(root: Folder, version: bigint, reads: string[]): Source {
  const find = (path: Buffer): Folder | Buffer => {
    let at: Folder | Buffer = new Map([['mail', root]]);
    for (const part of path.toString().split('/').filter(Boolean)) {
      const next: Folder | Buffer | undefined = Buffer.isBuffer(at) ? undefined : at.get(part);
      if (!next) throw Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });
      at = next;
    }
    return at;
  };
  return {
    paths: ['/mail'],
    localFolders: false,
    stat: async (path) => stats(find(path), version),
    list: async (path): Promise<FolderListing> => {
      const folder = find(path) as Folder;
      const names = [...folder.keys()].sort();
      return {
        entries: names.map((n) => ({ name: Buffer.from(n), stats: stats(folder.get(n)!, version) })),
        digest: (key) => createHash('sha256').update(key).update(names.join('\0')).digest(),
        directories: () => names.filter((n) => !Buffer.isBuffer(folder.get(n))).map((n) => ({ name: Buffer.from(n), dev: 1n })),
      };
    },
    describe: async (_path, name, st) => {
      const node: TreeNode = {
        ...nameFields(name), type: st.isDirectory() ? 'dir' : 'file', mode: 0o600, uid: 0, gid: 0,
        mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), inode: '0', device: '1', links: 1, size: Number(st.size),
      };
      return { node, problems: [] };
    },
    unchanged: (previous, node) => previous?.type === 'file' && previous.content !== undefined && previous.mtimeNs === node.mtimeNs && previous.size === node.size,
    content: (path) => {
      reads.push(path.toString());
      const bytes = find(path) as Buffer;
      return { stream: (async function* () { for (let i = 0; i < bytes.length; i += 70_000) yield bytes.subarray(i, i + 70_000); })() };
    },
    isCacheDir: async () => false,
    finished: async () => {},
    close: () => {},
  };
}

test('a source that is neither files nor one stream backs up through the one pipeline and restores exactly', async (t) => {
  const repoDir = await newRepo(t);
  const message = (n: number): Buffer => Buffer.from(`Subject: message ${n}\n\n${'body line\n'.repeat(n * 5000)}`);
  const root: Folder = new Map<string, Folder | Buffer>([
    ['INBOX', new Map([['1.eml', message(1)], ['2.eml', message(2)]])],
    ['Sent', new Map([['3.eml', message(3)]])],
  ]);
  const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD, { lock: { exclusive: false, purpose: 'test' } });
  t.after(() => repo.close());
  const reads: string[] = [];
  const first = await backupSource(repo, mailboxSource(root, 1n, reads), {});
  assert.deepEqual(reads.sort(), ['/mail/INBOX/1.eml', '/mail/INBOX/2.eml', '/mail/Sent/3.eml']);
  assert.equal(first.summary.filesNew, 3);
  assert.equal(first.summary.errors, 0);

  (root.get('Sent') as Folder).set('4.eml', message(4));
  reads.length = 0;
  const second = await backupSource(repo, mailboxSource(root, 1n, reads), {});
  assert.deepEqual(reads, ['/mail/Sent/4.eml'], 'only the new message is read');
  assert.equal(second.snapshot.parent, first.snapshotId);
  assert.equal(second.summary.filesUnchanged, 3);

  const target = tempDir(t);
  const restored = await restoreSnapshot(repo, await repo.snapshots.resolve(second.snapshotId!), new FilesTarget({ folder: target }));
  assert.equal(restored.problems, 0);
  for (const [folder, name, n] of [['INBOX', '1.eml', 1], ['INBOX', '2.eml', 2], ['Sent', '3.eml', 3], ['Sent', '4.eml', 4]] as const) {
    assert.deepEqual(readFileSync(join(target, 'mail', folder, name)), message(n));
  }
});

/** Keeps what it is given: each message's bytes by path, and the order folders begin and finish in. */
function memoryTarget(): Target & { messages: Map<string, Buffer>; log: string[] } {
  const messages = new Map<string, Buffer>();
  const log: string[] = [];
  const at = (place: Place): string => `${place.folder}/${place.name}`;
  return {
    messages, log, ordered: false,
    open: async () => {},
    beginFolder: async (place) => (log.push(`begin ${at(place)}`), true),
    finishFolder: async (place) => void log.push(`finish ${at(place)}`),
    writeFile: async (place: Place, _node: TreeNode, content: FileContent) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of content.chunks()) parts.push(chunk);
      messages.set(at(place), Buffer.concat(parts));
      return 'written';
    },
    linkTo: async () => 'skipped',
    makeSpecial: async () => 'skipped',
    close: async (complete) => void log.push(`close ${complete}`),
  };
}

test('a target that is neither a folder nor a tar stream receives every entry through the one restore pipeline', async (t) => {
  const repoDir = await newRepo(t);
  // A small message (read with its folder's batch) and a big one of several blobs.
  const attachment = randomBytes(6 << 20).toString('base64');
  const message = (n: number): Buffer => Buffer.from(`Subject: message ${n}\n\n${n === 1 ? 'short' : attachment}`);
  const root: Folder = new Map<string, Folder | Buffer>([['INBOX', new Map([['1.eml', message(1)], ['2.eml', message(2)]])], ['Sent', new Map()]]);
  const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD, { lock: { exclusive: false, purpose: 'test' } });
  t.after(() => repo.close());
  const saved = await backupSource(repo, mailboxSource(root, 1n, []), {});
  const target = memoryTarget();
  const result = await restoreSnapshot(repo, await repo.snapshots.resolve(saved.snapshotId!), target, { subfolder: '/mail' });
  assert.deepEqual({ files: result.files, dirs: result.dirs, problems: result.problems }, { files: 2, dirs: 2, problems: 0 });
  assert.deepEqual([...target.messages.keys()].sort(), ['INBOX/1.eml', 'INBOX/2.eml']);
  const node = (await repo.loadTree((await repo.loadTree((await repo.loadTree(saved.snapshot.tree)).nodes[0].subtree!)).nodes[0].subtree!)).nodes[1];
  assert.ok(node.content!.length > 1, `${node.name} is several blobs`);
  assert.deepEqual(target.messages.get('INBOX/2.eml'), message(2), 'a file of several blobs arrives whole and in order');
  assert.deepEqual(target.messages.get('INBOX/1.eml'), message(1));
  const finishInbox = target.log.indexOf('finish /INBOX');
  assert.ok(finishInbox > target.log.indexOf('begin /INBOX') && target.log.at(-1) === 'close true', target.log.join(', '));
});
