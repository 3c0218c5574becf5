// The training step on the CPU, as called by backend/training/kernels.py: its three products fused
// with the elementwise work around them, the loss of a block and Adam.
//
// The formulas are in that module's docstring. Every kernel is compiled for float and
// double (the `_f32` and `_f64` entry points). The large ones run on OpenMP threads:
// the library is loaded into a process that has already loaded PyTorch's own OpenMP
// runtime, so their parallel regions use PyTorch's thread pool, whose threads stay
// awake for a while after each region, so that the next one starts at once.
//
// Every result is the same bits for every thread count: work is split only where each
// output value is computed by one thread, by the same expression and in the same order
// whatever the split. The library is compiled without floating-point contraction or
// reassociation, so that an expression gives the same bits in every loop that contains
// it (a vectorised loop and its scalar remainder, whose bounds move with the split).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

enum Activation { SQUARE = 0, RELU = 1, ABS = 2, IDENTITY = 3, TANH = 4, GELU = 5 };

template <typename T, int code>
inline T activation(T h) {
    if constexpr (code == SQUARE) return h * h;
    else if constexpr (code == RELU) return h > T(0) ? h : T(0);
    else if constexpr (code == ABS) return std::fabs(h);
    else if constexpr (code == IDENTITY) return h;
    else if constexpr (code == TANH) return std::tanh(h);
    else return T(0.5) * h * (T(1) + std::erf(h * T(M_SQRT1_2)));
}

// σ'(h), except for σ = z², where it is h (the 2 rides in the step's factor h)
template <typename T, int code>
inline T derivative(T h) {
    if constexpr (code == SQUARE) return h;
    else if constexpr (code == RELU) return h > T(0) ? T(1) : T(0);
    else if constexpr (code == ABS) return h > T(0) ? T(1) : (h < T(0) ? T(-1) : T(0));
    else if constexpr (code == IDENTITY) return T(1);
    else if constexpr (code == TANH) {
        T t = std::tanh(h);
        return T(1) - t * t;
    } else {
        const T inverse_root_two_pi = T(0.5 * M_2_SQRTPI * M_SQRT1_2);
        return T(0.5) * (T(1) + std::erf(h * T(M_SQRT1_2))) +
               h * std::exp(T(-0.5) * h * h) * inverse_root_two_pi;
    }
}

// a buffer of at least `size` values, kept per calling thread
template <typename T>
T* scratch(int64_t size) {
    thread_local std::vector<T> buffer;
    if (int64_t(buffer.size()) < size) buffer.resize(size);
    return buffer.data();
}

// The step's three products, each fused with the elementwise work around it, so that
// neither S = σ(H) nor the hidden gradient G̃ᵀ ξ is ever stored (k = rows·n pairs
// p = (i, j) of a block, i < rows, j < n; A, B and ξ are n × width):
//
//   forward_block:         F[c, p] = Σ_m ξ[c, m] σ(A[start + i, m] + B[j, m])
//   readout_block:         out[c, m] (+)= Σ_p G[c, p] σ(A[start + i, m] + B[j, m])
//   hidden_gradient_sums:  e = (G̃ᵀ ξ)[p, m] σ'(A[start + i, m] + B[j, m]),
//                          out_first[i] = Σ_j e, out_second[j] (+)= Σ_i e
//
// Each keeps a tile of its results in registers and forms σ(H) (or σ'(H)) on the way in,
// for every tile that needs it, from A and B, which stay in cache. Each output value is
// computed by one thread, by one tile, in a fixed order, so the bits do not depend on the
// number of threads. This file is compiled without contraction; these functions alone
// contract a·b + c into one fused multiply-add (a value always comes from the same tile
// code, whatever the thread count, so the bits still do not depend on it).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

// a vector of `bytes` bytes of T, loaded and stored unaligned
template <typename T, int bytes>
struct Vec {
    typedef T type __attribute__((vector_size(bytes)));
    static constexpr int lanes = bytes / sizeof(T);
    static type load(const T* from) {
        type value;
        std::memcpy(&value, from, sizeof(type));
        return value;
    }
    static void store(T* to, type value) { std::memcpy(to, &value, sizeof(type)); }
};

