/* The distinct masked rows of a chunk of masks, found in one pass, and every (mask,
 * background row) entry's output spread from theirs (the numpy path in _game.py is the
 * fallback).
 *
 * distinct(places, coalition, background_row, masks, owners, first_of_row, differing,
 *          starts, sizes, members, n_background, n_features) -> L
 *
 * Mask k (masks[k], n_features bools) belongs to row owners[k] (non-decreasing). The
 * background rows where row r differs from them in the same features form a pattern: the
 * patterns of row r are first_of_row[r] .. first_of_row[r + 1] - 1, pattern p differs where
 * differing[p] (n_features bools) is true, and its background rows are members[starts[p] ..
 * starts[p] + sizes[p] - 1]. With key[k] and code[p] those bools as the bits of a uint64
 * (n_features <= 64), entry (k, b) is the masked row of key[k] & code[p] over background row b,
 * p the pattern of b: equal (pattern, key) pairs give every member of the pattern the same
 * masked row. For each new pair (a group), in the order they are met (by blocks of masks,
 * pattern by pattern within a block, then mask by mask), the pattern's members are appended
 * to the distinct rows: coalition[i] = k, background_row[i] = b. places holds each (mask,
 * pattern of its row)'s group's first distinct row: row by row, in blocks of BLOCK masks (the
 * last one shorter), pattern by pattern within a block. Returns L, the number of
 * distinct rows (coalition and background_row need room for one per entry (k, b)).
 *
 * spread(every, values, places, owners, first_of_row, pattern_of, rank, n_background, width)
 * writes entry (k, b)'s row of values (width doubles each, one row per distinct row):
 * that of its group's first distinct row plus b's rank among its pattern's members
 * (pattern_of and rank: (rows, n_background), the pattern numbered within its row).
 *
 * unit_sums(tables, outputs, unit_entry, unit_length, unit_weight, width) adds, unit after unit
 * and row after row, unit_weight[u] times the outputs of unit u's row t (width doubles, the
 * rows of all units one after another) to row unit_entry[u] + t of tables (width doubles
 * each): the weighted sums of background rows' outputs per table entry, each in the order of
 * its rows, whatever the number of units at once.
 *
 * Each pattern of a row numbers its keys in its own table: indexed by the key's bits packed
 * (read a byte at a time from a per-pattern lookup table) where the pattern differs in few
 * features, else an open-addressing hash table. Tables are per row, so they stay small.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A pattern's packed keys index a dense table when it has at most this many slots per mask
 * of the row (and at most 2^DENSE_BITS slots). */
#define DENSE_SLOTS_PER_MASK 4
#define DENSE_BITS 20
#define EMPTY (-1)
/* Masks whose groups are found before their entries are written (their places stay cached). */
#define BLOCK 256

typedef struct {
    int dense;          /* 1: slots indexed by the packed key; 0: hashed */
    int n_bytes;      /* bytes of the key the lookup table reads (dense) */
    int shift;          /* 64 - log2(capacity) (hashed) */
    int64_t capacity;   /* slots */
    int64_t *place;     /* each slot's first distinct row, or EMPTY */
    uint64_t *key;      /* each slot's key (hashed) */
    uint32_t *packed;   /* n_bytes x 256: a byte's bits packed where the pattern differs */
} Table;

static int popcount64(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1) {
        n++;
    }
    return n;
}

/* The lookup table: byte i of a key with value v contributes packed[256 * i + v], its bits
 * where code has them, numbered after the code's bits in the bytes before. */
static void fill_packed(uint32_t *packed, uint64_t code, int n_bytes)
{
    int before = 0;
    for (int i = 0; i < n_bytes; i++) {
        unsigned code_byte = (unsigned)((code >> (8 * i)) & 0xFF);
        uint32_t *table = packed + 256 * i;
        table[0] = 0;
        for (unsigned v = 1; v < 256; v++) {
            unsigned low = v & (~v + 1);               /* lowest set bit of v */
            uint32_t bit = 0;
            if (code_byte & low) {                     /* its number among the code's bits */
                int rank = popcount64(code_byte & (low - 1));
                bit = (uint32_t)1 << (before + rank);
            }
            table[v] = table[v & (v - 1)] | bit;
        }
        before += popcount64(code_byte);
    }
}

