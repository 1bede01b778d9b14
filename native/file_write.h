/* Writing a buffer fully at a position, and past the page cache where it can (direct_write.c). */
#ifndef LIFEBOAT_FILE_WRITE_H
#define LIFEBOAT_FILE_WRITE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What O_DIRECT asks of an offset, a length and a buffer's address on the filesystems Linux has
 * (statx's STATX_DIOALIGN says 512 on most; 4096 is never less than what one asks). */
#define DIRECT_ALIGN 4096
#define HUGE_PAGE ((size_t)2 << 20)

/* Writes all of data at position (or, at -1, the file's own offset), as often as it takes; errno or 0. */
int write_fully(int fd, const uint8_t *data, size_t len, off_t position);
/* write_fully, but data's whole DIRECT_ALIGN blocks go through direct_fd (the file opened with
 * O_DIRECT) when it is not -1 and data's address agrees with position modulo DIRECT_ALIGN. */
int write_split(int fd, int direct_fd, const uint8_t *data, size_t len, off_t position);

/* A buffer of `size` bytes on a DIRECT_ALIGN boundary, freed with free(); NULL when out of memory.
 * Its whole 2 MiB stretches are backed by huge pages where the kernel allows them (madvise: the
 * default of Debian's and most kernels): one page fault per 2 MiB on first touch instead of 512. */
void *buffer_alloc(size_t size);

#endif
