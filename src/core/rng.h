/* Counter-based random numbers: every draw is a pure function of (key, counter), so results do not
 * depend on how work is split across ranks. Keys are built by hashing (seed, purpose, epoch, ...). */
#ifndef MT_CORE_RNG_H
#define MT_CORE_RNG_H

#include <stdint.h>

/* Mixes a 64-bit value (SplitMix64 finalizer): a bijection with good avalanche. */
static inline uint64_t mt_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Derives a key from a parent key and one more word (seed -> epoch -> layer -> sample ...). */
static inline uint64_t mt_key(uint64_t parent, uint64_t word)
{
    return mt_mix64(parent ^ mt_mix64(word + 0x632be59bd9b4e019ULL));
}

/* A sequential stream drawn from one key. */
typedef struct mt_rng {
    uint64_t key;
    uint64_t counter;
} mt_rng;

static inline mt_rng mt_rng_make(uint64_t key)
{
    return (mt_rng){key, 0};
}
static inline uint64_t mt_rng_u64(mt_rng *r)
{
    return mt_mix64(r->key ^ mt_mix64(r->counter++));
}

/* Uniform float in [0, 1) with 24 random bits. */
static inline float mt_rng_uniform(mt_rng *r)
{
    return (float)(mt_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t mt_rng_below(mt_rng *r, uint64_t n);

/* Standard normal (Box-Muller, double precision inside). */
float mt_rng_normal(mt_rng *r);

#endif
