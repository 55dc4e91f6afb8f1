/* The small network's objective and gradient, compiled (the numpy objective in _small_network.py
 * is the fallback and the reference: the same sums, in another order).
 *
 * objective(gradient, packed, inputs, targets, n_inputs, hidden, penalty) -> loss
 * for a one-hidden-layer ReLU network with parameters `packed` (W1 (n_inputs, hidden) row-major,
 * w2 (hidden,), b1 (hidden,), b2), inputs (K, n_inputs) and targets (K,), all float64:
 *     loss = sum_k e_k^2 / (2K) + penalty / (2K) (|W1|^2 + |w2|^2),
 *     e_k = w2 . relu(x_k W1 + b1) + b2 - t_k,
 * and writes d loss / d packed into `gradient` (same packing). One pass over the rows, a block
 * of rows at a time: the block's hidden layers are formed, used for the errors and for their
 * shares of every gradient, and forgotten, so nothing of size K x hidden is stored.
 *
 * fit(packed, inputs, targets, n_inputs, hidden, penalty, iterations, tolerance, most_calls)
 *     -> (loss, iterations run, objective calls)
 * minimises that loss from the start in `packed` (overwritten with the result) by L-BFGS with
 * the last MEMORY steps and a line search for the strong Wolfe conditions (sufficient decrease
 * SUFFICIENT, curvature CURVATURE, as L-BFGS-B's defaults). It stops after `iterations`
 * iterations or `most_calls` objective calls, where the gradient's largest entry is at most
 * `tolerance`, or where a step lowers the loss by a relative RELATIVE_DECREASE or less; the
 * first step has length one at most.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
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

/* Rows go through the network BLOCK_ROWS at a time, hidden units LANES at a time, so that a
 * block's hidden values stay in registers while the weights stream past once for the block.
 * Every sum is still taken in the order of one row after another and one input after another:
 * the results are those of a row-by-row pass, bit for bit. */
#define BLOCK_ROWS 4
#define LANES 4
/* With AVX2 at hand the lanes are one register wide; without fused multiply-adds either way
 * (the build passes -ffp-contract=off), so the results do not depend on which version runs. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONED __attribute__((target_clones("avx2", "default")))
#else
#define CLONED
#endif
typedef double lanes_t __attribute__((vector_size(LANES * sizeof(double))));

static inline lanes_t load_lanes(const double *from)
{
    lanes_t v;
    memcpy(&v, from, sizeof(v));
    return v;
}

static inline void store_lanes(double *to, lanes_t v)
{
    memcpy(to, &v, sizeof(v));
}

/* layers[r * hidden + h] = b1[h] + sum_j x_rj W1[j, h] for the n (<= BLOCK_ROWS) rows at x. */
CLONED static void forward(double *layers, const double *x, Py_ssize_t n, const double *w1,
                    const double *b1, Py_ssize_t n_inputs, Py_ssize_t hidden)
{
    Py_ssize_t h = 0;
    if (n == BLOCK_ROWS) {
        const double *x0 = x, *x1 = x + n_inputs, *x2 = x1 + n_inputs, *x3 = x2 + n_inputs;
        for (; h + LANES <= hidden; h += LANES) {
            lanes_t a0 = load_lanes(b1 + h), a1 = a0, a2 = a0, a3 = a0;
            for (Py_ssize_t j = 0; j < n_inputs; j++) {
                lanes_t w = load_lanes(w1 + j * hidden + h);
                a0 += x0[j] * w;
                a1 += x1[j] * w;
                a2 += x2[j] * w;
                a3 += x3[j] * w;
            }
            store_lanes(layers + h, a0);
            store_lanes(layers + hidden + h, a1);
            store_lanes(layers + 2 * hidden + h, a2);
            store_lanes(layers + 3 * hidden + h, a3);
        }
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        const double *xr = x + r * n_inputs;
        double *layer = layers + r * hidden;
        for (Py_ssize_t u = h; u < hidden; u++) {
            double a = b1[u];
            for (Py_ssize_t j = 0; j < n_inputs; j++) a += xr[j] * w1[j * hidden + u];
            layer[u] = a;
        }
    }
}

