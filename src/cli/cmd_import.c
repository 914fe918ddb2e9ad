/* `mpitrain import idx ...`: turns IDX files (MNIST family, gzip or plain) into the dataset layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/dataset.h"

#define MAX_CLASSES 256

static const char *const fashion_classes[] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static void help(void)
{
    printf("usage: mpitrain import idx --train-images F --train-labels F [--test-images F --test-labels F]\n"
           "                          [--classes NAME,NAME,...] [--source TEXT] -o OUT.h5\n\n"
           "Converts IDX files (gzip or plain) into /train/x uint8 [N, H, W], /train/y int32 [N] and the same for\n"
           "/test. Class names default to Fashion-MNIST's when a path mentions 'fashion'.\n");
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
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = !strcmp(s, "--train-images") ? &tri : !strcmp(s, "--train-labels") ? &trl
                          : !strcmp(s, "--test-images") ? &tei : !strcmp(s, "--test-labels") ? &tel
                          : !strcmp(s, "-o") || !strcmp(s, "--output") ? &out : !strcmp(s, "--source") ? &source
                          : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            help();
            return 0;
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
    if (mt_import_idx(tri, trl, tei, tel, out, names, n_names, src, &err))
        return cli_report(&err);
    printf("wrote %s\n", out);
    return 0;
}

int cmd_import(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "idx"))
        return import_idx(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        help();
        return 0;
    }
    return cli_usage_error("import", "expected a format: idx");
}
