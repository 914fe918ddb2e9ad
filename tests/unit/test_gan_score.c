/* The GAN score exp(E_x[KL(p(y|x) || p(y))]) from its sums, against hand computations: one-hot
 * distributions over k equally used classes give k, identical distributions give 1, a mixed case
 * computed term by term from the definition (not through the entropy identity the code uses), sums added
 * in two parts equal sums added at once (the ranks' sums add up), and the class histogram; gan_score.json
 * with class names and paths holding non-ASCII UTF-8, control characters, quotes and a byte outside UTF-8
 * is valid JSON that reads back equal (that byte as U+FFFD), the scores exact and an undefined one null. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "testlib.h"
#include "train/gan_score.h"

/* exp(mean KL(p_i || mean p)) straight from the definition. */
static double by_definition(const float *p, int n, int k)
{
    double marg[8] = {0}, kl = 0;
    for (int i = 0; i < n; i++)
        for (int y = 0; y < k; y++)
            marg[y] += p[i * k + y] / n;
    for (int i = 0; i < n; i++)
        for (int y = 0; y < k; y++)
            if (p[i * k + y] > 0)
                kl += p[i * k + y] * log(p[i * k + y] / marg[y]) / n;
    return exp(kl);
}

static void test_json(void)
{
    static mt_gan_score g;
    static const char *const names[3] = {"T-shirt/top \"ü\"", "Größe\t日本\n\x01", "bad \xff"};
    static const char *const back[3] = {"T-shirt/top \"ü\"", "Größe\t日本\n\x01", "bad \xef\xbf\xbd"};
    g.classes = 3;
    g.generated = 2.0 / 3, g.real = 2.5, g.ratio = NAN, g.n_generated = 100, g.n_real = 30;
    for (int k = 0; k < 3; k++) {
        snprintf(g.names[k], sizeof g.names[k], "%s", names[k]);
        g.hist[k] = 10 * k;
    }
    snprintf(g.classifier, sizeof g.classifier, "runs/clé\\x/checkpoint.h5");
    snprintf(g.real_file, sizeof g.real_file, "data/€.h5");
    snprintf(g.real_split, sizeof g.real_split, "test");
    if (mt_test_tmpdir_create("mt-gan-score") != 0)
        return;
    const char *path = mt_test_path("gan_score.json");
    mt_error err = {0};
    CHECK(mt_gan_score_write_json(path, &g, &err) == MT_OK, "write: %s", err.msg);
    json_error_t why;
    json_t *doc = json_load_file(path, 0, &why);
    if (CHECK(doc != NULL, "%s is not valid JSON: %s", path, why.text)) {
        const json_t *cn = json_object_get(doc, "class_names"), *h = json_object_get(doc, "generated_histogram");
        for (int k = 0; k < 3; k++) {
            const char *v = json_string_value(json_array_get(cn, (size_t)k));
            CHECK(v && !strcmp(v, back[k]), "class name %d read back as '%s'", k, v ? v : "(none)");
            CHECK(json_number_value(json_array_get(h, (size_t)k)) == 10 * k, "histogram %d", k);
        }
        const char *c = json_string_value(json_object_get(doc, "classifier"));
        CHECK(c && !strcmp(c, g.classifier), "classifier read back as '%s'", c ? c : "(none)");
        CHECK(json_number_value(json_object_get(doc, "generated_score")) == 2.0 / 3, "generated_score exact");
        CHECK(json_is_null(json_object_get(doc, "ratio")), "a NaN ratio is null");
        CHECK(json_integer_value(json_object_get(doc, "classes")) == 3, "classes");
        json_decref(doc);
    }
    mt_test_tmpdir_remove();
}

int main(void)
{
    test_json();
    static mt_gan_score_sums s;
    /* one-hot over 4 classes, each used once: p(y) uniform, KL = log 4 each -> 4 */
    const float onehot[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    mt_gan_score_add(&s, onehot, 4, 4);
    CHECK_CLOSE(mt_gan_score_value(&s, 4), 4.0, 1e-12, 0, "one-hot, 4 classes");
    for (int y = 0; y < 4; y++)
        CHECK(s.hist[y] == 1, "histogram[%d] = %g", y, s.hist[y]);

    /* the same distribution for every sample: KL = 0 -> 1 */
    memset(&s, 0, sizeof s);
    const float same[9] = {0.2f, 0.3f, 0.5f, 0.2f, 0.3f, 0.5f, 0.2f, 0.3f, 0.5f};
    mt_gan_score_add(&s, same, 3, 3);
    CHECK_CLOSE(mt_gan_score_value(&s, 3), 1.0, 1e-6, 0, "identical distributions");
    CHECK(s.hist[2] == 3 && s.hist[0] == 0 && s.hist[1] == 0, "histogram of argmax: %g %g %g", s.hist[0], s.hist[1],
          s.hist[2]);

    /* Two samples, 2 classes, by hand: p1 = (0.9, 0.1), p2 = (0.3, 0.7); p(y) = (0.6, 0.4).
     * KL1 = 0.9 ln(0.9/0.6) + 0.1 ln(0.1/0.4) = 0.9 * 0.405465 - 0.1 * 1.386294 = 0.226289
     * KL2 = 0.3 ln(0.3/0.6) + 0.7 ln(0.7/0.4) = -0.3 * 0.693147 + 0.7 * 0.559616 = 0.183787
     * exp((KL1 + KL2) / 2) = exp(0.205038) = 1.227571 */
    memset(&s, 0, sizeof s);
    const float two[4] = {0.9f, 0.1f, 0.3f, 0.7f};
    mt_gan_score_add(&s, two, 2, 2);
    CHECK_CLOSE(mt_gan_score_value(&s, 2), 1.227571, 2e-6, 0, "two samples by hand");
    CHECK(s.hist[0] == 1 && s.hist[1] == 1, "histogram %g %g", s.hist[0], s.hist[1]);

    /* a mode collapse: 5 of 6 samples sure of class 0, one of class 2 (with a zero entry: 0 log 0 = 0) */
    const float collapse[18] = {1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0.05f, 0.05f, 0.9f};
    memset(&s, 0, sizeof s);
    mt_gan_score_add(&s, collapse, 6, 3);
    CHECK_CLOSE(mt_gan_score_value(&s, 3), by_definition(collapse, 6, 3), 1e-6, 0, "mode collapse");
    CHECK(s.hist[0] == 5 && s.hist[2] == 1, "collapse histogram %g %g %g", s.hist[0], s.hist[1], s.hist[2]);
    CHECK(mt_gan_score_value(&s, 3) < 2.0, "a collapse scores low: %g", mt_gan_score_value(&s, 3));

    /* sums of two parts (two ranks) equal the sums of the whole */
    static mt_gan_score_sums a, b;
    mt_gan_score_add(&a, collapse, 2, 3);
    mt_gan_score_add(&b, collapse + 6, 4, 3);
    for (size_t i = 0; i < sizeof a / sizeof(double); i++)
        ((double *)&a)[i] += ((double *)&b)[i];
    CHECK_CLOSE(mt_gan_score_value(&a, 3), mt_gan_score_value(&s, 3), 1e-12, 0, "sums in parts");

    /* no samples: NaN */
    memset(&s, 0, sizeof s);
    CHECK(isnan(mt_gan_score_value(&s, 3)), "empty sums give %g", mt_gan_score_value(&s, 3));
    return mt_test_finish("gan_score");
}