/* grad_w1[j, h] += x_rj deltas[r * hidden + h], row after row, for the n rows at x. */
CLONED static void backward(double *grad_w1, const double *x, Py_ssize_t n, const double *deltas,
                     Py_ssize_t n_inputs, Py_ssize_t hidden)
{
    Py_ssize_t h = 0;
    if (n == BLOCK_ROWS) {
        const double *x0 = x, *x1 = x + n_inputs, *x2 = x1 + n_inputs, *x3 = x2 + n_inputs;
        for (; h + LANES <= hidden; h += LANES) {
            lanes_t d0 = load_lanes(deltas + h), d1 = load_lanes(deltas + hidden + h);
            lanes_t d2 = load_lanes(deltas + 2 * hidden + h);
            lanes_t d3 = load_lanes(deltas + 3 * hidden + h);
            for (Py_ssize_t j = 0; j < n_inputs; j++) {
                double *to = grad_w1 + j * hidden + h;
                lanes_t g = load_lanes(to);
                g += x0[j] * d0;
                g += x1[j] * d1;
                g += x2[j] * d2;
                g += x3[j] * d3;
                store_lanes(to, g);
            }
        }
    }
    for (Py_ssize_t j = 0; j < n_inputs; j++) {
        double *to = grad_w1 + j * hidden;
        for (Py_ssize_t u = h; u < hidden; u++) {
            double g = to[u];
            for (Py_ssize_t r = 0; r < n; r++) g += x[r * n_inputs + j] * deltas[r * hidden + u];
            to[u] = g;
        }
    }
}

/* The ReLU, the output and its error for the n rows of `layers`, their shares of the output
 * layer's gradient, and each row's delta (error * w2 where the unit is active) in place of its
 * hidden values; each row's squared error is added to *squares, in order. The rows of a block
 * are walked side by side, each row's sums in its own order. */
CLONED static void output_layer(double *squares, double *layers, Py_ssize_t n, const double *w2, double b2,
                                const double *targets, double *grad_w2, double *grad_b1,
                                double *grad_b2, Py_ssize_t hidden)
{
    double errors[BLOCK_ROWS];
    if (n == BLOCK_ROWS) {
        double *l0 = layers, *l1 = l0 + hidden, *l2 = l1 + hidden, *l3 = l2 + hidden;
        double o0 = b2, o1 = b2, o2 = b2, o3 = b2;
        for (Py_ssize_t h = 0; h < hidden; h++) {
            l0[h] = l0[h] > 0.0 ? l0[h] : 0.0;
            l1[h] = l1[h] > 0.0 ? l1[h] : 0.0;
            l2[h] = l2[h] > 0.0 ? l2[h] : 0.0;
            l3[h] = l3[h] > 0.0 ? l3[h] : 0.0;
            o0 += l0[h] * w2[h];
            o1 += l1[h] * w2[h];
            o2 += l2[h] * w2[h];
            o3 += l3[h] * w2[h];
        }
        errors[0] = o0 - targets[0];
        errors[1] = o1 - targets[1];
        errors[2] = o2 - targets[2];
        errors[3] = o3 - targets[3];
    } else {
        for (Py_ssize_t r = 0; r < n; r++) {
            double *layer = layers + r * hidden, out = b2;
            for (Py_ssize_t h = 0; h < hidden; h++) {
                layer[h] = layer[h] > 0.0 ? layer[h] : 0.0;
                out += layer[h] * w2[h];
            }
            errors[r] = out - targets[r];
        }
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        *squares += errors[r] * errors[r];
        *grad_b2 += errors[r];
    }
    for (Py_ssize_t h = 0; h < hidden; h++) {
        double g_w2 = grad_w2[h], g_b1 = grad_b1[h];
        for (Py_ssize_t r = 0; r < n; r++) {
            double *unit = layers + r * hidden + h;
            g_w2 += *unit * errors[r];
            *unit = *unit != 0.0 ? errors[r] * w2[h] : 0.0;
            g_b1 += *unit;
        }
        grad_w2[h] = g_w2;
        grad_b1[h] = g_b1;
    }
}

