// Index files list which blobs each pack holds, so readers need not open every pack. Written only
// after the packs they describe, so an index never points at a pack that is not there. Payload
// (then sealed as an "LBIX" file):
//   u32 pack count, then per pack: id (32) | salt (32) | u32 blob count | entries (46 bytes each:
//   id 32 | type u8 | compression u8 | offset u32 | stored length u32 | raw length u32)
//   u32 count of superseded index files, then their ids (32 each)  -- used by prune
import type { RepositoryKeys } from './crypto.ts';
import { entryProblem, ENTRY_BYTES, readEntry, writeEntry, type PackEntry } from './pack.ts';
import { openSealedFile, sealFile, FileFormatError } from './sealed-file.ts';

export const INDEX_MAGIC = 'LBIX';

export interface IndexedPack {
  id: Buffer;
  salt: Buffer;
  entries: PackEntry[];
}

export interface IndexContent {
  packs: IndexedPack[];
  supersedes: Buffer[];
}

export function encodeIndex(keys: RepositoryKeys, content: IndexContent): { name: string; bytes: Buffer } {
  let size = 4 + 4 + content.supersedes.length * 32;
  for (const p of content.packs) size += 68 + p.entries.length * ENTRY_BYTES;
  const buf = Buffer.alloc(size);
  let at = buf.writeUInt32LE(content.packs.length, 0);
  for (const p of content.packs) {
    at += p.id.copy(buf, at);
    at += p.salt.copy(buf, at);
    at = buf.writeUInt32LE(p.entries.length, at);
    for (const e of p.entries) {
      writeEntry(buf, at, e);
      at += ENTRY_BYTES;
    }
  }
  at = buf.writeUInt32LE(content.supersedes.length, at);
  for (const s of content.supersedes) at += s.copy(buf, at);
  return sealFile(keys, INDEX_MAGIC, buf);
}

export function decodeIndex(keys: RepositoryKeys, name: string, bytes: Buffer): IndexContent {
  const packs: IndexedPack[] = [];
  const { supersedes } = readIndex(keys, name, bytes, (id, salt, table, count) => {
    const entries: PackEntry[] = [];
    for (let i = 0; i < count; i++) entries.push(readEntry(table, i * ENTRY_BYTES));
    packs.push({ id, salt, entries });
  });
  return { packs, supersedes };
}

/**
 * Opens an index file and hands each pack's entry table to `visit` as it stands in the file (no
 * object per blob: the loader copies it straight into the BlobIndex). The whole file is checked
 * first, so a malformed file visits nothing.
 */
export function readIndex(keys: RepositoryKeys, name: string, bytes: Buffer, visit: (id: Buffer, salt: Buffer, table: Buffer, count: number) => void): { supersedes: Buffer[] } {
  const buf = openSealedFile(keys, INDEX_MAGIC, name, bytes);
  const tables: Array<[number, number]> = [];
  let at = 0;
  const need = (n: number): void => {
    if (at + n > buf.byteLength) throw new FileFormatError('index payload is truncated');
  };
  need(4);
  const packCount = buf.readUInt32LE(at);
  at += 4;
  for (let p = 0; p < packCount; p++) {
    need(68);
    const count = buf.readUInt32LE(at + 64);
    tables.push([at, count]);
    at += 68;
    need(count * ENTRY_BYTES);
    for (let i = 0; i < count; i++, at += ENTRY_BYTES) {
      const problem = entryProblem(buf, at);
      if (problem) throw new FileFormatError(`index lists ${problem}`);
    }
  }
  need(4);
  const supersededCount = buf.readUInt32LE(at);
  at += 4;
  need(supersededCount * 32);
  const supersedes: Buffer[] = [];
  for (let i = 0; i < supersededCount; i++, at += 32) supersedes.push(Buffer.from(buf.subarray(at, at + 32)));
  for (const [start, count] of tables) {
    visit(Buffer.from(buf.subarray(start, start + 32)), Buffer.from(buf.subarray(start + 32, start + 64)), buf.subarray(start + 68, start + 68 + count * ENTRY_BYTES), count);
  }
  return { supersedes };
}
