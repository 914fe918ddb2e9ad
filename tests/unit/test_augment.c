/* Augmentation: a sample's transformation depends only on (seed, epoch, dataset row), so a batch
 * transformed in one call equals the same rows transformed in two slices (np = 1 vs np = 2), and again
 * on a second run (resume); a flip mirrors exactly (and twice is the identity); a shift moves the image
 * by whole pixels with zeros coming in; blur keeps a constant image constant; zoom keeps the centre
 * pixel of a constant image; noise has the configured spread; other epochs give other choices. */
#include <math.h>
#include <string.h>

#include "config/yaml_tree.h"
#include "testlib.h"
#include "train/augment.h"

enum { H = 6, W = 5, C = 2, N = 8 };

static int make(mt_augment *a, const char *yaml, int channels)
{
    mt_node *node = NULL;
    mt_error err = {0};
    mt_ints shape = channels ? (mt_ints){3, {C, H, W}} : (mt_ints){2, {H, W}};
    int ok = mt_yaml_parse_string(yaml, "t", &node, &err) == MT_OK && mt_augment_init(a, node, &shape, &err) == MT_OK;
    CHECK(ok, "%s: %s", yaml, err.msg);
    mt_node_free(node);
    return ok;
}

static void image(float *x, int n, int channels)
{
    for (int i = 0; i < n * (channels ? C : 1) * H * W; i++)
        x[i] = (float)((i * 37) % 11) / 10.0f;
}

int main(void)
{
    static float a[N * C * H * W], b[N * C * H * W], orig[N * C * H * W];
    uint64_t rows[N] = {5, 17, 2, 99, 0, 1234567, 8, 9};
    mt_augment aug;
    size_t size = (size_t)C * H * W;
    if (make(&aug, "{horizontal_flip: true, shift: 2, zoom: 0.2, blur: 1.0, noise: 0.1}", 1)) {
        image(a, N, 1);
        memcpy(b, a, sizeof a);
        memcpy(orig, a, sizeof a);
        mt_augment_apply(&aug, a, rows, N, 7, 3);
        mt_augment_apply(&aug, b, rows, 3, 7, 3);
        mt_augment_apply(&aug, b + 3 * size, rows + 3, N - 3, 7, 3);
        CHECK(memcmp(a, b, sizeof a) == 0, "slicing the batch changed the transformation");
        memcpy(b, orig, sizeof b);
        mt_augment_apply(&aug, b, rows, N, 7, 3);
        CHECK(memcmp(a, b, sizeof a) == 0, "a second run (resume) transformed differently");
        memcpy(b, orig, sizeof b);
        mt_augment_apply(&aug, b, rows, N, 7, 4);
        CHECK(memcmp(a, b, sizeof a) != 0, "another epoch gave the same transformation");
        CHECK(memcmp(a, orig, sizeof a) != 0, "nothing was transformed");
        mt_augment_free(&aug);
    }
    /* Flip: over many rows about half are mirrored exactly, the others untouched. */
    if (make(&aug, "{horizontal_flip: true}", 0)) {
        int flipped = 0, untouched = 0;
        for (uint64_t r = 0; r < 200; r++) {
            float x[H * W], y[H * W];
            image(x, 1, 0);
            memcpy(y, x, sizeof x);
            mt_augment_apply(&aug, y, &r, 1, 1, 0);
            int mirror = 1, same = memcmp(x, y, sizeof x) == 0;
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    mirror &= y[i * W + j] == x[i * W + (W - 1 - j)];
            flipped += mirror && !same, untouched += same;
        }
        CHECK(flipped + untouched == 200 && flipped > 70 && flipped < 130, "flip: %d mirrored, %d untouched", flipped,
              untouched);
        mt_augment_free(&aug);
    }
    /* Shift: the image moves by whole pixels; what comes in is 0; nothing else changes. */
    if (make(&aug, "{shift: 1}", 0)) {
        int checked = 0;
        for (uint64_t r = 0; r < 50; r++) {
            float x[H * W], y[H * W];
            for (int i = 0; i < H * W; i++)
                x[i] = (float)(i + 1);
            memcpy(y, x, sizeof x);
            mt_augment_apply(&aug, y, &r, 1, 2, 0);
            /* Find (dy, dx) from where pixel (2, 2) went. */
            int found = 0;
            for (int dy = -1; dy <= 1 && !found; dy++)
                for (int dx = -1; dx <= 1 && !found; dx++) {
                    int ok = 1;
                    for (int i = 0; i < H; i++)
                        for (int j = 0; j < W; j++) {
                            int si = i - dy, sj = j - dx;
                            float want = si >= 0 && si < H && sj >= 0 && sj < W ? x[si * W + sj] : 0.0f;
                            ok &= y[i * W + j] == want;
                        }
                    found = ok;
                }
            checked += found;
        }
        CHECK(checked == 50, "shift: %d of 50 samples are whole-pixel shifts", checked);
        mt_augment_free(&aug);
    }
    /* Blur keeps a constant image constant (normalized kernel, clamped edges); zoom keeps a constant
     * interior; noise has the configured spread. */
    if (make(&aug, "{blur: 2.0}", 1)) {
        for (size_t i = 0; i < N * size; i++)
            a[i] = 0.5f;
        mt_augment_apply(&aug, a, rows, N, 3, 0);
        double worst = 0;
        for (size_t i = 0; i < N * size; i++)
            worst = fmax(worst, fabs(a[i] - 0.5));
        CHECK(worst < 1e-5, "blur changed a constant image by %g", worst);
        mt_augment_free(&aug);
    }
    if (make(&aug, "{zoom: 0.5}", 1)) {
        for (size_t i = 0; i < N * size; i++)
            a[i] = 0.5f;
        mt_augment_apply(&aug, a, rows, N, 3, 0);
        int bad = 0;
        for (int i = 0; i < N * C; i++)
            bad += fabsf(a[(size_t)i * H * W + (H / 2) * W + W / 2] - 0.5f) > 1e-6f;
        CHECK(bad == 0, "zoom changed the centre of a constant image in %d channels", bad);
        mt_augment_free(&aug);
    }
    if (make(&aug, "{noise: 0.2}", 1)) {
        memset(a, 0, sizeof a);
        mt_augment_apply(&aug, a, rows, N, 3, 0);
        double s2 = 0;
        for (size_t i = 0; i < N * size; i++)
            s2 += (double)a[i] * a[i];
        CHECK_CLOSE(sqrt(s2 / (N * size)), 0.2, 0.15, 0, "noise standard deviation");
        mt_augment_free(&aug);
    }
    mt_node *node = NULL;
    mt_error err = {0};
    mt_ints flat = {1, {10}};
    mt_yaml_parse_string("{shift: 2}", "t", &node, &err);
    CHECK(mt_augment_init(&aug, node, &flat, &err) == MT_ERR_CONFIG, "augmentation of flat samples accepted");
    mt_node_free(node);
    mt_yaml_parse_string("{rotate: 10}", "t", &node, &err);
    mt_ints img = {2, {4, 4}};
    CHECK(mt_augment_init(&aug, node, &img, &err) == MT_ERR_CONFIG && strstr(err.msg, "horizontal_flip"),
          "unknown augmentation: %s", err.msg);
    mt_node_free(node);
    return mt_test_finish("augment");
}
