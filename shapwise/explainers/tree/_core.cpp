// Tree SHAP core: exact Shapley values of tree ensembles read from the node table (_table.py).
//
// Every function takes the table as one tuple of buffers (see table_fields in _core_calls.py),
// the rows as a C-contiguous float64 buffer (rows, features), writes into a zeroed float64 output
// buffer and threads over rows with std::thread, the GIL released. Each row is computed by one thread,
// trees in a fixed order, so values do not depend on the thread count (bit for bit).
//
// Path-dependent values. Along a root-to-leaf path with its features merged, feature j has
// p_j (the product of the cover ratios of its splits) and o_j (1 if the row satisfies all of
// them). The leaf's game is v(S) = value * prod_{j in S} o_j * prod_{j not in S} p_j, whose
// Shapley value is
//     phi_i = value * (o_i - p_i) * integral_0^1 prod_{j != i} (p_j + t (o_j - p_j)) dt,
// a polynomial of degree d - 1 integrated exactly by Gauss-Legendre with ceil(d / 2) nodes.
// Values are computed in one pass over each tree whose leaves share their sums (SharedPaths);
// pair interactions per leaf, the products leaving factors out as prefix times suffix products
// (PathDependent). Neither unwinds a path, so nothing cancels on deep trees. For pairs,
// integral t^s (1 - t)^(d - 2 - s) dt is the Shapley interaction index's weight.
//
// Interventional values. For a row x, a background row b and a leaf, A is the path's features
// only x satisfies and B those only b satisfies (a feature neither satisfies makes the leaf
// unreachable); the game is a unanimity game with the closed form
//     phi_i = value (|A| - 1)! |B|! / (|A| + |B|)!      for i in A,
//     phi_i = -value |A|! (|B| - 1)! / (|A| + |B|)!     for i in B.
// Background rows are aggregated per leaf as patterns of satisfied path features with counts,
// so a row costs leaves x patterns instead of background rows x trees; where the patterns would
// not fit the memory budget, every (row, background row) pair is walked instead.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace {

// ------------------------------------------------------------------------------------ buffers
struct Buffer {
    Py_buffer view{};
    bool held = false;
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer() {
        if (held) PyBuffer_Release(&view);
    }
};

// The element kind of a buffer format: 'i' signed, 'u' unsigned, 'f' float, '?' bool.
char format_kind(const char* format) {
    if (format == nullptr) return 'u';  // plain bytes
    while (*format == '@' || *format == '=' || *format == '<' || *format == '>' || *format == '!')
        format++;
    if (format[0] == '\0' || format[1] != '\0') return 'x';
    switch (format[0]) {
        case 'b': case 'h': case 'i': case 'l': case 'q': return 'i';
        case 'B': case 'H': case 'I': case 'L': case 'Q': return 'u';
        case 'f': case 'd': return 'f';
        case '?': return '?';
        default: return 'x';
    }
}

// Get a C-contiguous buffer of `count` items of `kind` and `itemsize`; count < 0: any count.
bool get_buffer(PyObject* object, Buffer& buffer, char kind, Py_ssize_t itemsize, bool writable,
                Py_ssize_t count, const char* name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, &buffer.view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer", name,
                     writable ? " writable" : "");
        return false;
    }
    buffer.held = true;
    if (format_kind(buffer.view.format) != kind || buffer.view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s has format %s (itemsize %zd); expected kind %c of %zd bytes",
                     name, buffer.view.format ? buffer.view.format : "B", buffer.view.itemsize,
                     kind, itemsize);
        return false;
    }
    if (buffer.view.len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s holds a partial item", name);
        return false;
    }
    if (count >= 0 && buffer.view.len / itemsize != count) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd items, expected %zd", name,
                     buffer.view.len / itemsize, count);
        return false;
    }
    return true;
}

Py_ssize_t items(const Buffer& buffer) { return buffer.view.len / buffer.view.itemsize; }

// a * b * c, or -1 with a ValueError when it overflows
Py_ssize_t checked_product(Py_ssize_t a, Py_ssize_t b, Py_ssize_t c = 1) {
    if (a < 0 || b < 0 || c < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return -1;
    }
    if ((b != 0 && a > PY_SSIZE_T_MAX / b) || (c != 0 && a * b > PY_SSIZE_T_MAX / c)) {
        PyErr_SetString(PyExc_ValueError, "the sizes are too large");
        return -1;
    }
    return a * b * c;
}

// ------------------------------------------------------------------------------------ the table
enum Decision : int8_t { LEFT_IF_LESS_EQUAL = 0, LEFT_IF_LESS = 1, LEFT_IF_IN_CATEGORIES = 2 };
enum Missing : int8_t { MISSING_NAN = 0, MISSING_NAN_OR_ZERO = 1, MISSING_AS_ZERO = 2 };

constexpr int N_TABLE_FIELDS = 14;

struct Table {
    Buffer buffers[N_TABLE_FIELDS];
    const int64_t *left = nullptr, *right = nullptr, *feature = nullptr;
    const double* threshold = nullptr;
    const int8_t *decision = nullptr, *missing = nullptr;
    const uint8_t* default_left = nullptr;
    const int64_t *category_start = nullptr, *category_stop = nullptr;
    const uint64_t* category_words = nullptr;
    const double *cover = nullptr, *value = nullptr;
    const int64_t *tree_start = nullptr, *tree_output = nullptr;
    int64_t n_nodes = 0, n_trees = 0, n_outputs = 0, n_features = 0, n_words = 0;
    int64_t max_depth = 0;  // edges on the longest root-to-leaf path

    bool is_leaf(int64_t node) const { return left[node] < 0; }

    // Whether row x goes to the left child of internal node `node`.
    bool goes_left(int64_t node, const double* x) const {
        double v = x[feature[node]];
        const int8_t how_missing = missing[node];
        if (std::isnan(v)) {
            if (how_missing != MISSING_AS_ZERO) return default_left[node] != 0;
            v = 0.0;
        } else if (how_missing == MISSING_NAN_OR_ZERO && v == 0.0) {
            return default_left[node] != 0;
        }
        switch (decision[node]) {
            case LEFT_IF_LESS_EQUAL: return v <= threshold[node];
            case LEFT_IF_LESS: return v < threshold[node];
            default: {
                const int64_t words = category_stop[node] - category_start[node];
                if (!(v >= 0.0) || v != std::floor(v) || v >= 64.0 * (double)words) return false;
                const int64_t category = (int64_t)v;
                return ((category_words[category_start[node] + category / 64] >> (category % 64)) &
                        1u) != 0;
            }
        }
    }

    // Value of `leaf` for output o, as this tree adds it.
    bool adds_to(int64_t tree, int64_t o) const {
        return tree_output[tree] < 0 || tree_output[tree] == o;
    }
};

// Read and check the table tuple: every buffer's dtype and size, every index in range, and a
// forest shape (each node the child of at most one node, roots of none), so every walk ends.
bool read_table(PyObject* fields, int64_t n_features, int64_t n_outputs, Table& T) {
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) != N_TABLE_FIELDS) {
        PyErr_Format(PyExc_TypeError, "the table must be a tuple of %d arrays", N_TABLE_FIELDS);
        return false;
    }
    if (n_features < 1 || n_outputs < 1) {
        PyErr_SetString(PyExc_ValueError, "the table needs at least one feature and one output");
        return false;
    }
    PyObject* f[N_TABLE_FIELDS];
    for (int i = 0; i < N_TABLE_FIELDS; i++) f[i] = PyTuple_GET_ITEM(fields, i);
    Buffer* b = T.buffers;
    if (!get_buffer(f[0], b[0], 'i', 8, false, -1, "left")) return false;
    const Py_ssize_t n = items(b[0]);
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "the table has no nodes");
        return false;
    }
    const Py_ssize_t n_values = checked_product(n, n_outputs);
    if (n_values < 0) return false;
    if (!get_buffer(f[1], b[1], 'i', 8, false, n, "right") ||
        !get_buffer(f[2], b[2], 'i', 8, false, n, "feature") ||
        !get_buffer(f[3], b[3], 'f', 8, false, n, "threshold") ||
        !get_buffer(f[4], b[4], 'i', 1, false, n, "decision") ||
        !get_buffer(f[5], b[5], 'i', 1, false, n, "missing") ||
        !get_buffer(f[6], b[6], '?', 1, false, n, "default_left") ||
        !get_buffer(f[7], b[7], 'i', 8, false, n, "category_start") ||
        !get_buffer(f[8], b[8], 'i', 8, false, n, "category_stop") ||
        !get_buffer(f[9], b[9], 'u', 8, false, -1, "category_words") ||
        !get_buffer(f[10], b[10], 'f', 8, false, n, "cover") ||
        !get_buffer(f[11], b[11], 'f', 8, false, n_values, "value") ||
        !get_buffer(f[12], b[12], 'i', 8, false, -1, "tree_start"))
        return false;
    const Py_ssize_t n_trees = items(b[12]) - 1;
    if (n_trees < 1) {
        PyErr_SetString(PyExc_ValueError, "the table has no trees");
        return false;
    }
    if (!get_buffer(f[13], b[13], 'i', 8, false, n_trees, "tree_output")) return false;
    T.left = (const int64_t*)b[0].view.buf;
    T.right = (const int64_t*)b[1].view.buf;
    T.feature = (const int64_t*)b[2].view.buf;
    T.threshold = (const double*)b[3].view.buf;
    T.decision = (const int8_t*)b[4].view.buf;
    T.missing = (const int8_t*)b[5].view.buf;
    T.default_left = (const uint8_t*)b[6].view.buf;
    T.category_start = (const int64_t*)b[7].view.buf;
    T.category_stop = (const int64_t*)b[8].view.buf;
    T.category_words = (const uint64_t*)b[9].view.buf;
    T.cover = (const double*)b[10].view.buf;
    T.value = (const double*)b[11].view.buf;
    T.tree_start = (const int64_t*)b[12].view.buf;
    T.tree_output = (const int64_t*)b[13].view.buf;
    T.n_nodes = n;
    T.n_trees = n_trees;
    T.n_outputs = n_outputs;
    T.n_features = n_features;
    T.n_words = items(b[9]);

    if (T.tree_start[0] != 0 || T.tree_start[n_trees] != n) {
        PyErr_SetString(PyExc_ValueError, "tree_start must run from 0 to the number of nodes");
        return false;
    }
    std::vector<uint8_t> has_parent((size_t)n, 0);
    std::vector<int64_t> depth((size_t)n, -1);
    for (int64_t t = 0; t < n_trees; t++) {
        const int64_t start = T.tree_start[t], stop = T.tree_start[t + 1];
        if (stop <= start) {
            PyErr_Format(PyExc_ValueError, "tree %lld has no nodes", (long long)t);
            return false;
        }
        if (T.tree_output[t] < -1 || T.tree_output[t] >= n_outputs) {
            PyErr_Format(PyExc_ValueError, "tree %lld adds to output %lld of %lld", (long long)t,
                         (long long)T.tree_output[t], (long long)n_outputs);
            return false;
        }
        for (int64_t node = start; node < stop; node++) {
            if (!(T.cover[node] >= 0.0)) {
                PyErr_Format(PyExc_ValueError, "node %lld has cover %g", (long long)node,
                             T.cover[node]);
                return false;
            }
            if (T.left[node] < 0) {
                if (T.right[node] >= 0) {
                    PyErr_Format(PyExc_ValueError, "node %lld has a right child only",
                                 (long long)node);
                    return false;
                }
                continue;
            }
            const int64_t children[2] = {T.left[node], T.right[node]};
            for (int64_t child : children) {
                if (child <= start || child >= stop || child == node || has_parent[child]) {
                    PyErr_Format(PyExc_ValueError,
                                 "node %lld of tree %lld has child %lld outside its tree or "
                                 "shared with another node",
                                 (long long)node, (long long)t, (long long)child);
                    return false;
                }
                has_parent[child] = 1;
            }
            if (T.feature[node] < 0 || T.feature[node] >= n_features) {
                PyErr_Format(PyExc_ValueError, "node %lld splits on feature %lld of %lld",
                             (long long)node, (long long)T.feature[node], (long long)n_features);
                return false;
            }
            if (T.decision[node] < 0 || T.decision[node] > 2 || T.missing[node] < 0 ||
                T.missing[node] > 2) {
                PyErr_Format(PyExc_ValueError, "node %lld has an unknown decision or missing rule",
                             (long long)node);
                return false;
            }
            if (T.decision[node] == LEFT_IF_IN_CATEGORIES &&
                (T.category_start[node] < 0 || T.category_stop[node] < T.category_start[node] ||
                 T.category_stop[node] > T.n_words)) {
                PyErr_Format(PyExc_ValueError, "node %lld has categories outside category_words",
                             (long long)node);
                return false;
            }
        }
        // depths, root first (each node's parent is met before it in a walk from the root)
        std::vector<int64_t> stack{start};
        depth[start] = 0;
        while (!stack.empty()) {
            const int64_t node = stack.back();
            stack.pop_back();
            T.max_depth = std::max(T.max_depth, depth[node]);
            if (T.left[node] >= 0) {
                depth[T.left[node]] = depth[T.right[node]] = depth[node] + 1;
                stack.push_back(T.left[node]);
                stack.push_back(T.right[node]);
            }
        }
    }
    return true;
}

