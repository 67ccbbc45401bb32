/* Native powers mod m of many bases: to one exponent (the key owner's CRT decryption, c^(p-1) mod p^2),
 * or each to its own signed 64-bit exponent (hetero LR's per-row [[f_i]]^(e_i)).
 *
 * Why native: gmpy2's powmod runs on the GMP that gmpy2 bundles, a "fat" build whose REDC is slow on
 * some CPUs; this extension links the GMP that scripts/gmp configures for this one (setup.py), and
 * runs its loop without the GIL. mpz_powm is GMP's own sliding-window Montgomery exponentiation.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gmp.h>
#include <stdint.h>

/* b_k^e mod m for every base (bases: little-endian, the modulus' width each): e is `exponent` (little-endian
 * bytes) when `each` is NULL, else each[k] (a negative one inverts b_k). NULL with a ValueError on bad input. */
static PyObject *powers(const Py_buffer *bases, const Py_buffer *modulus, const Py_buffer *exponent,
                        const Py_buffer *each) {
    size_t w = (size_t)modulus->len;
    if (w == 0 || !(((const unsigned char *)modulus->buf)[0] & 1) || bases->len % w != 0) {
        PyErr_SetString(PyExc_ValueError, "the modulus must be odd and the bases a whole number of its width");
        return NULL;
    }
    size_t count = (size_t)bases->len / w;
    if (each && (size_t)each->len != count * sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "expected one int64 exponent per base");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, bases->len);
    if (!result) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    const int64_t *e = each ? each->buf : NULL;
    const char *refused = NULL;
    mpz_t b, m, r, big;
    mpz_inits(b, m, r, big, NULL);
    mpz_import(m, w, -1, 1, 0, 0, modulus->buf);
    if (!each) mpz_import(big, (size_t)exponent->len, -1, 1, 0, 0, exponent->buf);
    Py_BEGIN_ALLOW_THREADS
    for (size_t k = 0; k < count; k++) {
        mpz_import(b, w, -1, 1, 0, 0, (const unsigned char *)bases->buf + k * w);
        if (mpz_cmp(b, m) >= 0) {
            refused = "a base is not below the modulus";
            break;
        }
        if (!each) {
            mpz_powm(r, b, big, m);
        } else if (e[k] < 0 && !mpz_invert(b, b, m)) {
            refused = "a base with a negative exponent is not invertible modulo the modulus";
            break;
        } else { /* |e| as unsigned: also right for INT64_MIN */
            mpz_powm_ui(r, b, e[k] < 0 ? (unsigned long)0 - (unsigned long)e[k] : (unsigned long)e[k], m);
        }
        memset(out + k * w, 0, w);
        mpz_export(out + k * w, NULL, -1, 1, 0, 0, r);
    }
    Py_END_ALLOW_THREADS
    mpz_clears(b, m, r, big, NULL);
    if (refused) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_ValueError, refused);
        return NULL;
    }
    return result;
}

PyDoc_STRVAR(powmod_many_doc,
             "powmod_many(bases, exponent, modulus) -> bytes\n\n"
             "bases: count little-endian integers of len(modulus) bytes each, every one below the modulus;\n"
             "exponent and modulus: little-endian bytes, the modulus odd. Returns b^exponent mod modulus for\n"
             "each base in the same layout.");

static PyObject *powmod_many(PyObject *self, PyObject *args) {
    Py_buffer bases, exponent, modulus;
    if (!PyArg_ParseTuple(args, "y*y*y*", &bases, &exponent, &modulus)) return NULL;
    PyObject *result = powers(&bases, &modulus, &exponent, NULL);
    PyBuffer_Release(&bases);
    PyBuffer_Release(&exponent);
    PyBuffer_Release(&modulus);
    return result;
}

PyDoc_STRVAR(powmod_each_doc,
             "powmod_each(bases, exponents, modulus) -> bytes\n\n"
             "bases as for powmod_many; exponents: the bytes of an int64 array, one per base (a negative one\n"
             "inverts its base). Returns b_i^e_i mod modulus in the bases' layout.");

static PyObject *powmod_each(PyObject *self, PyObject *args) {
    Py_buffer bases, exponents, modulus;
    if (!PyArg_ParseTuple(args, "y*y*y*", &bases, &exponents, &modulus)) return NULL;
    PyObject *result = powers(&bases, &modulus, NULL, &exponents);
    PyBuffer_Release(&bases);
    PyBuffer_Release(&exponents);
    PyBuffer_Release(&modulus);
    return result;
}

static PyMethodDef methods[] = {
    {"powmod_many", powmod_many, METH_VARARGS, powmod_many_doc},
    {"powmod_each", powmod_each, METH_VARARGS, powmod_each_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_powmod", "Native powers of many bases on GMP (see powmod.py).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__powmod(void) { return PyModule_Create(&module); }