static int64_t find(const Table *t, uint64_t key, int64_t *slot)
{
    if (t->dense) {
        uint64_t index = 0;
        for (int i = 0; i < t->n_bytes; i++) {
            index |= t->packed[256 * i + ((key >> (8 * i)) & 0xFF)];
        }
        *slot = (int64_t)index;
        return t->place[index];
    }
    uint64_t mask = (uint64_t)t->capacity - 1;
    uint64_t i = (key * 0x9E3779B97F4A7C15ULL) >> t->shift;
    while (t->place[i] != EMPTY && t->key[i] != key) {
        i = (i + 1) & mask;
    }
    *slot = (int64_t)i;
    return t->place[i];
}

typedef struct {
    char *arena;
    size_t size;
} Scratch;

static void *take(Scratch *s, size_t *used, size_t bytes)
{
    void *p = s->arena + *used;
    *used += (bytes + 15) & ~(size_t)15;
    return p;
}

/* The tables of one row's patterns laid out in scratch (grown as needed); -1 on no memory. */
static int build_tables(Table *tables, Scratch *scratch, const uint64_t *codes, int64_t first,
                        int64_t n_patterns, int64_t n_masks, int n_key_bytes)
{
    size_t need = 0;
    for (int64_t p = 0; p < n_patterns; p++) {
        Table *t = tables + p;
        int d = popcount64(codes[first + p]);
        memset(t, 0, sizeof(Table));
        if (d <= DENSE_BITS && ((int64_t)1 << d) <= DENSE_SLOTS_PER_MASK * n_masks) {
            t->dense = 1;
            t->capacity = (int64_t)1 << d;
            t->n_bytes = n_key_bytes;
            need += ((size_t)t->capacity * sizeof(int64_t) + 15) & ~(size_t)15;
            need += (256 * (size_t)n_key_bytes * sizeof(uint32_t) + 15) & ~(size_t)15;
        } else {
            int bits = 3;
            while (((int64_t)1 << bits) < 2 * n_masks) {
                bits++;
            }
            t->capacity = (int64_t)1 << bits;
            t->shift = 64 - bits;
            need += ((size_t)t->capacity * (sizeof(int64_t) + sizeof(uint64_t)) + 15) &
                    ~(size_t)15;
        }
    }
    if (need > scratch->size) {
        char *grown = PyMem_RawRealloc(scratch->arena, need);
        if (grown == NULL) {
            return -1;
        }
        scratch->arena = grown;
        scratch->size = need;
    }
    size_t used = 0;
    for (int64_t p = 0; p < n_patterns; p++) {
        Table *t = tables + p;
        t->place = take(scratch, &used, (size_t)t->capacity * sizeof(int64_t));
        memset(t->place, 0xFF, (size_t)t->capacity * sizeof(int64_t)); /* EMPTY */
        if (t->dense) {
            t->packed = take(scratch, &used, 256 * (size_t)t->n_bytes * sizeof(uint32_t));
            fill_packed(t->packed, codes[first + p], t->n_bytes);
        } else {
            t->key = take(scratch, &used, (size_t)t->capacity * sizeof(uint64_t));
        }
    }
    return 0;
}

