/* superblock.c - raising the end-of-allocation address (EOA) in an HDF5 file's superblock to
 * the file's size on disk, behind HDF5's back (see sgld_samples_append_chains for why).
 *
 * The layout is that of the HDF5 file format specification, "Disk Format: Level 0A - Format
 * Signature and Superblock".  Superblock versions 0 and 1, which HDF5 1.10 writes with the
 * default library version bounds (h5dump -B on a sample file: SUPERBLOCK_VERSION 0, OFFSET_SIZE
 * 8), begin:
 *
 *   0   format signature \211 H D F \r \n \032 \n
 *   8   superblock version (0 or 1)
 *   9   free-space, root group symbol table, reserved, shared header versions (1 byte each)
 *   13  size of offsets, 14 size of lengths, 15 reserved
 *   16  group leaf node K (2), 18 group internal node K (2), 20 file consistency flags (4)
 *   24  version 1 only: indexed storage internal node K (2) and 2 reserved bytes
 *   then, with 8-byte offsets, at 24 (version 0) or 28 (version 1):
 *       base address, free-space info address, end-of-file (EOA) address, driver info address
 *
 * so the EOA is at 40 (version 0) or 44 (version 1).  Versions 2 and 3 (a different layout with
 * a Jenkins lookup3 checksum) are never written by this program's files and are refused, as is
 * anything else not known: a user block (no signature at offset 0), a base address other than
 * 0, offsets other than 8 bytes, a driver information block, an EOA already past the file's
 * end.  A refused file is left untouched. */
#include "samples_impl.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

int samples_eoa_to_eof(int fd)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const uint64_t undefined = UINT64_MAX;
    unsigned char sb[60]; /* through the driver info address of a version 1 superblock */
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    ssize_t got = pread(fd, sb, sizeof sb, 0);
    if (got < 0) return -1;
    if (got != (ssize_t)sizeof sb || memcmp(sb, signature, sizeof signature) != 0) return 0;
    if (sb[8] > 1 || sb[13] != 8) return 0;
    size_t base_at = sb[8] == 0 ? 24 : 28, eoa_at = base_at + 16;
    uint64_t base = get_le64(sb + base_at), eoa = get_le64(sb + eoa_at);
    uint64_t driver = get_le64(sb + base_at + 24), size = (uint64_t)st.st_size;
    if (base != 0 || driver != undefined || eoa > size) return 0;
    if (eoa == size) return 1;
    unsigned char field[8];
    put_le64(field, size);
    ssize_t put = pwrite(fd, field, sizeof field, (off_t)eoa_at);
    if (put == (ssize_t)sizeof field) return 1;
    if (put >= 0) errno = EIO;
    return -1;
}
