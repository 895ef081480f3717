// The portable path (any CPU), the packing and weight quantization (run once per version, on any path), and
// the dispatch to the instruction-set paths.

#include "Int8Internal.h"
#include <stdlib.h>

void si8_pack_int8(const int8_t *q, ptrdiff_t ldq, int n, int k, int8_t *panels, int32_t *sums) {
    const int groups = si8_groups(k), np = si8_panels(n);
    for (int p = 0; p < np; p++) {
        int8_t *panel = panels + (ptrdiff_t)p * groups * 64;
        memset(panel, 0, (size_t)groups * 64);
        for (int jj = 0; jj < SI8_PANEL_COLUMNS; jj++) {
            const int j = p * SI8_PANEL_COLUMNS + jj;
            int32_t sum = 0;
            if (j < n) {
                const int8_t *row = q + (ptrdiff_t)j * ldq;
                for (int kk = 0; kk < k; kk++) {
                    panel[(kk / 4) * 64 + jj * 4 + (kk % 4)] = row[kk];
                    sum += row[kk];
                }
            }
            sums[j] = sum;
        }
    }
}

void si8_quantize_weights(const float *w, ptrdiff_t ldw, int n, int k, int qmax,
                          int8_t *panels, float *scales, int32_t *sums) {
    int8_t *q = (int8_t *)malloc((size_t)n * (size_t)k + 1);
    for (int j = 0; j < n; j++) {
        const float *src = w + (ptrdiff_t)j * ldw;
        float amax = 0;
        for (int kk = 0; kk < k; kk++) {
            float a = fabsf(src[kk]);
            if (a > amax) amax = a;
        }
        const float scale = amax > 0 ? amax / (float)qmax : 1.0f;
        for (int kk = 0; kk < k; kk++) {
            float r = nearbyintf(src[kk] / scale);
            q[(ptrdiff_t)j * k + kk] = (int8_t)(r > (float)qmax ? qmax : (r < -(float)qmax ? -qmax : (int32_t)r));
        }
        scales[j] = scale;
    }
    si8_pack_int8(q, k, n, k, panels, sums);
    for (int j = n; j < si8_panels(n) * SI8_PANEL_COLUMNS; j++) scales[j] = 0;
    free(q);
}

void si8_row_parameters(float lo, float hi, int levels, float *scale, int32_t *zero, float *inverse) {
    const float range = hi - lo;
    const float s = range / (float)levels;
    const float inv = 1.0f / s;
    if (!(s > 0) || !isfinite(inv) || !isfinite(s)) {
        // An all-zero row (or one too small or too large to scale): every byte 0, every product 0.
        *scale = 1; *zero = 0; *inverse = 0;
        return;
    }
    float z = nearbyintf(-lo / s);
    *zero = z <= 0 ? 0 : (z >= (float)levels ? levels : (int32_t)z);
    *scale = s;
    *inverse = inv;
}

void si8_quantize_rows_portable(const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                                uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros) {
    const int padded = 4 * si8_groups(k);
    for (int i = 0; i < rows; i++) {
        const float *src = x + (ptrdiff_t)i * ldx;
        uint8_t *dst = q + (ptrdiff_t)i * ldq;
        float lo = 0, hi = 0;
        for (int kk = 0; kk < k; kk++) {
            if (src[kk] < lo) lo = src[kk];
            if (src[kk] > hi) hi = src[kk];
        }
        float inverse;
        si8_row_parameters(lo, hi, levels, &scales[i], &zeros[i], &inverse);
        for (int kk = 0; kk < k; kk++) dst[kk] = si8_quantize_value(src[kk], inverse, zeros[i], levels);
        for (int kk = k; kk < padded; kk++) dst[kk] = 0;
    }
}

void si8_gemm_portable(const si8_gemm_args *g, int row_lo, int row_hi, int panel_lo, int panel_hi) {
    const int groups = si8_groups(g->k);
    for (int p = panel_lo; p < panel_hi; p++) {
        const int8_t *panel = g->panels + (ptrdiff_t)p * groups * 64;
        const int j0 = p * SI8_PANEL_COLUMNS;
        const int cols = g->n - j0 < SI8_PANEL_COLUMNS ? g->n - j0 : SI8_PANEL_COLUMNS;
        for (int i = row_lo; i < row_hi; i++) {
            const uint8_t *a = g->a + (ptrdiff_t)i * g->lda;
            int32_t acc[SI8_PANEL_COLUMNS] = {0};
            for (int gi = 0; gi < groups; gi++) {
                const int8_t *w = panel + (ptrdiff_t)gi * 64;
                const uint8_t *av = a + 4 * gi;
                for (int jj = 0; jj < SI8_PANEL_COLUMNS; jj++) {
                    acc[jj] += av[0] * w[4 * jj] + av[1] * w[4 * jj + 1] + av[2] * w[4 * jj + 2] + av[3] * w[4 * jj + 3];
                }
            }
            float *c = g->c + (ptrdiff_t)i * g->ldc + j0;
            for (int jj = 0; jj < cols; jj++) {
                c[jj] = si8_dequantize(acc[jj], g->a_zeros[i], g->w_sums[j0 + jj], g->a_scales[i],
                                       g->w_scales[j0 + jj], g->bias, j0 + jj, g->gelu);
            }
        }
    }
}

void si8_quantize_rows(int path, const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                       uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros) {
#if defined(__x86_64__)
    if (path != SI8_PORTABLE) {
        si8_quantize_rows_avx2(x, ldx, rows, k, levels, q, ldq, scales, zeros);
        return;
    }
#endif
    (void)path;
    si8_quantize_rows_portable(x, ldx, rows, k, levels, q, ldq, scales, zeros);
}

void si8_gemm(int path, const si8_gemm_args *args, int row_lo, int row_hi, int panel_lo, int panel_hi) {
    if (row_lo >= row_hi || panel_lo >= panel_hi) return;
#if defined(__x86_64__)
    switch (path) {
    case SI8_AVX512VNNI: si8_gemm_avx512vnni(args, row_lo, row_hi, panel_lo, panel_hi); return;
    case SI8_AVX2: si8_gemm_avx2(args, row_lo, row_hi, panel_lo, panel_hi); return;
    default: break;
    }
#endif
    (void)path;
    si8_gemm_portable(args, row_lo, row_hi, panel_lo, panel_hi);
}
