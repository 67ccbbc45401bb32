/* Montgomery products on GMP's mpn layer, shared by _multiexp.c and _fixedbase.c (include after Python.h).
 *
 * Why: a product of 4096-bit residues (Paillier's n^2) is an mpn_mul_n or mpn_sqr plus GMP's own REDC, with
 * no allocation and no division, so the native loops run without the GIL at GMP's speed. R = 2^(64 n).
 */
#ifndef POWERFL_MONTGOMERY_H
#define POWERFL_MONTGOMERY_H

#include <gmp.h>
#include <stdlib.h>
#include <string.h>

#if GMP_LIMB_BITS != 64
#error "_montgomery.h assumes 64-bit GMP limbs (byte packing, Newton inverse)"
#endif

/* GMP's REDC (assembly on x86-64), the one mpz_powm uses: exported by libgmp since 5.0 but not declared in
 * gmp.h. ~15% faster per product than an mpn_addmul_1 loop at 4096 bits. */
mp_limb_t __gmpn_redc_1(mp_ptr rp, mp_ptr up, mp_srcptr mp, mp_size_t n, mp_limb_t invm);

typedef struct {
    mp_limb_t *m;   /* odd modulus, n limbs */
    mp_size_t n;
    mp_limb_t minv; /* -m^{-1} mod 2^64 */
    mp_limb_t *t;   /* 2n limbs of scratch */
    mp_limb_t *one; /* R mod m */
    mp_limb_t *r2;  /* R^2 mod m */
} mont_t;

static void limbs_from_bytes(mp_limb_t *dst, mp_size_t n, const unsigned char *src, size_t len) {
    memset(dst, 0, n * sizeof(mp_limb_t));
    for (size_t i = 0; i < len; i++) dst[i / 8] |= (mp_limb_t)src[i] << (8 * (i % 8));
}

static void limbs_to_bytes(unsigned char *dst, size_t len, const mp_limb_t *src) {
    for (size_t i = 0; i < len; i++) dst[i] = (unsigned char)(src[i / 8] >> (8 * (i % 8)));
}

static void mont_free(mont_t *M) {
    free(M->m);
    free(M->t);
    free(M->one);
    free(M->r2);
    memset(M, 0, sizeof(*M));
}

/* Sets up M for an odd little-endian modulus of w bytes; 0, or -1 with a Python error set (M then needs no free). */
static int mont_init(mont_t *M, const unsigned char *mb, size_t w) {
    memset(M, 0, sizeof(*M));
    if (w == 0 || !(mb[0] & 1) || (w == 1 && mb[0] == 1)) {
        PyErr_SetString(PyExc_ValueError, "modulus must be odd and greater than 1");
        return -1;
    }
    mp_size_t n = (mp_size_t)((w + 7) / 8);
    M->n = n;
    M->m = calloc(n, sizeof(mp_limb_t));
    M->t = calloc(2 * n, sizeof(mp_limb_t));
    M->one = calloc(n, sizeof(mp_limb_t));
    M->r2 = calloc(n, sizeof(mp_limb_t));
    if (!M->m || !M->t || !M->one || !M->r2) {
        mont_free(M);
        PyErr_NoMemory();
        return -1;
    }
    limbs_from_bytes(M->m, n, mb, w);
    mpz_t big, m;
    mpz_init(big);
    mpz_roinit_n(m, M->m, n);
    mpz_setbit(big, 64 * n);
    mpz_mod(big, big, m);
    mpz_export(M->one, NULL, -1, sizeof(mp_limb_t), 0, 0, big);
    mpz_mul(big, big, big);
    mpz_mod(big, big, m);
    mpz_export(M->r2, NULL, -1, sizeof(mp_limb_t), 0, 0, big);
    mpz_clear(big);
    mp_limb_t inv = 1; /* Newton: inv = m^{-1} mod 2^64 */
    for (int i = 0; i < 6; i++) inv *= 2 - M->m[0] * inv;
    M->minv = -inv;
    return 0;
}

/* r = t / R mod m for t < m R (t is destroyed); r may not overlap t. */
static void mont_redc(const mont_t *M, mp_limb_t *r, mp_limb_t *t) {
    if (__gmpn_redc_1(r, t, M->m, M->n, M->minv) || mpn_cmp(r, M->m, M->n) >= 0) mpn_sub_n(r, r, M->m, M->n);
}

/* r = a b / R mod m; r may alias a or b. */
static void mont_mul(const mont_t *M, mp_limb_t *r, const mp_limb_t *a, const mp_limb_t *b) {
    if (a == b)
        mpn_sqr(M->t, a, M->n);
    else
        mpn_mul_n(M->t, a, b, M->n);
    mont_redc(M, r, M->t);
}

/* r = r / R mod m (out of Montgomery form). */
static void mont_leave(const mont_t *M, mp_limb_t *r) {
    mpn_zero(M->t, 2 * M->n);
    mpn_copyi(M->t, r, M->n);
    mont_redc(M, r, M->t);
}

#endif