// f on every lane of h
template <typename T, typename V, T (*f)(T)>
inline typename V::type each_lane(typename V::type h) {
    T values[V::lanes];
    V::store(values, h);
    for (int lane = 0; lane < V::lanes; lane++) values[lane] = f(values[lane]);
    return V::load(values);
}

template <typename T, int code, typename V>
inline typename V::type activation_vector(typename V::type h) {
    if constexpr (code == SQUARE) return h * h;
    else return each_lane<T, V, activation<T, code>>(h);
}

template <typename T, int code, typename V>
inline typename V::type derivative_vector(typename V::type h) {
    if constexpr (code == SQUARE) return h;
    else return each_lane<T, V, derivative<T, code>>(h);
}

// ---- forward: lanes over j, from Bᵀ padded to whole vectors ----------------------------

template <typename T>
using ForwardVec = Vec<T, 32>;

// Bt[m, j] = B[j, m] for j < n, and 0 up to n_pad (a whole number of forward vectors)
template <typename T>
void transpose_padded(const T* b, int64_t n, int64_t width, int64_t n_pad, T* bt) {
    for (int64_t m = 0; m < width; m++) {
        T* row = bt + m * n_pad;
        for (int64_t j = 0; j < n; j++) row[j] = b[j * width + m];
        for (int64_t j = n; j < n_pad; j++) row[j] = T(0);
    }
}

// the classes of a forward tile of J vectors of pairs: C·J ≤ 24 accumulators
constexpr int forward_classes(int J) { return J >= 4 ? 6 : (J == 3 ? 7 : 8); }
constexpr int FORWARD_VECTORS = 4;  // at most, per tile

// F[c, i·n + j] for c in [c0, c0 + C) and j in [j0, j0 + J·lanes), both cut at n; rows of
// ξ past n repeat the last one and are not stored
template <typename T, int code, int J>
void forward_tile(const T* xi, const T* a_row, const T* bt, int64_t n, int64_t n_pad,
                  int64_t width, int64_t c0, int64_t j0, int64_t i, int64_t k, T* out) {
    using V = ForwardVec<T>;
    constexpr int C = forward_classes(J);
    typename V::type acc[C][J] = {};
    const T* rows[C];
    for (int c = 0; c < C; c++) rows[c] = xi + std::min<int64_t>(c0 + c, n - 1) * width;
    for (int64_t m = 0; m < width; m++) {
        const T a = a_row[m];
        typename V::type s[J];
        for (int v = 0; v < J; v++)
            s[v] = activation_vector<T, code, V>(a + V::load(bt + m * n_pad + j0 + V::lanes * v));
        for (int c = 0; c < C; c++) {
            const T x = rows[c][m];
            for (int v = 0; v < J; v++) acc[c][v] += x * s[v];
        }
    }
    for (int c = 0; c < C && c0 + c < n; c++) {
        T* row = out + (c0 + c) * k + i * n;
        for (int v = 0; v < J; v++) {
            const int64_t j = j0 + V::lanes * v;
            if (j >= n) break;
            T values[V::lanes];
            V::store(values, acc[c][v]);
            std::memcpy(row + j, values, sizeof(T) * std::min<int64_t>(V::lanes, n - j));
        }
    }
}

template <typename T, int code>
void forward_of(const T* xi, const T* a, const T* bt, int64_t n, int64_t n_pad,
                int64_t width, int64_t start, int64_t rows, T* out, int threads) {
    const int64_t k = rows * n, vectors = n_pad / ForwardVec<T>::lanes;
    // the tiles of one row i: (first vector of pairs, its vectors, first class)
    struct Tile { int64_t vector, count, c0; };
    std::vector<Tile> tiles;
    for (int64_t vector = 0; vector < vectors; vector += FORWARD_VECTORS) {
        const int64_t count = std::min<int64_t>(FORWARD_VECTORS, vectors - vector);
        for (int64_t c0 = 0; c0 < n; c0 += forward_classes(int(count)))
            tiles.push_back({vector, count, c0});
    }
    const int64_t per_row = int64_t(tiles.size());
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t task = 0; task < rows * per_row; task++) {
        const int64_t i = task / per_row;
        const Tile& tile = tiles[task % per_row];
        const T* a_row = a + (start + i) * width;
        const int64_t j0 = tile.vector * ForwardVec<T>::lanes;
        switch (tile.count) {
            case 4: forward_tile<T, code, 4>(xi, a_row, bt, n, n_pad, width, tile.c0, j0, i, k, out); break;
            case 3: forward_tile<T, code, 3>(xi, a_row, bt, n, n_pad, width, tile.c0, j0, i, k, out); break;
            case 2: forward_tile<T, code, 2>(xi, a_row, bt, n, n_pad, width, tile.c0, j0, i, k, out); break;
            default: forward_tile<T, code, 1>(xi, a_row, bt, n, n_pad, width, tile.c0, j0, i, k, out); break;
        }
    }
}

