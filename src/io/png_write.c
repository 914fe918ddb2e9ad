/* PNG image grids with libpng (see png_write.h): rows of the grid are built one at a time in one buffer and
 * handed to libpng; libpng's errors come back through its error callback and longjmp, become an MT_ERR_IO
 * message, and leave no file behind (the grid is an atomic replacement, core/atomic_file.h). */
#include "io/png_write.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/atomic_file.h"
#include "core/error.h"

enum { B = MT_PNG_GRID_BORDER, MAX_SIDE = 1 << 20 };

/* The grid's geometry and pixel mapping. */
typedef struct grid {
    const float *images;
    int n, channels, h, w, cols, rows;
    long width, height;
    float lo, scale; /* pixel = (v - lo) * scale, scale = 255 / (hi - lo) */
} grid;

/* libpng's message, for the error callback. */
typedef struct png_msg {
    char text[200];
} png_msg;

static void on_error(png_structp png, png_const_charp msg)
{
    png_msg *m = png_get_error_ptr(png);
    snprintf(m->text, sizeof m->text, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* the library never prints */
}

static unsigned char to_pixel(float v, float lo, float scale)
{
    float t = (v - lo) * scale;
    if (!(t > 0.0f)) /* also NaN */
        return 0;
    if (t >= 255.0f)
        return 255;
    return (unsigned char)(t + 0.5f);
}

/* Row y of the grid (width * channels bytes) into row. */
static void grid_row(const grid *g, long y, unsigned char *row)
{
    const int c = g->channels;
    memset(row, MT_PNG_GRID_BORDER_VALUE, (size_t)g->width * c);
    long gy = y - B, cell = gy / (g->h + B), iy = gy % (g->h + B);
    if (gy < 0 || iy >= g->h)
        return;
    for (int j = 0; j < g->cols; j++) {
        long idx = cell * g->cols + j;
        if (idx >= g->n)
            break;
        unsigned char *dst = row + (size_t)(B + (long)j * (g->w + B)) * c;
        for (int ch = 0; ch < c; ch++) {
            const float *src = g->images + (((size_t)idx * c + ch) * g->h + (size_t)iy) * g->w;
            for (int x = 0; x < g->w; x++)
                dst[(size_t)x * c + ch] = to_pixel(src[x], g->lo, g->scale);
        }
    }
}

/* Writes the PNG stream to f; 0, or -1 with libpng's message in m. */
static int write_stream(FILE *f, const grid *g, unsigned char *row, png_msg *m)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, m, on_error, on_warning);
    if (!png) {
        snprintf(m->text, sizeof m->text, "cannot start libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(m->text, sizeof m->text, "cannot start libpng");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) { /* nothing this function reads afterwards changed since the setjmp */
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)g->width, (png_uint_32)g->height, 8,
                 g->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (long y = 0; y < g->height; y++) {
        grid_row(g, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

mt_status mt_png_write_grid(const char *path, const float *images, int n, int channels, int h, int w, int cols,
                            float lo, float hi, mt_error *err)
{
    if (!path || !images || n < 1 || h < 1 || w < 1 || cols < 1 || (channels != 1 && channels != 3))
        return mt_fail(err, MT_ERR_INTERNAL,
                       "png grid: %d images of %dx%dx%d in %d columns: expected at least one "
                       "image of 1 or 3 channels, sizes and columns >= 1",
                       n, channels, h, w, cols);
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
        return mt_fail(err, MT_ERR_INTERNAL, "png grid: value range [%g, %g] is not an interval", lo, hi);
    grid g = {.images = images,
              .n = n,
              .channels = channels,
              .h = h,
              .w = w,
              .cols = cols < n ? cols : n,
              .lo = lo,
              .scale = 255.0f / (hi - lo)};
    g.rows = (n + g.cols - 1) / g.cols;
    g.width = (long)g.cols * (w + B) + B;
    g.height = (long)g.rows * (h + B) + B;
    if (g.width > MAX_SIDE || g.height > MAX_SIDE)
        return mt_fail(err, MT_ERR_INTERNAL, "png grid: %ld x %ld pixels is too large", g.width, g.height);
    unsigned char *row = malloc((size_t)g.width * channels);
    if (!row)
        return mt_fail(err, MT_ERR_NOMEM, "%s: out of memory", path);
    mt_atomic_file out;
    mt_status st = mt_atomic_open(&out, path, err);
    if (!st) {
        png_msg m = {{0}};
        if (write_stream(out.f, &g, row, &m)) {
            mt_atomic_abort(&out);
            st = mt_fail(err, MT_ERR_IO, "%s: write failed: %s", path, m.text);
        } else {
            st = mt_atomic_commit(&out, err);
        }
    }
    free(row);
    return st;
}
