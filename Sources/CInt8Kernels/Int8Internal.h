#ifndef SENTIMENTD_INT8_INTERNAL_H
#define SENTIMENTD_INT8_INTERNAL_H
// Shared by the path files. Every float step is written as one IEEE operation and contraction into FMA is
// off, so the scalar and vector forms below give the same bits.

#include "CInt8Kernels.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline uint32_t si8_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float si8_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

// exp(x) for x ≤ 0 (erf's use), 0 below -87.3: Cody-Waite reduction by ln 2 and a degree-6 polynomial, the
// same constants as SentimentEngine's simdExp and the fp32 AVX2 kernel's GELU.
static inline float si8_exp_scalar(float x) {
    const float lo = -87.3f;
    int below = x < lo;
    float clamped = below ? lo : x;
    const float magic = 12582912.0f;   // 1.5 · 2^23
    float shifted = clamped * 1.44269504f + magic;
    float n = shifted - magic;
    float r = clamped - n * 0.69314575f;
    r = r - n * 1.4286068e-6f;
    float p = 1.9875691e-4f;
    p = p * r + 1.3981999e-3f;
    p = p * r + 8.333452e-3f;
    p = p * r + 4.1665796e-2f;
    p = p * r + 1.6666665e-1f;
    p = p * r + 0.5f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (si8_bits(shifted) + 127u) << 23;
    float result = p * si8_float(bits);
    return below ? 0.0f : result;
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
static inline float si8_erf_scalar(float x) {
    uint32_t xb = si8_bits(x);
    float ax = si8_float(xb & 0x7FFFFFFFu);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float y = 1.061405429f;
    y = y * t - 1.453152027f;
    y = y * t + 1.421413741f;
    y = y * t - 0.284496736f;
    y = y * t + 0.254829592f;
    y = y * t;
    float e = 1.0f - y * si8_exp_scalar(-ax * ax);
    return si8_float(si8_bits(e) | (xb & 0x80000000u));
}

static inline float si8_gelu_scalar(float x) {
    return x * 0.5f * (1.0f + si8_erf_scalar(x * 0.70710678118654752f));
}

/// One output value: the exact integer sum corrected for the row's zero point, converted (round to nearest
/// even), scaled by the row's and the column's scales, biased, GELU'd.
static inline float si8_dequantize(int32_t acc, int32_t zero, int32_t sum, float a_scale, float w_scale,
                                   const float *bias, int j, int gelu) {
    float v = (float)(acc - zero * sum) * (a_scale * w_scale);
    if (bias) v = v + bias[j];
    return gelu ? si8_gelu_scalar(v) : v;
}

static inline int32_t si8_load32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

// Path entry points (one file each).
void si8_gemm_portable(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi);
void si8_quantize_rows_portable(const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                                uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros);
/// One row's scale, zero point and 1/scale from its range (shared so that every path derives them alike).
void si8_row_parameters(float lo, float hi, int levels, float *scale, int32_t *zero, float *inverse);
/// One element's byte.
static inline uint8_t si8_quantize_value(float x, float inverse, int32_t zero, int levels) {
    float r = nearbyintf(x * inverse);
    // Compare in float first: an out-of-range or NaN value must not reach the int conversion.
    int32_t v = r >= (float)levels ? levels : (r > -(float)levels ? (int32_t)r : -levels);
    v += zero;
    return (uint8_t)(v < 0 ? 0 : (v > levels ? levels : v));
}

#if defined(__x86_64__)
void si8_gemm_avx2(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi);
void si8_quantize_rows_avx2(const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                            uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros);
void si8_gemm_avx512vnni(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi);
#endif

#endif