/* layers: BLOCK_ROWS * hidden doubles of scratch. */
static double run(double *gradient, const double *packed, const double *inputs,
                  const double *targets, Py_ssize_t n_rows, Py_ssize_t n_inputs, Py_ssize_t hidden,
                  double penalty, double *layers)
{
    const double *w1 = packed, *w2 = packed + n_inputs * hidden, *b1 = w2 + hidden;
    double b2 = b1[hidden];
    double *grad_w1 = gradient, *grad_w2 = gradient + n_inputs * hidden;
    double *grad_b1 = grad_w2 + hidden, *grad_b2 = grad_b1 + hidden;
    Py_ssize_t n_params = n_inputs * hidden + 2 * hidden + 1;
    memset(gradient, 0, (size_t)n_params * sizeof(double));
    double squares = 0.0;
    for (Py_ssize_t k = 0; k < n_rows; k += BLOCK_ROWS) {
        const double *x = inputs + k * n_inputs;
        Py_ssize_t n = n_rows - k < BLOCK_ROWS ? n_rows - k : BLOCK_ROWS;
        forward(layers, x, n, w1, b1, n_inputs, hidden);
        output_layer(&squares, layers, n, w2, b2, targets + k, grad_w2, grad_b1, grad_b2, hidden);
        backward(grad_w1, x, n, layers, n_inputs, hidden);
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
    layer = PyMem_RawMalloc((size_t)BLOCK_ROWS * (size_t)hidden * sizeof(double));
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


#define MEMORY 10
#define SUFFICIENT 1e-3
#define CURVATURE 0.9
#define RELATIVE_DECREASE 2.220446049250313e-09
#define SEARCH_STEPS 20

typedef struct {
    const double *inputs, *targets;
    Py_ssize_t n_rows, n_inputs, hidden, n_params;
    double penalty, *layer;
    long calls;
} Problem;

static double evaluate(Problem *p, const double *x, double *gradient)
{
    p->calls++;
    return run(gradient, x, p->inputs, p->targets, p->n_rows, p->n_inputs, p->hidden,
               p->penalty, p->layer);
}

static double dot(const double *a, const double *b, Py_ssize_t n)
{
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) total += a[i] * b[i];
    return total;
}

static double largest(const double *a, Py_ssize_t n)
{
    double most = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) most = fabs(a[i]) > most ? fabs(a[i]) : most;
    return most;
}

/* The minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle 80% of
 * the interval (its midpoint where the cubic has none). */
static double cubic_step(double a, double fa, double da, double b, double fb, double db)
{
    double low = a < b ? a : b, high = a < b ? b : a, width = high - low;
    double d1 = da + db - 3.0 * (fa - fb) / (a - b);
    double square = d1 * d1 - da * db;
    double step = 0.5 * (a + b);
    if (square >= 0.0 && a != b) {
        double d2 = (b > a ? 1.0 : -1.0) * sqrt(square);
        double denominator = db - da + 2.0 * d2;
        if (denominator != 0.0) step = b - (b - a) * (db + d2 - d1) / denominator;
    }
    if (!(step >= low + 0.1 * width && step <= high - 0.1 * width)) step = 0.5 * (a + b);
    return step;
}

/* A step along `direction` from x (loss f, slope `slope` < 0) meeting the strong Wolfe
 * conditions, tried first at `step`: writes the point, its loss and gradient into trial,
 * *trial_loss and trial_gradient and returns 1; 0 where none was found within the calls
 * allowed (the trial then holds the lowest point seen with a sufficient decrease, if any: 2). */
