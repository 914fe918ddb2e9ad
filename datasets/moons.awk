# Writes the two interleaved half-moons as CSV (x1, x2, y) on stdout: scikit-learn's make_moons with
# t uniform in [0, pi] instead of evenly spaced:
#   class 0 (outer moon): (cos t, sin t)
#   class 1 (inner moon): (1 - cos t, 1 - sin t - 0.5)
# plus Gaussian noise of standard deviation 0.2 on each coordinate. No line separates the classes; a
# small MLP does. Rows alternate between the classes (half of each).
# Usage: awk -v seed=S -v rows=N -f datasets/rng.awk -f datasets/moons.awk
BEGIN {
    noise = 0.2
    pi = 3.141592653589793
    rng_seed(seed)
    print "x1,x2,y"
    for (i = 0; i < rows; i++) {
        label = i % 2
        t = pi * rng_uniform()
        if (label == 0) {
            a = cos(t)
            b = sin(t)
        } else {
            a = 1 - cos(t)
            b = 1 - sin(t) - 0.5
        }
        a += noise * rng_normal()
        b += noise * rng_normal()
        printf "%.6f,%.6f,%d\n", a, b, label
    }
}
