/* bfloat16 (the upper 16 bits of an IEEE float): conversions with round-to-nearest-even, for the
 * reduced-precision gradient exchange. */
#ifndef MT_CORE_BF16_H
#define MT_CORE_BF16_H

#include <stdint.h>
#include <string.h>

static inline float mt_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest, ties to even; a NaN stays a (quiet) NaN instead of rounding into infinity. */
static inline uint16_t mt_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

#endif
