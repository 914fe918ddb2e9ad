# Portable random numbers for the dataset generators (POSIX awk: mawk, gawk, busybox awk), the same on
# every machine: awk's own rand() differs between implementations, so this is L'Ecuyer's combined
# multiplicative congruential generator (Communications of the ACM 31(6), 1988):
#   s1 = 40014 s1 mod 2147483563,  s2 = 40692 s2 mod 2147483399,  z = s1 - s2 (+ 2147483562 if z < 1),
#   u = z / 2147483563, uniform in (0, 1) (never 0 or 1), period about 2.3e18.
# Every product is below 2^47, so awk's doubles compute it exactly.
function rng_seed(seed,    i) {
    _s1 = seed % 2147483562 + 1
    _s2 = (seed * 7919 + 12345) % 2147483398 + 1
    for (i = 0; i < 10; i++)
        rng_uniform()
}
function rng_uniform(    z) {
    _s1 = (40014 * _s1) % 2147483563
    _s2 = (40692 * _s2) % 2147483399
    z = _s1 - _s2
    if (z < 1)
        z += 2147483562
    return z / 2147483563
}
# Uniform in [lo, hi).
function rng_between(lo, hi) {
    return lo + (hi - lo) * rng_uniform()
}
# Standard normal deviate (Box-Muller).
function rng_normal() {
    return sqrt(-2 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform())
}
# Integer in [0, n).
function rng_below(n,    k) {
    k = int(rng_uniform() * n)
    return k < n ? k : n - 1
}
