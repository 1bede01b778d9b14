// Copying snapshots between repositories (`lifeboat copy`). The two repositories have different
// keys, so the same content has different blob ids in each: every blob of a snapshot is read from
// the source and named with the destination's key, but only the blobs the destination lacks are
// uploaded. Trees are rewritten with the new ids. A snapshot whose copy (marked with `original`) is
// already in the destination is skipped, so copying twice adds nothing; after an interruption the
// packs already uploaded are found again (by the index, or from their own headers) and not resent.
// Every blob read from the source is checked against its id (Repository.decodeBlob) and every tree
// validated, so damage in the source stops the copy instead of passing into the destination.
import { LifeboatError } from '../errors.ts';
import type { SnapshotRecord } from '../model/snapshot.ts';
import type { Tree } from '../model/tree.ts';
import { BlobBatch, type Repository, type SnapshotFilter } from '../repo/repository.ts';

export interface CopyResult {
  copied: Array<{ from: string; to: string }>;
  skipped: string[];
  blobsRead: number;
  blobsAdded: number;
  bytesAdded: number;
  /** Packs left by an interrupted copy (or backup) that this one took in rather than resent. */
  packsResumed: number;
}

export interface CopyOptions {
  /** Stops the copy: the snapshot being copied is not saved; what was uploaded is taken in by the next copy. */
  signal?: AbortSignal;
  filter?: SnapshotFilter;
  /** Only these snapshots (ids or prefixes, "latest"); all matching the filter when empty. */
  refs?: string[];
  onSnapshot?: (from: SnapshotRecord, to: string | undefined) => void;
}

export async function copySnapshots(from: Repository, to: Repository, options: CopyOptions = {}): Promise<CopyResult> {
  const result: CopyResult = { copied: [], skipped: [], blobsRead: 0, blobsAdded: 0, bytesAdded: 0, packsResumed: 0 };
  const sources = options.refs?.length
    ? await Promise.all(options.refs.map((r) => from.snapshots.resolve(r, options.filter)))
    : (await from.snapshots.list(options.filter)).snapshots;
  const present = new Set((await to.snapshots.list()).snapshots.map((s) => s.original ?? s.id));
  // Packs an interrupted copy uploaded but did not get to index: their blobs are not sent again.
  result.packsResumed = await to.adoptUnindexedPacks();
  const copier = new BlobCopier(from, to, result, options.signal);
  for (const snap of sources) {
    const original = snap.original ?? snap.id;
    if (present.has(original)) {
      result.skipped.push(snap.id);
      options.onSnapshot?.(snap, undefined);
      continue;
    }
    const tree = await copier.tree(snap.tree);
    options.signal?.throwIfAborted();
    await to.flush(); // data and index before the snapshot that needs them
    options.signal?.throwIfAborted();
    const { id: _id, parent: _parent, ...record } = snap;
    const id = await to.snapshots.save({ ...record, tree, original });
    present.add(original);
    result.copied.push({ from: snap.id, to: id });
    options.onSnapshot?.(snap, id);
  }
  return result;
}

class BlobCopier {
  readonly #from: Repository;
  readonly #to: Repository;
  readonly #result: CopyResult;
  /** Source blob id → destination blob id, for everything met in this run. */
  readonly #ids = new Map<string, string>();
  /** Trees being copied: one met again below itself is a cycle. */
  readonly #onPath = new Set<string>();
  readonly #signal: AbortSignal | undefined;

  constructor(from: Repository, to: Repository, result: CopyResult, signal: AbortSignal | undefined) {
    this.#from = from;
    this.#to = to;
    this.#result = result;
    this.#signal = signal;
  }

  /** `trees` holds this tree's read when it was planned with its siblings'. */
  async tree(idHex: string, trees?: BlobBatch): Promise<string> {
    this.#signal?.throwIfAborted();
    const known = this.#ids.get(idHex);
    if (known) return known;
    // Damage is not laundered: a copy that dropped what the source cannot vouch for would pass
    // the destination's check. Such a snapshot is refused; "repair snapshots" makes a clean one.
    const refuse = (why: string): LifeboatError =>
      new LifeboatError('REPO_CORRUPT', `Tree ${idHex.slice(0, 16)} of the source repository ${why}; the snapshot is not copied`, {
        hint: 'Run "lifeboat check" on the source repository, then "lifeboat repair snapshots" there.',
      });
    if (this.#onPath.has(idHex)) throw refuse('lists one of the folders it is in (a cycle)');
    const tree = await this.#from.loadTree(idHex, trees);
    if (tree.damaged.length) throw refuse(`has an entry that cannot be trusted ("${tree.damaged[0].name}": ${tree.damaged[0].problem})`);
    this.#onPath.add(idHex);
    // The directory's content and its subdirectories' listings are read a few requests at a time.
    const unknown = (hex: string) => !this.#ids.has(hex);
    const ids = (list: string[]) => list.filter(unknown).map((hex) => Buffer.from(hex, 'hex'));
    const data = new BlobBatch(this.#from, tree.nodes.flatMap((n) => ids(n.content ?? [])));
    const subtrees = new BlobBatch(this.#from, ids(tree.nodes.flatMap((n) => (n.subtree ? [n.subtree] : []))));
    const nodes = [];
    for (const node of tree.nodes) {
      const copy = { ...node };
      if (node.content) copy.content = await this.#data(node.content, data);
      if (node.subtree) copy.subtree = await this.tree(node.subtree, subtrees);
      nodes.push(copy);
    }
    const mapped = await this.#to.saveTree({ nodes } satisfies Tree);
    this.#onPath.delete(idHex);
    this.#ids.set(idHex, mapped);
    return mapped;
  }

  async #data(ids: string[], batch: BlobBatch): Promise<string[]> {
    // A few blobs at a time: reading from one repository overlaps writing to the other.
    const out: string[] = new Array(ids.length);
    const WINDOW = 8;
    for (let i = 0; i < ids.length; i += WINDOW) {
      this.#signal?.throwIfAborted();
      await Promise.all(ids.slice(i, i + WINDOW).map(async (hex, j) => {
        out[i + j] = await this.#blob(hex, batch);
      }));
    }
    return out;
  }

  async #blob(hex: string, batch: BlobBatch): Promise<string> {
    const known = this.#ids.get(hex);
    if (known) return known;
    const data = await batch.get(Buffer.from(hex, 'hex'));
    this.#result.blobsRead++;
    const saved = await this.#to.saveBlob('data', data);
    if (saved.added) {
      this.#result.blobsAdded++;
      this.#result.bytesAdded += saved.storedBytes;
    }
    const mapped = saved.id.toString('hex');
    this.#ids.set(hex, mapped);
    return mapped;
  }
}