// ---- readout gradient: lanes over m ----------------------------------------------------

template <typename T>
using StripVec = Vec<T, 64>;
constexpr int READOUT_CLASSES = 7;

// out[c, m] for c in [c0, c0 + 7) (cut at n) and V vectors of columns from m0
template <typename T, int code, int V>
void readout_tile(const T* g, const T* a, const T* b, int64_t n, int64_t width, int64_t start,
                  int64_t rows, int64_t c0, int64_t m0, T* out, bool accumulate) {
    using S = StripVec<T>;
    constexpr int C = READOUT_CLASSES;
    const int64_t k = rows * n;
    typename S::type acc[C][V] = {};
    const T* rows_of_g[C];
    for (int c = 0; c < C; c++) rows_of_g[c] = g + std::min<int64_t>(c0 + c, n - 1) * k;
    for (int64_t i = 0; i < rows; i++) {
        typename S::type row_a[V];
        for (int v = 0; v < V; v++) row_a[v] = S::load(a + (start + i) * width + m0 + S::lanes * v);
        for (int64_t j = 0; j < n; j++) {
            const int64_t p = i * n + j;
            typename S::type s[V];
            for (int v = 0; v < V; v++)
                s[v] = activation_vector<T, code, S>(row_a[v] +
                                                     S::load(b + j * width + m0 + S::lanes * v));
            for (int c = 0; c < C; c++) {
                const T weight = rows_of_g[c][p];
                for (int v = 0; v < V; v++) acc[c][v] += weight * s[v];
            }
        }
    }
    for (int c = 0; c < C && c0 + c < n; c++)
        for (int v = 0; v < V; v++) {
            T* to = out + (c0 + c) * width + m0 + S::lanes * v;
            S::store(to, accumulate ? S::load(to) + acc[c][v] : acc[c][v]);
        }
}

// the last width % lanes columns, one value at a time
template <typename T, int code>
void readout_last_columns(const T* g, const T* a, const T* b, int64_t n, int64_t width,
                          int64_t start, int64_t rows, int64_t c0, int64_t m0, T* out,
                          bool accumulate) {
    const int64_t k = rows * n;
    for (int64_t c = c0; c < std::min<int64_t>(n, c0 + READOUT_CLASSES); c++)
        for (int64_t m = m0; m < width; m++) {
            T sum = T(0);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < n; j++)
                    sum += g[c * k + i * n + j] *
                           activation<T, code>(a[(start + i) * width + m] + b[j * width + m]);
            out[c * width + m] = accumulate ? out[c * width + m] + sum : sum;
        }
}

constexpr int READOUT_VECTORS = 3;  // per strip, then strips of one vector, then the rest

template <typename T, int code>
void readout_of(const T* g, const T* a, const T* b, int64_t n, int64_t width, int64_t start,
                int64_t rows, T* out, bool accumulate, int threads) {
    const int64_t lanes = StripVec<T>::lanes, wide = READOUT_VECTORS * lanes;
    const int64_t wide_strips = width / wide;
    const int64_t narrow_strips = (width - wide_strips * wide) / lanes;
    const int64_t strips = wide_strips + narrow_strips + (width % lanes ? 1 : 0);
    const int64_t class_tiles = (n + READOUT_CLASSES - 1) / READOUT_CLASSES;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t task = 0; task < strips * class_tiles; task++) {
        const int64_t strip = task / class_tiles, c0 = (task % class_tiles) * READOUT_CLASSES;
        if (strip < wide_strips) {
            readout_tile<T, code, READOUT_VECTORS>(g, a, b, n, width, start, rows, c0,
                                                   strip * wide, out, accumulate);
        } else if (strip < wide_strips + narrow_strips) {
            const int64_t m0 = wide_strips * wide + (strip - wide_strips) * lanes;
            readout_tile<T, code, 1>(g, a, b, n, width, start, rows, c0, m0, out, accumulate);
        } else {
            const int64_t m0 = wide_strips * wide + narrow_strips * lanes;
            readout_last_columns<T, code>(g, a, b, n, width, start, rows, c0, m0, out,
                                          accumulate);
        }
    }
}