/* The loop itself (no Python objects): L, or -1 on no memory. */
static int64_t group(int64_t *places_out, int64_t *coalition, int64_t *background_row,
                     const uint64_t *keys, const int64_t *owners, int64_t n_masks,
                     const int64_t *first_of_row, const uint64_t *codes, const int64_t *starts,
                     const int64_t *sizes, const int64_t *members, int64_t most_patterns)
{
    uint64_t all_codes = 0;
    for (int64_t p = 0; p < first_of_row[owners[n_masks - 1] + 1]; p++) {
        all_codes |= codes[p];
    }
    int n_key_bytes = 1;
    while (n_key_bytes < 8 && (all_codes >> (8 * n_key_bytes))) {
        n_key_bytes++;
    }
    size_t n_tables = (size_t)(most_patterns > 0 ? most_patterns : 1);
    Table *tables = PyMem_RawMalloc(n_tables * sizeof(Table));
    Scratch scratch = {NULL, 0};
    int64_t n_distinct = 0;
    if (tables == NULL) {
        n_distinct = -1;
        goto done;
    }
    int64_t start = 0;
    int64_t *places = places_out; /* the first entry of the row's first mask */
    while (start < n_masks) {
        int64_t row = owners[start], stop = start;
        while (stop < n_masks && owners[stop] == row) {
            stop++;
        }
        int64_t first = first_of_row[row], n_patterns = first_of_row[row + 1] - first;
        if (build_tables(tables, &scratch, codes, first, n_patterns, stop - start,
                         n_key_bytes) < 0) {
            n_distinct = -1;
            goto done;
        }
        for (int64_t block = start; block < stop; block += BLOCK) {
            int64_t end = block + BLOCK < stop ? block + BLOCK : stop;
            for (int64_t p = 0; p < n_patterns; p++) { /* the groups of the block's entries, */
                const Table *t = tables + p;            /* pattern by pattern */
                const uint64_t code = codes[first + p];
                const int64_t *member = members + starts[first + p];
                const int64_t size = sizes[first + p];
                int64_t *place = places + (block - start) * n_patterns + p * (end - block);
                for (int64_t k = block; k < end; k++, place++) {
                    uint64_t key = keys[k] & code;
                    int64_t slot;
                    *place = find(t, key, &slot);
                    if (*place == EMPTY) { /* a new masked row for every member */
                        *place = t->place[slot] = n_distinct;
                        if (!t->dense) {
                            t->key[slot] = key;
                        }
                        for (int64_t i = 0; i < size; i++) {
                            coalition[n_distinct + i] = k;
                            background_row[n_distinct + i] = member[i];
                        }
                        n_distinct += size;
                    }
                }
            }
        }
        places += (stop - start) * n_patterns;
        start = stop;
    }
done:
    PyMem_RawFree(tables);
    PyMem_RawFree(scratch.arena);
    return n_distinct;
}

static int check_length(const Py_buffer *buffer, Py_ssize_t items, Py_ssize_t itemsize,
                        const char *name, int at_least)
{
    if (items > PY_SSIZE_T_MAX / itemsize ||
        (at_least ? buffer->len < items * itemsize : buffer->len != items * itemsize)) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %s%zd", name, buffer->len,
                     at_least ? "at least " : "", items * itemsize);
        return -1;
    }
    return 0;
}

/* Every index the loops follow is in range; *n_entries: the (mask, pattern) entries. */
static int check_layout(const int64_t *owners, Py_ssize_t n_masks, const int64_t *first_of_row,
                        Py_ssize_t n_rows, const int64_t *starts, const int64_t *sizes,
                        Py_ssize_t n_patterns, const int64_t *members, Py_ssize_t n_members,
                        int64_t n_background, int64_t *n_entries, int64_t *most_patterns)
{
    if (n_background < 1) {
        PyErr_SetString(PyExc_ValueError, "need at least one background row");
        return -1;
    }
    if (first_of_row[0] != 0 || first_of_row[n_rows] != n_patterns) {
        PyErr_SetString(PyExc_ValueError, "first_of_row does not span the patterns");
        return -1;
    }
    *most_patterns = 0;
    for (Py_ssize_t p = 0; p < n_patterns; p++) {
        if (starts[p] < 0 || sizes[p] < 1 || sizes[p] > n_members - starts[p]) {
            PyErr_Format(PyExc_ValueError, "pattern %zd's members are out of range", p);
            return -1;
        }
    }
    for (Py_ssize_t r = 0; r < n_rows; r++) { /* each row's patterns part its background */
        int64_t count = first_of_row[r + 1] - first_of_row[r], covered = 0;
        if (count < 0) {
            PyErr_SetString(PyExc_ValueError, "first_of_row decreases");
            return -1;
        }
        for (int64_t p = first_of_row[r]; p < first_of_row[r + 1]; p++) {
            covered += sizes[p];
        }
        if (covered != n_background) {
            PyErr_Format(PyExc_ValueError, "row %zd's patterns hold %lld background rows",
                         r, (long long)covered);
            return -1;
        }
        if (count > *most_patterns) {
            *most_patterns = count;
        }
    }
    for (Py_ssize_t i = 0; i < n_members; i++) {
        if (members[i] < 0 || members[i] >= n_background) {
            PyErr_Format(PyExc_ValueError, "member %zd is not a background row", i);
            return -1;
        }
    }
    *n_entries = 0;
    for (Py_ssize_t k = 0; k < n_masks; k++) {
        if (owners[k] < 0 || owners[k] >= n_rows || (k && owners[k] < owners[k - 1])) {
            PyErr_Format(PyExc_ValueError, "owner %zd is not a row index in order", k);
            return -1;
        }
        *n_entries += first_of_row[owners[k] + 1] - first_of_row[owners[k]];
    }
    return 0;
}

