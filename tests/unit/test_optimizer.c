/* Optimizer steps against values computed by hand from the published update rules (torch.optim), for every
 * optimizer and option; the same steps on a 37-element slab (vector loops and their tails); clipping by a
 * global norm over a large slab; exact resume from copied state; defaults; rejected configs.
 *
 * Two parameters p = [1, -2], gradients g1 = [0.5, -1], g2 = [0.2, 0.4], g3 = [-0.3, 0.1]. Step 1 is
 * derived below for each case; steps 2 and 3 follow the same arithmetic and were evaluated in double
 * precision with a few lines of plain python3 (no torch) written from the formulas in optimizer.c's header.
 *   sgd mu 0.9 lr 0.1: b1 = g1 -> p = [0.95, -1.9]; b2 = 0.9 b1 + g2 = [0.65, -0.5] -> [0.885, -1.85];
 *                      b3 = [0.285, -0.35] -> [0.8565, -1.815]
 *   Nesterov:          p -= lr (g + mu b): [0.905, -1.81], [0.8265, -1.805], [0.83085, -1.7835]
 *   Adam lr 0.01:      step 1 moves each parameter by lr * sign(g) (m^ = g, v^ = g^2): [0.99, -1.99], then
 *                      [0.98101425, -1.98654394], [0.97805872, -1.98447499]
 *   gd / plain sgd lr 0.1: p -= 0.1 g: [0.95, -1.9], [0.93, -1.94], [0.96, -1.95] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yaml_tree.h"
#include "optim/optimizer.h"
#include "testlib.h"

#define WIDE 37 /* not a multiple of any vector width: exercises the loop tails */

static const float grads[3][2] = {{0.5f, -1.0f}, {0.2f, 0.4f}, {-0.3f, 0.1f}};

static int create(const char *yaml, size_t n, mt_optimizer *opt, const char *what)
{
    mt_node *node = NULL;
    mt_error err = {0};
    if (!CHECK(mt_yaml_parse_string(yaml, what, &node, &err) == MT_OK, "%s: parse: %s", what, err.msg))
        return 0;
    int ok = CHECK(mt_optimizer_create(node, n, opt, &err) == MT_OK, "%s: create: %s", what, err.msg);
    mt_node_free(node);
    return ok;
}

/* Three steps with the configured learning rate on n parameters, element i following element i % 2. */
static void run_n(const char *yaml, size_t n, const double expected[3][2], const char *what)
{
    mt_optimizer opt;
    if (!create(yaml, n, &opt, what))
        return;
    float p[WIDE], g[WIDE];
    for (size_t i = 0; i < n; i++)
        p[i] = i % 2 ? -2.0f : 1.0f;
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = grads[t][i % 2];
        mt_optimizer_step(&opt, p, g, opt.opts.learning_rate);
        for (size_t i = 0; i < n; i++) {
            char label[96];
            snprintf(label, sizeof label, "%s (n=%zu) step %d p[%zu]", what, n, t + 1, i);
            CHECK_CLOSE(p[i], expected[t][i % 2], 1e-5, 1e-6, label);
        }
        for (size_t i = 0; i < n; i++) /* the caller's gradient is left alone */
            if (!CHECK(g[i] == grads[t][i % 2], "%s: gradient %zu modified: %g", what, i, g[i]))
                break;
    }
    CHECK(opt.step == 3, "%s: step count %lld", what, (long long)opt.step);
    mt_optimizer_free(&opt);
}

/* On 2 parameters, and (unless the global norm would differ: clipnorm) on WIDE. */
static void run(const char *yaml, const double expected[3][2], const char *what)
{
    run_n(yaml, 2, expected, what);
    if (!strstr(yaml, "clipnorm"))
        run_n(yaml, WIDE, expected, what);
}

/* The config is refused with MT_ERR_CONFIG and a message containing each of the given words. */
static void rejects(const char *yaml, const char *what, const char *word1, const char *word2)
{
    mt_node *node = NULL;
    mt_error err = {0};
    mt_optimizer opt;
    if (!CHECK(mt_yaml_parse_string(yaml, what, &node, &err) == MT_OK, "%s: parse: %s", what, err.msg))
        return;
    if (CHECK(mt_optimizer_create(node, 2, &opt, &err) == MT_ERR_CONFIG, "%s: accepted", what)) {
        CHECK(!word1 || strstr(err.msg, word1), "%s: message lacks '%s': %s", what, word1, err.msg);
        CHECK(!word2 || strstr(err.msg, word2), "%s: message lacks '%s': %s", what, word2, err.msg);
    } else {
        mt_optimizer_free(&opt);
    }
    mt_node_free(node);
}