// ---- hidden gradient: lanes over m, seven pairs of a row i at a time --------------------

// `count` pairs (i, j) … (i, j + count − 1), one vector of columns from m0
template <typename T, int code, int count>
inline void strip_of_pairs(const T* g_t, const T* xi, const T* b, int64_t n, int64_t width,
                           int64_t i, int64_t j, int64_t m0,
                           typename StripVec<T>::type first_of_row,
                           typename StripVec<T>::type& first, T* out_second) {
    using S = StripVec<T>;
    typename S::type d[count] = {};
    const T* g = g_t + (i * n + j) * n;
    for (int64_t c = 0; c < n; c++) {
        const typename S::type x = S::load(xi + c * width + m0);
        for (int q = 0; q < count; q++) d[q] += g[q * n + c] * x;
    }
    for (int q = 0; q < count; q++) {
        T* second = out_second + (j + q) * width + m0;
        const typename S::type h = first_of_row + S::load(b + (j + q) * width + m0);
        const typename S::type e = d[q] * derivative_vector<T, code, S>(h);
        first += e;
        S::store(second, S::load(second) + e);
    }
}

constexpr int PAIRS_PER_STRIP = 7;

template <typename T, int code>
void strip_of_block(const T* g_t, const T* xi, const T* a, const T* b, int64_t n,
                    int64_t width, int64_t start, int64_t rows, int64_t m0, T* out_first,
                    T* out_second) {
    using S = StripVec<T>;
    for (int64_t i = 0; i < rows; i++) {
        const typename S::type row_a = S::load(a + (start + i) * width + m0);
        typename S::type first = {};
        int64_t j = 0;
        for (; j + PAIRS_PER_STRIP <= n; j += PAIRS_PER_STRIP)
            strip_of_pairs<T, code, PAIRS_PER_STRIP>(g_t, xi, b, n, width, i, j, m0, row_a,
                                                     first, out_second);
#define REST(COUNT)                                                                         \
    case COUNT:                                                                             \
        strip_of_pairs<T, code, COUNT>(g_t, xi, b, n, width, i, j, m0, row_a, first,       \
                                       out_second);                                         \
        break;
        switch (n - j) {
            REST(1) REST(2) REST(3) REST(4) REST(5) REST(6)
            default: break;
        }
#undef REST
        S::store(out_first + i * width + m0, first);
    }
}
// the last width % lanes columns, one value at a time
template <typename T, int code>
void hidden_last_columns(const T* g_t, const T* xi, const T* a, const T* b, int64_t n,
                         int64_t width, int64_t start, int64_t rows, int64_t m0, T* out_first,
                         T* out_second) {
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t m = m0; m < width; m++) out_first[i * width + m] = T(0);
        for (int64_t j = 0; j < n; j++) {
            const T* g = g_t + (i * n + j) * n;
            for (int64_t m = m0; m < width; m++) {
                T d = T(0);
                for (int64_t c = 0; c < n; c++) d += g[c] * xi[c * width + m];
                const T e = d * derivative<T, code>(a[(start + i) * width + m] + b[j * width + m]);
                out_first[i * width + m] += e;
                out_second[j * width + m] += e;
            }
        }
    }
}

