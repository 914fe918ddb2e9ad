/* Optimizer steps against values computed by hand from the published update rules (torch.optim):
 * SGD with momentum (buffer starts as the first gradient), Nesterov, Adam with bias correction.
 * Two parameters p = [1, -2], gradients g1 = [0.5, -1], g2 = [0.2, 0.4], g3 = [-0.3, 0.1].
 *   SGD mu 0.9 lr 0.1: b1 = g1 -> p = [0.95, -1.9]; b2 = 0.9 b1 + g2 = [0.65, -0.5] -> [0.885, -1.85];
 *                      b3 = [0.285, -0.35] -> [0.8565, -1.815]
 *   Nesterov:          p -= lr (g + mu b): [0.905, -1.81], [0.8265, -1.805], [0.83085, -1.7835]
 *   Adam lr 0.01:      step 1 moves each parameter by lr * sign(g) (m^ = g, v^ = g^2): [0.99, -1.99], then
 *                      [0.98101425, -1.98654394], [0.97805872, -1.98447499] */
#include <stdio.h>
#include <stdlib.h>

#include "config/yaml_tree.h"
#include "optim/optimizer.h"
#include "testlib.h"

static const float grads[3][2] = {{0.5f, -1.0f}, {0.2f, 0.4f}, {-0.3f, 0.1f}};

static void run(const char *yaml, const double expected[3][2], const char *what)
{
    mt_node *node = NULL;
    mt_error err = {0};
    if (!CHECK(mt_yaml_parse_string(yaml, what, &node, &err) == MT_OK, "%s: parse: %s", what, err.msg))
        return;
    mt_optimizer opt;
    if (!CHECK(mt_optimizer_create(node, 2, &opt, &err) == MT_OK, "%s: create: %s", what, err.msg)) {
        mt_node_free(node);
        return;
    }
    float p[2] = {1.0f, -2.0f};
    for (int t = 0; t < 3; t++) {
        mt_optimizer_step(&opt, p, grads[t], opt.opts.learning_rate);
        for (int i = 0; i < 2; i++) {
            char label[64];
            snprintf(label, sizeof label, "%s step %d p[%d]", what, t + 1, i);
            CHECK_CLOSE(p[i], expected[t][i], 1e-5, 1e-6, label);
        }
    }
    CHECK(opt.step == 3, "%s: step count %lld", what, (long long)opt.step);
    mt_optimizer_free(&opt);
    mt_node_free(node);
}

static void rejects(const char *yaml, const char *what)
{
    mt_node *node = NULL;
    mt_error err = {0};
    mt_optimizer opt;
    if (mt_yaml_parse_string(yaml, what, &node, &err) != MT_OK)
        return;
    CHECK(mt_optimizer_create(node, 2, &opt, &err) == MT_ERR_CONFIG, "%s: accepted", what);
    mt_node_free(node);
}

int main(void)
{
    const double sgd[3][2] = {{0.95, -1.9}, {0.885, -1.85}, {0.8565, -1.815}};
    const double nesterov[3][2] = {{0.905, -1.81}, {0.8265, -1.805}, {0.83085, -1.7835}};
    const double adam[3][2] = {{0.99, -1.99}, {0.9810142483902928, -1.9865439416662627},
                               {0.9780587150923735, -1.984474990065151}};
    const double plain[3][2] = {{0.95, -1.9}, {0.93, -1.94}, {0.96, -1.95}};
    run("{name: sgd, learning_rate: 0.1, momentum: 0.9}", sgd, "sgd momentum");
    run("{name: sgd, learning_rate: 0.1, momentum: 0.9, nesterov: true}", nesterov, "sgd nesterov");
    run("{name: adam, learning_rate: 0.01}", adam, "adam");
    run("{name: sgd, learning_rate: 0.1}", plain, "sgd plain");
    rejects("{name: sgd, beta_1: 0.9}", "sgd with beta_1");
    rejects("{name: adamm}", "unknown optimizer");
    rejects("{name: adam, learning_rate: -1}", "negative learning rate");
    return mt_test_finish("optimizer");
}
