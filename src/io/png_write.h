/* PNG image grids (with libpng): a batch of images laid out in rows and columns, for looking at the samples
 * a generator makes. Only src/io/png_write.c includes png.h. */
#ifndef MT_IO_PNG_WRITE_H
#define MT_IO_PNG_WRITE_H

#include <mpitrain/mpitrain.h>

/* Pixels of border around and between the images of a grid. */
#define MT_PNG_GRID_BORDER 2
/* Grey level (0..255) of the border and of the cells after the last image. */
#define MT_PNG_GRID_BORDER_VALUE 128

/* Writes n images (NCHW float: images[((i * channels + c) * h + y) * w + x]) as one 8-bit PNG: grey for
 * channels == 1, RGB for 3. The images fill min(cols, n) columns row by row (as torchvision's make_grid):
 * width = cols (w + 2) + 2, height = rows (h + 2) + 2 with rows = ceil(n / cols), a 2-pixel border of grey
 * MT_PNG_GRID_BORDER_VALUE around each image. A value v becomes round((v - lo) / (hi - lo) 255), clipped to
 * 0..255 (NaN: 0). The file is written as "<path>.tmp.<pid>", flushed to disk and renamed to path, so a
 * reader never sees a partial image. MT_ERR_INTERNAL for arguments outside the contract (n, h, w, cols < 1,
 * channels not 1 or 3, hi <= lo or not finite, more than 2^20 pixels a side), MT_ERR_IO naming the file
 * when it cannot be written, MT_ERR_NOMEM. */
mt_status mt_png_write_grid(const char *path, const float *images, int n, int channels, int h, int w, int cols,
                            float lo, float hi, mt_error *err);

#endif
