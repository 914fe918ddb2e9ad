/* Weight initializers: Glorot/Xavier, He/Kaiming and LeCun (uniform and normal), zeros, ones, constant,
 * uniform and normal with arguments. Normal variants use the plain normal with std sqrt(scale / fan),
 * as Keras' *_normal before truncation. Defaults of uniform and normal follow Keras (+-0.05, std 0.05). */
#include "nn/init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/options.h"

const char *const mt_initializer_names[] = {
    "auto",
    "zeros|zero",
    "ones|one",
    "constant",
    "uniform|random_uniform",
    "normal|random_normal",
    "glorot_uniform|xavier_uniform|xavier",
    "glorot_normal|xavier_normal",
    "he_uniform|kaiming_uniform|he",
    "he_normal|kaiming_normal",
    "lecun_uniform",
    "lecun_normal",
    NULL,
};

/* One line per initializer for the reference documentation (mpitrain reference), by canonical name, in the
 * order of the names. */
const mt_name_doc mt_initializer_docs[] = {
    {"auto", "dense and conv2d: he_uniform when the layer's own activation is relu, else glorot_uniform (zeros "
             "for a bias); rnn, lstm and gru: uniform in +-1/sqrt(units), as torch"},
    {"zeros", "0"},
    {"ones", "1"},
    {"constant", "constant(v): every value v"},
    {"uniform", "uniform(low, high): uniform in [low, high)"},
    {"normal", "normal(mean, std): normal with that mean and standard deviation (not truncated)"},
    {"glorot_uniform", "uniform in +-sqrt(6 / (fan_in + fan_out))"},
    {"glorot_normal", "normal, std sqrt(2 / (fan_in + fan_out))"},
    {"he_uniform", "uniform in +-sqrt(6 / fan_in)"},
    {"he_normal", "normal, std sqrt(2 / fan_in)"},
    {"lecun_uniform", "uniform in +-sqrt(3 / fan_in)"},
    {"lecun_normal", "normal, std sqrt(1 / fan_in)"},
};

_Static_assert(sizeof mt_initializer_docs / sizeof mt_initializer_docs[0] + 1 ==
                   sizeof mt_initializer_names / sizeof mt_initializer_names[0],
               "one doc line per initializer name in mt_initializer_docs");

/* Default arguments and how many may be given, per name taking arguments. */
static const struct {
    const char *name;
    int max_args;
    double dflt[2];
} with_args[] = {
    {"constant", 1, {0, 0}},
    {"uniform", 2, {-0.05, 0.05}},
    {"normal", 2, {0, 0.05}},
};

int mt_init_arguments(const char *name, double dflt[2])
{
    for (size_t i = 0; i < sizeof with_args / sizeof with_args[0]; i++)
        if (!strcmp(with_args[i].name, name)) {
            memcpy(dflt, with_args[i].dflt, sizeof with_args[i].dflt);
            return with_args[i].max_args;
        }
    return 0;
}

typedef struct init_spec {
    char name[MT_NAME_MAX];
    int n_args;
    double args[2];
} init_spec;

static int split(const char *spec, init_spec *out, char *msg, size_t size)
{
    memset(out, 0, sizeof *out);
    const char *open = strchr(spec, '(');
    size_t len = open ? (size_t)(open - spec) : strlen(spec);
    char name[MT_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), spec);
    int idx = mt_choice_find(mt_initializer_names, name);
    if (idx < 0) {
        char list[512];
        snprintf(msg, size,
                 "unknown initializer '%s'; valid: %s (constant, uniform and normal take arguments, "
                 "e.g. constant(0.1), uniform(-0.05, 0.05), normal(0, 0.05))",
                 name, mt_choice_list(mt_initializer_names, list, sizeof list));
        return -1;
    }
    const char *canon = mt_initializer_names[idx];
    snprintf(out->name, sizeof out->name, "%.*s", (int)strcspn(canon, "|"), canon);
    int max_args = 0;
    for (size_t i = 0; i < sizeof with_args / sizeof with_args[0]; i++)
        if (!strcmp(with_args[i].name, out->name)) {
            max_args = with_args[i].max_args;
            memcpy(out->args, with_args[i].dflt, sizeof out->args);
        }
    if (!open)
        return 0;
    const char *p = open + 1;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || out->n_args >= max_args) {
            snprintf(msg, size, "initializer '%s': expected at most %d number(s) in parentheses", spec, max_args);
            return -1;
        }
        out->args[out->n_args++] = v;
        while (*end == ' ')
            end++;
        if (*end == ')' && end[1] == '\0')
            return 0;
        if (*end != ',') {
            snprintf(msg, size, "initializer '%s': malformed arguments", spec);
            return -1;
        }
        p = end + 1;
    }
}

int mt_init_parse(const char *spec, char *canon, size_t size)
{
    init_spec s;
    if (split(spec, &s, canon, size) != 0)
        return -1;
    if (!strcmp(s.name, "constant"))
        snprintf(canon, size, "constant(%.9g)", s.args[0]);
    else if (!strcmp(s.name, "uniform") || !strcmp(s.name, "normal"))
        snprintf(canon, size, "%s(%.9g, %.9g)", s.name, s.args[0], s.args[1]);
    else
        snprintf(canon, size, "%s", s.name);
    return 0;
}

static void fill_uniform(float *w, size_t n, double low, double high, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(low + (high - low) * mt_rng_uniform(rng));
}

static void fill_normal(float *w, size_t n, double mean, double std, mt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(mean + mt_rng_normal(rng) * std);
}

static void fill_constant(float *w, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)v;
}

int mt_init_fill(const char *spec, float *w, size_t size, int fan_in, int fan_out, mt_rng *rng)
{
    init_spec s;
    char msg[256];
    if (split(spec, &s, msg, sizeof msg) != 0)
        return -1;
    double fi = fan_in > 0 ? fan_in : 1, fo = fan_out > 0 ? fan_out : 1, a;
    const char *n = s.name;
    if (!strcmp(n, "zeros") || !strcmp(n, "ones") || !strcmp(n, "constant")) {
        fill_constant(w, size, !strcmp(n, "ones") ? 1.0 : s.args[0]);
        return 0;
    }
    if (!rng)
        return -1;
    if (!strcmp(n, "uniform"))
        fill_uniform(w, size, s.args[0], s.args[1], rng);
    else if (!strcmp(n, "normal"))
        fill_normal(w, size, s.args[0], s.args[1], rng);
    else if (!strcmp(n, "glorot_uniform"))
        a = sqrt(6.0 / (fi + fo)), fill_uniform(w, size, -a, a, rng);
    else if (!strcmp(n, "glorot_normal"))
        fill_normal(w, size, 0, sqrt(2.0 / (fi + fo)), rng);
    else if (!strcmp(n, "he_uniform"))
        a = sqrt(6.0 / fi), fill_uniform(w, size, -a, a, rng);
    else if (!strcmp(n, "he_normal"))
        fill_normal(w, size, 0, sqrt(2.0 / fi), rng);
    else if (!strcmp(n, "lecun_uniform"))
        a = sqrt(3.0 / fi), fill_uniform(w, size, -a, a, rng);
    else if (!strcmp(n, "lecun_normal"))
        fill_normal(w, size, 0, sqrt(1.0 / fi), rng);
    else
        return -1;
    return 0;
}
