/* The reference documentation generator (`mpitrain reference`, docs/reference.md): Markdown written from the
 * tables the program checks configs with (the top-level sections of config.c, data/training/checkpoint/gan,
 * early stopping and augmentation, the layer registry, the name tables of activations, losses, metrics,
 * optimizers, schedules and initializers with their doc lines) and from the status table of core/error.c.
 * Everything is checked before the first byte is written, so that a name without a doc line is an error
 * instead of a hole in the document. */
#include "cli/reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/error.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/layer.h"
#include "nn/loss.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/augment.h"
#include "train/early_stop.h"

/* ---- checks: every name and option has its doc line ------------------------------------------------------ */

static int empty(const char *s)
{
    return !s || !s[0];
}

/* The canonical name of a "canonical|alias" entry, for messages (at most 63 characters). */
static const char *canonical(const char *entry, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int)strcspn(entry, "|"), entry);
    return buf;
}

static mt_status check_table(const mt_option *t, const char *what, mt_error *err)
{
    if (!t)
        return mt_fail(err, MT_ERR_INTERNAL, "reference: %s has no option table", what);
    for (const mt_option *o = t; o->name; o++)
        if (empty(o->doc))
            return mt_fail(err, MT_ERR_INTERNAL, "reference: option '%s' of %s has no doc line", o->name, what);
    return MT_OK;
}

/* Every name of names (NULL-terminated, count entries) has a doc line in docs. */
static mt_status check_docs(const char *const *names, const char *const *docs, int count, const char *what,
                            mt_error *err)
{
    char name[64];
    for (int i = 0; i < count; i++) {
        if (!names[i])
            return mt_fail(err, MT_ERR_INTERNAL, "reference: %s %d has no name", what, i);
        if (empty(docs[i]))
            return mt_fail(err, MT_ERR_INTERNAL, "reference: %s '%s' has no doc line", what,
                           canonical(names[i], name, sizeof name));
    }
    if (names[count])
        return mt_fail(err, MT_ERR_INTERNAL, "reference: more %s names than kinds", what);
    return MT_OK;
}

static mt_status check_initializers(mt_error *err)
{
    char name[64];
    for (size_t i = 0; mt_initializer_names[i]; i++) {
        canonical(mt_initializer_names[i], name, sizeof name);
        if (!mt_initializer_docs[i].name || strcmp(mt_initializer_docs[i].name, name) != 0 ||
            empty(mt_initializer_docs[i].doc))
            return mt_fail(err, MT_ERR_INTERNAL,
                           "reference: initializer '%s' has no doc line (mt_initializer_docs "
                           "entry %zu names '%s')",
                           name, i, mt_initializer_docs[i].name ? mt_initializer_docs[i].name : "nothing");
    }
    return MT_OK;
}

static mt_status check_statuses(mt_error *err)
{
    size_t n;
    const mt_status_info *s = mt_status_table(&n);
    for (size_t i = 0; i < n; i++)
        if ((size_t)s[i].code != i || empty(s[i].ident) || empty(s[i].name) || empty(s[i].meaning) ||
            (s[i].code != MT_OK && empty(s[i].example)))
            return mt_fail(err, MT_ERR_INTERNAL,
                           "reference: status table entry %zu (%s) is incomplete or out of "
                           "order",
                           i, s[i].ident ? s[i].ident : "?");
    return MT_OK;
}