template <typename T, int code>
void hidden_gradient_sums_of(const T* g_t, const T* xi, const T* a, const T* b, int64_t n,
                             int64_t width, int64_t start, int64_t rows, T* out_first,
                             T* out_second, bool accumulate, int threads) {
    const int64_t lanes = StripVec<T>::lanes, strips = width / lanes;
    const int64_t tasks = strips + (width % lanes ? 1 : 0);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t m0 = task * lanes, m1 = std::min(width, m0 + lanes);
        if (!accumulate)
            for (int64_t j = 0; j < n; j++)
                std::fill(out_second + j * width + m0, out_second + j * width + m1, T(0));
        if (task < strips)
            strip_of_block<T, code>(g_t, xi, a, b, n, width, start, rows, m0, out_first,
                                    out_second);
        else
            hidden_last_columns<T, code>(g_t, xi, a, b, n, width, start, rows, m0, out_first,
                                         out_second);
    }
}

#pragma GCC pop_options

// e^x for float, vectorisable, within 2 ulp: x = k ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 in
// two parts, so that r is exact), e^r by its Taylor polynomial of degree 7 (relative error
// below 2·10⁻⁸ on that interval), times 2^k built in the exponent bits. Below ln of the
// smallest normal float the result is 0, above ln of the largest it is inf; NaN stays NaN.
inline float exponential(float x) {
    const float lowest = -87.33654f, highest = 88.72283f;
    const float clamped = x < lowest ? lowest : (x > highest ? highest : x);
    const float k = std::nearbyint(clamped * 1.44269504f);
    const float r = (clamped - k * 0.693359375f) - k * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // 2^k for k in [-126, 128]; 2^128 is not a float, so it is taken as 2 · 2^127
    const int32_t exponent = int32_t(k);
    const int32_t top = exponent > 127 ? 127 : exponent;
    const float power = std::bit_cast<float>((top + 127) << 23);
    const float value = exponent > 127 ? 2.0f * (p * power) : p * power;
    if (x != x) return x;
    return x < lowest ? 0.0f : (x > highest ? INFINITY : value);
}

inline double exponential(double x) { return std::exp(x); }

template <typename T>
void exponentials(const T* values, int64_t count, T* out) {
#pragma omp simd
    for (int64_t index = 0; index < count; index++) out[index] = exponential(values[index]);
}

// For the products ξ Sᵀ (n × k) of a block and the classes y of its k pairs, with
// F = scale · ξ Sᵀ and G̃ = softmax(F) − Y over the n outputs of each pair: writes
// factor · G̃ over the products and factor_t · G̃ᵀ into gradient_t (k × n); returns
// Σ_p log softmax(F_p)[y_p] (summed in double). The exponentials are of F − max F.
template <typename T>
double cross_entropy_block(T* outputs, const int64_t* classes, T* gradient_t, int64_t n,
                           int64_t k, double scale, double factor, double factor_t) {
    const T alpha = T(scale), g_scale = T(factor), t_scale = T(factor_t);
    T* top = scratch<T>(2 * k);
    T* sums = top + k;
#pragma omp simd
    for (int64_t p = 0; p < k; p++) top[p] = alpha * outputs[p];
    for (int64_t c = 1; c < n; c++) {
        const T* row = outputs + c * k;
#pragma omp simd
        for (int64_t p = 0; p < k; p++) top[p] = std::max(top[p], alpha * row[p]);
    }
    double loss = 0.0;
    for (int64_t p = 0; p < k; p++) loss += double(alpha * outputs[classes[p] * k + p] - top[p]);
    std::fill(sums, sums + k, T(0));
    for (int64_t c = 0; c < n; c++) {
        T* row = outputs + c * k;
#pragma omp simd
        for (int64_t p = 0; p < k; p++) {
            const T e = exponential(alpha * row[p] - top[p]);
            row[p] = e;
            sums[p] += e;
        }
    }
    for (int64_t p = 0; p < k; p++) {
        loss -= std::log(double(sums[p]));
        sums[p] = T(1) / sums[p];
    }
    // G̃ and its transposed copy, in bands of 16 pairs whose rows of G̃ stay in cache
    for (int64_t band = 0; band < k; band += 16) {
        const int64_t end = std::min(k, band + 16);
        for (int64_t c = 0; c < n; c++) {
            T* row = outputs + c * k;
            for (int64_t p = band; p < end; p++) {
                const T g = row[p] * sums[p] - (classes[p] == c ? T(1) : T(0));
                gradient_t[p * n + c] = t_scale * g;
                row[p] = g_scale * g;
            }
        }
    }
    return loss;
}

