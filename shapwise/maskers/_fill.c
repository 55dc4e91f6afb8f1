/* One-pass writer of tabular masked inputs (the numpy path in tabular.py is the fallback).
 *
 * fill(out, background, rows, masks, owners, n_background, n_features, itemsize) writes,
 * for every coalition k, background row b and feature j:
 *     out[k, b, j] = rows[owners[k], j] if masks[k, j] else background[b, j]
 * Arrays arrive as C-contiguous buffers: out, background and rows of one float type
 * (itemsize 4 or 8), masks as bytes (numpy bool), owners as int64. Each element is written
 * once, where numpy needs a copy of the background and then a strided scatter.
 *
 * fill_pairs(out, rows, background, masks, owners, coalition, sources, n_features, itemsize)
 * writes single masked rows: for each pair i, with k = coalition[i],
 *     out[i, j] = rows[owners[k], j] if masks[k, j] else background[sources[i], j]
 * (coalition, owners and sources int64), without first gathering each pair's mask.
 *
 * fill_units(out, rows, background, masks, owners, unit_mask, unit_source, unit_length, skip,
 *            n_features, itemsize)
 * writes the rows of units one after another, from row `skip` of the first unit, as many as
 * out holds: unit u's row t (t < unit_length[u]) is mask k = unit_mask[u] + t of
 * rows[owners[k]] over background row unit_source[u] (as fill_pairs, without a pair index per
 * row).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict
#endif

/* Values are moved as their bits (BITS is the unsigned integer of the float's width), so the
 * choice is a branch-free blend: a random mask would defeat branch prediction. */
#define DEFINE_FILL(NAME, BITS)                                                               \
    static void NAME(BITS *restrict out, const BITS *restrict background,                     \
                     const BITS *restrict rows, const unsigned char *restrict masks,          \
                     const int64_t *restrict owners, Py_ssize_t n_masks,                      \
                     Py_ssize_t n_background, Py_ssize_t n_features, BITS *restrict keep,     \
                     BITS *restrict kept)                                                     \
    {                                                                                         \
        for (Py_ssize_t k = 0; k < n_masks; k++) {                                            \
            const BITS *restrict row = rows + owners[k] * n_features;                         \
            const unsigned char *restrict mask = masks + k * n_features;                      \
            for (Py_ssize_t j = 0; j < n_features; j++) {                                     \
                keep[j] = (BITS)0 - (BITS)(mask[j] != 0);                                     \
                kept[j] = row[j] & keep[j];                                                   \
            }                                                                                 \
            const BITS *restrict hidden = background;                                         \
            for (Py_ssize_t b = 0; b < n_background; b++) {                                   \
                for (Py_ssize_t j = 0; j < n_features; j++) {                                 \
                    out[j] = kept[j] | (hidden[j] & ~keep[j]);                                \
                }                                                                             \
                out += n_features;                                                            \
                hidden += n_features;                                                         \
            }                                                                                 \
        }                                                                                     \
    }

DEFINE_FILL(fill_32, uint32_t)
DEFINE_FILL(fill_64, uint64_t)

#define DEFINE_FILL_PAIRS(NAME, BITS)                                                         \
    static void NAME(BITS *restrict out, const BITS *restrict rows,                           \
                     const BITS *restrict background, const unsigned char *restrict masks,    \
                     const int64_t *restrict owners, const int64_t *restrict coalition,       \
                     const int64_t *restrict sources, Py_ssize_t n_pairs,                     \
                     Py_ssize_t n_features)                                                   \
    {                                                                                         \
        for (Py_ssize_t i = 0; i < n_pairs; i++) {                                            \
            int64_t k = coalition[i];                                                         \
            const BITS *restrict row = rows + owners[k] * n_features;                         \
            const BITS *restrict hidden = background + sources[i] * n_features;               \
            const unsigned char *restrict mask = masks + k * n_features;                      \
            for (Py_ssize_t j = 0; j < n_features; j++) {                                     \
                BITS keep = (BITS)0 - (BITS)(mask[j] != 0);                                   \
                out[j] = (row[j] & keep) | (hidden[j] & ~keep);                               \
            }                                                                                 \
            out += n_features;                                                                \
        }                                                                                     \
    }