static mt_status check_all(mt_error *err)
{
    static const struct {
        const mt_option *t;
        const char *what;
    } sections[] = {
        {mt_config_top_options, "the top level"},
        {mt_config_gan_top_options, "the top level of a GAN config"},
        {mt_config_model_options, "model"},
        {mt_data_options, "data"},
        {mt_augment_options, "data.augment"},
        {mt_training_options, "training"},
        {mt_checkpoint_options, "checkpoint"},
        {mt_early_stop_options, "early_stopping"},
        {mt_gan_options, "gan"},
        {mt_config_gan_net_options, "gan nets"},
    };
    char what[96];
    mt_status st = MT_OK;
    for (size_t i = 0; !st && i < sizeof sections / sizeof sections[0]; i++)
        st = check_table(sections[i].t, sections[i].what, err);
    size_t n_layers;
    const mt_layer_ops *const *layers = mt_layer_all(&n_layers);
    for (size_t i = 0; !st && i < n_layers; i++) {
        snprintf(what, sizeof what, "layer %.64s", layers[i]->name);
        st = empty(layers[i]->doc) ? mt_fail(err, MT_ERR_INTERNAL, "reference: %s has no doc line", what)
                                   : check_table(layers[i]->options, what, err);
    }
    for (int k = 0; !st && k < MT_LOSS_COUNT; k++)
        st = check_table(mt_loss_options(k), "a loss", err);
    for (int k = 0; !st && k < MT_OPTIM_COUNT; k++)
        st = check_table(mt_optimizer_options((mt_optimizer_kind)k), "an optimizer", err);
    for (int k = 0; !st && k < MT_SCHEDULE_COUNT; k++)
        st = check_table(mt_schedule_options((mt_schedule_kind)k), "a schedule", err);
    if (!st)
        st = check_docs(mt_activation_names, mt_activation_docs, MT_ACT_COUNT, "activation", err);
    if (!st)
        st = check_docs(mt_loss_names, mt_loss_docs, MT_LOSS_COUNT, "loss", err);
    if (!st)
        st = check_docs(mt_metric_names, mt_metric_docs, MT_METRIC_COUNT, "metric", err);
    if (!st)
        st = check_docs(mt_optimizer_names, mt_optimizer_docs, MT_OPTIM_COUNT, "optimizer", err);
    if (!st)
        st = check_docs(mt_schedule_names, mt_schedule_docs, MT_SCHEDULE_COUNT, "schedule", err);
    if (!st)
        st = check_initializers(err);
    if (!st)
        st = check_statuses(err);
    return st;
}

/* ---- Markdown pieces ----------------------------------------------------------------------------------- */

/* Text in a table cell: '|' escaped, '<' as an entity (so "runs/<name>" is not taken for HTML). */
static void cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else
            fputc(*s, f);
    }
}

/* `s` in a table cell (inside a code span only '|' needs escaping). */
static void code(FILE *f, const char *s)
{
    fputc('`', f);
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('`', f);
}

/* A number as a range bound: integers without exponent, others in the fewest digits that read back as x,
 * without '+' and leading zeros in the exponent (0.999999999, 1e30, 1e-12). */
