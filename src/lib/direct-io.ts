// Whether a file's big writes should go past the page cache (native/direct_write.c says why and
// how). Only on the local block filesystems where that was measured and O_DIRECT is plain: ext4
// and XFS. Over NFS or SMB a direct write becomes a synchronous round trip to the server, where
// the page cache would have let the writes overlap; btrfs may turn it back into buffered writes
// for checksummed data; tmpfs has no device to write to.
import { constants, statfsSync } from 'node:fs';

const DIRECT_FILESYSTEMS = new Set([0xef53 /* ext2, ext3, ext4 */, 0x58465342 /* XFS */]);

/** True when `path` (an existing file or folder) is on a filesystem where big writes should use O_DIRECT. */
export function directWritesSuit(path: string | Buffer): boolean {
  if (!constants.O_DIRECT) return false;
  try {
    return DIRECT_FILESYSTEMS.has(statfsSync(path).type);
  } catch {
    return false;
  }
}
