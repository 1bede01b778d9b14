// The tar target: a snapshot's folder as a pax tar stream (dump), written through `write`, which
// must apply backpressure. Entries come in the snapshot's order, one at a time; members are named
// below the folder's own name from tree entries the tree decoder accepted (single components,
// never ".." or "/"). A file whose content cannot be read is padded with zeros to its recorded
// size, as GNU tar does with a file that shrank, so that the stream stays readable; the entry is
// reported. A failing write (the reader went away) stops the dump.
import { LifeboatError } from '../errors.ts';
import type { TreeNode } from '../model/tree.ts';
import { padding, tarHeader, TAR_END } from './tar.ts';
import { TargetStopped, type FileContent, type Outcome, type Place, type Target } from './target.ts';

type Write = (data: Uint8Array) => Promise<void>;

/** Zeros written at a time where content is missing. */
const ZEROS = Buffer.alloc(64 * 1024);

export class TarTarget implements Target {
  readonly ordered = true;
  readonly #write: Write;
  readonly #root: TreeNode;
  readonly #rootName: Buffer;

  /** `root` is the folder being dumped, named `rootName` in the stream. */
  constructor(write: Write, root: TreeNode, rootName: Buffer) {
    this.#write = write;
    this.#root = root;
    this.#rootName = rootName;
  }

  async open(): Promise<void> {
    await this.#out(tarHeader(Buffer.concat([this.#rootName, Buffer.from('/')]), this.#root));
  }

  async beginFolder(place: Place, node: TreeNode): Promise<boolean> {
    await this.#out(tarHeader(Buffer.concat([this.#member(place), Buffer.from('/')]), node));
    return true;
  }

  async finishFolder(): Promise<void> {}

  async writeFile(place: Place, node: TreeNode, content: FileContent): Promise<Outcome> {
    await this.#out(tarHeader(this.#member(place), node));
    let written = 0;
    let failure: unknown;
    try {
      for await (const chunk of content.chunks()) {
        const part = chunk.subarray(0, node.size - written);
        await this.#out(part);
        written += part.byteLength;
        if (part.byteLength < chunk.byteLength) {
          throw new LifeboatError('REPO_CORRUPT', `content is longer than the recorded ${node.size} bytes`);
        }
      }
      if (written < node.size) {
        throw new LifeboatError('REPO_CORRUPT', `content is ${written} bytes, expected ${node.size}`);
      }
    } catch (err) {
      if (err instanceof TargetStopped) throw err;
      failure = err;
    }
    for (; written < node.size; written += Math.min(ZEROS.byteLength, node.size - written)) {
      await this.#out(ZEROS.subarray(0, Math.min(ZEROS.byteLength, node.size - written)));
    }
    await this.#out(padding(node.size));
    if (failure) throw failure;
    return 'written';
  }

  async linkTo(place: Place, node: TreeNode, first: Place): Promise<Outcome> {
    await this.#out(tarHeader(this.#member(place), node, this.#member(first)));
    return 'written';
  }

  async makeSpecial(place: Place, node: TreeNode): Promise<Outcome> {
    if (node.type === 'socket') return 'skipped'; // tar cannot carry sockets
    await this.#out(tarHeader(this.#member(place), node));
    return 'written';
  }

  async close(complete: boolean): Promise<void> {
    if (complete) await this.#out(TAR_END);
  }

  #member(place: Place): Buffer {
    const folder = place.folder === '' ? [] : [Buffer.from(place.folder, 'latin1'), Buffer.from('/')];
    return Buffer.concat([this.#rootName, Buffer.from('/'), ...folder, place.name]);
  }

  async #out(data: Uint8Array): Promise<void> {
    try {
      await this.#write(data);
    } catch (err) {
      throw new TargetStopped(err);
    }
  }
}
