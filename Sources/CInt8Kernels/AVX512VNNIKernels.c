// The AVX-512 VNNI path: a tile of up to 6 rows × 4 panels (64 columns). Per depth group (4 bytes): four ZMM
// loads of the panels' 64-byte groups, and per row one broadcast of its 4 activation bytes and four vpdpbusd
// (each: 16 columns × 4 unsigned·signed byte products summed into int32, exact). Twenty-four accumulators,
// four weight vectors and the broadcast: 29 of the 32 ZMM registers. The epilogue is the AVX2 path's, on each
// half of a ZMM, so both paths round alike. Reached only when si8_supported_paths() has SI8_AVX512VNNI.
#if defined(__x86_64__)
#include "Int8AVX2Math.h"

#define SI8_VNNI_TARGET \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma")))

SI8_INLINE SI8_VNNI_TARGET void vnni_tile(const si8_gemm_args *g, int row, const int MR, int panel, const int NP) {
    const int groups = si8_groups(g->k);
    const int8_t *w[4];
    for (int p = 0; p < 4; p++) w[p] = g->panels + (ptrdiff_t)(panel + (p < NP ? p : NP - 1)) * groups * 64;
    const uint8_t *a[6];
    for (int r = 0; r < 6; r++) a[r] = g->a + (ptrdiff_t)(row + (r < MR ? r : MR - 1)) * g->lda;
    __m512i acc[6][4];
    for (int r = 0; r < MR; r++)
        for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_si512();
    for (int gi = 0; gi < groups; gi++) {
        __m512i wv[4];
        for (int p = 0; p < NP; p++) wv[p] = _mm512_load_si512((const void *)(w[p] + (ptrdiff_t)gi * 64));
        for (int r = 0; r < MR; r++) {
            const __m512i x = _mm512_set1_epi32(si8_load32(a[r] + 4 * gi));
            for (int p = 0; p < NP; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, wv[p]);
        }
    }
    for (int p = 0; p < NP; p++) {
        const int j0 = (panel + p) * SI8_PANEL_COLUMNS;
        const int cols = g->n - j0 < SI8_PANEL_COLUMNS ? g->n - j0 : SI8_PANEL_COLUMNS;
        const float *bias = g->bias ? g->bias + j0 : 0;
        for (int r = 0; r < MR; r++) {
            const int i = row + r;
            float *c = g->c + (ptrdiff_t)i * g->ldc + j0;
            si8_store8(c, _mm512_castsi512_si256(acc[r][p]), g->a_zeros[i], g->w_sums + j0, g->a_scales[i],
                       g->w_scales + j0, bias, g->gelu, cols < 8 ? cols : 8);
            if (cols > 8) {
                si8_store8(c + 8, _mm512_extracti64x4_epi64(acc[r][p], 1), g->a_zeros[i], g->w_sums + j0 + 8,
                           g->a_scales[i], g->w_scales + j0 + 8, bias ? bias + 8 : 0, g->gelu, cols - 8);
            }
        }
    }
}

/// Rows [row_lo, row_hi) against panels [panel, panel + NP): tiles of 6 rows, then one of the rest.
SI8_INLINE SI8_VNNI_TARGET void vnni_rows(const si8_gemm_args *g, int row_lo, int row_hi, int panel, const int NP) {
    int i = row_lo;
    for (; i + 6 <= row_hi; i += 6) vnni_tile(g, i, 6, panel, NP);
    switch (row_hi - i) {
    case 5: vnni_tile(g, i, 5, panel, NP); break;
    case 4: vnni_tile(g, i, 4, panel, NP); break;
    case 3: vnni_tile(g, i, 3, panel, NP); break;
    case 2: vnni_tile(g, i, 2, panel, NP); break;
    case 1: vnni_tile(g, i, 1, panel, NP); break;
    default: break;
    }
}

SI8_VNNI_TARGET void si8_gemm_avx512vnni(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi) {
    int p = panel_lo;
    for (; p + 4 <= panel_hi; p += 4) vnni_rows(g, row_lo, row_hi, p, 4);
    switch (panel_hi - p) {
    case 3: vnni_rows(g, row_lo, row_hi, p, 3); break;
    case 2: vnni_rows(g, row_lo, row_hi, p, 2); break;
    case 1: vnni_rows(g, row_lo, row_hi, p, 1); break;
    default: break;
    }
}

SI8_VNNI_TARGET int32_t si8_vnni_peak_probe(long iterations) {
    // Twenty-four independent accumulators: more than the vpdpbusd latency times its throughput.
    __m512i acc[24];
    const __m512i x = _mm512_set1_epi32(0x01020304), w = _mm512_set1_epi32(0x01FF01FF);
    for (int c = 0; c < 24; c++) acc[c] = _mm512_set1_epi32(c);
    for (long it = 0; it < iterations; it++) {
        for (int c = 0; c < 24; c++) acc[c] = _mm512_dpbusd_epi32(acc[c], x, w);
    }
    __m512i sum = acc[0];
    for (int c = 1; c < 24; c++) sum = _mm512_add_epi32(sum, acc[c]);
    return _mm512_reduce_add_epi32(sum);
}
#else
#include "CInt8Kernels.h"
int32_t si8_vnni_peak_probe(long iterations) { (void)iterations; return 0; }
#endif
