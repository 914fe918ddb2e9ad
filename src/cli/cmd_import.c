/* `mpitrain import idx ...` and `mpitrain import csv ...`: turn IDX files (MNIST family, gzip or plain) and
 * numeric CSV files with a header into the dataset layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/dataset.h"

#define MAX_CLASSES 256

static const char *const fashion_classes[] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static void help_idx(void)
{
    printf("usage: mpitrain import idx --train-images F --train-labels F [--test-images F --test-labels F]\n"
           "                          [--classes NAME,NAME,...] [--keep-classes C,C,...] [--source TEXT] -o OUT.h5\n\n"
           "Converts IDX files (gzip or plain) into /train/x uint8 [N, H, W], /train/y int32 [N] and the same for\n"
           "/test. Class names default to Fashion-MNIST's when a path mentions 'fashion'.\n"
           "  --keep-classes 5,7   keep only the items of these labels, renumbered in the order given (5 -> 0,\n"
           "                       7 -> 1); the classes attribute names the kept classes\n"
           "  --classes A,B,...    class names stored as the classes attribute\n"
           "  --source TEXT        the source attribute (default: the training images path)\n"
           "  -o, --output OUT.h5  the dataset file (written to a temporary name and renamed)\n\n"
           "Exit status: 0 written; 2 usage errors and bad, truncated or mismatched input files (one line naming\n"
           "the file); 1 when OUT.h5 cannot be written.\n");
}

static void help_csv(void)
{
    printf("usage: mpitrain import csv FILE.csv --label COLUMN -o OUT.h5 [options]\n\n"
           "Converts a numeric CSV file with a header line (plain or gzip; ',' between fields; quoted fields, CRLF\n"
           "and blank lines allowed) into /<split>/x float32 [N, F] (every other column, in file order),\n"
           "/<split>/y, and optionally /<split>/w and /<split>/order. Empty, NaN and NA feature cells are stored\n"
           "as NaN (see data.missing in the config); a missing label, weight or order cell, and text that is not\n"
           "a number, are errors naming file:line and column.\n\n"
           "  --label COLUMN[,COLUMN...]  the target column (several only for regression: y float32 [N, k])\n"
           "  -o, --output OUT.h5         the dataset file (replaced atomically)\n"
           "  --split NAME                split the rows go to (default train)\n"
           "  --test FILE.csv             a second file with the same header, imported as the test split\n"
           "  --test-fraction F           move a seeded random fraction F in [0, 1) of the rows to the test split\n"
           "                              (round(F * N) rows)\n"
           "  --seed S                    seed of that choice (default 1)\n"
           "  --test-split NAME           name of the test split (default test)\n"
           "  --task classification|regression\n"
           "                              default: classification when every label is an integer (y int32 [N];\n"
           "                              labels that are not 0..k-1 are renumbered in sorted order and the\n"
           "                              classes attribute keeps the original values), else regression\n"
           "                              (y float32 [N, 1])\n"
           "  --weights COLUMN            per-row sample weights (finite, >= 0) -> /<split>/w float32 [N]\n"
           "  --order COLUMN              time order of the rows -> /<split>/order float64 [N]\n"
           "                              (data.split: ordered takes the last rows by it for validation)\n"
           "  --ignore COLUMN[,COLUMN...] columns left out (ids, dates)\n"
           "  --source TEXT               the source attribute (default: the input path)\n\n"
           "Exit status: 0 written; 2 usage errors and bad input (one line naming file:line and column); 1 when\n"
           "OUT.h5 cannot be written.\n");
}

static void help(void)
{
    printf("usage: mpitrain import idx|csv ... -o OUT.h5   ('mpitrain import idx --help', 'mpitrain import csv "
           "--help')\n\n");
    help_idx();
    printf("\n");
    help_csv();
}

/* Parses a comma-separated list of class labels. Returns the count, or -1 when one is not a label. */
static int parse_labels(const char *text, int *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 255 || n == max || (*end && *end != ','))
            return -1;
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

/* Splits a comma-separated list in place. */
static int split_names(char *list, const char **names, int max)
{
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ","))
        names[n++] = tok;
    return n;
}