// The pairs among k whose class y_p is the first maximum of their class scores
// scale · scores[c, p] (scores n × k, one column a pair; with an encoding the caller forms
// X F). The first maximum is the one argmax takes: a tie with an earlier class counts as
// wrong. A NaN score never wins. The rows are read in order: a score replaces the best one
// only when larger (or when none is yet, NaN aside).
template <typename T>
int64_t first_argmax_hits(const T* scores, const int64_t* classes, int64_t n, int64_t k,
                          double scale) {
    const T alpha = T(scale);
    T* best = scratch<T>(k);
    int64_t* index = scratch<int64_t>(k);
    std::fill(best, best + k, T(-INFINITY));
    std::fill(index, index + k, int64_t(-1));
    for (int64_t c = 0; c < n; c++) {
        const T* row = scores + c * k;
        for (int64_t p = 0; p < k; p++) {
            const T score = alpha * row[p];
            const bool better = score > best[p] || (index[p] < 0 && score == score);
            best[p] = better ? score : best[p];
            index[p] = better ? c : index[p];
        }
    }
    int64_t hits = 0;
    for (int64_t p = 0; p < k; p++) hits += index[p] == classes[p];
    return hits;
}

template <typename T>
double squared_error_block(T* outputs, const T* targets, T* gradient_t, int64_t n, int64_t k,
                           double scale, double factor, double factor_t) {
    const T alpha = T(scale), f = T(factor), f_t = T(factor_t);
    double loss = 0.0;
    for (int64_t c = 0; c < n; c++)
        for (int64_t p = 0; p < k; p++) {
            T r = alpha * outputs[c * k + p] - targets[c * k + p];
            outputs[c * k + p] = f * r;
            gradient_t[p * n + c] = f_t * r;
            loss += double(r * r);
        }
    return loss;
}

struct AdamSettings {
    double learning_rate, beta1, beta2, eps;
    int64_t step;
};

template <typename T>
struct AdamFactors {
    T size, guard, b1, b2, rest1, rest2;
    explicit AdamFactors(const AdamSettings& s) {
        const double root_c2 = std::sqrt(1.0 - std::pow(s.beta2, double(s.step)));
        size = T(s.learning_rate * root_c2 / (1.0 - std::pow(s.beta1, double(s.step))));
        guard = T(s.eps * root_c2);
        b1 = T(s.beta1);
        b2 = T(s.beta2);
        rest1 = T(1.0 - s.beta1);
        rest2 = T(1.0 - s.beta2);
    }
    inline T update(T g, T& m, T& v) const {
        T moment = b1 * m + rest1 * g;
        T square = b2 * v + rest2 * g * g;
        m = moment;
        v = square;
        return size * moment / (std::sqrt(square) + guard);
    }
};

template <typename T>
void adam_step(T* param, const T* grad, T* first, T* second, int64_t count,
               const AdamSettings& settings, double weight_decay, bool decoupled, int threads) {
    const AdamFactors<T> factors(settings);
    const T shrink = T(decoupled ? 1.0 - settings.learning_rate * weight_decay : 1.0);
    const T decay = T(decoupled ? 0.0 : weight_decay);
#pragma omp parallel for simd schedule(static) num_threads(threads)
    for (int64_t index = 0; index < count; index++) {
        T g = grad[index] + decay * param[index];
        T theta = param[index] * shrink;
        param[index] = theta - factors.update(g, first[index], second[index]);
    }
}