static void hand_computed(void)
{
    const double sgd[3][2] = {{0.95, -1.9}, {0.885, -1.85}, {0.8565, -1.815}};
    const double nesterov[3][2] = {{0.905, -1.81}, {0.8265, -1.805}, {0.83085, -1.7835}};
    const double adam[3][2] = {
        {0.99, -1.99}, {0.9810142483902928, -1.9865439416662627}, {0.9780587150923735, -1.984474990065151}};
    const double plain[3][2] = {{0.95, -1.9}, {0.93, -1.94}, {0.96, -1.95}};
    run("{name: sgd, learning_rate: 0.1, momentum: 0.9}", sgd, "sgd momentum");
    run("{name: sgd, learning_rate: 0.1, momentum: 0.9, nesterov: true}", nesterov, "sgd nesterov");
    run("{name: adam, learning_rate: 0.01}", adam, "adam");
    run("{name: sgd, learning_rate: 0.1}", plain, "sgd plain");
    run("{name: gd, learning_rate: 0.1}", plain, "gd");
    run("{name: gradient_descent, learning_rate: 0.1}", plain, "gd alias");
    /* momentum and nesterov: sgd with momentum 0.9 by default */
    run("{name: momentum, learning_rate: 0.1}", sgd, "momentum");
    run("{name: momentum, learning_rate: 0.1, nesterov: true}", nesterov, "momentum nesterov");
    run("{name: nesterov, learning_rate: 0.1}", nesterov, "nesterov");
    run("{name: nag, learning_rate: 0.1}", nesterov, "nesterov alias");

    /* L2 weight decay 0.1 with momentum 0.9, lr 0.1: g1 + 0.1 p = [0.6, -1.2] = b -> p = [0.94, -1.88];
     * g2 + 0.1 p = [0.294, 0.212], b = 0.9 [0.6, -1.2] + that = [0.834, -0.868] -> [0.8566, -1.7932] */
    const double sgd_wd[3][2] = {{0.94, -1.88}, {0.8566, -1.7932}, {0.802974, -1.707148}};
    run("{name: sgd, learning_rate: 0.1, momentum: 0.9, weight_decay: 0.1}", sgd_wd, "sgd weight_decay");
    /* Nesterov with decay: g' = b = [0.6, -1.2], p -= 0.1 (g' + 0.9 b) = 0.19 g' -> [0.886, -1.772] */
    const double nest_wd[3][2] = {{0.886, -1.772}, {0.782566, -1.717132}, {0.757580646, -1.634073292}};
    run("{name: nesterov, learning_rate: 0.1, weight_decay: 0.1}", nest_wd, "nesterov weight_decay");
    /* clipnorm 0.5: |g1| = sqrt(1.25) = 1.1180 > 0.5, so g1 -> g1 * 0.5 / 1.1180 = [0.2236, -0.4472];
     * |g2| = 0.447 and |g3| = 0.316 are below 0.5 and pass unchanged. */
    const double sgd_cn[3][2] = {{0.9776393202250021, -1.9552786404500042},
                                 {0.9576393202250021, -1.9952786404500042},
                                 {0.9876393202250021, -2.0052786404500043}};
    run("{name: sgd, learning_rate: 0.1, clipnorm: 0.5}", sgd_cn, "sgd clipnorm");
    run("{name: gd, learning_rate: 0.1, clipnorm: 0.5}", sgd_cn, "gd clipnorm");
    /* clipvalue 0.25: g1 -> [0.25, -0.25], g2 -> [0.2, 0.25], g3 -> [-0.25, 0.1] */
    const double sgd_cv[3][2] = {{0.975, -1.975}, {0.955, -2.0}, {0.98, -2.01}};
    run("{name: sgd, learning_rate: 0.1, clipvalue: 0.25}", sgd_cv, "sgd clipvalue");

    /* adagrad lr 0.1: sum = g1^2, p -= 0.1 g1 / |g1| -> [0.9, -1.9]; sum = [0.29, 1.16],
     * p -= 0.1 [0.2 / sqrt(0.29), 0.4 / sqrt(1.16)] = [0.037139, 0.037139] -> [0.862861, -1.937139] */
    const double adagrad[3][2] = {{0.90000000002, -1.90000000001},
                                  {0.8628609323914862, -1.937139067641962},
                                  {0.9115273587228202, -1.9463840709115277}};
    run("{name: adagrad, learning_rate: 0.1}", adagrad, "adagrad");
    /* lr_decay 0.5, initial_accumulator_value 0.1: step t uses 0.1 / (1 + 0.5 (t-1)); sum = 0.1 + g1^2 =
     * [0.35, 1.1] -> p0 = 1 - 0.1 * 0.5 / sqrt(0.35) = 0.9154846 */
    const double adagrad_opts[3][2] = {{0.9154845745414341, -1.9046537410845317},
                                       {0.894134154037508, -1.9284102959190752},
                                       {0.915784789128994, -1.932847078465762}};
    run("{name: adagrad, learning_rate: 0.1, lr_decay: 0.5, initial_accumulator_value: 0.1}", adagrad_opts,
        "adagrad lr_decay initial_accumulator_value");
    /* weight decay 0.1: g1' = [0.6, -1.2], step 1 again moves by 0.1 sign(g1') */
    const double adagrad_wd[3][2] = {{0.9000000000166667, -1.9000000000083332},
                                     {0.8564831339689667, -1.9172380331820766},
                                     {0.8871033460684422, -1.9097300557967205}};
    run("{name: adagrad, learning_rate: 0.1, weight_decay: 0.1}", adagrad_wd, "adagrad weight_decay");

    /* adadelta defaults (lr 1, rho 0.9, eps 1e-6): v = 0.1 g1^2 = [0.025, 0.1];
     * d = sqrt(0 + 1e-6) / sqrt(v + 1e-6) g1 = 1e-3 * 0.5 / sqrt(0.025001) = 0.0031622 -> p0 = 0.9968378 */
    const double adadelta[3][2] = {{0.9968377855834876, -1.9968377381511013},
                                   {0.9951003467682721, -1.998575214582845},
                                   {0.9975564079541209, -1.99905313480423}};
    run("adadelta", adadelta, "adadelta");
    /* rho 0.5, eps 1e-3, lr 0.5, weight decay 0.2 added after clipvalue 0.25:
     * g1' = [0.25 + 0.2, -0.25 - 0.4] = [0.45, -0.65]; v = 0.5 g1'^2 = [0.10125, 0.21125];
     * d0 = sqrt(1e-3) / sqrt(0.10225) * 0.45 = 0.0445021 -> p0 = 1 - 0.5 d0 = 0.9777489 */
    const double adadelta_opts[3][2] = {{0.9777489320604633, -1.9776920577507262},
                                        {0.9532643511268546, -1.968197875307751},
                                        {0.959206304307592, -1.949387268984267}};
    run("{name: adadelta, learning_rate: 0.5, rho: 0.5, epsilon: 1e-3, weight_decay: 0.2, clipvalue: 0.25}",
        adadelta_opts, "adadelta rho epsilon weight_decay clipvalue");

    /* rmsprop lr 0.01 (rho 0.99): v = 0.01 g1^2, den = 0.1 |g1| + 1e-8, p -= 0.01 g1 / den = 0.1 sign(g1) */
    const double rmsprop[3][2] = {{0.900000019999996, -1.900000009999999},
                                  {0.8626998346269039, -1.937300198851351},
                                  {0.9117141347584844, -1.94663133357197}};
    run("{name: rmsprop, learning_rate: 0.01}", rmsprop, "rmsprop");
    /* momentum 0.9: b = g / den accumulates; step 1 as above, step 2 adds 0.9 * the first move */
    const double rmsprop_mom[3][2] = {{0.900000019999996, -1.900000009999999},
                                      {0.7726998526269003, -1.84730020785135},
                                      {0.7071440021226947, -1.809201520638185}};
    run("{name: rmsprop, learning_rate: 0.01, momentum: 0.9}", rmsprop_mom, "rmsprop momentum");
    /* centered, rho 0.9: v = 0.1 g1^2, a = 0.1 g1, v - a^2 = 0.09 g1^2, den = 0.3 |g1|:
     * p -= 0.01 / 0.3 sign(g1) -> [0.9666667, -1.9666667] */
    const double rmsprop_c[3][2] = {{0.9666666688888887, -1.9666666677777778},
                                    {0.9532661655833001, -1.9791000648345085},
                                    {0.9700267912412341, -1.9823415089849477}};
    run("{name: rmsprop, learning_rate: 0.01, rho: 0.9, centered: true}", rmsprop_c, "rmsprop centered");
    /* centered with momentum 0.5 and clipnorm 0.5 (g1 scaled as in sgd clipnorm; step 1 is sign-only) */
    const double rmsprop_all[3][2] = {{0.9666666716357059, -1.9666666691511865},
                                      {0.9259054006779456, -1.9716930681470108},
                                      {0.9288004181444005, -1.9798402323625865}};
    run("{name: rmsprop, learning_rate: 0.01, rho: 0.9, centered: true, momentum: 0.5, clipnorm: 0.5}", rmsprop_all,
        "rmsprop centered momentum clipnorm");

    /* adam with L2 decay 0.1: g1' = [0.6, -1.2]; step 1 moves by lr sign(g1') -> [0.99, -1.99] */
    const double adam_wd[3][2] = {{0.9900000001666667, -1.9900000000833333},
                                  {0.9806830933995927, -1.9846214736765964},
                                  {0.9756316733032664, -1.9799616537345543}};
    run("{name: adam, learning_rate: 0.01, weight_decay: 0.1}", adam_wd, "adam weight_decay");
    const double adam_cn[3][2] = {{0.9900000004472136, -1.990000000223607},
                                  {0.9800445013925237, -1.9899690822257532},
                                  {0.9791238380994097, -1.990996506626553}};
    run("{name: adam, learning_rate: 0.01, clipnorm: 0.5}", adam_cn, "adam clipnorm");
    /* adamw lr 0.1, decoupled decay 0.1: p *= 1 - 0.01 -> [0.99, -1.98], then -0.1 sign(g1) -> [0.89, -1.88] */
    const double adamw[3][2] = {{0.890000002, -1.880000001},
                                {0.7912424838829282, -1.826639416652626},
                                {0.753774726064906, -1.7876835064749832}};
    run("{name: adamw, learning_rate: 0.1, weight_decay: 0.1}", adamw, "adamw weight_decay");
    /* default weight_decay 0.01 at lr 0.01: p *= 0.9999 -> [0.9999, -1.9998], then -0.01 sign(g1) */
    const double adamw_dflt[3][2] = {{0.9899000002, -1.9898000001},
                                     {0.9808152583902728, -1.9861449616662528},
                                     {0.9777616435665145, -1.9838773955689746}};
    run("{name: adamw, learning_rate: 0.01}", adamw_dflt, "adamw default decay");
    run("{name: adamw, learning_rate: 0.01, weight_decay: 0}", adam, "adamw without decay is adam");

    /* Where epsilon sits (outside the square root for adagrad, rmsprop, adam, nadam), with epsilon 0.1:
     * adagrad lr 0.1: p -= 0.1 g1 / (|g1| + 0.1) -> [1 - 0.05/0.6, -2 + 0.1/1.1] = [0.916667, -1.909091];
     * rmsprop lr 0.01: den = 0.1 |g1| + 0.1 -> [1 - 0.005/0.15, -2 + 0.01/0.2] = [0.966667, -1.95];
     * adam lr 0.01: m^ = g1, v^ = g1^2 -> [1 - 0.005/0.6, -2 + 0.01/1.1] = [0.991667, -1.990909];
     * adamw beta 0.5/0.9, decay 0.1: p *= 0.999 first -> [0.999 - 0.005/0.6, -1.998 + 0.01/1.1] */
    const double adagrad_eps[3][2] = {{0.9166666666666666, -1.9090909090909092},
                                      {0.8853440609014201, -1.9430746642709753},
                                      {0.9272176879525199, -1.9515372968799338}};
    run("{name: adagrad, learning_rate: 0.1, epsilon: 0.1}", adagrad_eps, "adagrad epsilon");
    const double rmsprop_eps[3][2] = {{0.9666666666666667, -1.95},
                                      {0.9536474460277384, -1.9693014745270294},
                                      {0.972257103934126, -1.9741284726861597}};
    run("{name: rmsprop, learning_rate: 0.01, epsilon: 0.1}", rmsprop_eps, "rmsprop epsilon");
    const double adam_eps[3][2] = {{0.9916666666666667, -1.990909090909091},
                                   {0.9845501437047862, -1.9878542282250689},
                                   {0.9822429986650923, -1.986070950495416}};
    run("{name: adam, learning_rate: 0.01, epsilon: 0.1}", adam_eps, "adam epsilon");
    const double nadam_eps[3][2] = {{0.9911962351803718, -1.990395892924042},
                                    {0.9876575219784558, -1.9933102273961265},
                                    {0.9913454320851438, -1.9939186031972504}};
    run("{name: nadam, learning_rate: 0.01, epsilon: 0.1}", nadam_eps, "nadam epsilon");
    const double adamw_betas[3][2] = {{0.9906666666666667, -1.988909090909091},
                                      {0.9833396909879967, -1.986133019040104},
                                      {0.9833126352880068, -1.9845571461271194}};
    run("{name: adamw, learning_rate: 0.01, beta_1: 0.5, beta_2: 0.9, epsilon: 0.1, weight_decay: 0.1}", adamw_betas,
        "adamw beta_1 beta_2 epsilon");
    /* clipvalue 0.25 with adam beta 0.5/0.9: step 1 is sign-only -> [0.99, -1.99] */
    const double adam_cv[3][2] = {
        {0.9900000004, -1.9900000004}, {0.9803734982089166, -1.9933333336}, {0.9825049690849718, -1.997804688368135}};
    run("{name: adam, learning_rate: 0.01, beta_1: 0.5, beta_2: 0.9, clipvalue: 0.25}", adam_cv,
        "adam beta_1 beta_2 clipvalue");

    /* nadam lr 0.01: mu_1 = 0.9 (1 - 0.5 * 0.96^0.004) = 0.4500735, mu_2 = 0.9 (1 - 0.5 * 0.96^0.008) =
     * 0.4501469; m = 0.1 g1, v = 0.001 g1^2, den = sqrt(v / 0.001) = |g1|:
     * p -= 0.01 [(1 - mu_1)/(1 - mu_1) + mu_2 / (1 - mu_1 mu_2) * 0.1] sign(g1) = 0.0105645 sign(g1) */
    const double nadam[3][2] = {{0.9894354824277365, -1.9894354823220912},
                                {0.9849672893609148, -1.992732556944679},
                                {0.9896916308880065, -1.9934383920857133}};
    run("{name: nadam, learning_rate: 0.01}", nadam, "nadam");
    /* momentum_decay 0.5 (mu_t = 0.8 (1 - 0.5 * 0.96^(0.5 t))), beta_1 0.8, L2 decay 0.1 */
    const double nadam_opts[3][2] = {{0.9889978779453583, -1.988997877853674},
                                     {0.9830606259129735, -1.9898367110924084},
                                     {0.9852315926310912, -1.9880718566388615}};
    run("{name: nadam, learning_rate: 0.01, momentum_decay: 0.5, beta_1: 0.8, weight_decay: 0.1}", nadam_opts,
        "nadam momentum_decay beta_1 weight_decay");
}

