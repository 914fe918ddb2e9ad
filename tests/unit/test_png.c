/* mt_png_write_grid: grids written and read back with libpng's own reader. Every pixel is checked against
 * values built to map to known levels (v = lo + (q + 0.2 or 0.7) (hi - lo) / 255 gives q or q + 1), the
 * border and the empty cells after the last image; grey and RGB (planes interleaved into pixels); NaN,
 * infinities and values outside [lo, hi] clipped; columns beyond n dropped; an existing file replaced; bad
 * arguments and an unwritable path refused, leaving no temporary file. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "io/png_write.h"
#include "testlib.h"

typedef struct image {
    int width, height, color_type, bit_depth, channels;
    unsigned char *px; /* rows of width * channels bytes */
} image;

/* Reads an 8-bit PNG with libpng; 0 on success. */
static int read_png(const char *path, image *img)
{
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    unsigned char sig[8];
    if (!f)
        return -1;
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(px), free(rows);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    img->width = (int)png_get_image_width(png, info);
    img->height = (int)png_get_image_height(png, info);
    img->color_type = png_get_color_type(png, info);
    img->bit_depth = png_get_bit_depth(png, info);
    img->channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    px = malloc(rowbytes * img->height);
    rows = malloc(sizeof *rows * img->height);
    for (int y = 0; y < img->height; y++)
        rows[y] = px + rowbytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    img->px = px;
    free(rows);
    return 0;
}

enum { B = 2, BORDER = 128 };

/* Fills n images of c x h x w with values that map to known pixels (want, the same layout as bytes). */
static void make_images(int n, int c, int h, int w, float lo, float hi, float *v, int *want)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    size_t k = (((size_t)i * c + ch) * h + y) * w + x;
                    int q = (int)((i * 37 + ch * 101 + y * 11 + x * 5) % 255), up = (int)(k % 2);
                    v[k] = lo + ((float)q + (up ? 0.7f : 0.2f)) * (hi - lo) / 255.0f;
                    want[k] = q + up;
                }
}

/* Every pixel of a grid read back against the images' known levels, the border and empty cells. */
static int check_grid(const char *what, const image *img, int n, int c, int h, int w, int cols, const int *want)
{
    int rows = (n + cols - 1) / cols, bad = 0;
    CHECK(img->width == cols * (w + B) + B && img->height == rows * (h + B) + B, "%s: %d x %d pixels, expected %d x %d",
          what, img->width, img->height, cols * (w + B) + B, rows * (h + B) + B);
    CHECK(img->bit_depth == 8 && img->channels == c &&
              img->color_type == (c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB),
          "%s: bit depth %d, %d channels, color type %d", what, img->bit_depth, img->channels, img->color_type);
    if (img->width != cols * (w + B) + B || img->height != rows * (h + B) + B || img->channels != c)
        return 1;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            for (int ch = 0; ch < c; ch++) {
                int cy = (y - B) / (h + B), iy = (y - B) % (h + B), cx = (x - B) / (w + B), ix = (x - B) % (w + B);
                int idx = cy * cols + cx, expect = BORDER;
                if (y >= B && x >= B && iy < h && ix < w && idx < n)
                    expect = want[(((size_t)idx * c + ch) * h + iy) * w + ix];
                int got = img->px[((size_t)y * img->width + x) * c + ch];
                if (got != expect && bad++ < 5)
                    CHECK(0, "%s: pixel (%d, %d) channel %d = %d, expected %d", what, x, y, ch, got, expect);
            }
    CHECK(bad == 0, "%s: %d pixel values differ", what, bad);
    return bad;
}

static int temporary_files_left(void)
{
    DIR *d = opendir(mt_test_dir);
    int count = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        count += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return count;
}

