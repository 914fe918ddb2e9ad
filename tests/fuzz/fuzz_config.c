/* libFuzzer harness for the YAML configuration loader: arbitrary bytes as the text of a config file
 * through mt_config_load_string (libyaml, tree building, overrides, every section's table). Leading
 * lines of the form "#=key=value" (YAML comments, so the text stays the same document) are also applied
 * as --set overrides. An accepted config is written back with mt_config_to_yaml and must load again;
 * a rejected one must come with a one-line message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_common.h"

#define MAX_OVERRIDES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* Overrides: "#=" lines at the start, cut out of a copy (the YAML text keeps them as comments). */
    char *copy = strdup(text), *p = copy;
    const char *overrides[MAX_OVERRIDES];
    size_t n = 0;
    while (copy && n < MAX_OVERRIDES && p[0] == '#' && p[1] == '=') {
        char *end = strchr(p, '\n');
        if (end)
            *end = '\0';
        overrides[n++] = p + 2;
        if (!end)
            break;
        p = end + 1;
    }
    mt_config cfg;
    mt_error err = {0};
    mt_status st = mt_config_load_string(text, "fuzz.yaml", overrides, n, &cfg, &err);
    check_message(&err, st);
    if (st == MT_OK) {
        char *yaml = mt_config_to_yaml(&cfg, &err);
        if (!yaml) {
            fprintf(stderr, "fuzz: mt_config_to_yaml failed on an accepted config: %s\n", err.msg);
            abort();
        }
        mt_config again;
        st = mt_config_load_string(yaml, "fuzz-roundtrip.yaml", NULL, 0, &again, &err);
        if (st != MT_OK) {
            fprintf(stderr, "fuzz: the written config does not load again: %s\n--- written:\n%s", err.msg, yaml);
            abort();
        }
        mt_config_free(&again);
        free(yaml);
        mt_config_free(&cfg);
    }
    free(copy);
    free(text);
    return 0;
}