/* nadam's mu_product after three steps: prod over t = 1..3 of 0.9 (1 - 0.5 * 0.96^(0.004 t)). */
static void nadam_scalar(void)
{
    mt_optimizer opt;
    if (!create("{name: nadam, learning_rate: 0.01}", 2, &opt, "nadam scalar"))
        return;
    CHECK(opt.n_scalars == 1 && !strcmp(opt.scalar_names[0], "mu_product") && opt.scalars[0] == 1.0,
          "nadam: scalars %d %s %g", opt.n_scalars, opt.n_scalars ? opt.scalar_names[0] : "-", opt.scalars[0]);
    float p[2] = {1.0f, -2.0f};
    for (int t = 0; t < 3; t++)
        mt_optimizer_step(&opt, p, grads[t], 0.01);
    CHECK_CLOSE(opt.scalars[0], 0.0912142874159059, 1e-12, 0, "nadam mu_product after 3 steps");
    mt_optimizer_free(&opt);
}

/* The learning rate argument (the schedule's value) is the one used, not the configured one. */
static void lr_argument(void)
{
    mt_optimizer opt;
    if (!create("{name: sgd, learning_rate: 0.1}", 2, &opt, "lr argument"))
        return;
    float p[2] = {1.0f, -2.0f};
    mt_optimizer_step(&opt, p, grads[0], 0.02); /* p -= 0.02 [0.5, -1] */
    CHECK_CLOSE(p[0], 0.99, 1e-6, 0, "lr argument p[0]");
    CHECK_CLOSE(p[1], -1.98, 1e-6, 0, "lr argument p[1]");
    mt_optimizer_free(&opt);
}

