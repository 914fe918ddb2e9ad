/* pngcheck FILE.png: reads a PNG with libpng in full (every row decoded, checksums checked) and prints
 * "WIDTH HEIGHT CHANNELS BITDEPTH MIN MAX" (pixel values over all channels); exit 1 with a message when
 * the file is not a valid PNG. For the CLI tests (python is not guaranteed on CI machines). */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pngcheck FILE.png\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fprintf(stderr, "%s: not a PNG (signature)\n", argv[1]);
        fclose(f);
        return 1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep row = NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "%s: invalid PNG data\n", argv[1]);
        png_destroy_read_struct(&png, &info, NULL);
        free(row);
        fclose(f);
        return 1;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    const int channels = png_get_channels(png, info), depth = png_get_bit_depth(png, info);
    row = malloc(png_get_rowbytes(png, info));
    int lo = 255, hi = 0;
    for (png_uint_32 y = 0; y < h; y++) {
        png_read_row(png, row, NULL);
        for (png_uint_32 x = 0; depth == 8 && x < w * (png_uint_32)channels; x++) {
            lo = row[x] < lo ? row[x] : lo;
            hi = row[x] > hi ? row[x] : hi;
        }
    }
    png_read_end(png, NULL);
    printf("%u %u %d %d %d %d\n", (unsigned)w, (unsigned)h, channels, depth, lo, hi);
    png_destroy_read_struct(&png, &info, NULL);
    free(row);
    fclose(f);
    return 0;
}