DEFINE_FILL_PAIRS(fill_pairs_32, uint32_t)
DEFINE_FILL_PAIRS(fill_pairs_64, uint64_t)

#define DEFINE_FILL_UNITS(NAME, BITS)                                                         \
    static void NAME(BITS *restrict out, const BITS *restrict rows,                           \
                     const BITS *restrict background, const unsigned char *restrict masks,    \
                     const int64_t *restrict owners, const int64_t *restrict unit_mask,       \
                     const int64_t *restrict unit_source, const int64_t *restrict unit_length, \
                     int64_t skip, Py_ssize_t n_out, Py_ssize_t n_features)                   \
    {                                                                                         \
        for (Py_ssize_t u = 0; n_out > 0; u++) {                                              \
            const BITS *restrict hidden = background + unit_source[u] * n_features;           \
            int64_t k = unit_mask[u] + skip, end = unit_mask[u] + unit_length[u];             \
            for (; k < end && n_out > 0; k++, n_out--) {                                      \
                const BITS *restrict row = rows + owners[k] * n_features;                     \
                const unsigned char *restrict mask = masks + k * n_features;                  \
                for (Py_ssize_t j = 0; j < n_features; j++) {                                 \
                    BITS keep = (BITS)0 - (BITS)(mask[j] != 0);                               \
                    out[j] = (row[j] & keep) | (hidden[j] & ~keep);                           \
                }                                                                             \
                out += n_features;                                                            \
            }                                                                                 \
            skip = 0;                                                                         \
        }                                                                                     \
    }

DEFINE_FILL_UNITS(fill_units_32, uint32_t)
DEFINE_FILL_UNITS(fill_units_64, uint64_t)

/* a * b * c into *product, or -1 (with a ValueError) when the product overflows */
static int multiply(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c, Py_ssize_t *product)
{
    if ((b != 0 && a > PY_SSIZE_T_MAX / b) || (c != 0 && a * b > PY_SSIZE_T_MAX / c)) {
        PyErr_SetString(PyExc_ValueError, "the sizes are too large");
        return -1;
    }
    *product = a * b * c;
    return 0;
}

static int check_size(const Py_buffer *buffer, Py_ssize_t a, Py_ssize_t b, Py_ssize_t c,
                      const char *name)
{
    Py_ssize_t expected;
    if (multiply(a, b, c, &expected) < 0) {
        return -1;
    }
    if (buffer->len != expected) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", name, buffer->len,
                     expected);
        return -1;
    }
    return 0;
}

static PyObject *fill(PyObject *self, PyObject *args)
{
    Py_buffer out, background, rows, masks, owners;
    Py_ssize_t n_background, n_features, itemsize;
    PyObject *result = NULL;
    const int64_t *owner;
    void *scratch;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*nnn", &out, &background, &rows, &masks, &owners,
                          &n_background, &n_features, &itemsize)) {
        return NULL;
    }
    Py_ssize_t n_masks = owners.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t row_bytes = 0, n_rows = 0;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "itemsize must be 4 (float32) or 8 (float64)");
        goto done;
    }
    if (n_background < 1 || n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "need at least one background row and feature");
        goto done;
    }
    /* 2 * n_features * itemsize bytes of scratch below must not overflow either */
    if (multiply(2, n_features, itemsize, &row_bytes) < 0) {
        goto done;
    }
    row_bytes /= 2;
    n_rows = rows.len / row_bytes;
    if (check_size(&owners, n_masks, (Py_ssize_t)sizeof(int64_t), 1, "owners") ||
        check_size(&masks, n_masks, n_features, 1, "masks") ||
        check_size(&background, n_background, n_features, itemsize, "background") ||
        check_size(&rows, n_rows, n_features, itemsize, "rows") ||
        check_size(&out, n_masks, n_background, row_bytes, "out")) {
        goto done;
    }
    owner = (const int64_t *)owners.buf;
    for (Py_ssize_t k = 0; k < n_masks; k++) {
        if (owner[k] < 0 || owner[k] >= n_rows) {
            PyErr_Format(PyExc_ValueError, "owner %lld of mask %zd is not a row index",
                         (long long)owner[k], k);
            goto done;
        }
    }
    scratch = PyMem_Malloc((size_t)(2 * n_features * itemsize));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 4) {
        uint32_t *keep = scratch;
        fill_32(out.buf, background.buf, rows.buf, masks.buf, owner, n_masks, n_background,
                n_features, keep, keep + n_features);
    } else {
        uint64_t *keep = scratch;
        fill_64(out.buf, background.buf, rows.buf, masks.buf, owner, n_masks, n_background,
                n_features, keep, keep + n_features);
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(scratch);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&background);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&masks);
    PyBuffer_Release(&owners);
    return result;
}