static int line_search(Problem *p, const double *x, double f, double slope,
                       const double *direction, double step, double *trial,
                       double *trial_gradient, double *trial_loss, double *best,
                       double *best_gradient, long most_calls)
{
    Py_ssize_t n = p->n_params;
    double previous = 0.0, f_previous = f, d_previous = slope;
    double low = 0.0, f_low = f, d_low = slope, high = 0.0, f_high = f, d_high = slope;
    int zooming = 0, have_best = 0;
    double best_loss = f;
    for (int i = 0; i < 2 * SEARCH_STEPS && p->calls < most_calls; i++) {
        if (zooming) step = cubic_step(low, f_low, d_low, high, f_high, d_high);
        for (Py_ssize_t j = 0; j < n; j++) trial[j] = x[j] + step * direction[j];
        double value = evaluate(p, trial, trial_gradient);
        double derivative = dot(trial_gradient, direction, n);
        int decreased = isfinite(value) && value <= f + SUFFICIENT * step * slope;
        if (decreased && value < best_loss) {
            best_loss = value;
            memcpy(best, trial, (size_t)n * sizeof(double));
            memcpy(best_gradient, trial_gradient, (size_t)n * sizeof(double));
            have_best = 1;
        }
        if (decreased && fabs(derivative) <= -CURVATURE * slope) {
            *trial_loss = value;
            return 1;
        }
        if (!zooming) {
            if (!decreased || (i > 0 && value >= f_previous)) {
                zooming = 1;
                low = previous, f_low = f_previous, d_low = d_previous;
                high = step, f_high = isfinite(value) ? value : 1e300, d_high = derivative;
            } else if (derivative >= 0.0) {
                zooming = 1;
                low = step, f_low = value, d_low = derivative;
                high = previous, f_high = f_previous, d_high = d_previous;
            } else {
                previous = step, f_previous = value, d_previous = derivative;
                step *= 4.0;
            }
            if (zooming && !isfinite(d_high)) d_high = 0.0;
            continue;
        }
        if (!decreased || value >= f_low) {
            high = step, f_high = isfinite(value) ? value : 1e300;
            d_high = isfinite(derivative) ? derivative : 0.0;
        } else {
            if (derivative * (high - low) >= 0.0) {
                high = low, f_high = f_low, d_high = d_low;
            }
            low = step, f_low = value, d_low = derivative;
        }
        if (fabs(high - low) <= 1e-12 * (fabs(low) + 1e-12)) break;
    }
    if (have_best) {
        memcpy(trial, best, (size_t)n * sizeof(double));
        memcpy(trial_gradient, best_gradient, (size_t)n * sizeof(double));
        *trial_loss = best_loss;
        return 2;
    }
    return 0;
}

/* The L-BFGS run itself: the loss at the result (left in x), and the iterations run. */
static double minimise(Problem *p, double *x, long iterations, double tolerance,
                       long most_calls, double *work, long *iterations_run)
{
    Py_ssize_t n = p->n_params;
    double *gradient = work, *direction = work + n, *trial = work + 2 * n;
    double *trial_gradient = work + 3 * n, *best = work + 4 * n, *best_gradient = work + 5 * n;
    double *steps = work + 6 * n, *changes = steps + MEMORY * n;
    double rho[MEMORY], alpha[MEMORY];
    int stored = 0, newest = -1;
    double f = evaluate(p, x, gradient);
    *iterations_run = 0;
    if (!isfinite(f) || largest(gradient, n) <= tolerance) return f;
    for (long iteration = 0; iteration < iterations && p->calls < most_calls; iteration++) {
        /* the two-loop recursion: direction = -H gradient */
        for (Py_ssize_t j = 0; j < n; j++) direction[j] = -gradient[j];
        for (int k = 0; k < stored; k++) {
            int at = (newest - k + MEMORY) % MEMORY;
            alpha[at] = rho[at] * dot(steps + at * n, direction, n);
            for (Py_ssize_t j = 0; j < n; j++) direction[j] -= alpha[at] * changes[at * n + j];
        }
        if (stored > 0) {
            const double *y = changes + newest * n;
            double scale = dot(steps + newest * n, y, n) / dot(y, y, n);
            for (Py_ssize_t j = 0; j < n; j++) direction[j] *= scale;
        }
        for (int k = stored - 1; k >= 0; k--) {
            int at = (newest - k + MEMORY) % MEMORY;
            double beta = rho[at] * dot(changes + at * n, direction, n);
            for (Py_ssize_t j = 0; j < n; j++)
                direction[j] += (alpha[at] - beta) * steps[at * n + j];
        }
        double slope = dot(gradient, direction, n);
        if (!(slope < 0.0)) { /* not a descent direction: start again from steepest descent */
            stored = 0;
            for (Py_ssize_t j = 0; j < n; j++) direction[j] = -gradient[j];
            slope = dot(gradient, direction, n);
        }
        double first = 1.0;
        if (stored == 0) {
            double length = sqrt(dot(direction, direction, n));
            first = length > 1.0 ? 1.0 / length : 1.0;
        }
        double f_trial;
        int found = line_search(p, x, f, slope, direction, first, trial, trial_gradient,
                                &f_trial, best, best_gradient, most_calls);
        if (found == 0) break;
        *iterations_run = iteration + 1;
        double *s = best, *y = best_gradient; /* free once the search is done */
        for (Py_ssize_t j = 0; j < n; j++) {
            s[j] = trial[j] - x[j];
            y[j] = trial_gradient[j] - gradient[j];
        }
        double curvature = dot(s, y, n);
        double decrease = (f - f_trial) / fmax(fmax(fabs(f), fabs(f_trial)), 1.0);
        if (curvature > 1e-10 * dot(y, y, n)) { /* keep the pair where it is positive */
            int slot = (newest + 1) % MEMORY; /* the oldest pair's, once memory is full */
            memcpy(steps + slot * n, s, (size_t)n * sizeof(double));
            memcpy(changes + slot * n, y, (size_t)n * sizeof(double));
            rho[slot] = 1.0 / curvature;
            newest = slot;
            stored = stored < MEMORY ? stored + 1 : MEMORY;
        }
        memcpy(x, trial, (size_t)n * sizeof(double));
        memcpy(gradient, trial_gradient, (size_t)n * sizeof(double));
        f = f_trial;
        if (decrease <= RELATIVE_DECREASE || largest(gradient, n) <= tolerance) break;
    }
    return f;
}