// A float64 matrix (rows, columns) read from a buffer, `columns` checked.
bool get_rows(PyObject* object, Buffer& buffer, int64_t columns, const char* name,
              int64_t& n_rows) {
    if (!get_buffer(object, buffer, 'f', 8, false, -1, name)) return false;
    const Py_ssize_t n = items(buffer);
    if (n % columns != 0) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd numbers, not rows of %lld features", name, n,
                     (long long)columns);
        return false;
    }
    n_rows = n / columns;
    return true;
}

// ------------------------------------------------------------------------------------ threads
// Run work(begin, end, thread) over chunks of rows on n_jobs threads; false if any chunk failed.
template <class Work>
bool parallel_rows(int64_t n_rows, int64_t n_jobs, int64_t chunk, Work&& work) {
    if (n_rows <= 0) return true;
    const int64_t n_chunks = (n_rows + chunk - 1) / chunk;
    const int64_t n_threads = std::max<int64_t>(1, std::min(n_jobs, n_chunks));
    std::atomic<int64_t> next{0};
    std::atomic<bool> failed{false};
    auto run = [&](int64_t thread) {
        try {
            for (;;) {
                const int64_t c = next.fetch_add(1);
                if (c >= n_chunks || failed.load()) break;
                work(c * chunk, std::min(n_rows, (c + 1) * chunk), thread);
            }
        } catch (...) {
            failed.store(true);
        }
    };
    std::vector<std::thread> threads;
    try {
        for (int64_t i = 1; i < n_threads; i++) threads.emplace_back(run, i);
    } catch (...) {
        failed.store(true);
    }
    run(0);
    for (auto& thread : threads) thread.join();
    return !failed.load();
}

// ------------------------------------------------------------------------------------ quadrature
// Gauss-Legendre nodes and weights on [0, 1] for 1..max_points points, exact for polynomials of
// degree 2 * points - 1.
struct Quadrature {
    std::vector<double> t, w;
    std::vector<size_t> offset;  // points q start at offset[q]

    explicit Quadrature(int64_t max_points) {
        offset.assign((size_t)max_points + 2, 0);
        for (int64_t q = 1; q <= max_points; q++) {
            offset[q] = t.size();
            for (int64_t i = 0; i < q; i++) {
                double x = std::cos(M_PI * ((double)i + 0.75) / ((double)q + 0.5));
                double derivative = 1.0;
                for (int iteration = 0; iteration < 100; iteration++) {
                    double p0 = 1.0, p1 = x;  // Legendre P_0, P_1
                    for (int64_t k = 2; k <= q; k++) {
                        const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                        p0 = p1;
                        p1 = p2;
                    }
                    derivative = q * (x * p1 - p0) / (x * x - 1.0);
                    const double step = p1 / derivative;
                    x -= step;
                    if (std::fabs(step) < 1e-16) break;
                }
                // recompute the derivative at the converged node
                double p0 = 1.0, p1 = x;
                for (int64_t k = 2; k <= q; k++) {
                    const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                derivative = q * (x * p1 - p0) / (x * x - 1.0);
                t.push_back(0.5 * (1.0 - x));
                w.push_back(1.0 / ((1.0 - x * x) * derivative * derivative));  // (2/..)/2
            }
        }
        offset[max_points + 1] = t.size();
    }
};

// The paths of each tree: per internal node the position of its feature among its path's
// distinct features (its bit in a pattern), per leaf those features.
struct Paths {
    std::vector<int64_t> bit;              // per node
    std::vector<int64_t> leaf_index;       // per node: its position among the leaves, or -1
    std::vector<int64_t> leaf_node;        // per leaf
    std::vector<int64_t> feature_start;    // per leaf + 1, into features
    std::vector<int64_t> features;         // the leaves' path features, end to end
    std::vector<int64_t> tree_leaf_start;  // per tree + 1
    int64_t widest = 0;                    // most distinct features on one path
    std::vector<int64_t> tree_widest;      // the same per tree

    explicit Paths(const Table& T) {
        bit.assign((size_t)T.n_nodes, -1);
        leaf_index.assign((size_t)T.n_nodes, -1);
        feature_start.push_back(0);
        std::vector<int64_t> path;
        for (int64_t t = 0; t < T.n_trees; t++) {
            tree_leaf_start.push_back((int64_t)leaf_node.size());
            tree_widest.push_back(0);
            visit(T, T.tree_start[t], path);
        }
        tree_leaf_start.push_back((int64_t)leaf_node.size());
    }

    void visit(const Table& T, int64_t node, std::vector<int64_t>& path) {
        if (T.is_leaf(node)) {
            leaf_index[node] = (int64_t)leaf_node.size();
            leaf_node.push_back(node);
            features.insert(features.end(), path.begin(), path.end());
            feature_start.push_back((int64_t)features.size());
            widest = std::max<int64_t>(widest, (int64_t)path.size());
            tree_widest.back() = std::max<int64_t>(tree_widest.back(), (int64_t)path.size());
            return;
        }
        const int64_t f = T.feature[node];
        const int64_t at = std::find(path.begin(), path.end(), f) - path.begin();
        bit[node] = at;
        const bool added = at == (int64_t)path.size();
        if (added) path.push_back(f);
        visit(T, T.left[node], path);
        visit(T, T.right[node], path);
        if (added) path.pop_back();
    }

    int64_t width(int64_t leaf) const { return feature_start[leaf + 1] - feature_start[leaf]; }
};

// ------------------------------------------------------------------------------------ path-dependent
// The leaf's (o_i - p_i) * integral of prod_{j != i} (p_j + t (o_j - p_j)) for its d path
// features, with Q quadrature points: prefix products stored (weights folded in), the suffix
// product carried backwards.
template <int Q>
void leaf_integrals(const double* p, const double* o, int64_t d, const double* t, const double* w,
                    double* prefix, double* coef) {
    for (int k = 0; k < Q; k++) prefix[k] = w[k];
    for (int64_t i = 0; i < d; i++) {
        const double pi = p[i], di = o[i] - p[i];
        const double* before = prefix + i * Q;
        double* after = prefix + (i + 1) * Q;
        for (int k = 0; k < Q; k++) after[k] = before[k] * (pi + t[k] * di);
    }
    double suffix[Q];
    for (int k = 0; k < Q; k++) suffix[k] = 1.0;
    for (int64_t i = d - 1; i >= 0; i--) {
        const double pi = p[i], di = o[i] - p[i];
        const double* before = prefix + i * Q;
        double integral = 0.0;
        for (int k = 0; k < Q; k++) integral += before[k] * suffix[k];
        coef[i] = di * integral;
        for (int k = 0; k < Q; k++) suffix[k] *= pi + t[k] * di;
    }
}

// The same for any number of points q (suffix products in `suffix`, q of them).
void leaf_integrals_any(const double* p, const double* o, int64_t d, int64_t q, const double* t,
                        const double* w, double* prefix, double* suffix, double* coef) {
    for (int64_t k = 0; k < q; k++) prefix[k] = w[k], suffix[k] = 1.0;
    for (int64_t i = 0; i < d; i++) {
        const double pi = p[i], di = o[i] - p[i];
        for (int64_t k = 0; k < q; k++) prefix[(i + 1) * q + k] = prefix[i * q + k] * (pi + t[k] * di);
    }
    for (int64_t i = d - 1; i >= 0; i--) {
        const double pi = p[i], di = o[i] - p[i];
        double integral = 0.0;
        for (int64_t k = 0; k < q; k++) integral += prefix[i * q + k] * suffix[k];
        coef[i] = di * integral;
        for (int64_t k = 0; k < q; k++) suffix[k] *= pi + t[k] * di;
    }
}

// What the path-dependent walk reads per node besides the table: its feature's position among
// its path's distinct features, and each child's share of its parent's cover.
struct PathShape {
    Paths paths;
    // per node: cover / parent's cover. Under a node no training row reached (cover 0) each
    // child gets half: the shares must still sum to one, so that the game stays an expectation
    // (a tree whose leaves are all c has v(S) = c for every S, and every feature value 0).
    std::vector<double> ratio;