/* The checks fill_pairs and fill_units share: the float width, the sizes of the masks, owners,
 * rows and background, and every owner a row index. Sets *n_rows and *n_background; -1 (with a
 * ValueError) on a failed check. */
static int check_masked_pairs(const Py_buffer *rows, const Py_buffer *background,
                              const Py_buffer *masks, const Py_buffer *owners,
                              Py_ssize_t n_features, Py_ssize_t itemsize, Py_ssize_t *n_rows,
                              Py_ssize_t *n_background)
{
    Py_ssize_t n_masks = owners->len / (Py_ssize_t)sizeof(int64_t), row_bytes = 0;
    const int64_t *owner = owners->buf;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "itemsize must be 4 (float32) or 8 (float64)");
        return -1;
    }
    if (n_features < 1 || multiply(1, n_features, itemsize, &row_bytes) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "need at least one feature");
        }
        return -1;
    }
    *n_rows = rows->len / row_bytes;
    *n_background = background->len / row_bytes;
    if (check_size(owners, n_masks, (Py_ssize_t)sizeof(int64_t), 1, "owners") ||
        check_size(masks, n_masks, n_features, 1, "masks") ||
        check_size(rows, *n_rows, n_features, itemsize, "rows") ||
        check_size(background, *n_background, n_features, itemsize, "background")) {
        return -1;
    }
    for (Py_ssize_t k = 0; k < n_masks; k++) {
        if (owner[k] < 0 || owner[k] >= *n_rows) {
            PyErr_Format(PyExc_ValueError, "owner %zd of mask %zd is not a row index",
                         (Py_ssize_t)owner[k], k);
            return -1;
        }
    }
    return 0;
}

static PyObject *fill_pairs(PyObject *self, PyObject *args)
{
    Py_buffer out, rows, background, masks, owners, coalition, sources;
    Py_ssize_t n_features, itemsize;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*y*nn", &out, &rows, &background, &masks, &owners,
                          &coalition, &sources, &n_features, &itemsize)) {
        return NULL;
    }
    Py_ssize_t n_masks = owners.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t n_pairs = coalition.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t n_rows, n_background;
    const int64_t *owner = owners.buf, *of = coalition.buf, *source = sources.buf;
    if (check_masked_pairs(&rows, &background, &masks, &owners, n_features, itemsize, &n_rows,
                           &n_background) ||
        check_size(&coalition, n_pairs, (Py_ssize_t)sizeof(int64_t), 1, "coalition") ||
        check_size(&sources, n_pairs, (Py_ssize_t)sizeof(int64_t), 1, "sources") ||
        check_size(&out, n_pairs, n_features, itemsize, "out")) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_pairs; i++) {
        if (of[i] < 0 || of[i] >= n_masks || source[i] < 0 || source[i] >= n_background) {
            PyErr_Format(PyExc_ValueError, "pair %zd names no mask or no background row", i);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 4) {
        fill_pairs_32(out.buf, rows.buf, background.buf, masks.buf, owner, of, source, n_pairs,
                      n_features);
    } else {
        fill_pairs_64(out.buf, rows.buf, background.buf, masks.buf, owner, of, source, n_pairs,
                      n_features);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&background);
    PyBuffer_Release(&masks);
    PyBuffer_Release(&owners);
    PyBuffer_Release(&coalition);
    PyBuffer_Release(&sources);
    return result;
}