/* Each row of n_rows x n_features bools as the bits of a uint64 (feature j: bit j). */
static uint64_t *as_bits(const unsigned char *bools, Py_ssize_t n_rows, Py_ssize_t n_features)
{
    uint64_t *bits = PyMem_RawMalloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof(uint64_t));
    if (bits == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        uint64_t word = 0;
        for (Py_ssize_t j = 0; j < n_features; j++) {
            word |= (uint64_t)(bools[i * n_features + j] != 0) << j;
        }
        bits[i] = word;
    }
    return bits;
}

static PyObject *distinct(PyObject *self, PyObject *args)
{
    Py_buffer places, coalition, background_row, masks, owners, first_of_row, differing,
        starts, sizes, members;
    long long n_background, n_features;
    PyObject *result = NULL;
    uint64_t *keys = NULL, *codes = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*w*w*y*y*y*y*y*y*y*LL", &places, &coalition,
                          &background_row, &masks, &owners, &first_of_row, &differing,
                          &starts, &sizes, &members, &n_background, &n_features)) {
        return NULL;
    }
    Py_ssize_t n_masks = owners.len / 8, n_rows = first_of_row.len / 8 - 1;
    Py_ssize_t n_patterns = starts.len / 8, n_members = members.len / 8;
    int64_t n_entries = 0, most_patterns = 0, n_distinct = 0;
    if (n_features < 1 || n_features > 64) {
        PyErr_SetString(PyExc_ValueError, "n_features must be 1 to 64");
        goto done;
    }
    if (n_rows < 0 || n_background < 1 ||
        check_length(&owners, n_masks, 8, "owners", 0) ||
        check_length(&masks, n_masks, (Py_ssize_t)n_features, "masks", 0) ||
        check_length(&first_of_row, n_rows + 1, 8, "first_of_row", 0) ||
        check_length(&differing, n_patterns, (Py_ssize_t)n_features, "differing", 0) ||
        check_length(&starts, n_patterns, 8, "starts", 0) ||
        check_length(&sizes, n_patterns, 8, "sizes", 0) ||
        check_length(&members, n_members, 8, "members", 0)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "need at least one row and background row");
        }
        goto done;
    }
    if (check_layout(owners.buf, n_masks, first_of_row.buf, n_rows, starts.buf, sizes.buf,
                     n_patterns, members.buf, n_members, (int64_t)n_background, &n_entries,
                     &most_patterns) ||
        check_length(&places, (Py_ssize_t)n_entries, 8, "places", 0) ||
        check_length(&coalition, n_masks * (Py_ssize_t)n_background, 8, "coalition", 1) ||
        check_length(&background_row, n_masks * (Py_ssize_t)n_background, 8, "background_row",
                     1)) {
        goto done;
    }
    if (n_masks > 0) {
        int no_memory = 0;
        Py_BEGIN_ALLOW_THREADS
        keys = as_bits(masks.buf, n_masks, (Py_ssize_t)n_features);
        codes = as_bits(differing.buf, n_patterns, (Py_ssize_t)n_features);
        if (keys == NULL || codes == NULL) {
            no_memory = 1;
        } else {
            n_distinct = group(places.buf, coalition.buf, background_row.buf, keys,
                               owners.buf, n_masks, first_of_row.buf, codes, starts.buf,
                               sizes.buf, members.buf, most_patterns);
            no_memory = n_distinct < 0;
        }
        Py_END_ALLOW_THREADS
        if (no_memory) {
            PyErr_NoMemory();
            goto done;
        }
    }
    result = PyLong_FromLongLong((long long)n_distinct);
