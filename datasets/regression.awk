# Writes a noisy known function as CSV (x1, x2, x3, y) on stdout:
#   y = sin(2 x1) + 0.5 x2^2 - x3 + e,   x1, x2, x3 uniform in [-2, 2],   e ~ N(0, 0.1^2)
# The noise standard deviation is 0.1, so the best possible test RMSE is 0.1 (a model that learned the
# function exactly); the regression example must reach a test RMSE within 10% of it (<= 0.11).
# Usage: awk -v seed=S -v rows=N -f datasets/rng.awk -f datasets/regression.awk
BEGIN {
    noise = 0.1
    rng_seed(seed)
    print "x1,x2,x3,y"
    for (i = 0; i < rows; i++) {
        x1 = rng_between(-2, 2)
        x2 = rng_between(-2, 2)
        x3 = rng_between(-2, 2)
        y = sin(2 * x1) + 0.5 * x2 * x2 - x3 + noise * rng_normal()
        printf "%.6f,%.6f,%.6f,%.6f\n", x1, x2, x3, y
    }
}
