/* The small network's objective and gradient, compiled (the numpy objective in _small_network.py
 * is the fallback and the reference: the same sums, in another order).
 *
 * objective(gradient, packed, inputs, targets, n_inputs, hidden, penalty) -> loss
 * for a one-hidden-layer ReLU network with parameters `packed` (W1 (n_inputs, hidden) row-major,
 * w2 (hidden,), b1 (hidden,), b2), inputs (K, n_inputs) and targets (K,), all float64:
 *     loss = sum_k e_k^2 / (2K) + penalty / (2K) (|W1|^2 + |w2|^2),
 *     e_k = w2 . relu(x_k W1 + b1) + b2 - t_k,
 * and writes d loss / d packed into `gradient` (same packing). One pass over the rows: each
 * row's hidden layer is formed, used for the error and for its share of every gradient, and
 * forgotten, so nothing of size K x hidden is stored.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int check_bytes(const Py_buffer *buffer, Py_ssize_t items, const char *name)
{
    if (items < 0 || items > PY_SSIZE_T_MAX / 8 || buffer->len != items * 8) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", name, buffer->len,
                     items * 8);
        return -1;
    }
    return 0;
}

static double run(double *gradient, const double *packed, const double *inputs,
                  const double *targets, Py_ssize_t n_rows, Py_ssize_t n_inputs, Py_ssize_t hidden,
                  double penalty, double *layer)
{
    const double *w1 = packed, *w2 = packed + n_inputs * hidden, *b1 = w2 + hidden;
    double b2 = b1[hidden];
    double *grad_w1 = gradient, *grad_w2 = gradient + n_inputs * hidden;
    double *grad_b1 = grad_w2 + hidden, *grad_b2 = grad_b1 + hidden;
    Py_ssize_t n_params = n_inputs * hidden + 2 * hidden + 1;
    memset(gradient, 0, (size_t)n_params * sizeof(double));
    double squares = 0.0;
    for (Py_ssize_t k = 0; k < n_rows; k++) {
        const double *x = inputs + k * n_inputs;
        memcpy(layer, b1, (size_t)hidden * sizeof(double));
        for (Py_ssize_t j = 0; j < n_inputs; j++) {
            double xj = x[j];
            const double *row = w1 + j * hidden;
            for (Py_ssize_t h = 0; h < hidden; h++) layer[h] += xj * row[h];
        }
        double out = b2;
        for (Py_ssize_t h = 0; h < hidden; h++) {
            layer[h] = layer[h] > 0.0 ? layer[h] : 0.0;
            out += layer[h] * w2[h];
        }
        double error = out - targets[k];
        squares += error * error;
        *grad_b2 += error;
        /* layer becomes the row's delta: error * w2 where the unit is active */
        for (Py_ssize_t h = 0; h < hidden; h++) {
            grad_w2[h] += layer[h] * error;
            layer[h] = layer[h] != 0.0 ? error * w2[h] : 0.0;
            grad_b1[h] += layer[h];
        }
        for (Py_ssize_t j = 0; j < n_inputs; j++) {
            double xj = x[j];
            double *row = grad_w1 + j * hidden;
            for (Py_ssize_t h = 0; h < hidden; h++) row[h] += xj * layer[h];
        }
    }
    double norm = 0.0;
    for (Py_ssize_t i = 0; i < n_inputs * hidden + hidden; i++) {
        norm += packed[i] * packed[i];
        gradient[i] += penalty * packed[i];
    }
    for (Py_ssize_t i = 0; i < n_params; i++) gradient[i] /= (double)n_rows;
    return 0.5 * squares / (double)n_rows + 0.5 * penalty / (double)n_rows * norm;
}

static PyObject *objective(PyObject *self, PyObject *args)
{
    Py_buffer gradient, packed, inputs, targets;
    Py_ssize_t n_inputs, hidden;
    double penalty, loss = 0.0;
    PyObject *result = NULL;
    double *layer = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nnd", &gradient, &packed, &inputs, &targets, &n_inputs,
                          &hidden, &penalty)) {
        return NULL;
    }
    Py_ssize_t n_rows = targets.len / 8;
    if (n_inputs < 1 || hidden < 1 || n_rows < 1 || n_inputs > PY_SSIZE_T_MAX / 8 / hidden) {
        PyErr_SetString(PyExc_ValueError, "need an input, a hidden unit and a row");
        goto done;
    }
    Py_ssize_t n_params = n_inputs * hidden + 2 * hidden + 1;
    if (check_bytes(&targets, n_rows, "targets") ||
        check_bytes(&inputs, n_rows * n_inputs, "inputs") ||
        check_bytes(&packed, n_params, "packed") || check_bytes(&gradient, n_params, "gradient")) {
        goto done;
    }
    layer = PyMem_RawMalloc((size_t)hidden * sizeof(double));
    if (layer == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    loss = run(gradient.buf, packed.buf, inputs.buf, targets.buf, n_rows, n_inputs, hidden,
               penalty, layer);
    Py_END_ALLOW_THREADS
    result = PyFloat_FromDouble(loss);
done:
    PyMem_RawFree(layer);
    PyBuffer_Release(&gradient);
    PyBuffer_Release(&packed);
    PyBuffer_Release(&inputs);
    PyBuffer_Release(&targets);
    return result;
}

static PyMethodDef methods[] = {
    {"objective", objective, METH_VARARGS,
     "objective(gradient, packed, inputs, targets, n_inputs, hidden, penalty) -> loss: the "
     "small network's penalised half mean squared error, its gradient written into gradient."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_network", "The small network's objective and gradient.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__network(void) { return PyModule_Create(&module); }
