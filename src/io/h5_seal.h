/* The integrity seal of the HDF5 files mpitrain writes in one piece (checkpoints): a 512-byte HDF5 user
 * block at the start of the file, which HDF5 and h5py skip, holding the CRC-32 and the length of the rest
 * of the file. Checked before libhdf5 parses anything, it turns a truncated, bit-flipped or otherwise
 * altered file into one clear error instead of whatever libhdf5 1.10's parsers do with damaged metadata
 * (some of it overruns buffers). The block is text, readable with `head -c 512`:
 *     mpitrain seal 1
 *     crc32 1a2b3c4d
 *     bytes 123456
 * followed by newlines up to 512 bytes; crc32 and bytes are those of everything after the block. */
#ifndef MT_IO_H5_SEAL_H
#define MT_IO_H5_SEAL_H

#include <stddef.h>

#include <mpitrain/mpitrain.h>

/* The user block size to create the file with (H5Pset_userblock). */
#define MT_H5_SEAL_BYTES 512

/* Fills the first MT_H5_SEAL_BYTES of a complete file image (created with that user block) with the
 * seal of the rest. */
void mt_h5_seal_image(unsigned char *image, size_t size);

/* Seals the file at path again after it was changed in place (tests and tools that edit a checkpoint
 * with HDF5): it must have been created with the seal's user block. MT_ERR_INPUT when it was not. */
mt_status mt_h5_seal_file(const char *path, mt_error *err);

/* Verifies the seal of the file at path against its contents. MT_ERR_INPUT "<path>: ..." naming what is
 * wrong: no seal ("written by a version of mpitrain before seals, or not by mpitrain"), a damaged seal,
 * another length ("truncated"), another checksum ("damaged: its contents do not match the CRC-32 its
 * seal records"). kind names the file in messages ("checkpoint"). */
mt_status mt_h5_seal_verify(const char *path, const char *kind, mt_error *err);

#endif
