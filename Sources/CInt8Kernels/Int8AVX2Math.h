#ifndef SENTIMENTD_INT8_AVX2_MATH_H
#define SENTIMENTD_INT8_AVX2_MATH_H
// The dequantization epilogue on 8 lanes, shared by the AVX2 and AVX-512 VNNI paths: the operations of
// Int8Internal.h's scalar forms, one intrinsic per IEEE operation, in the same order (no FMA), so the three
// paths agree bit for bit.
#if defined(__x86_64__)
#include "Int8Internal.h"
#include <immintrin.h>

#define SI8_AVX2_TARGET __attribute__((target("avx2,fma")))
#define SI8_INLINE static inline __attribute__((always_inline))

SI8_INLINE SI8_AVX2_TARGET __m256 si8_exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3f);
    const __m256 below = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    const __m256 clamped = _mm256_blendv_ps(x, lo, below);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(1.44269504f)), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_sub_ps(clamped, _mm256_mul_ps(n, _mm256_set1_ps(0.69314575f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(1.4286068e-6f)));
    __m256 p = _mm256_set1_ps(1.9875691e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.333452e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665796e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(127)), 23);
    const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(below, result);
}

SI8_INLINE SI8_AVX2_TARGET __m256 si8_erf8(__m256 x) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.3275911f), ax)));
    __m256 y = _mm256_set1_ps(1.061405429f);
    y = _mm256_sub_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(1.453152027f));
    y = _mm256_add_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(1.421413741f));
    y = _mm256_sub_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(0.284496736f));
    y = _mm256_add_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(0.254829592f));
    y = _mm256_mul_ps(y, t);
    const __m256 e = _mm256_sub_ps(one, _mm256_mul_ps(y, si8_exp8(_mm256_mul_ps(_mm256_xor_ps(ax, sign), ax))));
    return _mm256_or_ps(e, _mm256_and_ps(x, sign));
}

SI8_INLINE SI8_AVX2_TARGET __m256 si8_gelu8(__m256 x) {
    const __m256 half = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
    return _mm256_mul_ps(half, _mm256_add_ps(_mm256_set1_ps(1.0f), si8_erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)))));
}

/// Eight outputs of one row: columns j0..j0+7 (`cols` of them valid, 1...8) from their int32 sums.
SI8_INLINE SI8_AVX2_TARGET void si8_store8(float *c, __m256i acc, int32_t zero, const int32_t *sums, float a_scale,
                                          const float *w_scales, const float *bias, int gelu, int cols) {
    const __m256i corrected = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(zero), _mm256_loadu_si256((const __m256i *)sums)));
    const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scale), _mm256_loadu_ps(w_scales));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(corrected), scale);
    if (bias) {
        if (cols == 8) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
        } else {
            float b[8] = {0};
            for (int j = 0; j < cols; j++) b[j] = bias[j];
            v = _mm256_add_ps(v, _mm256_loadu_ps(b));
        }
    }
    if (gelu) v = si8_gelu8(v);
    if (cols == 8) {
        _mm256_storeu_ps(c, v);
    } else {
        float out[8];
        _mm256_storeu_ps(out, v);
        for (int j = 0; j < cols; j++) c[j] = out[j];
    }
}
#endif
#endif