static PyObject *fill_units(PyObject *self, PyObject *args)
{
    Py_buffer out, rows, background, masks, owners, unit_mask, unit_source, unit_length;
    Py_ssize_t skip, n_features, itemsize;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*y*y*nnn", &out, &rows, &background, &masks,
                          &owners, &unit_mask, &unit_source, &unit_length, &skip, &n_features,
                          &itemsize)) {
        return NULL;
    }
    Py_ssize_t n_masks = owners.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t n_units = unit_mask.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t n_rows, n_background, n_held = 0, n_out;
    const int64_t *owner = owners.buf, *first = unit_mask.buf, *source = unit_source.buf;
    const int64_t *length = unit_length.buf;
    if (check_masked_pairs(&rows, &background, &masks, &owners, n_features, itemsize, &n_rows,
                           &n_background) ||
        check_size(&unit_mask, n_units, (Py_ssize_t)sizeof(int64_t), 1, "unit_mask") ||
        check_size(&unit_source, n_units, (Py_ssize_t)sizeof(int64_t), 1, "unit_source") ||
        check_size(&unit_length, n_units, (Py_ssize_t)sizeof(int64_t), 1, "unit_length")) {
        goto done;
    }
    for (Py_ssize_t u = 0; u < n_units; u++) {
        if (first[u] < 0 || length[u] < 0 || first[u] > n_masks - length[u] || source[u] < 0 ||
            source[u] >= n_background || n_held > PY_SSIZE_T_MAX - length[u]) {
            PyErr_Format(PyExc_ValueError, "unit %zd names masks or a background row outside "
                         "their arrays", u);
            goto done;
        }
        n_held += length[u];
    }
    n_out = out.len / (n_features * itemsize);
    if (check_size(&out, n_out, n_features, itemsize, "out")) {
        goto done;
    }
    if (skip < 0 || (n_units > 0 && skip >= length[0]) || n_out > n_held - skip) {
        PyErr_SetString(PyExc_ValueError, "the units hold fewer rows than out past skip");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    if (itemsize == 4) {
        fill_units_32(out.buf, rows.buf, background.buf, masks.buf, owner, first, source, length,
                      skip, n_out, n_features);
    } else {
        fill_units_64(out.buf, rows.buf, background.buf, masks.buf, owner, first, source, length,
                      skip, n_out, n_features);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&background);
    PyBuffer_Release(&masks);
    PyBuffer_Release(&owners);
    PyBuffer_Release(&unit_mask);
    PyBuffer_Release(&unit_source);
    PyBuffer_Release(&unit_length);
    return result;
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS,
     "fill(out, background, rows, masks, owners, n_background, n_features, itemsize): "
     "out[k, b, j] = rows[owners[k], j] if masks[k, j] else background[b, j]."},
    {"fill_pairs", fill_pairs, METH_VARARGS,
     "fill_pairs(out, rows, background, masks, owners, coalition, sources, n_features, "
     "itemsize): out[i, j] = rows[owners[k], j] if masks[k, j] else background[sources[i], j], "
     "k = coalition[i]."},
    {"fill_units", fill_units, METH_VARARGS,
     "fill_units(out, rows, background, masks, owners, unit_mask, unit_source, unit_length, "
     "skip, n_features, itemsize): the rows of each unit in turn from row skip of the first, "
     "row t of unit u being mask unit_mask[u] + t over background row unit_source[u]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fill", "One-pass writer of tabular masked inputs.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fill(void) { return PyModule_Create(&module); }
