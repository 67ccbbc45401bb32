/* Native fixed-base comb powers for crypto/fixedbase.py: the Paillier obfuscators h^r.
 *
 * Why native: an owner encryption is ~80 comb products per prime square; in Python each pays
 * interpreter overhead, a fresh mpz and a division (~3 us at 2048 bits). Here the table lives in
 * Montgomery form in one flat buffer and a power is a loop of Montgomery products on GMP's mpn
 * layer (_montgomery.h), run without the GIL. The digit layout is fixedbase.FixedBase's: for step
 * t = steps-1 .. 0, square the accumulator, then multiply by table j's entry at digit
 * digits[t * tables + j] (entry 0 is 1, skipped).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "_montgomery.h"

static int comb_shape_ok(int teeth, int tables, int steps) {
    if (teeth < 1 || teeth > 16 || tables < 1 || steps < 1) {
        PyErr_Format(PyExc_ValueError, "comb shape must have 1..16 teeth, tables >= 1, steps >= 1, got %d, %d, %d",
                     teeth, tables, steps);
        return 0;
    }
    return 1;
}

/* Table j, entry u: prod over set bits i of u of base^(2^(i * tables * steps + j * steps)), in Montgomery form. */
static int build(const mont_t *F, const mp_limb_t *base, int teeth, int tables, int steps, mp_limb_t *out) {
    mp_size_t n = F->n;
    size_t exp_bits = (size_t)teeth * tables * steps, entries = (size_t)1 << teeth;
    mp_limb_t *squares = malloc(exp_bits * n * sizeof(mp_limb_t));
    if (!squares) return -1;
    mont_mul(F, squares, base, F->r2); /* base * R mod m */
    for (size_t k = 1; k < exp_bits; k++) mont_mul(F, squares + k * n, squares + (k - 1) * n, squares + (k - 1) * n);
    for (int j = 0; j < tables; j++) {
        mp_limb_t *row = out + (size_t)j * entries * n;
        mpn_copyi(row, F->one, n);
        for (int i = 0; i < teeth; i++) {
            const mp_limb_t *b = squares + ((size_t)i * tables * steps + (size_t)j * steps) * n;
            size_t half = (size_t)1 << i;
            for (size_t x = 0; x < half; x++) mont_mul(F, row + (half + x) * n, row + x * n, b);
        }
    }
    free(squares);
    return 0;
}

/* Every product reads a random entry of a table of tens of MB: a cache miss, and on 4 KB pages a TLB
 * miss too. Fetching the next entry while the current product runs, and asking for 2 MB pages (before
 * the build first touches the table), made owner obfuscators 1.14x faster (docs/crypto/paillier.md). */
static inline void prefetch_entry(const mp_limb_t *e, mp_size_t n) {
    for (mp_size_t i = 0; i < n; i += 64 / sizeof(mp_limb_t)) __builtin_prefetch(e + i, 0, 0);
}

static void huge_pages(char *buf, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)1 << 21;
    uintptr_t start = ((uintptr_t)buf + huge - 1) & ~(huge - 1), end = ((uintptr_t)buf + bytes) & ~(huge - 1);
    if (end > start) madvise((void *)start, end - start, MADV_HUGEPAGE); /* advice only: ignore a refusal */
#else
    (void)buf;
    (void)bytes;
#endif
}

/* out[k] = base^exponent(digits row k) mod m, plain (not Montgomery) limbs. */
static void powers(const mont_t *F, const mp_limb_t *table, int teeth, int tables, int steps, const uint16_t *digits,
                   size_t count, mp_limb_t *out) {
    mp_size_t n = F->n;
    size_t entries = (size_t)1 << teeth, width = (size_t)tables * steps;
    for (size_t k = 0; k < count; k++) {
        const uint16_t *d = digits + k * width;
        mp_limb_t *acc = out + k * n;
        int started = 0;
        for (int t = steps - 1; t >= 0; t--) {
            if (started) mont_mul(F, acc, acc, acc);
            for (int j = 0; j < tables; j++) {
                uint16_t u = d[(size_t)t * tables + j];
                int jn = j + 1 < tables ? j + 1 : 0, tn = j + 1 < tables ? t : t - 1; /* the next digit used */
                if (tn >= 0) prefetch_entry(table + ((size_t)jn * entries + d[(size_t)tn * tables + jn]) * n, n);
                if (!u) continue;
                const mp_limb_t *e = table + ((size_t)j * entries + u) * n;
                if (started) {
                    mont_mul(F, acc, acc, e);
                } else {
                    mpn_copyi(acc, e, n);
                    started = 1;
                }
            }
        }
        if (!started) mpn_copyi(acc, F->one, n);
        mont_leave(F, acc);
    }
}

PyDoc_STRVAR(comb_table_doc,
             "comb_table(base, modulus, teeth, tables, steps) -> bytes\n\n"
             "base, modulus: little-endian integers of the modulus' width w (base < modulus, modulus odd).\n"
             "Returns the comb's tables * 2^teeth entries in Montgomery form (native limbs), for comb_powers.");