/* clipnorm over a slab longer than the 8-lane blocks: sgd lr 1 moves p by exactly g * c / |g|, with |g|
 * computed here with a plain double loop. */
static void clipnorm_large(void)
{
    enum { N = 1003 };
    static float p[N], g[N];
    double sq = 0;
    for (int i = 0; i < N; i++) {
        g[i] = (float)sin(0.37 * i + 0.1);
        sq += (double)g[i] * g[i];
        p[i] = 0.0f;
    }
    mt_optimizer opt;
    if (!create("{name: sgd, learning_rate: 1, clipnorm: 2.5}", N, &opt, "clipnorm large"))
        return;
    mt_optimizer_step(&opt, p, g, 1.0);
    double moved = 0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double want = -g[i] * 2.5 / sqrt(sq);
        moved += (double)p[i] * p[i];
        if (bad < 3 && fabs(p[i] - want) > 1e-6)
            bad += !CHECK(0, "clipnorm large: p[%d] = %.9g, want %.9g", i, p[i], want);
    }
    CHECK_CLOSE(sqrt(moved), 2.5, 1e-5, 0, "clipnorm large: norm of the step");
    mt_optimizer_free(&opt);
}

/* Copies step, slots and scalars (what a checkpoint stores) into a fresh optimizer after 2 steps; the
 * third step must then match the uninterrupted run bitwise. */