static int import_idx(int argc, char **argv)
{
    const char *tri = NULL, *trl = NULL, *tei = NULL, *tel = NULL, *out = NULL, *source = NULL;
    char *classes = NULL;
    int keep[256], n_keep = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = !strcmp(s, "--train-images")                 ? &tri
                            : !strcmp(s, "--train-labels")               ? &trl
                            : !strcmp(s, "--test-images")                ? &tei
                            : !strcmp(s, "--test-labels")                ? &tel
                            : !strcmp(s, "-o") || !strcmp(s, "--output") ? &out
                            : !strcmp(s, "--source")                     ? &source
                                                                         : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help_idx();
            return 0;
        } else if (!strcmp(s, "--keep-classes") && i + 1 < argc) {
            if ((n_keep = parse_labels(argv[++i], keep, 256)) < 1)
                return cli_usage_error("import idx", "--keep-classes: expected labels 0..255 such as 5,7, got '%s'",
                                       argv[i]);
        } else if (!strcmp(s, "--classes") && i + 1 < argc) {
            classes = argv[++i];
        } else if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else {
            return cli_usage_error("import idx", "unknown option or missing value '%s'", s);
        }
    }
    if (!tri || !trl || !out)
        return cli_usage_error("import idx", "--train-images, --train-labels and -o are required");
    if (!tei != !tel)
        return cli_usage_error("import idx", "--test-images and --test-labels go together");
    const char *names[MAX_CLASSES];
    int n_names = 0;
    if (classes)
        n_names = split_names(classes, names, MAX_CLASSES);
    else if (strstr(tri, "fashion"))
        for (n_names = 0; n_names < 10; n_names++)
            names[n_names] = fashion_classes[n_names];
    char src[2048];
    snprintf(src, sizeof src, "%s", source ? source : tri);
    mt_error err = {0};
    if (mt_import_idx_subset(tri, trl, tei, tel, out, names, n_names, src, keep, n_keep, &err))
        return cli_report(&err);
    printf("wrote %s\n", out);
    return 0;
}

/* Reads a number option's value; returns 0 when it is not a number in [lo, hi). */
static int number_arg(const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v < hi))
        return 0;
    *out = v;
    return 1;
}

static int import_csv(int argc, char **argv)
{
    mt_csv_import opt = {.seed = 1, .task = MT_CSV_AUTO};
    double seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = !strcmp(s, "--label")                        ? &opt.label
                            : !strcmp(s, "-o") || !strcmp(s, "--output") ? &opt.out_path
                            : !strcmp(s, "--split")                      ? &opt.split
                            : !strcmp(s, "--test")                       ? &opt.test_input
                            : !strcmp(s, "--test-split")                 ? &opt.test_split
                            : !strcmp(s, "--weights")                    ? &opt.weights
                            : !strcmp(s, "--order")                      ? &opt.order
                            : !strcmp(s, "--ignore")                     ? &opt.ignore
                            : !strcmp(s, "--source")                     ? &opt.source
                                                                         : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help_csv();
            return 0;
        } else if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (!strcmp(s, "--task") && i + 1 < argc) {
            const char *t = argv[++i];
            if (!strcmp(t, "classification"))
                opt.task = MT_CSV_CLASSIFICATION;
            else if (!strcmp(t, "regression"))
                opt.task = MT_CSV_REGRESSION;
            else
                return cli_usage_error("import csv", "--task: expected classification or regression, got '%s'", t);
        } else if (!strcmp(s, "--test-fraction") && i + 1 < argc) {
            if (!number_arg(argv[++i], 0, 1, &opt.test_fraction))
                return cli_usage_error("import csv", "--test-fraction: expected a number in [0, 1), got '%s'", argv[i]);
        } else if (!strcmp(s, "--seed") && i + 1 < argc) {
            if (!number_arg(argv[++i], 0, 9007199254740992.0, &seed) || seed != (double)(uint64_t)seed)
                return cli_usage_error("import csv", "--seed: expected a non-negative integer, got '%s'", argv[i]);
            opt.seed = (uint64_t)seed;
        } else if (s[0] != '-' && !opt.input) {
            opt.input = s;
        } else {
            return cli_usage_error("import csv", "unknown option or missing value '%s'", s);
        }
    }
    if (!opt.input || !opt.label || !opt.out_path)
        return cli_usage_error("import csv", "FILE.csv, --label COLUMN and -o OUT.h5 are required");
    if (opt.test_input && opt.test_fraction > 0)
        return cli_usage_error("import csv", "--test and --test-fraction cannot be combined");
    mt_error err = {0};
    mt_csv_result res;
    if (mt_import_csv(&opt, &res, &err))
        return cli_report(&err);
    printf("wrote %s: %s %llu rows", opt.out_path, opt.split ? opt.split : "train", (unsigned long long)res.rows[0]);
    if (res.rows[1])
        printf(", %s %llu rows", opt.test_split ? opt.test_split : "test", (unsigned long long)res.rows[1]);
    printf(", %llu features", (unsigned long long)res.features);
    if (res.task == MT_CSV_CLASSIFICATION)
        printf(", classification with %d classes%s", res.n_classes,
               res.renumbered ? " (labels renumbered 0..k-1; see the classes attribute)" : "");
    else
        printf(", regression");
    if (res.missing_cells)
        printf(", %llu missing cells (NaN)", (unsigned long long)res.missing_cells);
    printf("\n");
    return 0;
}

int cmd_import(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "idx"))
        return import_idx(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "csv"))
        return import_csv(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        help();
        return 0;
    }
    return cli_usage_error("import", "expected a format: idx or csv");
}