    explicit PathShape(const Table& T) : paths(T), ratio((size_t)T.n_nodes, 1.0) {
        for (int64_t node = 0; node < T.n_nodes; node++) {
            if (T.is_leaf(node)) continue;
            const double parent = T.cover[node];
            ratio[T.left[node]] = parent > 0.0 ? T.cover[T.left[node]] / parent : 0.5;
            ratio[T.right[node]] = parent > 0.0 ? T.cover[T.right[node]] / parent : 0.5;
        }
    }
};


// Path-dependent values of one row and tree in one pass over the nodes, the leaves' sums shared.
// With f_j(t) = p_j + t (o_j - p_j) and P_l(t) = prod_j f_j(t) over leaf l's path features,
// phi_i = sum_l value_l integral P_l(t) (o_i - p_i) / f_i(t) dt. Along a path, the merged
// (o_i - p_i) / f_i of feature i telescopes over the splits on i: each such edge e adds
// g_e - g_before(e), g = (o - p) / f at the merged values through e, times
// H_e(t) = sum over the leaves below e of value_l P_l(t). H is summed bottom-up, P carried
// top-down, all at the tree's Q quadrature points (exact for every leaf of the tree since
// Q >= ceil(d / 2) for all of them; the edge terms themselves are not polynomials, but the
// quadrature is linear and their sum per leaf is). Divisions only by f, which is never 0 on a
// walked edge (an edge with p = o = 0 makes every v(S) below it 0 and is skipped), and nothing
// is unwound, so nothing cancels.
template <int QN>
struct SharedPaths {
    const Table& T;
    const PathShape& shape;
    const int64_t O;
    int64_t q = 0, width = 1, only = -1;  // points; outputs carried (1 or O); the tree's output
    const double *t = nullptr, *w = nullptr;
    std::vector<double> p, o, P, H, gap, reciprocal;  // per level: P q, H q x width, gap q
    const double* x = nullptr;
    double* out = nullptr;

    SharedPaths(const Table& table, const PathShape& s)
        : T(table), shape(s), O(table.n_outputs) {
        const size_t levels = (size_t)table.max_depth + 2, d = (size_t)s.paths.widest + 1;
        const size_t points = (d + 1) / 2 + 1;
        p.resize(d);
        o.resize(d);
        P.resize(levels * points);
        H.resize(levels * points * (size_t)O);
        gap.resize(levels * points);
        reciprocal.resize(points);
    }

    void start(const Quadrature& Q, int64_t tree) {
        q = QN > 0 ? QN : std::max<int64_t>(1, (shape.paths.tree_widest[tree] + 1) / 2);
        t = Q.t.data() + Q.offset[q];
        w = Q.w.data() + Q.offset[q];
        only = T.tree_output[tree];
        width = only >= 0 ? 1 : O;
        for (int64_t k = 0; k < q; k++) reciprocal[k] = -1.0 / (1.0 - t[k]);
    }

    void row(int64_t root) {
        for (int64_t k = 0; k < points(); k++) P[k] = w[k];
        descend(root, 0, 0);
    }

    int64_t points() const { return QN > 0 ? QN : q; }

    void descend(int64_t node, int64_t d, int64_t level) {
        const int64_t n = points();
        const double* here = &P[level * n];
        double* sum = &H[level * n * width];
        if (T.is_leaf(node)) {
            const double* value = T.value + node * O;
            if (width == 1) {
                const double v = value[only >= 0 ? only : 0];
                for (int64_t k = 0; k < n; k++) sum[k] = here[k] * v;
            } else {
                for (int64_t k = 0; k < n; k++)
                    for (int64_t c = 0; c < width; c++) sum[k * width + c] = here[k] * value[c];
            }
            return;
        }
        for (int64_t k = 0; k < n * width; k++) sum[k] = 0.0;
        const bool left = T.goes_left(node, x);
        const int64_t at = shape.paths.bit[node];
        const int64_t feature = T.feature[node];
        const bool repeat = at < d;
        const double p0 = repeat ? p[at] : 1.0, o0 = repeat ? o[at] : 1.0;
        double* below = &P[(level + 1) * n];
        double* edge_gap = &gap[level * n];
        for (int side = 0; side < 2; side++) {
            const int64_t child = side == 0 ? T.left[node] : T.right[node];
            const double p1 = p0 * shape.ratio[child];
            const double o1 = (side == 0) == left ? o0 : 0.0;
            if (p1 == 0.0 && o1 == 0.0) continue;  // every v(S) below is 0
            bool contributes = true;
            if (o1 == 0.0 && o0 == 0.0) {
                // f = p (1 - t) before and after: P scales by the cover ratio, g is unchanged
                const double ratio = shape.ratio[child];
                for (int64_t k = 0; k < n; k++) below[k] = here[k] * ratio;
                contributes = false;
            } else if (o1 == 0.0) {
                // g after = -1 / (1 - t) for any p
                for (int64_t k = 0; k < n; k++) {
                    const double f1 = p1 * (1.0 - t[k]);
                    if (repeat) {
                        const double f0 = p0 + t[k] * (o0 - p0);
                        below[k] = here[k] * (f1 / f0);
                        edge_gap[k] = reciprocal[k] - (o0 - p0) / f0;
                    } else {
                        below[k] = here[k] * f1;
                        edge_gap[k] = reciprocal[k];
                    }
                }
            } else {
                for (int64_t k = 0; k < n; k++) {
                    const double f1 = p1 + t[k] * (1.0 - p1);
                    if (repeat) {
                        const double f0 = p0 + t[k] * (o0 - p0);
                        below[k] = here[k] * (f1 / f0);
                        edge_gap[k] = (1.0 - p1) / f1 - (o0 - p0) / f0;
                    } else {
                        below[k] = here[k] * f1;
                        edge_gap[k] = (1.0 - p1) / f1;
                    }
                }
            }
            p[at] = p1;
            o[at] = o1;
            descend(child, repeat ? d : d + 1, level + 1);
            if (repeat) {
                p[at] = p0;
                o[at] = o0;
            }
            const double* child_sum = &H[(level + 1) * n * width];
            if (width == 1) {
                if (contributes) {
                    double total = 0.0;
                    for (int64_t k = 0; k < n; k++) total += edge_gap[k] * child_sum[k];
                    out[feature * O + (only >= 0 ? only : 0)] += total;
                }
                for (int64_t k = 0; k < n; k++) sum[k] += child_sum[k];
            } else {
                if (contributes) {
                    for (int64_t c = 0; c < width; c++) {
                        double total = 0.0;
                        for (int64_t k = 0; k < n; k++) total += edge_gap[k] * child_sum[k * width + c];
                        out[feature * O + c] += total;
                    }
                }
                for (int64_t k = 0; k < n * width; k++) sum[k] += child_sum[k];
            }
        }
    }
};

// Values of rows [begin, end) of every tree, trees in order, with QN points (0: each tree's own).
template <int QN>
void shared_paths_rows(const Table& T, const PathShape& shape, const Quadrature& Q,
                       const double* x0, double* out0, int64_t begin, int64_t end,
                       const std::vector<int64_t>& trees) {
    SharedPaths<QN> worker(T, shape);
    for (int64_t t : trees) {
        worker.start(Q, t);
        for (int64_t r = begin; r < end; r++) {
            worker.x = x0 + r * T.n_features;
            worker.out = out0 + r * T.n_features * T.n_outputs;
            worker.row(T.tree_start[t]);
        }
    }
}

constexpr int MAX_FIXED_POINTS = 16;

// shared_paths_rows<Q> for Q = QN, QN - 1, ..., 1 over the trees of each number of points.
template <int QN>
void shared_paths_fixed(const Table& T, const PathShape& shape, const Quadrature& Q,
                        const double* x0, double* out0, int64_t begin, int64_t end,
                        const std::vector<std::vector<int64_t>>& by_points) {
    if constexpr (QN > 0) {
        shared_paths_fixed<QN - 1>(T, shape, Q, x0, out0, begin, end, by_points);
        shared_paths_rows<QN>(T, shape, Q, x0, out0, begin, end, by_points[QN]);
    }
}

struct PathDependent {
    const Table& T;
    const PathShape& shape;
    const Quadrature& Q;
    const bool interactions;
    const int64_t F, O;
    std::vector<double> p, o;        // per path feature: merged cover share, satisfied flag
    std::vector<double> pre, suf;    // prefix products (d + 1) x points; suffix products
    std::vector<double> coef, pair;  // per path feature; pairs d x d
    std::vector<double> mid;
    const double* x = nullptr;
    double* out = nullptr;  // the row's (F, O) or (F, F, O) values
    int64_t tree = 0;

    PathDependent(const Table& table, const PathShape& s, const Quadrature& quadrature, bool pairs)
        : T(table), shape(s), Q(quadrature), interactions(pairs), F(table.n_features),
          O(table.n_outputs) {
        const size_t d = (size_t)s.paths.widest + 1, points = (size_t)(d + 1) / 2 + 1;
        p.resize(d);
        o.resize(d);
        pre.resize((d + 1) * points);
        suf.resize(points);
        coef.resize(d);
        mid.resize(points);
        if (interactions) pair.resize(d * d);
    }

    void walk(int64_t node, int64_t d) {
        if (T.is_leaf(node)) {
            if (d > 0) leaf(node, d);
            return;
        }
        const bool left = T.goes_left(node, x);
        const int64_t at = shape.paths.bit[node];
        for (int side = 0; side < 2; side++) {
            const int64_t child = side == 0 ? T.left[node] : T.right[node];
            const double ratio = shape.ratio[child];
            const double satisfied = (side == 0) == left ? 1.0 : 0.0;
            if (at < d) {
                const double old_p = p[at], old_o = o[at];
                p[at] = old_p * ratio;
                o[at] = old_o * satisfied;
                if (p[at] != 0.0 || o[at] != 0.0) walk(child, d);  // else every v(S) is 0
                p[at] = old_p;
                o[at] = old_o;
            } else {
                p[d] = ratio;
                o[d] = satisfied;
                if (ratio != 0.0 || satisfied != 0.0) walk(child, d + 1);
            }
        }
    }