static void resume_exact(const char *yaml)
{
    mt_optimizer a, b;
    if (!create(yaml, 2, &a, yaml))
        return;
    if (!create(yaml, 2, &b, yaml)) {
        mt_optimizer_free(&a);
        return;
    }
    float pa[2] = {1.0f, -2.0f}, pb[2];
    mt_optimizer_step(&a, pa, grads[0], a.opts.learning_rate);
    mt_optimizer_step(&a, pa, grads[1], a.opts.learning_rate);
    memcpy(pb, pa, sizeof pb);
    b.step = a.step;
    for (int s = 0; s < a.n_slots; s++)
        memcpy(b.slots[s], a.slots[s], 2 * sizeof(float));
    for (int s = 0; s < a.n_scalars; s++)
        b.scalars[s] = a.scalars[s];
    mt_optimizer_step(&a, pa, grads[2], a.opts.learning_rate);
    mt_optimizer_step(&b, pb, grads[2], b.opts.learning_rate);
    CHECK(memcmp(pa, pb, sizeof pa) == 0, "%s: resumed step differs: [%.9g, %.9g] vs [%.9g, %.9g]", yaml, pb[0], pb[1],
          pa[0], pa[1]);
    mt_optimizer_free(&a);
    mt_optimizer_free(&b);
}