done:
    PyMem_RawFree(keys);
    PyMem_RawFree(codes);
    PyBuffer_Release(&places);
    PyBuffer_Release(&coalition);
    PyBuffer_Release(&background_row);
    PyBuffer_Release(&masks);
    PyBuffer_Release(&owners);
    PyBuffer_Release(&first_of_row);
    PyBuffer_Release(&differing);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&sizes);
    PyBuffer_Release(&members);
    return result;
}

/* every[k * n_background + b] = values[places[entry of (k, its row's pattern of b)] + rank of
 * b], rows of `width` doubles; -1 where a place is not a row of values. */
static int spread_rows(double *every, const double *values, int64_t n_values,
                       const int64_t *places, const int64_t *owners, int64_t n_masks,
                       const int64_t *first_of_row, const int64_t *pattern_of,
                       const int64_t *rank, int64_t n_background, int64_t width,
                       int64_t *offset)
{
    const int64_t *row_places = places; /* the places of the row's masks */
    uint64_t outside = 0;                /* any source past the values (then read row 0) */
    int64_t start = 0;
    while (start < n_masks) {
        int64_t row = owners[start], stop = start;
        while (stop < n_masks && owners[stop] == row) {
            stop++;
        }
        int64_t n_patterns = first_of_row[row + 1] - first_of_row[row];
        const int64_t *of = pattern_of + row * n_background, *at = rank + row * n_background;
        for (int64_t block = start; block < stop; block += BLOCK) {
            int64_t n_block = block + BLOCK < stop ? BLOCK : stop - block;
            const int64_t *block_places = row_places + (block - start) * n_patterns;
            for (int64_t b = 0; b < n_background; b++) {
                offset[b] = of[b] * n_block;
            }
            for (int64_t k = block; k < block + n_block; k++) {
                const int64_t *entries = block_places + (k - block);
                double *out = every + k * n_background * width;
                for (int64_t b = 0; b < n_background; b++) {
                    uint64_t source = (uint64_t)(entries[offset[b]] + at[b]);
                    uint64_t past = source >= (uint64_t)n_values;
                    outside |= past;
                    source = past ? 0 : source;
                    if (width == 1) {
                        out[b] = values[source];
                    } else {
                        memcpy(out + b * width, values + source * width,
                               (size_t)width * sizeof(double));
                    }
                }
            }
        }
        row_places += (stop - start) * n_patterns;
        start = stop;
    }
    return outside ? -1 : 0;
}

static PyObject *spread(PyObject *self, PyObject *args)
{
    Py_buffer every, values, places, owners, first_of_row, pattern_of, rank;
    long long n_background, width;
    PyObject *result = NULL;
    int64_t n_entries = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*y*LL", &every, &values, &places, &owners,
                          &first_of_row, &pattern_of, &rank, &n_background, &width)) {
        return NULL;
    }
    Py_ssize_t n_masks = owners.len / 8, n_rows = first_of_row.len / 8 - 1;
    const int64_t *owner = owners.buf, *first = first_of_row.buf, *of = pattern_of.buf;
    if (n_rows < 1 || n_background < 1 || width < 1) {
        PyErr_SetString(PyExc_ValueError, "need a row, a background row and an output");
        goto done;
    }
    if (check_length(&owners, n_masks, 8, "owners", 0) ||
        check_length(&every, n_masks * (Py_ssize_t)(n_background * width), 8, "every", 0) ||
        check_length(&pattern_of, n_rows * (Py_ssize_t)n_background, 8, "pattern_of", 0) ||
        check_length(&rank, n_rows * (Py_ssize_t)n_background, 8, "rank", 0) ||
        values.len % (8 * width)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "values are not rows of width doubles");
        }
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_masks; k++) {
        if (owner[k] < 0 || owner[k] >= n_rows) {
            PyErr_Format(PyExc_ValueError, "owner %zd is not a row index", k);
            goto done;
        }
        n_entries += first[owner[k] + 1] - first[owner[k]];
    }
    for (Py_ssize_t r = 0; r < n_rows; r++) {
        for (Py_ssize_t b = 0; b < n_background; b++) {
            int64_t p = of[r * n_background + b];
            if (p < 0 || p >= first[r + 1] - first[r]) {
                PyErr_Format(PyExc_ValueError, "row %zd's pattern of %zd is not its own", r, b);
                goto done;
            }
        }
    }
    if (check_length(&places, (Py_ssize_t)n_entries, 8, "places", 0)) {
        goto done;
    }
    int64_t *offset = PyMem_RawMalloc((size_t)n_background * sizeof(int64_t));
    if (offset == NULL || values.len < 8 * width) {
        PyMem_RawFree(offset);
        if (offset == NULL) {
            PyErr_NoMemory();
        } else {
            PyErr_SetString(PyExc_ValueError, "no values to spread");
        }
        goto done;
    }
    int bad;
    Py_BEGIN_ALLOW_THREADS
    bad = spread_rows(every.buf, values.buf, (int64_t)(values.len / (8 * width)), places.buf,
                      owner, n_masks, first, of, rank.buf, n_background, width, offset);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(offset);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a place is not a row of values");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&every);
    PyBuffer_Release(&values);
    PyBuffer_Release(&places);
    PyBuffer_Release(&owners);
    PyBuffer_Release(&first_of_row);
    PyBuffer_Release(&pattern_of);
    PyBuffer_Release(&rank);
    return result;
}