    void leaf(int64_t node, int64_t d) {
        const int64_t q = (d + 1) / 2;
        const double* t = Q.t.data() + Q.offset[q];
        const double* w = Q.w.data() + Q.offset[q];
        switch (q) {
            case 1: leaf_integrals<1>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 2: leaf_integrals<2>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 3: leaf_integrals<3>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 4: leaf_integrals<4>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 5: leaf_integrals<5>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 6: leaf_integrals<6>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 7: leaf_integrals<7>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            case 8: leaf_integrals<8>(p.data(), o.data(), d, t, w, pre.data(), coef.data()); break;
            default:
                leaf_integrals_any(p.data(), o.data(), d, q, t, w, pre.data(), suf.data(),
                                   coef.data());
        }
        const int64_t leaf_index = shape.paths.leaf_index[node];
        const int64_t* features = shape.paths.features.data() + shape.paths.feature_start[leaf_index];
        const double* value = T.value + node * O;
        if (!interactions) {
            const int64_t only = T.tree_output[tree];
            if (only >= 0) {
                for (int64_t i = 0; i < d; i++) out[features[i] * O + only] += value[only] * coef[i];
                return;
            }
            for (int64_t i = 0; i < d; i++) {
                double* row = out + features[i] * O;
                for (int64_t c = 0; c < O; c++) row[c] += value[c] * coef[i];
            }
            return;
        }
        // pairs: prod over j != i, k as prefix(i) * middle(i+1..k-1) * suffix(k+1), the prefix
        // (weights folded in) recomputed, the suffix products stored
        std::vector<double>& S = suffix_table;
        S.resize((size_t)((d + 1) * q));
        for (int64_t k = 0; k < q; k++) pre[k] = w[k], S[d * q + k] = 1.0;
        for (int64_t i = 0; i < d; i++) {
            const double pi = p[i], di = o[i] - p[i];
            for (int64_t k = 0; k < q; k++) pre[(i + 1) * q + k] = pre[i * q + k] * (pi + t[k] * di);
        }
        for (int64_t i = d - 1; i >= 0; i--) {
            const double pi = p[i], di = o[i] - p[i];
            for (int64_t k = 0; k < q; k++) S[i * q + k] = S[(i + 1) * q + k] * (pi + t[k] * di);
        }
        for (int64_t i = 0; i < d; i++) {
            for (int64_t k = 0; k < q; k++) mid[k] = 1.0;
            for (int64_t j = i + 1; j < d; j++) {
                double integral = 0.0;
                for (int64_t k = 0; k < q; k++)
                    integral += pre[i * q + k] * mid[k] * S[(j + 1) * q + k];
                const double index = (o[i] - p[i]) * (o[j] - p[j]) * integral;
                pair[i * d + j] = pair[j * d + i] = index;
                const double pj = p[j], dj = o[j] - p[j];
                for (int64_t k = 0; k < q; k++) mid[k] *= pj + t[k] * dj;
            }
        }
        for (int64_t i = 0; i < d; i++) {
            double diagonal = coef[i];
            for (int64_t j = 0; j < d; j++) {
                if (j == i) continue;
                const double half = 0.5 * pair[i * d + j];
                diagonal -= half;
                add_cell(out + (features[i] * F + features[j]) * O, value, half);
            }
            add_cell(out + (features[i] * F + features[i]) * O, value, diagonal);
        }
    }

    std::vector<double> suffix_table;

    void add_cell(double* cell, const double* value, double weight) const {
        for (int64_t c = 0; c < O; c++)
            if (T.adds_to(tree, c)) cell[c] += value[c] * weight;
    }
};

// ------------------------------------------------------------------------------------ interventional
// Weights of the unanimity game of a leaf, divided by the background size.
struct UnanimityWeights {
    double scale;
    explicit UnanimityWeights(int64_t n_background) : scale(1.0 / (double)n_background) {}
    static double log_factorial(int64_t n) { return std::lgamma((double)n + 1.0); }
    // (a - 1)! b! / (a + b)!: each feature only the row satisfies
    double only_row(int64_t a, int64_t b) const {
        return scale * std::exp(log_factorial(a - 1) + log_factorial(b) - log_factorial(a + b));
    }
    // a! (b - 1)! / (a + b)!: each feature only the background row satisfies (taken negative)
    double only_background(int64_t a, int64_t b) const { return only_row(b, a); }
    // Shapley interaction index of a pair, both in A, both in B, or one in each
    double pair(int64_t a, int64_t b, int in_a) const {
        const int64_t n = a + b;
        if (in_a == 2) return scale * std::exp(log_factorial(a - 2) + log_factorial(b) - log_factorial(n - 1));
        if (in_a == 0) return scale * std::exp(log_factorial(a) + log_factorial(b - 2) - log_factorial(n - 1));
        return -scale * std::exp(log_factorial(a - 1) + log_factorial(b - 1) - log_factorial(n - 1));
    }
};

// The weights for |A| + |B| < 128 from tables (looked up in the inner loops), others computed.
struct WeightTables {
    static constexpr int64_t width = 128;
    UnanimityWeights W;
    std::vector<double> tables[5];  // row, background, pair in A, pair in B, pair across

    explicit WeightTables(int64_t n_background) : W(n_background) {
        for (auto& table : tables) table.assign((size_t)(width * width), 0.0);
        for (int64_t a = 0; a < width; a++) {
            for (int64_t b = 0; a + b < width; b++) {
                for (int kind = 0; kind < 5; kind++) tables[kind][at(a, b)] = compute(kind, a, b);
            }
        }
    }
    double compute(int kind, int64_t a, int64_t b) const {
        switch (kind) {
            case 0: return a >= 1 ? W.only_row(a, b) : 0.0;
            case 1: return b >= 1 ? W.only_background(a, b) : 0.0;
            case 2: return a >= 2 ? W.pair(a, b, 2) : 0.0;
            case 3: return b >= 2 ? W.pair(a, b, 0) : 0.0;
            default: return a >= 1 && b >= 1 ? W.pair(a, b, 1) : 0.0;
        }
    }
    static size_t at(int64_t a, int64_t b) { return (size_t)(a * width + b); }
    double get(int kind, int64_t a, int64_t b) const {
        return a + b < width ? tables[kind][at(a, b)] : compute(kind, a, b);
    }
};

// Adds one leaf game's values (weight: the leaf's weight, e.g. a pattern count) to a row's out.
struct LeafGame {
    const Table& T;
    const WeightTables& W;
    const bool interactions;
    const int64_t F, O;
    std::vector<double> acc;

    LeafGame(const Table& table, const WeightTables& weights, bool pairs)
        : T(table), W(weights), interactions(pairs), F(table.n_features), O(table.n_outputs) {}

    // Features `a` (only the row satisfies) and `b` (only the background row), as feature ids.
    void add(const int64_t* a, int64_t na, const int64_t* b, int64_t nb, double weight,
             const double* value, int64_t tree, double* out) {
        if (na + nb == 0) return;
        const double wa = weight * W.get(0, na, nb);
        const double wb = -weight * W.get(1, na, nb);
        if (!interactions) {
            for (int64_t i = 0; i < na; i++) add_cell(out + a[i] * O, value, wa, tree);
            for (int64_t i = 0; i < nb; i++) add_cell(out + b[i] * O, value, wb, tree);
            return;
        }
        const double aa = 0.5 * weight * W.get(2, na, nb);
        const double bb = 0.5 * weight * W.get(3, na, nb);
        const double ab = 0.5 * weight * W.get(4, na, nb);
        // diagonal: value minus the row's off-diagonal halves
        const double diagonal_a = wa - (na - 1) * aa - nb * ab;
        const double diagonal_b = wb - (nb - 1) * bb - na * ab;
        for (int64_t i = 0; i < na; i++) {
            for (int64_t j = 0; j < na; j++)
                add_cell(out + (a[i] * F + a[j]) * O, value, i == j ? diagonal_a : aa, tree);
            for (int64_t j = 0; j < nb; j++) {
                add_cell(out + (a[i] * F + b[j]) * O, value, ab, tree);
                add_cell(out + (b[j] * F + a[i]) * O, value, ab, tree);
            }
        }
        for (int64_t i = 0; i < nb; i++)
            for (int64_t j = 0; j < nb; j++)
                add_cell(out + (b[i] * F + b[j]) * O, value, i == j ? diagonal_b : bb, tree);
    }

    void add_cell(double* cell, const double* value, double weight, int64_t tree) const {
        for (int64_t c = 0; c < O; c++)
            if (T.adds_to(tree, c)) cell[c] += value[c] * weight;
    }
};


constexpr uint64_t ALL = ~(uint64_t)0;

uint64_t full_mask(int64_t width) { return width >= 64 ? ALL : (((uint64_t)1 << width) - 1); }

// Calls visit(leaf, mask) for every leaf of tree t: mask bit k set when row x satisfies every
// split on the leaf's path feature k. Needs at most 64 distinct features per path.
template <class Visit>
void leaf_masks(const Table& T, const Paths& paths, int64_t t, const double* x,
                std::vector<std::pair<int64_t, uint64_t>>& stack, Visit&& visit) {
    stack.clear();
    stack.push_back({T.tree_start[t], ALL});
    while (!stack.empty()) {
        const auto [node, mask] = stack.back();
        stack.pop_back();
        if (T.is_leaf(node)) {
            const int64_t leaf = paths.leaf_index[node];
            visit(leaf, mask & full_mask(paths.width(leaf)));
            continue;
        }
        const uint64_t failed = mask & ~((uint64_t)1 << paths.bit[node]);
        const bool left = T.goes_left(node, x);
        stack.push_back({T.right[node], left ? failed : mask});
        stack.push_back({T.left[node], left ? mask : failed});
    }
}

// The background's patterns per leaf: distinct masks with their counts.
struct Patterns {
    std::vector<int64_t> start;  // per leaf + 1
    std::vector<uint64_t> mask;
    std::vector<double> count;

    // The most memory (bytes) the patterns can take.
    static double bound(const Paths& paths, int64_t n_background) {
        double total = 0.0;
        for (size_t leaf = 0; leaf + 1 < paths.feature_start.size(); leaf++) {
            const int64_t width = paths.width((int64_t)leaf);
            const double distinct = width >= 40 ? (double)n_background
                                                : std::min((double)n_background, std::ldexp(1.0, (int)width));
            total += distinct * 16.0;
        }
        return total;
    }