/* State slot names (torch's), counts, and the full-batch flag. */
static void state_layout(const char *yaml, int full_batch, const char *slots, const char *name)
{
    mt_optimizer opt;
    if (!create(yaml, 5, &opt, yaml))
        return;
    char got[200] = "";
    for (int s = 0; s < opt.n_slots; s++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", s ? " " : "", opt.slot_names[s]);
    CHECK(!strcmp(got, slots), "%s: slots '%s', want '%s'", yaml, got, slots);
    CHECK(mt_optimizer_full_batch(&opt) == full_batch, "%s: full_batch %d", yaml, mt_optimizer_full_batch(&opt));
    CHECK(!strcmp(opt.opts.name, name), "%s: name '%s', want '%s'", yaml, opt.opts.name, name);
    mt_optimizer_free(&opt);
}

/* Defaults as torch.optim documents them (and momentum 0.9 for momentum / nesterov). */
static void defaults(void)
{
    mt_optimizer o;
    if (create("sgd", 1, &o, "sgd defaults")) {
        CHECK(o.opts.learning_rate == 1e-3 && o.opts.momentum == 0 && !o.opts.nesterov, "sgd defaults");
        mt_optimizer_free(&o);
    }
    if (create("momentum", 1, &o, "momentum defaults")) {
        CHECK(o.opts.momentum == 0.9 && !o.opts.nesterov, "momentum defaults: %g", o.opts.momentum);
        mt_optimizer_free(&o);
    }
    if (create("nesterov", 1, &o, "nesterov defaults")) {
        CHECK(o.opts.momentum == 0.9 && o.opts.nesterov, "nesterov defaults: %g %d", o.opts.momentum, o.opts.nesterov);
        mt_optimizer_free(&o);
    }
    if (create("adagrad", 1, &o, "adagrad defaults")) {
        CHECK(o.opts.learning_rate == 0.01 && o.opts.epsilon == 1e-10 && o.opts.lr_decay == 0 &&
                  o.opts.initial_accumulator_value == 0,
              "adagrad defaults");
        mt_optimizer_free(&o);
    }
    if (create("adadelta", 1, &o, "adadelta defaults")) {
        CHECK(o.opts.learning_rate == 1.0 && o.opts.rho == 0.9 && o.opts.epsilon == 1e-6, "adadelta defaults");
        mt_optimizer_free(&o);
    }
    if (create("rmsprop", 1, &o, "rmsprop defaults")) {
        CHECK(o.opts.learning_rate == 0.01 && o.opts.rho == 0.99 && o.opts.epsilon == 1e-8 && o.opts.momentum == 0 &&
                  !o.opts.centered,
              "rmsprop defaults");
        mt_optimizer_free(&o);
    }
    if (create("adam", 1, &o, "adam defaults")) {
        CHECK(o.opts.learning_rate == 1e-3 && o.opts.beta_1 == 0.9 && o.opts.beta_2 == 0.999 &&
                  o.opts.epsilon == 1e-8 && o.opts.weight_decay == 0,
              "adam defaults");
        mt_optimizer_free(&o);
    }
    if (create("nadam", 1, &o, "nadam defaults")) {
        CHECK(o.opts.learning_rate == 2e-3 && o.opts.momentum_decay == 4e-3 && o.opts.epsilon == 1e-8,
              "nadam defaults");
        mt_optimizer_free(&o);
    }
    if (create("adamw", 1, &o, "adamw defaults")) {
        CHECK(o.opts.learning_rate == 1e-3 && o.opts.weight_decay == 0.01, "adamw defaults");
        mt_optimizer_free(&o);
    }
}

static void rejections(void)
{
    rejects("{name: sgd, beta_1: 0.9}", "sgd with beta_1", "'beta_1'", "nesterov");
    rejects("{name: adamm}", "unknown optimizer", "adamm",
            "gd, sgd, momentum, nesterov, adagrad, adadelta, "
            "rmsprop, adam, nadam, adamw");
    rejects("sdg", "unknown optimizer as a scalar", "'sdg'", "adamw");
    rejects("{learning_rate: 0.1}", "no name", "name", NULL);
    rejects("{name: adam, learning_rate: -1}", "negative learning rate", "learning_rate", "range");
    rejects("{name: gd, momentum: 0.9}", "gd with momentum", "'momentum'", "clipvalue");
    rejects("{name: nesterov, nesterov: false}", "nesterov with nesterov", "'nesterov'", NULL);
    rejects("{name: momentum, beta_2: 0.9}", "momentum with beta_2", "'beta_2'", NULL);
    rejects("{name: adagrad, rho: 0.9}", "adagrad with rho", "'rho'", "initial_accumulator_value");
    rejects("{name: adadelta, momentum: 0.9}", "adadelta with momentum", "'momentum'", "rho");
    rejects("{name: rmsprop, beta_1: 0.9}", "rmsprop with beta_1", "'beta_1'", "centered");
    rejects("{name: adam, momentum: 0.9}", "adam with momentum", "'momentum'", "beta_2");
    rejects("{name: adam, rho: 0.9}", "adam with rho", "'rho'", NULL);
    rejects("{name: nadam, amsgrad: true}", "nadam with amsgrad", "'amsgrad'", "momentum_decay");
    rejects("{name: adamw, momentum_decay: 0.1}", "adamw with momentum_decay", "'momentum_decay'", NULL);
    rejects("{name: sgd, nesterov: true}", "nesterov without momentum", "momentum", NULL);
    rejects("{name: nesterov, momentum: 0}", "nesterov with momentum 0", "momentum", NULL);
    rejects("{name: sgd, clipnorm: 1, clipvalue: 1}", "clipnorm and clipvalue", "clipnorm or clipvalue", NULL);
    rejects("{name: sgd, clipnorm: -1}", "negative clipnorm", "clipnorm", "range");
    rejects("{name: rmsprop, centered: maybe}", "bad bool", "centered", NULL);
}

/* The step in slices (mt_optimizer_begin, then mt_optimizer_apply over parts of the slab in any order, as
 * the ranks of a node each update their slice) gives bitwise the whole step, with state held elsewhere
 * (mt_optimizer_use_slots). */
static void slices_exact(const char *yaml)
{
    enum { N = 1000 };
    mt_optimizer whole, parts;
    if (!create(yaml, N, &whole, yaml) || !create(yaml, N, &parts, yaml))
        return;
    static float pw[N], pp[N], g[N], shared[MT_OPT_MAX_SLOTS][N];
    float *slots[MT_OPT_MAX_SLOTS] = {shared[0], shared[1], shared[2]};
    mt_optimizer_use_slots(&parts, slots, 1);
    for (int i = 0; i < N; i++)
        pw[i] = pp[i] = sinf((float)i);
    const size_t cut[] = {0, 17, 400, 401, 999, N};
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < N; i++)
            g[i] = cosf((float)(i * (t + 3))) * (t == 2 ? 50.0f : 0.3f);
        mt_optimizer_step(&whole, pw, g, 0.01);
        mt_optimizer_begin(&parts, 0.01, mt_optimizer_norm_squared(g, N));
        for (int k = 4; k >= 0; k--) /* last slice first */
            mt_optimizer_apply(&parts, pp, g, cut[k], cut[k + 1]);
    }
    CHECK(memcmp(pw, pp, sizeof pw) == 0, "%s: the step in slices differs from the whole step", yaml);
    for (int k = 0; k < whole.n_slots; k++)
        CHECK(memcmp(whole.slots[k], parts.slots[k], N * sizeof(float)) == 0, "%s: slot %d differs", yaml, k);
    CHECK(whole.scalars[0] == parts.scalars[0] && whole.step == parts.step, "%s: scalar state differs", yaml);
    mt_error err = {0};
    CHECK(mt_optimizer_own_slots(&parts, &err) == MT_OK && parts.slots[0] != shared[0] && !parts.shared_slots &&
              (parts.n_slots == 0 || memcmp(parts.slots[0], shared[0], N * sizeof(float)) == 0),
          "%s: the state taken back is not a copy", yaml);
    mt_optimizer_free(&whole), mt_optimizer_free(&parts);
}