static void number(FILE *f, double x)
{
    char buf[64];
    if (x == floor(x) && fabs(x) < 1e17) {
        fprintf(f, "%.0f", x);
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    for (const char *p = buf; *p; p++) {
        fputc(*p, f);
        if (*p == 'e') {
            p += p[1] == '+';
            while (p[1] == '0' && p[2])
                p++;
            if (p[1] == '-') {
                fputc('-', f);
                p++;
                while (p[1] == '0' && p[2])
                    p++;
            }
        }
    }
}

/* "`a`, `b` (also `b2`, `b3`), `c`" for a "canonical|alias" list. */
static void choices(FILE *f, const char *const *list)
{
    for (int i = 0; list[i]; i++) {
        const char *p = list[i];
        size_t n = strcspn(p, "|");
        fprintf(f, "%s`%.*s`", i ? ", " : "", (int)n, p);
        for (int alias = 0; p[n]; alias++) {
            p += n + 1;
            n = strcspn(p, "|");
            fprintf(f, "%s`%.*s`", alias ? ", " : " (also ", (int)n, p);
        }
        if (strchr(list[i], '|'))
            fputc(')', f);
    }
}

/* The aliases of a "canonical|alias" entry as "`a`, `b`" (nothing when none). */
static void aliases(FILE *f, const char *entry)
{
    const char *p = strchr(entry, '|');
    for (int i = 0; p; i++) {
        p++;
        size_t n = strcspn(p, "|");
        fprintf(f, "%s`%.*s`", i ? ", " : "", (int)n, p);
        p = p[n] ? p + n : NULL;
    }
}

static const char *type_name(mt_opt_type t)
{
    switch (t) {
    case MT_OPT_INT:
        return "integer";
    case MT_OPT_FLOAT:
        return "number";
    case MT_OPT_BOOL:
        return "boolean";
    case MT_OPT_NAME:
        return "name";
    case MT_OPT_STRING:
        return "string";
    case MT_OPT_INTS:
        return "integers";
    case MT_OPT_NODE:
        return "YAML";
    }
    return "?";
}

static void bounds(FILE *f, double min, double max)
{
    if (isinf(min) && isinf(max))
        fputs("any", f);
    else if (isinf(max))
        fputs(">= ", f), number(f, min);
    else if (isinf(min))
        fputs("<= ", f), number(f, max);
    else
        number(f, min), fputs(" to ", f), number(f, max);
}

/* What values an option takes. */
static void range(FILE *f, const mt_option *o)
{
    switch (o->type) {
    case MT_OPT_INT:
    case MT_OPT_FLOAT:
        bounds(f, o->min, o->max);
        break;
    case MT_OPT_INTS:
        fprintf(f, "`n` or a list `[a, b, ...]` of up to %d, each ", MT_INTS_MAX);
        bounds(f, o->min, o->max);
        break;
    case MT_OPT_BOOL:
        fputs("`true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`)", f);
        break;
    case MT_OPT_NAME:
        if (o->choices)
            choices(f, o->choices);
        else
            fputs("a name", f);
        break;
    case MT_OPT_STRING:
        fputs("any text", f);
        break;
    case MT_OPT_NODE:
        fputs("see the meaning", f);
        break;
    }
}

/* The option table (skip_name: leave out the `name` key of loss, optimizer and schedule maps). */
static void options(FILE *f, const mt_option *t, int skip_name)
{
    int rows = 0;
    for (const mt_option *o = t; o->name; o++) {
        if (skip_name && !strcmp(o->name, "name"))
            continue;
        if (!rows++)
            fputs("| key | type | default | values | meaning |\n| --- | --- | --- | --- | --- |\n", f);
        fputs("| ", f);
        code(f, o->name);
        fprintf(f, " | %s | ", type_name(o->type));
        if (!o->dflt)
            fputs("required", f);
        else if (!o->dflt[0])
            fputs("none", f);
        else
            code(f, o->dflt);
        fputs(" | ", f);
        range(f, o);
        fputs(" | ", f);
        cell(f, o->doc);
        fputs(" |\n", f);
    }
    fputs(rows ? "\n" : "No options.\n\n", f);
}

/* A doc line as a paragraph, ending in one full stop. */
static void paragraph(FILE *f, const char *doc)
{
    cell(f, doc);
    size_t n = strlen(doc);
    fputs(n && doc[n - 1] == '.' ? "\n\n" : ".\n\n", f);
}

/* "| `name` | aliases | doc |" rows of a name table with its doc lines. */
static void name_table(FILE *f, const char *what, const char *const *names, const char *const *docs, int count,
                       const char *doc_title)
{
    fprintf(f, "| %s | aliases | %s |\n| --- | --- | --- |\n", what, doc_title);
    for (int i = 0; i < count; i++) {
        fprintf(f, "| `%.*s` | ", (int)strcspn(names[i], "|"), names[i]);
        aliases(f, names[i]);
        fputs(" | ", f);
        cell(f, docs[i]);
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

/* ---- the sections of the document ---------------------------------------------------------------------- */

static void write_intro(FILE *f)
{
    fputs("<!-- Generated by `mpitrain reference -o docs/reference.md` from the program's own tables; do not edit "
          "by hand: change the tables (and their doc lines) in src/ and regenerate. -->\n"
          "# mpitrain reference\n\n"
          "Every config key, layer, activation, loss, metric, optimizer, learning-rate schedule and initializer, "
          "with its options, defaults, values and aliases, and every exit status with an example message. "
          "This file is written by `mpitrain reference` from the tables the program checks configs with, "
          "so it lists exactly what `mpitrain train` accepts (the test cli.reference fails when the two "
          "differ).\n\n"
          "- [Config keys](#config-keys)\n- [Layers](#layers)\n- [Activations](#activations)\n"
          "- [Losses](#losses)\n- [Metrics](#metrics)\n- [Optimizers](#optimizers)\n"
          "- [Learning-rate schedules](#learning-rate-schedules)\n- [Initializers](#initializers)\n"
          "- [Exit statuses and messages](#exit-statuses-and-messages)\n\n"
          "In the tables, *default* `required` means the key must be given and *none* that it is empty "
          "(off) unless given; *values* gives the range (inclusive) or the names accepted, aliases in "
          "parentheses.\n\n",
          f);
}

static void write_config(FILE *f)
{
    static const struct {
        const char *title, *intro;
        const mt_option *t;
    } sections[] = {
        {"Top level", "A config is a YAML map with these keys:", mt_config_top_options},
        {"Top level of a GAN config",
         "A config with a `gan` key trains a generator and a discriminator instead; it has these keys (`model`, "
         "`loss`, `optimizer`, `metrics`, `lr_schedule` and `early_stopping` are unknown keys there):",
         mt_config_gan_top_options},
        {"`model`", NULL, mt_config_model_options},
        {"`data`", NULL, mt_data_options},
        {"`data.augment`",
         "Random transformations of the training images (needs a `model.input` of 2 or 3 "
         "dimensions):",
         mt_augment_options},
        {"`training`", NULL, mt_training_options},
        {"`checkpoint`", NULL, mt_checkpoint_options},
        {"`early_stopping`",
         "Stops training when a monitored value stops improving (Keras' EarlyStopping):", mt_early_stop_options},
        {"`gan`", NULL, mt_gan_options},
        {"`gan.generator` and `gan.discriminator`", NULL, mt_config_gan_net_options},
    };
    fputs("## Config keys\n\n"
          "Configs are checked strictly: an unknown key, a wrong type or a value out of range is a config error "
          "(exit status 2) naming the file, the line and the key. `mpitrain train CONFIG --set KEY=VALUE` "
          "sets any key by its dotted path, list items by their index from 0 (`--set "
          "model.layers.0.dense.units=64`). The `loss`, `optimizer` and `lr_schedule` maps and the layers "
          "are described in their own sections below.\n\n",
          f);
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        fprintf(f, "### %s\n\n", sections[i].title);
        if (sections[i].intro)
            fprintf(f, "%s\n\n", sections[i].intro);
        options(f, sections[i].t, 0);
    }
}

static void write_layers(FILE *f)
{
    size_t n;
    const mt_layer_ops *const *layers = mt_layer_all(&n);
    fputs("## Layers\n\n"
          "Each item of `model.layers` (and of `gan.generator.layers` and `gan.discriminator.layers`) is "
          "`- TYPE: {options}`, or `- TYPE` when the defaults suit. An option a layer does not have is an "
          "error. The types:",
          f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s `%s`", i ? "," : "", layers[i]->name);
    fputs(".\n\n", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "### `%s`\n\n", layers[i]->name);
        paragraph(f, layers[i]->doc);
        options(f, layers[i]->options, 0);
    }
}

static void write_activations(FILE *f)
{
    fputs("## Activations\n\n"
          "For the `activation` option of `dense`, `conv2d` and `conv2d_transpose` and the `name` of an "
          "`activation` layer; aliases are accepted as names, not as layer types.\n\n",
          f);
    name_table(f, "activation", mt_activation_names, mt_activation_docs, MT_ACT_COUNT, "f(x)");
}

static void write_losses(FILE *f)
{
    fputs("## Losses\n\n"
          "`loss: NAME`, or `loss: {name: NAME, options}`. Per sample, with outputs out_j, targets t_j, "
          "p_j the outputs as probabilities and k outputs; a batch's loss is sum_i w_i loss_i / n with the "
          "sample weights w_i (1 without `/<split>/w`).\n\n",
          f);
    name_table(f, "loss", mt_loss_names, mt_loss_docs, MT_LOSS_COUNT, "per-sample loss");
    for (int k = 0; k < MT_LOSS_COUNT; k++) {
        const mt_option *t = mt_loss_options(k);
        int has_options = 0;
        for (const mt_option *o = t; o->name; o++)
            has_options |= strcmp(o->name, "name") != 0;
        if (!has_options)
            continue;
        fprintf(f, "### Options of `%.*s`\n\n", (int)strcspn(mt_loss_names[k], "|"), mt_loss_names[k]);
        options(f, t, 1);
    }
    fputs("The other losses take no options (`{name: NAME}` alone).\n\n", f);
}

static void write_metrics(FILE *f)
{
    fputs("## Metrics\n\n"
          "`metrics:` lists metrics reported besides the loss (a list, or one name), over all samples of an "
          "epoch or split. The threshold is 0 for `hinge` or a `tanh` output, else 0.5.\n\n",
          f);
    name_table(f, "metric", mt_metric_names, mt_metric_docs, MT_METRIC_COUNT, "value");
}

/* Optimizers and schedules: a summary table, then one section per name with its options. */
static void write_named_tables(FILE *f, const char *what, const char *const *names, const char *const *docs, int count,
                               const mt_option *(*table)(int))
{
    name_table(f, what, names, docs, count, "what it does");
    for (int k = 0; k < count; k++) {
        fprintf(f, "### `%.*s`\n\n", (int)strcspn(names[k], "|"), names[k]);
        paragraph(f, docs[k]);
        options(f, table(k), 1);
    }
}

static const mt_option *optimizer_table(int k)
{
    return mt_optimizer_options((mt_optimizer_kind)k);
}

static const mt_option *schedule_table(int k)
{
    return mt_schedule_options((mt_schedule_kind)k);
}

static void write_optimizers(FILE *f)
{
    fputs("## Optimizers\n\n"
          "`optimizer: NAME`, or `optimizer: {name: NAME, options}` (also `gan.generator.optimizer` and "
          "`gan.discriminator.optimizer`). An option the chosen optimizer does not have is an error; only one "
          "of `clipnorm` and `clipvalue` may be set.\n\n",
          f);
    write_named_tables(f, "optimizer", mt_optimizer_names, mt_optimizer_docs, MT_OPTIM_COUNT, optimizer_table);
}

static void write_schedules(FILE *f)
{
    fputs("## Learning-rate schedules\n\n"
          "`lr_schedule: NAME`, or `lr_schedule: {name: NAME, options}`; a map without `name` is `constant` "
          "(`{warmup_epochs: 5}` warms up to a constant rate), and no `lr_schedule` is `constant`. An option "
          "the chosen schedule does not have is an error.\n\n",
          f);
    write_named_tables(f, "schedule", mt_schedule_names, mt_schedule_docs, MT_SCHEDULE_COUNT, schedule_table);
}

static void write_initializers(FILE *f)
{
    fputs("## Initializers\n\n"
          "For the `*_initializer` options of the layers: `NAME`, or `NAME(ARGS)` for those that take "
          "numbers (arguments left out keep their defaults; quote a spec with a comma inside a `{...}` map: "
          "`\"uniform(-0.1, 0.1)\"`).\n\n"
          "| initializer | aliases | arguments (defaults) | values |\n| --- | --- | --- | --- |\n",
          f);
    for (size_t i = 0; mt_initializer_names[i]; i++) {
        const char *entry = mt_initializer_names[i];
        char name[64];
        double dflt[2];
        canonical(entry, name, sizeof name);
        int n = mt_init_arguments(name, dflt);
        fprintf(f, "| `%s` | ", name);
        aliases(f, entry);
        fputs(" | ", f);
        if (n > 0) {
            fprintf(f, "up to %d (", n);
            for (int a = 0; a < n; a++) {
                fputs(a ? ", " : "", f);
                number(f, dflt[a]);
            }
            fputc(')', f);
        } else {
            fputs("none", f);
        }
        fputs(" | ", f);
        cell(f, mt_initializer_docs[i].doc);
        fputs(" |\n", f);
    }
    fputc('\n', f);
}

/* "`MT_ERR_USAGE`, `MT_ERR_CONFIG`" for the codes with exit status code. */
static void codes_with_exit(FILE *f, const mt_status_info *s, size_t n, int exit_code)
{
    int first = 1;
    for (size_t i = 0; i < n; i++)
        if (s[i].exit_code == exit_code) {
            fprintf(f, "%s`%s`", first ? "" : ", ", s[i].ident);
            first = 0;
        }
}

static void write_statuses(FILE *f)
{
    size_t n;
    const mt_status_info *s = mt_status_table(&n);
    fputs("## Exit statuses and messages\n\n"
          "Every command exits with status 0 on success, 2 on a usage, config or input error (",
          f);
    codes_with_exit(f, s, n, 2);
    fputs("), and 1 on a failure at run time (", f);
    codes_with_exit(f, s, n, 1);
    fputs(").\n\n"
          "Every error is one line on stderr, printed once (by rank 0 under mpirun), naming the file, the "
          "YAML line and key, the row, or the rank: `mpitrain: MESSAGE`; usage errors read `mpitrain COMMAND: "
          "MESSAGE (see 'mpitrain COMMAND --help')`. When some ranks of a job fail and others do not, the "
          "message starts with `rank N: `, N the lowest failing rank; a rank whose communication broke (`MT_ERR_MPI`, "
          "`MT_ERR_STALL`) prints its own line and ends the job. Warnings are `mpitrain: warning: MESSAGE` and "
          "do not change the exit status. A rank that is killed or crashes ends the job with the status the "
          "launcher (mpirun, srun) chooses.\n\n"
          "| status | code | name | meaning | example message |\n| --- | --- | --- | --- | --- |\n",
          f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "| %d | `%s` | %s | ", s[i].exit_code, s[i].ident, s[i].name);
        cell(f, s[i].meaning);
        fputs(" | ", f);
        if (s[i].example[0])
            code(f, s[i].example);
        else
            fputs("(none)", f);
        fputs(" |\n", f);
    }
}

mt_status mt_reference_write(FILE *f, mt_error *err)
{
    if (!f)
        return mt_fail(err, MT_ERR_INTERNAL, "mt_reference_write: no output");
    mt_status st = check_all(err);
    if (st)
        return st;
    write_intro(f);
    write_config(f);
    write_layers(f);
    write_activations(f);
    write_losses(f);
    write_metrics(f);
    write_optimizers(f);
    write_schedules(f);
    write_initializers(f);
    write_statuses(f);
    if (fflush(f) != 0 || ferror(f))
        return mt_fail(err, MT_ERR_IO, "reference: writing failed");
    return MT_OK;
}