static PyObject *fit(PyObject *self, PyObject *args)
{
    Py_buffer packed, inputs, targets;
    Py_ssize_t n_inputs, hidden;
    double penalty, tolerance, loss = 0.0;
    long iterations, most_calls, iterations_run = 0;
    PyObject *result = NULL;
    double *layer = NULL, *work = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*nndldl", &packed, &inputs, &targets, &n_inputs, &hidden,
                          &penalty, &iterations, &tolerance, &most_calls)) {
        return NULL;
    }
    Py_ssize_t n_rows = targets.len / 8;
    if (n_inputs < 1 || hidden < 1 || n_rows < 1 || n_inputs > PY_SSIZE_T_MAX / 8 / hidden ||
        iterations < 0 || most_calls < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "need an input, a hidden unit, a row and at least one objective call");
        goto done;
    }
    Py_ssize_t n_params = n_inputs * hidden + 2 * hidden + 1;
    if (check_bytes(&targets, n_rows, "targets") ||
        check_bytes(&inputs, n_rows * n_inputs, "inputs") ||
        check_bytes(&packed, n_params, "packed")) {
        goto done;
    }
    layer = PyMem_RawMalloc((size_t)BLOCK_ROWS * (size_t)hidden * sizeof(double));
    work = PyMem_RawMalloc((size_t)(6 + 2 * MEMORY) * (size_t)n_params * sizeof(double));
    if (layer == NULL || work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Problem problem = {inputs.buf, targets.buf, n_rows, n_inputs, hidden, n_params,
                       penalty, layer, 0};
    Py_BEGIN_ALLOW_THREADS
    loss = minimise(&problem, packed.buf, iterations, tolerance, most_calls, work,
                    &iterations_run);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("dll", loss, iterations_run, problem.calls);
done:
    PyMem_RawFree(layer);
    PyMem_RawFree(work);
    PyBuffer_Release(&packed);
    PyBuffer_Release(&inputs);
    PyBuffer_Release(&targets);
    return result;
}

static PyMethodDef methods[] = {
    {"objective", objective, METH_VARARGS,
     "objective(gradient, packed, inputs, targets, n_inputs, hidden, penalty) -> loss: the "
     "small network's penalised half mean squared error, its gradient written into gradient."},
    {"fit", fit, METH_VARARGS,
     "fit(packed, inputs, targets, n_inputs, hidden, penalty, iterations, tolerance, "
     "most_calls) -> (loss, iterations, calls): L-BFGS from packed, which holds the result."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_network", "The small network's objective and gradient.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__network(void) { return PyModule_Create(&module); }