    bool build(const Table& T, const Paths& paths, const double* background, int64_t n_background,
               int64_t n_jobs) {
        const int64_t n_leaves = (int64_t)paths.leaf_node.size();
        std::vector<std::vector<uint64_t>> tree_masks((size_t)T.n_trees);
        std::vector<std::vector<double>> tree_counts((size_t)T.n_trees);
        std::vector<std::vector<int64_t>> tree_sizes((size_t)T.n_trees);
        const int64_t F = T.n_features;
        const bool ok = parallel_rows(T.n_trees, n_jobs, 1, [&](int64_t begin, int64_t end, int64_t) {
            std::vector<std::pair<int64_t, uint64_t>> stack;
            for (int64_t t = begin; t < end; t++) {
                const int64_t first = paths.tree_leaf_start[t];
                const int64_t leaves = paths.tree_leaf_start[t + 1] - first;
                std::vector<std::vector<uint64_t>> seen((size_t)leaves);
                for (int64_t r = 0; r < n_background; r++) {
                    leaf_masks(T, paths, t, background + r * F, stack,
                               [&](int64_t leaf, uint64_t mask) { seen[leaf - first].push_back(mask); });
                }
                auto& masks = tree_masks[t];
                auto& counts = tree_counts[t];
                auto& sizes = tree_sizes[t];
                for (auto& list : seen) {
                    std::sort(list.begin(), list.end());
                    int64_t size = 0;
                    for (size_t i = 0; i < list.size();) {
                        size_t j = i;
                        while (j < list.size() && list[j] == list[i]) j++;
                        masks.push_back(list[i]);
                        counts.push_back((double)(j - i));
                        size++;
                        i = j;
                    }
                    sizes.push_back(size);
                    std::vector<uint64_t>().swap(list);
                }
            }
        });
        if (!ok) return false;
        start.assign((size_t)n_leaves + 1, 0);
        int64_t leaf = 0;
        for (int64_t t = 0; t < T.n_trees; t++) {
            for (int64_t size : tree_sizes[t]) {
                start[leaf + 1] = start[leaf] + size;
                leaf++;
            }
            mask.insert(mask.end(), tree_masks[t].begin(), tree_masks[t].end());
            count.insert(count.end(), tree_counts[t].begin(), tree_counts[t].end());
            std::vector<uint64_t>().swap(tree_masks[t]);
            std::vector<double>().swap(tree_counts[t]);
        }
        return true;
    }
};

// One row's interventional values from the background's patterns.
struct PatternRow {
    const Table& T;
    const Paths& paths;
    const Patterns& patterns;
    const WeightTables& W;
    LeafGame game;
    std::vector<double> acc;
    std::vector<int64_t> a_features, b_features;

    PatternRow(const Table& table, const Paths& p, const Patterns& pt, const WeightTables& w,
               bool interactions)
        : T(table), paths(p), patterns(pt), W(w), game(table, w, interactions) {
        acc.resize(64);
        a_features.resize(64);
        b_features.resize(64);
    }

    void leaf(int64_t leaf, uint64_t r, int64_t tree, double* out) {
        const int64_t d = paths.width(leaf);
        const uint64_t full = full_mask(d);
        const uint64_t only_background = full & ~r;
        const int64_t nb = __builtin_popcountll(only_background);
        const int64_t* features = paths.features.data() + paths.feature_start[leaf];
        const double* value = T.value + paths.leaf_node[leaf] * T.n_outputs;
        const int64_t first = patterns.start[leaf], stop = patterns.start[leaf + 1];
        if (game.interactions) {
            int64_t n_b = 0;
            for (uint64_t bits = only_background; bits; bits &= bits - 1)
                b_features[n_b++] = features[__builtin_ctzll(bits)];
            for (int64_t k = first; k < stop; k++) {
                const uint64_t m = patterns.mask[k];
                if ((m | r) != full) continue;
                int64_t n_a = 0;
                for (uint64_t bits = r & ~m; bits; bits &= bits - 1)
                    a_features[n_a++] = features[__builtin_ctzll(bits)];
                game.add(a_features.data(), n_a, b_features.data(), n_b, patterns.count[k], value,
                         tree, out);
            }
            return;
        }
        for (int64_t i = 0; i < d; i++) acc[i] = 0.0;
        double background_total = 0.0;
        bool any = false;
        for (int64_t k = first; k < stop; k++) {
            const uint64_t m = patterns.mask[k];
            if ((m | r) != full) continue;
            const uint64_t only_row = r & ~m;
            const int64_t na = __builtin_popcountll(only_row);
            if (na + nb == 0) continue;
            any = true;
            const double c = patterns.count[k];
            if (na) {
                const double wa = c * W.get(0, na, nb);
                for (uint64_t bits = only_row; bits; bits &= bits - 1) acc[__builtin_ctzll(bits)] += wa;
            }
            if (nb) background_total += c * W.get(1, na, nb);
        }
        if (!any) return;
        for (uint64_t bits = r; bits; bits &= bits - 1) {
            const int64_t i = __builtin_ctzll(bits);
            if (acc[i] != 0.0) game.add_cell(out + features[i] * T.n_outputs, value, acc[i], tree);
        }
        if (background_total != 0.0)
            for (uint64_t bits = only_background; bits; bits &= bits - 1)
                game.add_cell(out + features[__builtin_ctzll(bits)] * T.n_outputs, value,
                              -background_total, tree);
    }
};

// One (row, background row) pair walked through a tree: every leaf a mix of the two reaches.
struct PairWalk {
    const Table& T;
    LeafGame game;
    std::vector<int8_t> side;  // per feature: 0 undecided, 1 the row's, 2 the background row's
    std::vector<int64_t> a, b;
    const double *x = nullptr, *z = nullptr;
    double* out = nullptr;
    int64_t tree = 0;

    PairWalk(const Table& table, const WeightTables& W, bool interactions)
        : T(table), game(table, W, interactions) {
        side.assign((size_t)table.n_features, 0);
        a.reserve(64);
        b.reserve(64);
    }