static PyObject *comb_table(PyObject *self, PyObject *args) {
    Py_buffer base_buf, mod_buf;
    int teeth, tables, steps;
    if (!PyArg_ParseTuple(args, "y*y*iii", &base_buf, &mod_buf, &teeth, &tables, &steps)) return NULL;
    PyObject *result = NULL;
    mp_limb_t *base = NULL;
    mont_t F;
    if (!comb_shape_ok(teeth, tables, steps) || mont_init(&F, mod_buf.buf, (size_t)mod_buf.len)) goto release;
    if (base_buf.len != mod_buf.len) {
        PyErr_SetString(PyExc_ValueError, "base must have the modulus' byte width");
        goto done;
    }
    base = calloc(F.n, sizeof(mp_limb_t));
    if (!base) {
        PyErr_NoMemory();
        goto done;
    }
    limbs_from_bytes(base, F.n, base_buf.buf, base_buf.len);
    if (mpn_cmp(base, F.m, F.n) >= 0) {
        PyErr_SetString(PyExc_ValueError, "base is not reduced modulo the modulus");
        goto done;
    }
    size_t bytes = ((size_t)tables << teeth) * F.n * sizeof(mp_limb_t);
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)bytes);
    if (!result) goto done;
    huge_pages(PyBytes_AS_STRING(result), bytes);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = build(&F, base, teeth, tables, steps, (mp_limb_t *)PyBytes_AS_STRING(result));
    Py_END_ALLOW_THREADS
    if (status) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    free(base);
    mont_free(&F);
release:
    PyBuffer_Release(&base_buf);
    PyBuffer_Release(&mod_buf);
    return result;
}

PyDoc_STRVAR(comb_powers_doc,
             "comb_powers(table, modulus, teeth, tables, steps, digits) -> bytes\n\n"
             "table: comb_table's bytes for this modulus and shape; digits: C-contiguous uint16 (count, steps * tables),\n"
             "each below 2^teeth. Returns count little-endian powers of the modulus' byte width.");

static PyObject *comb_powers(PyObject *self, PyObject *args) {
    Py_buffer table_buf, mod_buf, d_buf;
    int teeth, tables, steps;
    PyObject *d_obj;
    if (!PyArg_ParseTuple(args, "y*y*iiiO", &table_buf, &mod_buf, &teeth, &tables, &steps, &d_obj)) return NULL;
    if (PyObject_GetBuffer(d_obj, &d_buf, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&table_buf);
        PyBuffer_Release(&mod_buf);
        return NULL;
    }
    PyObject *result = NULL;
    mp_limb_t *out = NULL;
    mont_t F;
    if (!comb_shape_ok(teeth, tables, steps) || mont_init(&F, mod_buf.buf, (size_t)mod_buf.len)) goto release;
    size_t width = (size_t)tables * steps, w = (size_t)mod_buf.len;
    const char *f = d_buf.format ? d_buf.format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    if (d_buf.ndim != 2 || d_buf.itemsize != 2 || strcmp(f, "H") != 0 || (size_t)d_buf.shape[1] != width) {
        PyErr_Format(PyExc_TypeError, "digits must be a C-contiguous uint16 array of shape (count, %zu)", width);
        goto done;
    }
    if ((size_t)table_buf.len != ((size_t)tables << teeth) * F.n * sizeof(mp_limb_t)) {
        PyErr_SetString(PyExc_ValueError, "table does not match the modulus and comb shape");
        goto done;
    }
    size_t count = (size_t)d_buf.shape[0];
    const uint16_t *digits = d_buf.buf;
    for (size_t k = 0; k < count * width; k++)
        if (digits[k] >> teeth) {
            PyErr_Format(PyExc_ValueError, "digit %u does not fit %d teeth", digits[k], teeth);
            goto done;
        }
    out = calloc(count ? count * F.n : 1, sizeof(mp_limb_t));
    if (!out) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    powers(&F, table_buf.buf, teeth, tables, steps, digits, count, out);
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(count * w));
    if (result)
        for (size_t k = 0; k < count; k++) limbs_to_bytes((unsigned char *)PyBytes_AS_STRING(result) + k * w, w, out + k * F.n);
done:
    free(out);
    mont_free(&F);
release:
    PyBuffer_Release(&table_buf);
    PyBuffer_Release(&mod_buf);
    PyBuffer_Release(&d_buf);
    return result;
}

static PyMethodDef methods[] = {
    {"comb_table", comb_table, METH_VARARGS, comb_table_doc},
    {"comb_powers", comb_powers, METH_VARARGS, comb_powers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fixedbase",
                                    "Native fixed-base comb powers on GMP (see fixedbase.py).", -1, methods};

PyMODINIT_FUNC PyInit__fixedbase(void) { return PyModule_Create(&module); }