static PyObject *unit_sums(PyObject *self, PyObject *args)
{
    Py_buffer tables, outputs, unit_entry, unit_length, unit_weight;
    Py_ssize_t width;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*n", &tables, &outputs, &unit_entry, &unit_length,
                          &unit_weight, &width)) {
        return NULL;
    }
    Py_ssize_t n_units = unit_entry.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t n_entries = 0, n_rows = 0;
    const int64_t *entry = unit_entry.buf, *length = unit_length.buf;
    const double *weight = unit_weight.buf, *out = outputs.buf;
    double *table = tables.buf;
    if (width < 1 || width > PY_SSIZE_T_MAX / 8) {
        PyErr_SetString(PyExc_ValueError, "width must be at least one");
        goto done;
    }
    n_entries = tables.len / (width * 8);
    if (check_length(&tables, n_entries * width, 8, "tables", 0) ||
        check_length(&unit_entry, n_units, 8, "unit_entry", 0) ||
        check_length(&unit_length, n_units, 8, "unit_length", 0) ||
        check_length(&unit_weight, n_units, 8, "unit_weight", 0)) {
        goto done;
    }
    for (Py_ssize_t u = 0; u < n_units; u++) {
        if (entry[u] < 0 || length[u] < 0 || entry[u] > n_entries - length[u] ||
            n_rows > PY_SSIZE_T_MAX / (width * 8) - length[u]) {
            PyErr_Format(PyExc_ValueError, "unit %zd names entries outside the tables", u);
            goto done;
        }
        n_rows += length[u];
    }
    if (check_length(&outputs, n_rows * width, 8, "outputs", 0)) {
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t u = 0; u < n_units; u++) {
        double w = weight[u];
        double *to = table + entry[u] * width;
        for (int64_t t = 0; t < length[u] * width; t++) {
            to[t] += w * out[t];
        }
        out += length[u] * width;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&tables);
    PyBuffer_Release(&outputs);
    PyBuffer_Release(&unit_entry);
    PyBuffer_Release(&unit_length);
    PyBuffer_Release(&unit_weight);
    return result;
}

static PyMethodDef methods[] = {
    {"distinct", distinct, METH_VARARGS,
     "distinct(places, coalition, background_row, masks, owners, first_of_row, differing, "
     "starts, sizes, members, n_background, n_features) -> the number of distinct masked "
     "rows."},
    {"spread", spread, METH_VARARGS,
     "spread(every, values, places, owners, first_of_row, pattern_of, rank, n_background, "
     "width): every entry's row of the distinct rows' values."},
    {"unit_sums", unit_sums, METH_VARARGS,
     "unit_sums(tables, outputs, unit_entry, unit_length, unit_weight, width): tables[entry + t] "
     "+= weight * outputs of each unit's row t, unit after unit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_distinct", "The distinct masked rows of a chunk of masks.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__distinct(void) { return PyModule_Create(&module); }