    void walk(int64_t node) {
        if (T.is_leaf(node)) {
            game.add(a.data(), (int64_t)a.size(), b.data(), (int64_t)b.size(), 1.0,
                     T.value + node * T.n_outputs, tree, out);
            return;
        }
        const int64_t f = T.feature[node];
        const bool x_left = T.goes_left(node, x);
        if (side[f] == 1) return walk(x_left ? T.left[node] : T.right[node]);
        const bool z_left = T.goes_left(node, z);
        if (side[f] == 2 || x_left == z_left) return walk(z_left ? T.left[node] : T.right[node]);
        side[f] = 1;
        a.push_back(f);
        walk(x_left ? T.left[node] : T.right[node]);
        a.pop_back();
        side[f] = 2;
        b.push_back(f);
        walk(z_left ? T.left[node] : T.right[node]);
        b.pop_back();
        side[f] = 0;
    }
};

// ------------------------------------------------------------------------------------ Python entry
struct Common {
    Table table;
    Buffer rows, out;
    int64_t n_rows = 0, n_jobs = 1;
};

bool read_common(PyObject* fields, long long n_features, long long n_outputs, PyObject* X,
                 PyObject* out, long long n_jobs, int out_features_power, Common& c) {
    if (!read_table(fields, n_features, n_outputs, c.table)) return false;
    if (!get_rows(X, c.rows, n_features, "X", c.n_rows)) return false;
    Py_ssize_t size = checked_product(c.n_rows, n_outputs);
    for (int i = 0; i < out_features_power && size >= 0; i++) size = checked_product(size, n_features);
    if (size < 0) return false;
    if (!get_buffer(out, c.out, 'f', 8, true, size, "out")) return false;
    c.n_jobs = std::max<long long>(1, n_jobs);
    return true;
}

PyObject* py_predict(PyObject*, PyObject* args) {
    PyObject *fields, *X, *base, *out;
    long long n_features, n_outputs, n_jobs;
    if (!PyArg_ParseTuple(args, "OLLOOOL", &fields, &n_features, &n_outputs, &X, &base, &out,
                          &n_jobs))
        return nullptr;
    Common c;
    Buffer base_buffer;
    if (!read_common(fields, n_features, n_outputs, X, out, n_jobs, 0, c)) return nullptr;
    if (!get_buffer(base, base_buffer, 'f', 8, false, n_outputs, "base_offset")) return nullptr;
    const Table& T = c.table;
    const double* x0 = (const double*)c.rows.view.buf;
    double* out0 = (double*)c.out.view.buf;
    const double* offset = (const double*)base_buffer.view.buf;
    bool ok;
    Py_BEGIN_ALLOW_THREADS
    ok = parallel_rows(c.n_rows, c.n_jobs, 256, [&](int64_t begin, int64_t end, int64_t) {
        for (int64_t r = begin; r < end; r++)
            for (int64_t k = 0; k < T.n_outputs; k++) out0[r * T.n_outputs + k] = offset[k];
        for (int64_t t = 0; t < T.n_trees; t++) {
            for (int64_t r = begin; r < end; r++) {
                const double* x = x0 + r * T.n_features;
                int64_t node = T.tree_start[t];
                while (!T.is_leaf(node)) node = T.goes_left(node, x) ? T.left[node] : T.right[node];
                for (int64_t k = 0; k < T.n_outputs; k++)
                    if (T.adds_to(t, k)) out0[r * T.n_outputs + k] += T.value[node * T.n_outputs + k];
            }
        }
    });
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyObject* py_path_dependent(PyObject*, PyObject* args) {
    PyObject *fields, *X, *out;
    long long n_features, n_outputs, n_jobs;
    int interactions;
    if (!PyArg_ParseTuple(args, "OLLOOLp", &fields, &n_features, &n_outputs, &X, &out, &n_jobs,
                          &interactions))
        return nullptr;
    Common c;
    if (!read_common(fields, n_features, n_outputs, X, out, n_jobs, interactions ? 2 : 1, c))
        return nullptr;
    const Table& T = c.table;
    const int64_t row_size = T.n_outputs * T.n_features * (interactions ? T.n_features : 1);
    const double* x0 = (const double*)c.rows.view.buf;
    double* out0 = (double*)c.out.view.buf;
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS
    try {
        const PathShape shape(T);
        const Quadrature quadrature((shape.paths.widest + 1) / 2 + 1);
        if (interactions) {
            ok = parallel_rows(c.n_rows, c.n_jobs, 16, [&](int64_t begin, int64_t end, int64_t) {
                PathDependent worker(T, shape, quadrature, true);
                for (int64_t t = 0; t < T.n_trees; t++) {
                    worker.tree = t;
                    for (int64_t r = begin; r < end; r++) {
                        worker.x = x0 + r * T.n_features;
                        worker.out = out0 + r * row_size;
                        worker.walk(T.tree_start[t], 0);
                    }
                }
            });
        } else {
            // trees grouped by their number of points, each group with a fixed-size inner loop;
            // each row still adds its trees in one fixed order, whatever the threads
            std::vector<std::vector<int64_t>> by_points(MAX_FIXED_POINTS + 1);
            for (int64_t t = 0; t < T.n_trees; t++) {
                const int64_t points = std::max<int64_t>(1, (shape.paths.tree_widest[t] + 1) / 2);
                by_points[points <= MAX_FIXED_POINTS ? points : 0].push_back(t);
            }
            ok = parallel_rows(c.n_rows, c.n_jobs, 16, [&](int64_t begin, int64_t end, int64_t) {
                shared_paths_fixed<MAX_FIXED_POINTS>(T, shape, quadrature, x0, out0, begin, end,
                                                     by_points);
                shared_paths_rows<0>(T, shape, quadrature, x0, out0, begin, end, by_points[0]);
            });
        }
    } catch (...) {
        ok = false;
    }
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

// Path-dependent values (or pair interactions) of single trees on single rows: item i adds the
// values of tree trees[i] on row rows[i] into out[i], (F, O) or (F, F, O). The leaf tables of
// oblivious trees are built from these (_oblivious.py).
PyObject* py_path_dependent_trees(PyObject*, PyObject* args) {
    PyObject *fields, *X, *trees, *rows, *out;
    long long n_features, n_outputs, n_jobs;
    int interactions;
    if (!PyArg_ParseTuple(args, "OLLOOOOLp", &fields, &n_features, &n_outputs, &X, &trees, &rows,
                          &out, &n_jobs, &interactions))
        return nullptr;
    Table T;
    Buffer x_buffer, tree_buffer, row_buffer, out_buffer;
    int64_t n_rows = 0;
    if (!read_table(fields, n_features, n_outputs, T)) return nullptr;
    if (!get_rows(X, x_buffer, n_features, "X", n_rows)) return nullptr;
    if (!get_buffer(trees, tree_buffer, 'i', 8, false, -1, "trees")) return nullptr;
    const Py_ssize_t n_items = items(tree_buffer);
    if (!get_buffer(rows, row_buffer, 'i', 8, false, n_items, "rows")) return nullptr;
    Py_ssize_t size = checked_product(n_items, n_outputs, n_features);
    if (size >= 0 && interactions) size = checked_product(size, n_features);
    if (size < 0) return nullptr;
    if (!get_buffer(out, out_buffer, 'f', 8, true, size, "out")) return nullptr;
    const int64_t* tree_of = (const int64_t*)tree_buffer.view.buf;
    const int64_t* row_of = (const int64_t*)row_buffer.view.buf;
    for (Py_ssize_t i = 0; i < n_items; i++) {
        if (tree_of[i] < 0 || tree_of[i] >= T.n_trees || row_of[i] < 0 || row_of[i] >= n_rows) {
            PyErr_Format(PyExc_ValueError, "item %zd names tree %lld of %lld or row %lld of %lld", i,
                         (long long)tree_of[i], (long long)T.n_trees, (long long)row_of[i],
                         (long long)n_rows);
            return nullptr;
        }
    }
    const int64_t item_size = T.n_outputs * T.n_features * (interactions ? T.n_features : 1);
    const double* x0 = (const double*)x_buffer.view.buf;
    double* out0 = (double*)out_buffer.view.buf;
    const int64_t jobs = std::max<long long>(1, n_jobs);
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS
    try {
        const PathShape shape(T);
        const Quadrature quadrature((shape.paths.widest + 1) / 2 + 1);
        ok = parallel_rows(n_items, jobs, 64, [&](int64_t begin, int64_t end, int64_t) {
            if (interactions) {
                PathDependent worker(T, shape, quadrature, true);
                for (int64_t i = begin; i < end; i++) {
                    worker.tree = tree_of[i];
                    worker.x = x0 + row_of[i] * T.n_features;
                    worker.out = out0 + i * item_size;
                    worker.walk(T.tree_start[tree_of[i]], 0);
                }
                return;
            }
            SharedPaths<0> worker(T, shape);
            for (int64_t i = begin; i < end; i++) {
                worker.start(quadrature, tree_of[i]);
                worker.x = x0 + row_of[i] * T.n_features;
                worker.out = out0 + i * item_size;
                worker.row(T.tree_start[tree_of[i]]);
            }
        });
    } catch (...) {
        ok = false;
    }
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

// The leaves of oblivious trees (_oblivious.py), levels as (trees, depth) arrays: slots[r, t] is
// leaf_start[t] plus the weights of the depths where row r goes right in tree t, by the rule of
// Table::goes_left for numeric splits with NaN missing; reaching[s] is set to the first row that
// reaches slot s where it holds -1.
PyObject* py_oblivious_leaves(PyObject*, PyObject* args) {
    PyObject *feature_object, *threshold_object, *strict_object, *default_object, *weight_object;
    PyObject *start_object, *X, *slots_object, *reaching_object;
    long long n_features, n_jobs;
    if (!PyArg_ParseTuple(args, "OOOOOOLOOOL", &feature_object, &threshold_object, &strict_object,
                          &default_object, &weight_object, &start_object, &n_features, &X,
                          &slots_object, &reaching_object, &n_jobs))
        return nullptr;
    Buffer feature_buffer, threshold_buffer, strict_buffer, default_buffer, weight_buffer;
    Buffer start_buffer, x_buffer, slots_buffer, reaching_buffer;
    int64_t n_rows = 0;
    if (n_features < 1) {
        PyErr_SetString(PyExc_ValueError, "n_features must be positive");
        return nullptr;
    }
    if (!get_buffer(start_object, start_buffer, 'i', 8, false, -1, "leaf_start")) return nullptr;
    const int64_t n_trees = (int64_t)items(start_buffer) - 1;
    if (n_trees < 0) {
        PyErr_SetString(PyExc_ValueError, "leaf_start must hold trees + 1 items");
        return nullptr;
    }
    if (!get_buffer(feature_object, feature_buffer, 'i', 8, false, -1, "feature")) return nullptr;
    const Py_ssize_t n_levels = items(feature_buffer);
    if (n_trees == 0 || n_levels % n_trees != 0) {
        PyErr_SetString(PyExc_ValueError, "feature must hold (trees, depth) items");
        return nullptr;
    }
    const int64_t depth = n_levels / n_trees;
    if (!get_buffer(threshold_object, threshold_buffer, 'f', 8, false, n_levels, "threshold") ||
        !get_buffer(strict_object, strict_buffer, '?', 1, false, n_levels, "strict") ||
        !get_buffer(default_object, default_buffer, '?', 1, false, n_levels, "default_left") ||
        !get_buffer(weight_object, weight_buffer, 'i', 8, false, n_levels, "weight") ||
        !get_rows(X, x_buffer, n_features, "X", n_rows))
        return nullptr;
    const Py_ssize_t n_slots = checked_product(n_rows, n_trees);
    if (n_slots < 0) return nullptr;
    if (!get_buffer(slots_object, slots_buffer, 'i', 8, true, n_slots, "slots")) return nullptr;
    const int64_t* feature = (const int64_t*)feature_buffer.view.buf;
    const double* threshold = (const double*)threshold_buffer.view.buf;
    const uint8_t* strict = (const uint8_t*)strict_buffer.view.buf;
    const uint8_t* default_left = (const uint8_t*)default_buffer.view.buf;
    const int64_t* weight = (const int64_t*)weight_buffer.view.buf;
    const int64_t* leaf_start = (const int64_t*)start_buffer.view.buf;
    if (leaf_start[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "leaf_start must start at 0");
        return nullptr;
    }
    for (int64_t t = 0; t < n_trees; t++) {
        int64_t largest = 0;  // the last slot of the tree a row can reach
        for (int64_t l = 0; l < depth; l++) {
            const int64_t f = feature[t * depth + l], w = weight[t * depth + l];
            if (f < 0 || f >= n_features || w < 0 || w > PY_SSIZE_T_MAX / 4) {
                PyErr_Format(PyExc_ValueError, "tree %lld depth %lld: feature %lld, weight %lld",
                             (long long)t, (long long)l, (long long)f, (long long)w);
                return nullptr;
            }
            largest += w;
        }
        if (leaf_start[t + 1] - leaf_start[t] <= largest || leaf_start[t + 1] < leaf_start[t]) {
            PyErr_Format(PyExc_ValueError, "tree %lld has fewer leaves than its weights reach",
                         (long long)t);
            return nullptr;
        }
    }
    if (!get_buffer(reaching_object, reaching_buffer, 'i', 8, true, leaf_start[n_trees],
                    "reaching"))
        return nullptr;
    const double* x0 = (const double*)x_buffer.view.buf;
    int64_t* slots = (int64_t*)slots_buffer.view.buf;
    int64_t* reaching = (int64_t*)reaching_buffer.view.buf;
    const int64_t jobs = std::max<long long>(1, n_jobs);
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS
    ok = parallel_rows(n_rows, jobs, 256, [&](int64_t begin, int64_t end, int64_t) {
        for (int64_t r = begin; r < end; r++) {
            const double* x = x0 + r * n_features;
            int64_t* row = slots + r * n_trees;
            for (int64_t t = 0; t < n_trees; t++) {
                int64_t slot = leaf_start[t];
                for (int64_t l = t * depth; l < (t + 1) * depth; l++) {
                    // without branches: a row goes either way at random, so a branch would be
                    // mispredicted at half the levels
                    const double v = x[feature[l]];
                    const bool below = strict[l] != 0 ? v < threshold[l] : v <= threshold[l];
                    const bool left = std::isnan(v) ? default_left[l] != 0 : below;
                    slot += weight[l] & -(int64_t)!left;
                }
                row[t] = slot;
            }
        }
    });
    for (int64_t i = 0; ok && i < n_slots; i++)  // in row order: the first row reaching a slot
        if (reaching[slots[i]] < 0) reaching[slots[i]] = i / n_trees;
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

// Compact tables summed into full rows: for row r and each k in order, table row slots[r, k]
// (`width` float64 values) is added into out row r (`out_width` values) at targets[k, c]; a target
// of -1 is skipped. Slot column k is one tree, whose table rows hold only its own features.
PyObject* py_add_table_rows(PyObject*, PyObject* args) {
    PyObject *table_object, *slots_object, *targets_object, *out_object;
    long long width, per_row, out_width, n_jobs;
    if (!PyArg_ParseTuple(args, "OLOLOOLL", &table_object, &width, &slots_object, &per_row,
                          &targets_object, &out_object, &out_width, &n_jobs))
        return nullptr;
    if (width < 1 || per_row < 1 || out_width < 1) {
        PyErr_SetString(PyExc_ValueError, "width, per_row and out_width must be positive");
        return nullptr;
    }
    Buffer table_buffer, slots_buffer, targets_buffer, out_buffer;
    if (!get_buffer(table_object, table_buffer, 'f', 8, false, -1, "table") ||
        !get_buffer(slots_object, slots_buffer, 'i', 8, false, -1, "slots"))
        return nullptr;
    if (items(table_buffer) % width != 0 || items(slots_buffer) % per_row != 0) {
        PyErr_SetString(PyExc_ValueError, "table or slots is not made of whole rows");
        return nullptr;
    }
    const int64_t n_table = items(table_buffer) / width, n_rows = items(slots_buffer) / per_row;
    const Py_ssize_t n_targets = checked_product(per_row, width);
    const Py_ssize_t size = checked_product(n_rows, out_width);
    if (n_targets < 0 || size < 0 ||
        !get_buffer(targets_object, targets_buffer, 'i', 8, false, n_targets, "targets") ||
        !get_buffer(out_object, out_buffer, 'f', 8, true, size, "out"))
        return nullptr;
    const double* table = (const double*)table_buffer.view.buf;
    const int64_t* slots = (const int64_t*)slots_buffer.view.buf;
    const int64_t* targets = (const int64_t*)targets_buffer.view.buf;
    double* out = (double*)out_buffer.view.buf;
    for (Py_ssize_t i = 0; i < items(slots_buffer); i++) {
        if (slots[i] < 0 || slots[i] >= n_table) {
            PyErr_Format(PyExc_ValueError, "slot %lld is outside the table's %lld rows",
                         (long long)slots[i], (long long)n_table);
            return nullptr;
        }
    }
    for (Py_ssize_t i = 0; i < n_targets; i++) {
        if (targets[i] < -1 || targets[i] >= out_width) {
            PyErr_Format(PyExc_ValueError, "target %lld is outside the rows' %lld values",
                         (long long)targets[i], (long long)out_width);
            return nullptr;
        }
    }
    const int64_t jobs = std::max<long long>(1, n_jobs);
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS
    ok = parallel_rows(n_rows, jobs, 64, [&](int64_t begin, int64_t end, int64_t) {
        for (int64_t r = begin; r < end; r++) {
            double* row = out + r * out_width;
            for (int64_t k = 0; k < per_row; k++) {
                const double* add = table + slots[r * per_row + k] * width;
                const int64_t* to = targets + k * width;
                for (int64_t c = 0; c < width; c++)
                    if (to[c] >= 0) row[to[c]] += add[c];
            }
        }
    });
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyObject* py_interventional(PyObject*, PyObject* args) {
    PyObject *fields, *X, *background, *out;
    long long n_features, n_outputs, n_jobs;
    int interactions;
    const char* method;
    double memory_budget;
    if (!PyArg_ParseTuple(args, "OLLOOOLpsd", &fields, &n_features, &n_outputs, &X, &background,
                          &out, &n_jobs, &interactions, &method, &memory_budget))
        return nullptr;
    Common c;
    if (!read_common(fields, n_features, n_outputs, X, out, n_jobs, interactions ? 2 : 1, c))
        return nullptr;
    Buffer background_buffer;
    int64_t n_background = 0;
    if (!get_rows(background, background_buffer, n_features, "background", n_background))
        return nullptr;
    if (n_background < 1) {
        PyErr_SetString(PyExc_ValueError, "the background has no rows");
        return nullptr;
    }
    const std::string how(method);
    if (how != "auto" && how != "patterns" && how != "pairs") {
        PyErr_SetString(PyExc_ValueError, "method must be 'auto', 'patterns' or 'pairs'");
        return nullptr;
    }
    const Table& T = c.table;
    const int64_t row_size = T.n_outputs * T.n_features * (interactions ? T.n_features : 1);
    const double* x0 = (const double*)c.rows.view.buf;
    const double* z0 = (const double*)background_buffer.view.buf;
    double* out0 = (double*)c.out.view.buf;
    bool ok = false;
    const char* used = "pairs";
    std::string error;
    Py_BEGIN_ALLOW_THREADS
    try {
        const Paths paths(T);
        const WeightTables weights(n_background);
        bool use_patterns = paths.widest <= 64 &&
                            (how == "patterns" ||
                             (how == "auto" && Patterns::bound(paths, n_background) <= memory_budget));
        if (how == "patterns" && paths.widest > 64) error = "a path has more than 64 distinct features";
        Patterns patterns;
        if (use_patterns && error.empty()) {
            used = "patterns";
            ok = patterns.build(T, paths, z0, n_background, c.n_jobs) &&
                 parallel_rows(c.n_rows, c.n_jobs, 8, [&](int64_t begin, int64_t end, int64_t) {
                     PatternRow worker(T, paths, patterns, weights, interactions != 0);
                     std::vector<std::pair<int64_t, uint64_t>> stack;
                     for (int64_t t = 0; t < T.n_trees; t++) {
                         for (int64_t r = begin; r < end; r++) {
                             double* row_out = out0 + r * row_size;
                             leaf_masks(T, paths, t, x0 + r * T.n_features, stack,
                                        [&](int64_t leaf, uint64_t mask) { worker.leaf(leaf, mask, t, row_out); });
                         }
                     }
                 });
        } else if (error.empty()) {
            ok = parallel_rows(c.n_rows, c.n_jobs, 4, [&](int64_t begin, int64_t end, int64_t) {
                PairWalk worker(T, weights, interactions != 0);
                for (int64_t t = 0; t < T.n_trees; t++) {
                    worker.tree = t;
                    for (int64_t r = begin; r < end; r++) {
                        worker.x = x0 + r * T.n_features;
                        worker.out = out0 + r * row_size;
                        for (int64_t k = 0; k < n_background; k++) {
                            worker.z = z0 + k * T.n_features;
                            worker.walk(T.tree_start[t]);
                        }
                    }
                }
            });
        }
    } catch (...) {
        ok = false;
    }
    Py_END_ALLOW_THREADS
    if (!error.empty()) {
        PyErr_SetString(PyExc_ValueError, error.c_str());
        return nullptr;
    }
    if (!ok) return PyErr_NoMemory();
    return PyUnicode_FromString(used);
}

// ------------------------------------------------------------------------------------ probability
// The game of one (row, background row) pair in a transformed output space (probability, log
// loss): g(S) = link(margin(x_S, z_rest)). Its players are the features on which a tree sends
// x and z different ways; a tree's leaves reached by the mixes of the two are the pair's
// entries, each reached by the coalitions that hold its features A and none of its B.
enum Transform : int { SIGMOID = 0, SOFTMAX_PROBABILITY = 1, LOGISTIC_LOSS = 2, SOFTMAX_LOSS = 3 };

struct PairGame {
    const Table& T;
    const int transform;
    const int64_t max_exact, permutations, out_outputs;
    const double* base_offset;
    std::vector<int8_t> side;     // per feature: 0 undecided, 1 the row's, 2 the background's
    std::vector<int64_t> local;   // per feature: its player index or -1
    std::vector<int64_t> players; // per player: its feature
    std::vector<int64_t> a, b;    // the walk's players taken from x / from z
    // entries: players in A then B, end to end
    std::vector<int64_t> entry_start, entry_a, entry_tree, entry_leaf, entry_players;
    const double *x = nullptr, *z = nullptr;
    double label = 0.0;
    // scratch
    std::vector<double> margins, games, margin, scratch_out;
    std::vector<int64_t> order, need, by_player_start, by_player;
    std::vector<uint8_t> blocked;

    PairGame(const Table& table, int how, int64_t exact, int64_t samples, int64_t outputs,
             const double* offset)
        : T(table), transform(how), max_exact(exact), permutations(samples),
          out_outputs(outputs), base_offset(offset) {
        side.assign((size_t)table.n_features, 0);
        local.assign((size_t)table.n_features, -1);
        margin.resize((size_t)table.n_outputs);
        scratch_out.resize((size_t)std::max<int64_t>(outputs, table.n_outputs));
    }

    int64_t player(int64_t f) {
        if (local[f] < 0) {
            local[f] = (int64_t)players.size();
            players.push_back(f);
        }
        return local[f];
    }

    void walk(int64_t node, int64_t tree) {
        if (T.is_leaf(node)) {
            entry_start.push_back((int64_t)entry_players.size());
            entry_a.push_back((int64_t)a.size());
            entry_tree.push_back(tree);
            entry_leaf.push_back(node);
            entry_players.insert(entry_players.end(), a.begin(), a.end());
            entry_players.insert(entry_players.end(), b.begin(), b.end());
            return;
        }
        const int64_t f = T.feature[node];
        const bool x_left = T.goes_left(node, x);
        if (side[f] == 1) return walk(x_left ? T.left[node] : T.right[node], tree);
        const bool z_left = T.goes_left(node, z);
        if (side[f] == 2 || x_left == z_left) return walk(z_left ? T.left[node] : T.right[node], tree);
        const int64_t p = player(f);
        side[f] = 1;
        a.push_back(p);
        walk(x_left ? T.left[node] : T.right[node], tree);
        a.pop_back();
        side[f] = 2;
        b.push_back(p);
        walk(z_left ? T.left[node] : T.right[node], tree);
        b.pop_back();
        side[f] = 0;
    }

    // link(margin) into out (out_outputs values)
    void apply(const double* m, double* out) const {
        const int64_t O = T.n_outputs;
        if (transform == SIGMOID || transform == LOGISTIC_LOSS) {
            const double v = m[0];
            if (transform == SIGMOID) {
                out[0] = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
            } else {  // log(1 + e^v) - y v, stable
                const double softplus = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
                out[0] = softplus - label * v;
            }
            return;
        }
        double top = m[0];
        for (int64_t k = 1; k < O; k++) top = std::max(top, m[k]);
        double total = 0.0;
        for (int64_t k = 0; k < O; k++) total += std::exp(m[k] - top);
        if (transform == SOFTMAX_PROBABILITY) {
            for (int64_t k = 0; k < O; k++) out[k] = std::exp(m[k] - top) / total;
        } else {
            out[0] = top + std::log(total) - m[(int64_t)label];
        }
    }

    void add_leaf(double* m, int64_t e, double sign) const {
        const int64_t tree = entry_tree[e];
        const double* value = T.value + entry_leaf[e] * T.n_outputs;
        for (int64_t k = 0; k < T.n_outputs; k++)
            if (T.adds_to(tree, k)) m[k] += sign * value[k];
    }

    // Adds this pair's values (times `weight`) into out (F, out_outputs); true if exact.
    bool explain(double* out, double weight, uint64_t seed) {
        players.clear();
        entry_start.clear();
        entry_a.clear();
        entry_tree.clear();
        entry_leaf.clear();
        entry_players.clear();
        for (int64_t t = 0; t < T.n_trees; t++) walk(T.tree_start[t], t);
        entry_start.push_back((int64_t)entry_players.size());
        const int64_t n = (int64_t)players.size();
        const bool exact = n <= max_exact;
        if (n > 0) {
            if (exact) enumerate(n, out, weight);
            else sample(n, out, weight, seed);
        }
        for (int64_t f : players) local[f] = -1;
        return exact;
    }

    void enumerate(int64_t n, double* out, double weight) {
        const int64_t O = T.n_outputs, Q = out_outputs;
        const uint64_t size = (uint64_t)1 << n, full = size - 1;
        margins.assign((size_t)(size * O), 0.0);
        for (uint64_t s = 0; s < size; s++)
            for (int64_t k = 0; k < O; k++) margins[s * O + k] = base_offset[k];
        const int64_t n_entries = (int64_t)entry_tree.size();
        for (int64_t e = 0; e < n_entries; e++) {
            uint64_t A = 0, B = 0;
            for (int64_t i = entry_start[e]; i < entry_start[e + 1]; i++) {
                const uint64_t bit = (uint64_t)1 << entry_players[i];
                if (i - entry_start[e] < entry_a[e]) A |= bit;
                else B |= bit;
            }
            const uint64_t free = full & ~(A | B);
            for (uint64_t sub = free;; sub = (sub - 1) & free) {
                add_leaf(&margins[(A | sub) * O], e, 1.0);
                if (sub == 0) break;
            }
        }
        games.assign((size_t)(size * Q), 0.0);
        for (uint64_t s = 0; s < size; s++) apply(&margins[s * O], &games[s * Q]);
        std::vector<double> w((size_t)n);
        for (int64_t s = 0; s < n; s++)
            w[s] = weight * std::exp(std::lgamma((double)s + 1) + std::lgamma((double)(n - s)) -
                                     std::lgamma((double)n + 1));
        for (int64_t i = 0; i < n; i++) {
            const uint64_t bit = (uint64_t)1 << i;
            double* cell = out + players[i] * Q;
            for (uint64_t s = 0; s < size; s++) {
                if (s & bit) continue;
                const double ws = w[__builtin_popcountll(s)];
                for (int64_t k = 0; k < Q; k++) cell[k] += ws * (games[(s | bit) * Q + k] - games[s * Q + k]);
            }
        }
    }

    // Antithetic permutations: each permutation's marginal contributions add up to
    // g(all) - g(none), so the estimate adds up exactly.
    void sample(int64_t n, double* out, double weight, uint64_t seed) {
        const int64_t O = T.n_outputs, Q = out_outputs;
        const int64_t n_entries = (int64_t)entry_tree.size();
        // per player, the entries holding it in A (coded 2e) or in B (2e + 1)
        by_player_start.assign((size_t)n + 1, 0);
        for (int64_t i = 0; i < (int64_t)entry_players.size(); i++) by_player_start[entry_players[i] + 1]++;
        for (int64_t p = 0; p < n; p++) by_player_start[p + 1] += by_player_start[p];
        by_player.assign(entry_players.size(), 0);
        std::vector<int64_t> fill(by_player_start.begin(), by_player_start.end() - 1);
        for (int64_t e = 0; e < n_entries; e++)
            for (int64_t i = entry_start[e]; i < entry_start[e + 1]; i++)
                by_player[fill[entry_players[i]]++] = 2 * e + (i - entry_start[e] < entry_a[e] ? 0 : 1);
        order.resize((size_t)n);
        for (int64_t p = 0; p < n; p++) order[p] = p;
        need.resize((size_t)n_entries);
        blocked.resize((size_t)n_entries);
        std::vector<double> before((size_t)Q), after((size_t)Q);
        uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
        auto next = [&]() {  // splitmix64
            uint64_t v = (state += 0x9E3779B97F4A7C15ull);
            v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ull;
            v = (v ^ (v >> 27)) * 0x94D049BB133111EBull;
            return v ^ (v >> 31);
        };
        const double share = weight / (double)permutations;
        for (int64_t k = 0; k < permutations; k++) {
            if (k % 2 == 0) {
                for (int64_t i = n - 1; i > 0; i--) std::swap(order[i], order[next() % (uint64_t)(i + 1)]);
            } else {
                std::reverse(order.begin(), order.end());
            }
            for (int64_t c = 0; c < O; c++) margin[c] = base_offset[c];
            for (int64_t e = 0; e < n_entries; e++) {
                need[e] = entry_a[e];
                blocked[e] = 0;
                if (need[e] == 0) add_leaf(margin.data(), e, 1.0);  // reached by z alone
            }
            apply(margin.data(), before.data());
            for (int64_t p : order) {
                for (int64_t j = by_player_start[p]; j < by_player_start[p + 1]; j++) {
                    const int64_t e = by_player[j] / 2;
                    const bool was_active = need[e] == 0 && !blocked[e];
                    if (by_player[j] % 2 == 0) need[e]--;
                    else blocked[e] = 1;
                    const bool active = need[e] == 0 && !blocked[e];
                    if (active != was_active) add_leaf(margin.data(), e, active ? 1.0 : -1.0);
                }
                apply(margin.data(), after.data());
                double* cell = out + players[p] * Q;
                for (int64_t c = 0; c < Q; c++) cell[c] += share * (after[c] - before[c]);
                std::swap(before, after);
            }
        }
    }
};

PyObject* py_probability(PyObject*, PyObject* args) {
    PyObject *fields, *X, *background, *labels, *base, *out;
    long long n_features, n_outputs, n_jobs, max_exact, permutations;
    int transform;
    if (!PyArg_ParseTuple(args, "OLLOOOOOLiLL", &fields, &n_features, &n_outputs, &X, &background,
                          &labels, &base, &out, &n_jobs, &transform, &max_exact, &permutations))
        return nullptr;
    if (transform < 0 || transform > 3 || max_exact < 0 || max_exact > 24 || permutations < 2) {
        PyErr_SetString(PyExc_ValueError,
                        "transform must be 0-3, max_exact between 0 and 24, permutations >= 2");
        return nullptr;
    }
    const int64_t out_outputs = transform == SOFTMAX_PROBABILITY ? n_outputs : 1;
    if ((transform == SIGMOID || transform == LOGISTIC_LOSS) && n_outputs != 1) {
        PyErr_SetString(PyExc_ValueError, "a logistic model has one output");
        return nullptr;
    }
    Table table;
    Buffer rows, background_buffer, label_buffer, base_buffer, out_buffer;
    int64_t n_rows = 0, n_background = 0;
    if (!read_table(fields, n_features, n_outputs, table) ||
        !get_rows(X, rows, n_features, "X", n_rows) ||
        !get_rows(background, background_buffer, n_features, "background", n_background) ||
        !get_buffer(base, base_buffer, 'f', 8, false, n_outputs, "base_offset"))
        return nullptr;
    const bool loss = transform == LOGISTIC_LOSS || transform == SOFTMAX_LOSS;
    if (!get_buffer(labels, label_buffer, 'f', 8, false, loss ? n_rows : 0, "labels")) return nullptr;
    const Py_ssize_t size = checked_product(n_rows, n_features, out_outputs);
    if (size < 0 || !get_buffer(out, out_buffer, 'f', 8, true, size, "out")) return nullptr;
    if (n_background < 1) {
        PyErr_SetString(PyExc_ValueError, "the background has no rows");
        return nullptr;
    }
    const double* label0 = (const double*)label_buffer.view.buf;
    if (transform == SOFTMAX_LOSS) {
        for (int64_t r = 0; r < n_rows; r++) {
            if (!(label0[r] >= 0) || label0[r] >= (double)n_outputs || label0[r] != std::floor(label0[r])) {
                PyErr_Format(PyExc_ValueError, "label %g of row %lld is not a class index", label0[r],
                             (long long)r);
                return nullptr;
            }
        }
    }
    const double* x0 = (const double*)rows.view.buf;
    const double* z0 = (const double*)background_buffer.view.buf;
    const double* offset = (const double*)base_buffer.view.buf;
    double* out0 = (double*)out_buffer.view.buf;
    std::atomic<int64_t> sampled{0};
    bool ok = false;
    Py_BEGIN_ALLOW_THREADS
    try {
        ok = parallel_rows(n_rows, std::max<long long>(1, n_jobs), 1, [&](int64_t begin, int64_t end, int64_t) {
            PairGame game(table, transform, max_exact, permutations, out_outputs, offset);
            int64_t approximate = 0;
            for (int64_t r = begin; r < end; r++) {
                game.x = x0 + r * n_features;
                game.label = loss ? label0[r] : 0.0;
                for (int64_t k = 0; k < n_background; k++) {
                    game.z = z0 + k * n_features;
                    if (!game.explain(out0 + r * n_features * out_outputs, 1.0 / (double)n_background,
                                      (uint64_t)(r * n_background + k)))
                        approximate++;
                }
            }
            sampled += approximate;
        });
    } catch (...) {
        ok = false;
    }
    Py_END_ALLOW_THREADS
    if (!ok) return PyErr_NoMemory();
    return PyLong_FromLongLong((long long)sampled.load());
}

PyMethodDef methods[] = {
    {"predict", py_predict, METH_VARARGS,
     "predict(table, n_features, n_outputs, X, base_offset, out, n_jobs): margins into out."},
    {"path_dependent", py_path_dependent, METH_VARARGS,
     "path_dependent(table, n_features, n_outputs, X, out, n_jobs, interactions): adds the "
     "path-dependent values (or pair interactions) of every row into out."},
    {"path_dependent_trees", py_path_dependent_trees, METH_VARARGS,
     "path_dependent_trees(table, n_features, n_outputs, X, trees, rows, out, n_jobs, "
     "interactions): adds the path-dependent values (or pair interactions) of tree trees[i] on "
     "row rows[i] into out[i]."},
    {"oblivious_leaves", py_oblivious_leaves, METH_VARARGS,
     "oblivious_leaves(feature, threshold, strict, default_left, weight, leaf_start, n_features, "
     "X, slots, reaching, n_jobs): the leaf slot of every row in every oblivious tree, and the "
     "first row reaching each slot."},
    {"add_table_rows", py_add_table_rows, METH_VARARGS,
     "add_table_rows(table, width, slots, per_row, targets, out, out_width, n_jobs): adds table "
     "row slots[r, k] into out row r at targets[k] (-1 skipped), for every r and k."},
    {"interventional", py_interventional, METH_VARARGS,
     "interventional(table, n_features, n_outputs, X, background, out, n_jobs, interactions, "
     "method, memory_budget): adds the interventional values into out; returns the method used."},
    {"probability", py_probability, METH_VARARGS,
     "probability(table, n_features, n_outputs, X, background, labels, base_offset, out, n_jobs, "
     "transform, max_exact, permutations): adds the values of the transformed game (0 sigmoid, 1 "
     "softmax, 2 logistic loss, 3 softmax loss) into out; returns the pairs sampled."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_core", "Tree SHAP: exact values of tree ensembles.", -1, methods,
    nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&module_definition); }
