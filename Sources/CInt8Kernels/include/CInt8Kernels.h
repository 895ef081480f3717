#ifndef SENTIMENTD_CINT8KERNELS_H
#define SENTIMENTD_CINT8KERNELS_H
// int8 GEMM for the quantized dense layers: C (m, n) = dequantize(Aq (m, k) · Wqᵀ) (+ bias) (GELU), with
// activations as unsigned bytes with a zero point per row and weights as signed bytes with a scale per output
// column, summed exactly in int32.
//
// Three instruction-set paths compute the same integers and the same floats, bit for bit (each float step of
// the dequantization is one IEEE operation in the same order on every path: no FMA contraction, RNE
// conversions). Callers pick a path with si8_supported_paths(); calling a path the CPU lacks is undefined.
//
//   SI8_PORTABLE     plain C, any CPU.
//   SI8_AVX2         vpmaddubsw + vpmaddwd. vpmaddubsw adds two u8·s8 products into a *saturating* int16,
//                    so a path-independent result needs |a·w + a'·w'| ≤ 32767 for every pair: activations in
//                    [0, 255] with weights in [-63, 63], or activations in [0, 127] with weights in [-128, 127]
//                    (si8_avx2_exact says which inputs are safe). The quantizer keeps to the first.
//   SI8_AVX512VNNI   vpdpbusd on 512-bit registers (four u8·s8 products summed into int32, no saturation).
//
// Weight layout ("panels"): output columns in panels of 16, depth in groups of 4 bytes,
//
//     panels[(p · groups + g) · 64 + jj · 4 + q] = W[16p + jj, 4g + q]   (0 where 16p + jj ≥ n or 4g + q ≥ k)
//
// so one group of one panel is 64 bytes: one ZMM, two YMM. Activations: row i at a + i · lda, k bytes then
// zero bytes up to a multiple of 4.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SI8_PORTABLE = 0,
    SI8_AVX2 = 1,
    SI8_AVX512VNNI = 2,
};

/// Columns per panel and bytes of depth per group.
enum { SI8_PANEL_COLUMNS = 16, SI8_GROUP_DEPTH = 4 };

/// Bit (1 << path) for every path this CPU and its operating system can run: the instruction sets from
/// cpuid, and the register state enabled by the OS in XCR0 (xgetbv) for YMM and for ZMM/opmask registers.
int si8_supported_paths(void);

/// Number of depth groups (k rounded up to a multiple of 4, over 4) and of panels (n over 16, rounded up).
static inline int si8_groups(int k) { return (k + SI8_GROUP_DEPTH - 1) / SI8_GROUP_DEPTH; }
static inline int si8_panels(int n) { return (n + SI8_PANEL_COLUMNS - 1) / SI8_PANEL_COLUMNS; }

/// Lays out int8 weights q (n rows of k, row stride ldq) as panels (si8_panels(n) · si8_groups(k) · 64 bytes),
/// and writes sums[j] = Σ_kk q[j, kk] for j < si8_panels(n) · 16 (0 for padding columns).
void si8_pack_int8(const int8_t *q, ptrdiff_t ldq, int n, int k, int8_t *panels, int32_t *sums);

/// Quantizes fp32 weights w (n rows of k, row stride ldw) symmetrically per row (output channel):
/// scale[j] = max_kk |w[j, kk]| / qmax (1 for an all-zero row), q = round-half-even(w / scale) in [-qmax, qmax];
/// then packs as si8_pack_int8. scales and sums hold si8_panels(n) · 16 entries (0 for padding columns).
void si8_quantize_weights(const float *w, ptrdiff_t ldw, int n, int k, int qmax,
                          int8_t *panels, float *scales, int32_t *sums);

/// Quantizes rows of fp32 activations asymmetrically per row: over [lo, hi] = [min(0, min x), max(0, max x)],
/// scale = (hi - lo) / levels (1 for an all-zero row), zero = round(-lo / scale), q = clamp(round(x · (1/scale))
/// + zero, 0, levels), rounding half to even. Writes k bytes per row then zeros up to lda (lda ≥ 4 · si8_groups(k)).
/// Every path gives the same bytes.
void si8_quantize_rows(int path, const float *x, ptrdiff_t ldx, int rows, int k, int levels,
                       uint8_t *q, ptrdiff_t ldq, float *scales, int32_t *zeros);

typedef struct {
    int m, n, k;
    /// Quantized activations: m rows of stride lda bytes (see si8_quantize_rows).
    const uint8_t *a;
    ptrdiff_t lda;
    const float *a_scales;
    const int32_t *a_zeros;
    /// Packed weights with their per-column scales and sums (si8_panels(n) · 16 each).
    const int8_t *panels;
    const float *w_scales;
    const int32_t *w_sums;
    /// n floats, or NULL.
    const float *bias;
    /// Non-zero: C = GELU(...), exact-erf form x · ½ · (1 + erf(x / √2)) (Abramowitz & Stegun 7.1.26).
    int gelu;
    float *c;
    ptrdiff_t ldc;
} si8_gemm_args;

/// For rows [row_lo, row_hi) and panels [panel_lo, panel_hi) (columns 16 · panel_lo up to 16 · panel_hi, cut at n):
/// C[i, j] = (float)(Σ_kk Aq[i, kk] · Wq[j, kk] - zero[i] · sum[j]) · (a_scale[i] · w_scale[j]) (+ bias[j]) (GELU).
/// Columns at or past n are never written.
void si8_gemm(int path, const si8_gemm_args *args, int row_lo, int row_hi, int panel_lo, int panel_hi);

/// Whether the AVX2 path sums these inputs exactly: no pair of products can leave int16.
static inline int si8_avx2_exact(int max_activation, int max_abs_weight) {
    return 2 * max_activation * max_abs_weight <= 32767;
}

/// Microbenchmarks of the multiply units (`sentimentd bench --int8-peak`): `iterations` rounds of 24 independent
/// vpdpbusd on ZMM registers (24 · 64 multiply-adds of bytes per round), or of 12 vpmaddubsw + vpmaddwd + vpaddd on
/// YMM (12 · 32 per round). The result depends on every sum, so nothing is optimised away. Only on a CPU with the
/// path's instructions.
int32_t si8_vnni_peak_probe(long iterations);
int32_t si8_avx2_peak_probe(long iterations);
/// `iterations` rounds of 8 dependent one-cycle integer adds: 8 · iterations cycles, to read the clock.
long si8_clock_probe(long iterations);

#ifdef __cplusplus
}
#endif

#endif
