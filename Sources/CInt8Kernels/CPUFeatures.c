// Which int8 paths this machine runs. An instruction set counts only when the operating system also saves
// its registers on a context switch (XCR0, read with xgetbv, after cpuid says OSXSAVE): a hypervisor or kernel
// may hide AVX-512 state even on a CPU that has it.
#include "CInt8Kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int si8_supported_paths(void) {
    int paths = 1 << SI8_PORTABLE;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return paths;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return paths;
    const uint64_t state = xcr0();
    const int ymm = (state & 0x6) == 0x6;       // SSE and AVX state
    const int zmm = (state & 0xE6) == 0xE6;     // and opmask, ZMM0-15 upper halves, ZMM16-31
    if (__get_cpuid_max(0, 0) < 7) return paths;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int avx512vnni = (c >> 11) & 1;
    if (ymm && avx2 && fma) {
        paths |= 1 << SI8_AVX2;
        if (zmm && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni) paths |= 1 << SI8_AVX512VNNI;
    }
    return paths;
}
#else
int si8_supported_paths(void) { return 1 << SI8_PORTABLE; }
#endif

long si8_clock_probe(long iterations) {
    // Eight dependent one-cycle adds per round: about 8 · iterations cycles at the core's current clock
    // (the loop's own counter runs beside the chain).
    long x = 0;
    for (long i = 0; i < iterations; i++) {
#if defined(__x86_64__)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
#else
        __asm__ volatile("" : "+r"(x));
        x += 8;
#endif
    }
    return x;
}