// columns [from, to) of one layer (n × width, unit columns ν along n)
template <typename T>
void sphere_adam_columns(T* theta, const T* g, T* m, T* v, int64_t n, int64_t width,
                         int64_t from, int64_t to, const AdamFactors<T>& factors, T* dots) {
    const int64_t count = to - from;
    std::fill(dots, dots + count, T(0));
    for (int64_t i = 0; i < n; i++) {
        const int64_t row = i * width + from;
#pragma omp simd
        for (int64_t c = 0; c < count; c++) dots[c] += g[row + c] * theta[row + c];
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t row = i * width + from;
#pragma omp simd
        for (int64_t c = 0; c < count; c++) {
            T tangent = g[row + c] - dots[c] * theta[row + c];
            theta[row + c] -= factors.update(tangent, m[row + c], v[row + c]);
        }
    }
    std::fill(dots, dots + count, T(0));
    for (int64_t i = 0; i < n; i++) {
        const int64_t row = i * width + from;
#pragma omp simd
        for (int64_t c = 0; c < count; c++) dots[c] += theta[row + c] * theta[row + c];
    }
    for (int64_t c = 0; c < count; c++) dots[c] = T(1) / std::sqrt(dots[c]);
    for (int64_t i = 0; i < n; i++) {
        const int64_t row = i * width + from;
#pragma omp simd
        for (int64_t c = 0; c < count; c++) theta[row + c] *= dots[c];
    }
}

template <typename T>
void sphere_adam_step(T* param, const T* grad, T* first, T* second, int64_t layers,
                      int64_t n, int64_t width, const AdamSettings& settings, int threads) {
    const AdamFactors<T> factors(settings);
    // each layer's columns in `threads` parts (whole vectors of 16): a column's values do
    // not depend on which part it is in
    const int64_t vectors = (width + 15) / 16;
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, vectors));
#pragma omp parallel num_threads(threads)
    {
        std::vector<T> dots;
#pragma omp for schedule(static)
        for (int64_t task = 0; task < layers * parts; task++) {
            const int64_t layer = task / parts, part = task % parts;
            const int64_t from = std::min(width, vectors * part / parts * 16);
            const int64_t to = std::min(width, vectors * (part + 1) / parts * 16);
            if (int64_t(dots.size()) < to - from) dots.resize(to - from);
            const int64_t offset = layer * n * width;
            sphere_adam_columns(param + offset, grad + offset, first + offset,
                                second + offset, n, width, from, to, factors, dots.data());
        }
    }
}

template <typename T>
void scaled_copies(const T* source, int64_t rows, int64_t columns, double factor,
                   double factor_t, T* out, T* out_t) {
    const T scale = T(factor), scale_t = T(factor_t);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < columns; j++) {
            const T value = source[i * columns + j];
            out[i * columns + j] = scale * value;
            out_t[j * rows + i] = scale_t * value;
        }
}

#define BY_ACTIVATION(CALL)                  \
    switch (code) {                          \
        case SQUARE: return CALL(SQUARE);    \
        case RELU: return CALL(RELU);        \
        case ABS: return CALL(ABS);          \
        case IDENTITY: return CALL(IDENTITY); \
        case TANH: return CALL(TANH);        \
        default: return CALL(GELU);          \
    }

template <typename T>
void forward_block(const T* xi, const T* a, const T* bt, int64_t n, int64_t n_pad,
                   int64_t width, int64_t start, int64_t rows, int code, T* out, int threads) {
#define FORWARD(CODE) forward_of<T, CODE>(xi, a, bt, n, n_pad, width, start, rows, out, threads)
    BY_ACTIVATION(FORWARD)
#undef FORWARD
}

template <typename T>
void readout_block(const T* g, const T* a, const T* b, int64_t n, int64_t width, int64_t start,
                   int64_t rows, int code, T* out, bool accumulate, int threads) {
#define READOUT(CODE) \
    readout_of<T, CODE>(g, a, b, n, width, start, rows, out, accumulate, threads)
    BY_ACTIVATION(READOUT)
#undef READOUT
}

template <typename T>
void hidden_gradient_sums(const T* g_t, const T* xi, const T* a, const T* b, int64_t n,
                          int64_t width, int64_t start, int64_t rows, int code, T* out_first,
                          T* out_second, bool accumulate, int threads) {
#define SUMS(CODE)                                                                     \
    hidden_gradient_sums_of<T, CODE>(g_t, xi, a, b, n, width, start, rows, out_first, \
                                     out_second, accumulate, threads)
    BY_ACTIVATION(SUMS)
#undef SUMS
}

#undef BY_ACTIVATION

}  // namespace

