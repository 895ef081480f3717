// The AVX2 path: a tile of up to 6 rows × one 16-column panel. Per depth group (4 bytes): each row's 4
// activation bytes broadcast to every 32-bit lane; vpmaddubsw multiplies them with the panel's signed bytes and
// adds adjacent pairs into int16 (saturating: see CInt8Kernels.h for the inputs it sums exactly); vpmaddwd by
// ones adds adjacent int16 pairs into the int32 lanes, one per column. Twelve accumulators (6 rows × 2 YMM);
// the panel's two vectors are read as memory operands. Reached only when si8_supported_paths() has SI8_AVX2.
#if defined(__x86_64__)
#include "Int8AVX2Math.h"

SI8_INLINE SI8_AVX2_TARGET void avx2_tile(const si8_gemm_args *g, int row, const int MR, int panel) {
    const int groups = si8_groups(g->k);
    const int8_t *w = g->panels + (ptrdiff_t)panel * groups * 64;
    const uint8_t *a[6];
    for (int r = 0; r < 6; r++) a[r] = g->a + (ptrdiff_t)(row + (r < MR ? r : MR - 1)) * g->lda;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[6][2];
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm256_setzero_si256(); acc[r][1] = _mm256_setzero_si256(); }
    for (int gi = 0; gi < groups; gi++) {
        const __m256i w0 = _mm256_load_si256((const __m256i *)(w + (ptrdiff_t)gi * 64));
        const __m256i w1 = _mm256_load_si256((const __m256i *)(w + (ptrdiff_t)gi * 64 + 32));
        for (int r = 0; r < MR; r++) {
            const __m256i x = _mm256_set1_epi32(si8_load32(a[r] + 4 * gi));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
        }
    }
    const int j0 = panel * SI8_PANEL_COLUMNS;
    const int cols = g->n - j0 < SI8_PANEL_COLUMNS ? g->n - j0 : SI8_PANEL_COLUMNS;
    const float *bias = g->bias ? g->bias + j0 : 0;
    for (int r = 0; r < MR; r++) {
        const int i = row + r;
        float *c = g->c + (ptrdiff_t)i * g->ldc + j0;
        si8_store8(c, acc[r][0], g->a_zeros[i], g->w_sums + j0, g->a_scales[i], g->w_scales + j0, bias, g->gelu,
                   cols < 8 ? cols : 8);
        if (cols > 8) {
            si8_store8(c + 8, acc[r][1], g->a_zeros[i], g->w_sums + j0 + 8, g->a_scales[i], g->w_scales + j0 + 8,
                       bias ? bias + 8 : 0, g->gelu, cols - 8);
        }
    }
}

SI8_AVX2_TARGET void si8_gemm_avx2(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi) {
    for (int p = panel_lo; p < panel_hi; p++) {
        int i = row_lo;
        for (; i + 6 <= row_hi; i += 6) avx2_tile(g, i, 6, p);
        switch (row_hi - i) {
        case 5: avx2_tile(g, i, 5, p); break;
        case 4: avx2_tile(g, i, 4, p); break;
        case 3: avx2_tile(g, i, 3, p); break;
        case 2: avx2_tile(g, i, 2, p); break;
        case 1: avx2_tile(g, i, 1, p); break;
        default: break;
        }
    }
}

SI8_AVX2_TARGET void si8_quantize_rows_avx2(const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                                            uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros) {
    const int padded = 4 * si8_groups(k);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int i = 0; i < rows; i++) {
        const float *src = x + (ptrdiff_t)i * ldx;
        uint8_t *dst = q + (ptrdiff_t)i * ldq;
        __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
        int kk = 0;
        for (; kk + 8 <= k; kk += 8) {
            const __m256 v = _mm256_loadu_ps(src + kk);
            vlo = _mm256_min_ps(vlo, v);
            vhi = _mm256_max_ps(vhi, v);
        }
        float lo8[8], hi8[8];
        _mm256_storeu_ps(lo8, vlo);
        _mm256_storeu_ps(hi8, vhi);
        float lo = 0, hi = 0;
        for (int l = 0; l < 8; l++) {
            if (lo8[l] < lo) lo = lo8[l];
            if (hi8[l] > hi) hi = hi8[l];
        }
        for (; kk < k; kk++) {
            if (src[kk] < lo) lo = src[kk];
            if (src[kk] > hi) hi = src[kk];
        }
        float inverse;
        si8_row_parameters(lo, hi, levels, &scales[i], &zeros[i], &inverse);
        const __m256 inv = _mm256_set1_ps(inverse);
        const __m256i zero = _mm256_set1_epi32(zeros[i]);
        const __m256i top = _mm256_set1_epi32(levels);
        const __m256i bottom = _mm256_setzero_si256();
        kk = 0;
        for (; kk + 32 <= k; kk += 32) {
            __m256i v[4];
            for (int u = 0; u < 4; u++) {
                // cvtps rounds half to even, as nearbyintf does; an out-of-range or NaN lane becomes INT_MIN,
                // which the clamp takes to 0 (the scalar form gives 0 there too).
                __m256i t = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + kk + 8 * u), inv));
                t = _mm256_add_epi32(t, zero);
                v[u] = _mm256_min_epi32(_mm256_max_epi32(t, bottom), top);
            }
            const __m256i w01 = _mm256_packus_epi32(v[0], v[1]);
            const __m256i w23 = _mm256_packus_epi32(v[2], v[3]);
            const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w01, w23), order);
            _mm256_storeu_si256((__m256i *)(dst + kk), bytes);
        }
        for (; kk < k; kk++) dst[kk] = si8_quantize_value(src[kk], inverse, zeros[i], levels);
        for (kk = k; kk < padded; kk++) dst[kk] = 0;
    }
}

SI8_AVX2_TARGET int32_t si8_avx2_peak_probe(long iterations) {
    // Twelve independent chains, each round's bytes the chain's own sums (so no product is computed once for
    // all chains or hoisted out of the loop): maddubs → madd → add is ~8 cycles of latency, twelve chains keep
    // both multiply pipes busy.
    __m256i acc[12];
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i w = _mm256_set1_epi32(0x01FF01FF);
    for (int c = 0; c < 12; c++) acc[c] = _mm256_set1_epi32(0x01020304 + c);
    for (long it = 0; it < iterations; it++) {
        for (int c = 0; c < 12; c++) acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(_mm256_maddubs_epi16(acc[c], w), ones));
    }
    __m256i sum = acc[0];
    for (int c = 1; c < 12; c++) sum = _mm256_add_epi32(sum, acc[c]);
    return _mm256_extract_epi32(sum, 0) + _mm256_extract_epi32(sum, 7);
}
#else
#include "CInt8Kernels.h"
int32_t si8_avx2_peak_probe(long iterations) { (void)iterations; return 0; }
#endif