int main(void)
{
    if (mt_test_tmpdir_create("mt-png") != 0)
        return 1;
    mt_error err = {0};
    image img;

    /* Grey: 5 images of 3 x 4 in 3 columns (the sixth cell empty), range [-1, 1], special values. */
    {
        enum { N = 5, H = 3, W = 4 };
        float v[N * H * W];
        int want[N * H * W];
        make_images(N, 1, H, W, -1.0f, 1.0f, v, want);
        const float special[8] = {NAN, -5.0f, 5.0f, 0.0f, INFINITY, -INFINITY, -1.0f, 1.0f};
        const int special_px[8] = {0, 0, 255, 128, 255, 0, 0, 255}; /* 0 -> 127.5 rounds up */
        for (int k = 0; k < 8; k++)
            v[(k / 4) * H * W + k % 4] = special[k], want[(k / 4) * H * W + k % 4] = special_px[k];
        const char *path = mt_test_path("grey.png");
        if (CHECK(mt_png_write_grid(path, v, N, 1, H, W, 3, -1.0f, 1.0f, &err) == MT_OK, "grey: %s", err.msg) &&
            CHECK(read_png(path, &img) == 0, "grey: libpng cannot read %s", path)) {
            check_grid("grey 5 images of 3x4 in 3 columns", &img, N, 1, H, W, 3, want);
            CHECK(img.width == 20 && img.height == 12, "grey: %d x %d, expected 20 x 12 by hand", img.width,
                  img.height);
            free(img.px);
        }
    }

    /* RGB: 2 images of 3 channels, 2 x 3, asked for 5 columns (2 are made), range [0, 255]; written over the
     * grey file. */
    {
        enum { N = 2, C = 3, H = 2, W = 3 };
        float v[N * C * H * W];
        int want[N * C * H * W];
        make_images(N, C, H, W, 0.0f, 255.0f, v, want);
        /* image 1, pixel (0, 0): red 255, green 0, blue 128 */
        v[(1 * C + 0) * H * W] = 300.0f, want[(1 * C + 0) * H * W] = 255;
        v[(1 * C + 1) * H * W] = -3.0f, want[(1 * C + 1) * H * W] = 0;
        v[(1 * C + 2) * H * W] = 128.0f, want[(1 * C + 2) * H * W] = 128;
        const char *path = mt_test_path("grey.png");
        if (CHECK(mt_png_write_grid(path, v, N, C, H, W, 5, 0.0f, 255.0f, &err) == MT_OK, "rgb: %s", err.msg) &&
            CHECK(read_png(path, &img) == 0, "rgb: libpng cannot read %s", path)) {
            check_grid("rgb 2 images of 2x3 (5 columns asked)", &img, N, C, H, W, 2, want);
            if (img.width == 12 && img.height == 6) {
                const unsigned char *p = img.px + ((size_t)B * 12 + B + 3 + B) * 3; /* image 1's first pixel */
                CHECK(p[0] == 255 && p[1] == 0 && p[2] == 128,
                      "rgb: image 1 pixel (0, 0) = (%d, %d, %d), expected "
                      "(255, 0, 128)",
                      p[0], p[1], p[2]);
            } else {
                CHECK(0, "rgb: %d x %d, expected 12 x 6 by hand", img.width, img.height);
            }
            free(img.px);
        }
    }

    /* A sample grid's size: 64 Fashion-MNIST-sized images in 8 columns. */
    {
        enum { N = 64, H = 28, W = 28 };
        float *v = malloc(sizeof *v * N * H * W);
        int *want = malloc(sizeof *want * N * H * W);
        make_images(N, 1, H, W, -1.0f, 1.0f, v, want);
        const char *path = mt_test_path("samples_epoch001.png");
        if (CHECK(mt_png_write_grid(path, v, N, 1, H, W, 8, -1.0f, 1.0f, &err) == MT_OK, "64 images: %s", err.msg) &&
            CHECK(read_png(path, &img) == 0, "64 images: libpng cannot read %s", path)) {
            check_grid("64 images of 28x28 in 8 columns", &img, N, 1, H, W, 8, want);
            CHECK(img.width == 242 && img.height == 242, "64 images: %d x %d, expected 242 x 242", img.width,
                  img.height);
            free(img.px);
        }
        free(v), free(want);
    }

    /* Refused. */
    float one[12] = {0};
    CHECK(mt_png_write_grid(mt_test_path("x.png"), one, 1, 2, 2, 3, 1, 0.0f, 1.0f, &err) == MT_ERR_INTERNAL,
          "2 channels accepted");
    CHECK(mt_png_write_grid(mt_test_path("x.png"), one, 1, 1, 2, 3, 1, 1.0f, 1.0f, &err) == MT_ERR_INTERNAL,
          "empty range accepted");
    CHECK(mt_png_write_grid(mt_test_path("x.png"), one, 0, 1, 2, 3, 1, 0.0f, 1.0f, &err) == MT_ERR_INTERNAL,
          "0 images accepted");
    const char *missing = mt_test_path("no/such/dir/x.png");
    mt_status st = mt_png_write_grid(missing, one, 1, 1, 2, 3, 1, 0.0f, 1.0f, &err);
    CHECK(st == MT_ERR_IO && strstr(err.msg, "no/such/dir/x.png") && strstr(err.msg, "No such file"),
          "unwritable path: status %d, '%s'", (int)st, err.msg);
    FILE *probe = fopen(mt_test_path("x.png"), "rb");
    CHECK(!probe, "a refused grid left x.png");
    if (probe)
        fclose(probe);
    CHECK(temporary_files_left() == 0, "temporary files left in %s", mt_test_dir);

    mt_test_tmpdir_remove();
    return mt_test_finish("png");
}
