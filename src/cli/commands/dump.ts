// lifeboat dump: one file to stdout, or a folder as a tar stream.
import { LifeboatError } from '../../errors.ts';
import { dumpFile } from '../../engine/dump.ts';
import { restoreSnapshot } from '../../engine/restore.ts';
import { findNode } from '../../engine/tree-path.ts';
import { TarTarget } from '../../sources/tar-target.ts';
import type { Command } from '../command.ts';
import { FILTER_OPTIONS, resolveSnapshot } from '../snapshot-ref.ts';

export const dump: Command = {
  name: 'dump',
  summary: 'Write a file from a snapshot to stdout; a folder is written as a tar stream.',
  usage: 'lifeboat dump SNAPSHOT PATH',
  examples: ['lifeboat dump latest /etc/fstab', 'lifeboat dump latest /home/ann/Documents > documents.tar', 'lifeboat dump latest /srv/site | tar -x -C /tmp/site'],
  options: { ...FILTER_OPTIONS },
  async run(ctx, args) {
    const [ref, path] = args.positionals;
    if (!ref || !path) throw new LifeboatError('USAGE', 'dump needs a snapshot and a path', { hint: 'lifeboat dump latest /etc/fstab' });
    const repo = await ctx.openRepository({ lock: { exclusive: false, purpose: 'dump' } });
    try {
      const { snapshot } = await resolveSnapshot(repo, ref, args);
      const node = await findNode(repo, snapshot.tree, path);
      if (!node) throw new LifeboatError('SNAPSHOT_NOT_FOUND', `The snapshot ${snapshot.id.slice(0, 8)} has no "${path}"`);
      const write = (data: Uint8Array): Promise<void> => ctx.raw(data);
      const events = ctx.entryEvents();
      if (node.type === 'file') await dumpFile(repo, node, write);
      else if (node.type === 'dir') {
        const target = new TarTarget(write, node, Buffer.from(path.split('/').filter(Boolean).at(-1) ?? 'root'));
        await restoreSnapshot(repo, snapshot, target, { subfolder: path, signal: ctx.signal, events });
      } else throw new LifeboatError('USAGE', `"${path}" is a ${node.type}; dump writes files and folders`);
      return events.problems ? 3 : 0;
    } finally {
      await repo.close();
    }
  },
};