int main(void)
{
    hand_computed();
    nadam_scalar();
    lr_argument();
    clipnorm_large();
    const char *all[] = {
        "{name: sgd, learning_rate: 0.1, momentum: 0.9, weight_decay: 0.1}",
        "{name: nesterov, learning_rate: 0.1}",
        "{name: adagrad, learning_rate: 0.1, lr_decay: 0.5}",
        "adadelta",
        "{name: rmsprop, momentum: 0.5, centered: true}",
        "{name: adam, learning_rate: 0.01}",
        "{name: nadam, learning_rate: 0.01}",
        "{name: adamw, learning_rate: 0.01, clipnorm: 0.5}",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        resume_exact(all[i]), slices_exact(all[i]);
    slices_exact("{name: nadam, learning_rate: 0.01, clipnorm: 1.0, weight_decay: 0.01}");
    slices_exact("{name: rmsprop, clipvalue: 0.2, weight_decay: 0.01}");
    state_layout("gd", 1, "", "gd");
    state_layout("gradient_descent", 1, "", "gd");
    state_layout("sgd", 0, "", "sgd");
    state_layout("momentum", 0, "momentum_buffer", "momentum");
    state_layout("nag", 0, "momentum_buffer", "nesterov");
    state_layout("adagrad", 0, "sum", "adagrad");
    state_layout("adadelta", 0, "square_avg acc_delta", "adadelta");
    state_layout("rmsprop", 0, "square_avg", "rmsprop");
    state_layout("{name: rmsprop, momentum: 0.9, centered: true}", 0, "square_avg momentum_buffer grad_avg", "rmsprop");
    state_layout("adam", 0, "exp_avg exp_avg_sq", "adam");
    state_layout("nadam", 0, "exp_avg exp_avg_sq", "nadam");
    state_layout("adamw", 0, "exp_avg exp_avg_sq", "adamw");
    defaults();
    rejections();
    for (int k = 0; k < MT_OPTIM_COUNT; k++) /* every option documented, for the generated docs */
        for (const mt_option *o = mt_optimizer_options((mt_optimizer_kind)k); o && o->name; o++)
            CHECK(o->doc && o->doc[0], "%s.%s: no doc", mt_optimizer_names[k], o->name);
    return mt_test_finish("optimizer");
}
