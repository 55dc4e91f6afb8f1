/* Least-squares boosted trees on boolean inputs, compiled (the numpy path in
 * _binary_boosting.py is the fallback and the reference: the same rule, step for step).
 *
 * fit(splits, leaves, inputs, targets, n_features, depth, learning_rate, min_gain_share)
 *     -> the first guess (the targets' mean)
 * grows splits.size / (2^depth - 1) trees on inputs (K, n_features) bools and targets (K,):
 * each tree fits the residuals of those before it. Tree t's node n of level l splits on
 * feature splits[t, 2^l - 1 + n] (-1: none; its inputs all go to the left child), chosen as
 * the largest n_in n_out / n (mean_in - mean_out)^2 over features that part the node, kept
 * only where it lowers the node's squared error by more than min_gain_share of it. Leaf
 * values (leaves[t, 2^depth]) are learning_rate times the mean residual of their inputs.
 *
 * predict(out, inputs, splits, leaves, n_features, depth, start): out[q] = start plus
 * every tree's leaf of input q.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The node (0 .. 2^depth - 1) input `row` lands in, in tree `split` (its splits). */
static int64_t leaf_of(const unsigned char *row, const int64_t *split, int depth)
{
    int64_t node = 0;
    for (int level = 0; level < depth; level++) {
        int64_t feature = split[((int64_t)1 << level) - 1 + node];
        node = 2 * node + (feature >= 0 && row[feature]);
    }
    return node;
}

/* Per node of a level: count, sum and sum of squares of the residuals, and per feature the
 * count and residual sum of the node's inputs that hold it. */
typedef struct {
    double *count, *total, *squares, *count_in, *sum_in;
} Sums;

static void grow(int64_t *split, double *leaf, int64_t *node, const unsigned char *inputs,
                 const double *residuals, int64_t n_rows, int64_t n_features, int depth,
                 double learning_rate, double min_gain_share, Sums *s)
{
    memset(node, 0, (size_t)n_rows * sizeof(int64_t));
    for (int level = 0; level < depth; level++) {
        int64_t n_nodes = (int64_t)1 << level;
        memset(s->count, 0, (size_t)n_nodes * sizeof(double));
        memset(s->total, 0, (size_t)n_nodes * sizeof(double));
        memset(s->squares, 0, (size_t)n_nodes * sizeof(double));
        memset(s->count_in, 0, (size_t)(n_nodes * n_features) * sizeof(double));
        memset(s->sum_in, 0, (size_t)(n_nodes * n_features) * sizeof(double));
        for (int64_t i = 0; i < n_rows; i++) {
            int64_t n = node[i];
            double r = residuals[i];
            const unsigned char *row = inputs + i * n_features;
            double *count_in = s->count_in + n * n_features, *sum_in = s->sum_in + n * n_features;
            s->count[n] += 1.0;
            s->total[n] += r;
            s->squares[n] += r * r;
            for (int64_t j = 0; j < n_features; j++) {
                double held = row[j] ? 1.0 : 0.0;
                count_in[j] += held;
                sum_in[j] += held * r;
            }
        }
        int64_t *level_split = split + n_nodes - 1;
        for (int64_t n = 0; n < n_nodes; n++) {
            double count = s->count[n], total = s->total[n];
            double best_gain = -INFINITY;
            int64_t best = -1;
            for (int64_t j = 0; j < n_features; j++) {
                double count_in = s->count_in[n * n_features + j];
                double count_out = count - count_in;
                if (count_in == 0.0 || count_out == 0.0) {
                    continue;
                }
                double sum_in = s->sum_in[n * n_features + j], sum_out = total - sum_in;
                double gain = sum_in * sum_in / count_in + sum_out * sum_out / count_out -
                              total * total / count;
                if (gain > best_gain) { /* the first of equal gains, as argmax */
                    best_gain = gain;
                    best = j;
                }
            }
            double spread = s->squares[n] - (count > 0.0 ? total * total / count : 0.0);
            level_split[n] = best >= 0 && best_gain > min_gain_share * (spread > 0 ? spread : 0)
                                 ? best
                                 : -1;
        }
        for (int64_t i = 0; i < n_rows; i++) {
            int64_t feature = level_split[node[i]];
            node[i] = 2 * node[i] + (feature >= 0 && inputs[i * n_features + feature]);
        }
    }
    int64_t n_leaves = (int64_t)1 << depth;
    memset(s->count, 0, (size_t)n_leaves * sizeof(double));
    memset(s->total, 0, (size_t)n_leaves * sizeof(double));
    for (int64_t i = 0; i < n_rows; i++) {
        s->count[node[i]] += 1.0;
        s->total[node[i]] += residuals[i];
    }
    for (int64_t n = 0; n < n_leaves; n++) {
        leaf[n] = learning_rate * s->total[n] / (s->count[n] > 1.0 ? s->count[n] : 1.0);
    }
}

static int check_bytes(const Py_buffer *buffer, Py_ssize_t items, Py_ssize_t itemsize,
                       const char *name)
{
    if (items < 0 || (itemsize && items > PY_SSIZE_T_MAX / itemsize) ||
        buffer->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", name, buffer->len,
                     items * itemsize);
        return -1;
    }
    return 0;
}