#define ENTRY_POINTS(T, SUFFIX)                                                              \
    extern "C" void transpose_padded_##SUFFIX(const T* b, int64_t n, int64_t width,          \
                                              int64_t n_pad, T* bt) {                         \
        transpose_padded<T>(b, n, width, n_pad, bt);                                          \
    }                                                                                         \
    extern "C" int64_t forward_lanes_##SUFFIX() { return ForwardVec<T>::lanes; }              \
    extern "C" void forward_block_##SUFFIX(const T* xi, const T* a, const T* bt, int64_t n,  \
                                           int64_t n_pad, int64_t width, int64_t start,       \
                                           int64_t rows, int code, T* out, int threads) {     \
        forward_block<T>(xi, a, bt, n, n_pad, width, start, rows, code, out, threads);       \
    }                                                                                         \
    extern "C" void readout_block_##SUFFIX(const T* g, const T* a, const T* b, int64_t n,    \
                                           int64_t width, int64_t start, int64_t rows,        \
                                           int code, T* out, int accumulate, int threads) {   \
        readout_block<T>(g, a, b, n, width, start, rows, code, out, accumulate != 0, threads); \
    }                                                                                         \
    extern "C" void hidden_gradient_sums_##SUFFIX(                                            \
        const T* g_t, const T* xi, const T* a, const T* b, int64_t n, int64_t width,          \
        int64_t start, int64_t rows, int code, T* out_first, T* out_second, int accumulate,   \
        int threads) {                                                                        \
        hidden_gradient_sums<T>(g_t, xi, a, b, n, width, start, rows, code, out_first,       \
                                out_second, accumulate != 0, threads);                       \
    }                                                                                         \
    extern "C" double cross_entropy_block_##SUFFIX(T* outputs, const int64_t* classes,       \
                                                   T* gradient_t, int64_t n, int64_t k,       \
                                                   double scale, double factor,               \
                                                   double factor_t) {                         \
        return cross_entropy_block<T>(outputs, classes, gradient_t, n, k, scale, factor,     \
                                      factor_t);                                              \
    }                                                                                         \
    extern "C" void exponentials_##SUFFIX(const T* values, int64_t count, T* out) {           \
        exponentials<T>(values, count, out);                                                  \
    }                                                                                         \
    extern "C" double squared_error_block_##SUFFIX(T* outputs, const T* targets,             \
                                                   T* gradient_t, int64_t n, int64_t k,       \
                                                   double scale, double factor,               \
                                                   double factor_t) {                         \
        return squared_error_block<T>(outputs, targets, gradient_t, n, k, scale, factor,     \
                                      factor_t);                                              \
    }                                                                                         \
    extern "C" int64_t first_argmax_hits_##SUFFIX(const T* scores, const int64_t* classes,   \
                                                  int64_t n, int64_t k, double scale) {       \
        return first_argmax_hits<T>(scores, classes, n, k, scale);                            \
    }                                                                                         \
    extern "C" void adam_step_##SUFFIX(T* param, const T* grad, T* first, T* second,         \
                                       int64_t count, double learning_rate, double beta1,     \
                                       double beta2, double eps, int64_t step,                \
                                       double weight_decay, int decoupled, int threads) {     \
        adam_step<T>(param, grad, first, second, count,                                       \
                     AdamSettings{learning_rate, beta1, beta2, eps, step}, weight_decay,      \
                     decoupled != 0, threads);                                                \
    }                                                                                         \
    extern "C" void sphere_adam_step_##SUFFIX(T* param, const T* grad, T* first, T* second,  \
                                              int64_t layers, int64_t n, int64_t width,       \
                                              double learning_rate, double beta1,             \
                                              double beta2, double eps, int64_t step,         \
                                              int threads) {                                  \
        sphere_adam_step<T>(param, grad, first, second, layers, n, width,                    \
                            AdamSettings{learning_rate, beta1, beta2, eps, step}, threads);   \
    }                                                                                         \
    extern "C" void scaled_copies_##SUFFIX(const T* source, int64_t rows, int64_t columns,   \
                                           double factor, double factor_t, T* out, T* out_t) { \
        scaled_copies<T>(source, rows, columns, factor, factor_t, out, out_t);                \
    }

ENTRY_POINTS(float, f32)
ENTRY_POINTS(double, f64)
