// lifeboat copy: copy snapshots from one repository into another (3-2-1: a second copy offsite).
import { copySnapshots } from '../../engine/copy.ts';
import { flag, type Command } from '../command.ts';
import { FILTER_OPTIONS, filterOf } from '../snapshot-ref.ts';

export const copy: Command = {
  name: 'copy',
  summary: 'Copy snapshots from another repository into this one, sending only what it lacks.',
  usage: 'lifeboat copy --from-repo SOURCE --repo DEST [--host H] [--tag T] [--path P] [SNAPSHOT...]',
  examples: [
    'lifeboat copy --from-repo /mnt/usb/lifeboat --repo s3:https://s3.eu-central-1.amazonaws.com/acme-backups/server1',
    'LIFEBOAT_FROM_PASSWORD_FILE=/root/usb.pw lifeboat copy --from-repo /mnt/usb/lifeboat --repo sftp:backup@nas/backups latest',
  ],
  options: {
    ...FILTER_OPTIONS,
    'from-repo': { type: 'string', arg: 'LOCATION', description: 'the repository to copy from (default: $LIFEBOAT_FROM_REPOSITORY)' },
    'from-password-file': { type: 'string', arg: 'FILE', description: 'its password (default: $LIFEBOAT_FROM_PASSWORD, $LIFEBOAT_FROM_PASSWORD_FILE, else a prompt)' },
  },
  async run(ctx, args) {
    const from = await ctx.openSourceRepository();
    try {
      const to = await ctx.openRepository({ lock: { exclusive: false, purpose: 'copy' } });
      try {
        const result = await copySnapshots(from, to, {
          filter: filterOf(args),
          refs: args.positionals,
          signal: ctx.signal,
          onSnapshot: (snap, id) => ctx.info(id ? `copied ${snap.id.slice(0, 8)} (${snap.time.slice(0, 19)}, ${snap.host}) as ${id.slice(0, 8)}` : `skipped ${snap.id.slice(0, 8)}: already in the destination`),
        });
        if (ctx.json || flag(args, 'json')) ctx.emitJson({ ...result, transfer: ctx.transfer });
        else {
          if (result.packsResumed) ctx.info(`resumed: ${result.packsResumed} pack(s) left by an interrupted copy were taken in, not sent again`);
          const network = ctx.transferSummary();
          if (network) ctx.info(network);
          ctx.out(`${result.copied.length} snapshot(s) copied, ${result.skipped.length} already there; ${result.blobsAdded} of ${result.blobsRead} blobs were new (${result.bytesAdded} bytes stored).`);
        }
        return 0;
      } finally {
        await to.close();
      }
    } finally {
      await from.close();
    }
  },
};