static PyObject *fit(PyObject *self, PyObject *args)
{
    Py_buffer splits, leaves, inputs, targets;
    Py_ssize_t n_features;
    int depth;
    double learning_rate, min_gain_share;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*w*y*y*nidd", &splits, &leaves, &inputs, &targets,
                          &n_features, &depth, &learning_rate, &min_gain_share)) {
        return NULL;
    }
    Py_ssize_t n_rows = targets.len / 8, n_trees = 0;
    double *memory = NULL;
    int64_t *node = NULL;
    if (depth < 1 || depth > 20 || n_features < 1 || n_rows < 1) {
        PyErr_SetString(PyExc_ValueError, "need a depth of 1 to 20, a feature and a target");
        goto done;
    }
    Py_ssize_t per_tree = ((Py_ssize_t)1 << depth) - 1;
    n_trees = splits.len / (8 * per_tree);
    if (check_bytes(&targets, n_rows, 8, "targets") ||
        check_bytes(&inputs, n_rows, n_features, "inputs") ||
        check_bytes(&splits, n_trees * per_tree, 8, "splits") ||
        check_bytes(&leaves, n_trees * (per_tree + 1), 8, "leaves")) {
        goto done;
    }
    Py_ssize_t n_leaves = per_tree + 1;
    size_t doubles = (size_t)(3 * n_leaves + 2 * n_leaves * n_features + 2 * n_rows);
    memory = PyMem_RawMalloc(doubles * sizeof(double));
    node = PyMem_RawMalloc((size_t)n_rows * sizeof(int64_t));
    if (memory == NULL || node == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const double *target = targets.buf;
    double start = 0.0;
    Py_BEGIN_ALLOW_THREADS
    Sums s = {memory, memory + n_leaves, memory + 2 * n_leaves, memory + 3 * n_leaves,
              memory + 3 * n_leaves + n_leaves * n_features};
    double *fitted = memory + 3 * n_leaves + 2 * n_leaves * n_features;
    double *residuals = fitted + n_rows;
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        start += target[i];
    }
    start /= (double)n_rows;
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        fitted[i] = start;
    }
    for (Py_ssize_t t = 0; t < n_trees; t++) {
        int64_t *split = (int64_t *)splits.buf + t * per_tree;
        double *leaf = (double *)leaves.buf + t * n_leaves;
        for (Py_ssize_t i = 0; i < n_rows; i++) {
            residuals[i] = target[i] - fitted[i];
        }
        grow(split, leaf, node, inputs.buf, residuals, n_rows, n_features, depth, learning_rate,
             min_gain_share, &s);
        for (Py_ssize_t i = 0; i < n_rows; i++) {
            fitted[i] += leaf[node[i]];
        }
    }
    Py_END_ALLOW_THREADS
    result = PyFloat_FromDouble(start);
done:
    PyMem_RawFree(memory);
    PyMem_RawFree(node);
    PyBuffer_Release(&splits);
    PyBuffer_Release(&leaves);
    PyBuffer_Release(&inputs);
    PyBuffer_Release(&targets);
    return result;
}

static PyObject *predict(PyObject *self, PyObject *args)
{
    Py_buffer out, inputs, splits, leaves;
    Py_ssize_t n_features;
    int depth;
    double start;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nid", &out, &inputs, &splits, &leaves, &n_features,
                          &depth, &start)) {
        return NULL;
    }
    if (depth < 1 || depth > 20 || n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "need a depth of 1 to 20 and a feature");
        goto done;
    }
    Py_ssize_t per_tree = ((Py_ssize_t)1 << depth) - 1, n_leaves = per_tree + 1;
    Py_ssize_t n_queries = out.len / 8, n_trees = splits.len / (8 * per_tree);
    if (check_bytes(&out, n_queries, 8, "out") ||
        check_bytes(&inputs, n_queries, n_features, "inputs") ||
        check_bytes(&splits, n_trees * per_tree, 8, "splits") ||
        check_bytes(&leaves, n_trees * n_leaves, 8, "leaves")) {
        goto done;
    }
    const int64_t *split = splits.buf;
    for (Py_ssize_t i = 0; i < n_trees * per_tree; i++) {
        if (split[i] < -1 || split[i] >= n_features) {
            PyErr_Format(PyExc_ValueError, "split %zd names no feature", i);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    double *value = out.buf;
    const double *leaf = leaves.buf;
    const unsigned char *input = inputs.buf;
    for (Py_ssize_t q = 0; q < n_queries; q++) {
        double sum = start;
        for (Py_ssize_t t = 0; t < n_trees; t++) {
            sum += leaf[t * n_leaves + leaf_of(input + q * n_features, split + t * per_tree,
                                               depth)];
        }
        value[q] = sum;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&inputs);
    PyBuffer_Release(&splits);
    PyBuffer_Release(&leaves);
    return result;
}

static PyMethodDef methods[] = {
    {"fit", fit, METH_VARARGS,
     "fit(splits, leaves, inputs, targets, n_features, depth, learning_rate, min_gain_share) "
     "-> the first guess: boosted least-squares trees on boolean inputs."},
    {"predict", predict, METH_VARARGS,
     "predict(out, inputs, splits, leaves, n_features, depth, start): the ensemble's values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_binary_trees", "Boosted least-squares trees on boolean inputs.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__binary_trees(void) { return PyModule_Create(&module); }
