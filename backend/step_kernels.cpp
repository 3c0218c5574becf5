// The elementwise work of a training step on the CPU, as called by backend/kernels.py.
//
// The formulas are in that module's docstring. Every kernel is compiled for float and
// double (the `_f32` and `_f64` entry points). The large ones run on OpenMP threads:
// the library is loaded into a process that has already loaded PyTorch's own OpenMP
// runtime, so their parallel regions use PyTorch's thread pool, whose threads are still
// spinning after the step's matrix products and start at once.
//
// Every result is the same bits for every thread count: work is split only where each
// output value is computed by one thread, by the same expression and in the same order
// whatever the split (pair_gradient_sums takes its two sums in one pass on one thread and
// in two on several, each in the same order). The library is compiled without
// floating-point contraction or reassociation, so that an expression gives the same bits
// in every loop that contains it.

#include <algorithm>
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

template <typename T, int code>
void activate_rows(const T* a, const T* b, int64_t n, int64_t width, int64_t start,
                   int64_t rows, T* out, int threads) {
    const int64_t pairs = rows * n;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t p = 0; p < pairs; p++) {
        const T* first = a + (start + p / n) * width;
        const T* second = b + (p % n) * width;
        T* row = out + p * width;
#pragma omp simd
        for (int64_t m = 0; m < width; m++) row[m] = activation<T, code>(first[m] + second[m]);
    }
}

// e = d[(i, j), m] σ'(a[start + i, m] + b[j, m]), the same expression (and bits) in
// every loop that forms it
template <typename T, int code>
inline T pair_gradient(const T* d, const T* a, const T* b, int64_t n, int64_t width,
                       int64_t start, int64_t i, int64_t j, int64_t m) {
    return d[(i * n + j) * width + m] * derivative<T, code>(a[(start + i) * width + m] +
                                                            b[j * width + m]);
}

// one thread: both sums in one pass over the block
template <typename T, int code>
void sum_rows_in_one_pass(const T* d, const T* a, const T* b, int64_t n, int64_t width,
                          int64_t start, int64_t rows, T* out_first, T* out_second) {
    for (int64_t i = 0; i < rows; i++) {
        T* first = out_first + i * width;
        std::memset(first, 0, sizeof(T) * width);
        for (int64_t j = 0; j < n; j++) {
            T* second = out_second + j * width;
#pragma omp simd
            for (int64_t m = 0; m < width; m++) {
                T e = pair_gradient<T, code>(d, a, b, n, width, start, i, j, m);
                first[m] += e;
                second[m] += e;
            }
        }
    }
}

// several threads: the rows i of ∂A split among them, then the rows j of ∂B; each sum
// is taken in the same order as in the one pass (over j, over i), so the bits agree
template <typename T, int code>
void sum_rows_in_parallel(const T* d, const T* a, const T* b, int64_t n, int64_t width,
                          int64_t start, int64_t rows, T* out_first, T* out_second,
                          int threads) {
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < rows; i++) {
            T* first = out_first + i * width;
            std::memset(first, 0, sizeof(T) * width);
            for (int64_t j = 0; j < n; j++) {
#pragma omp simd
                for (int64_t m = 0; m < width; m++)
                    first[m] += pair_gradient<T, code>(d, a, b, n, width, start, i, j, m);
            }
        }
#pragma omp for schedule(static)
        for (int64_t j = 0; j < n; j++) {
            T* second = out_second + j * width;
            for (int64_t i = 0; i < rows; i++) {
#pragma omp simd
                for (int64_t m = 0; m < width; m++)
                    second[m] += pair_gradient<T, code>(d, a, b, n, width, start, i, j, m);
            }
        }
    }
}

template <typename T>
std::vector<T>& scratch() {
    thread_local std::vector<T> buffer;
    return buffer;
}

template <typename T, int code>
void sum_rows(const T* d, const T* a, const T* b, int64_t n, int64_t width, int64_t start,
              int64_t rows, T* out_first, T* out_second, bool accumulate, int threads) {
    if (!accumulate) std::memset(out_second, 0, sizeof(T) * n * width);
    if (threads > 1)
        sum_rows_in_parallel<T, code>(d, a, b, n, width, start, rows, out_first, out_second,
                                      threads);
    else
        sum_rows_in_one_pass<T, code>(d, a, b, n, width, start, rows, out_first, out_second);
}

template <typename T>
double shift_by_maximum(T* outputs, const int64_t* classes, int64_t n, int64_t k,
                        double scale) {
    const T alpha = T(scale);
    std::vector<T>& top = scratch<T>();
    if (int64_t(top.size()) < k) top.resize(k);
    for (int64_t p = 0; p < k; p++) top[p] = alpha * outputs[p];
    for (int64_t c = 1; c < n; c++)
        for (int64_t p = 0; p < k; p++) top[p] = std::max(top[p], alpha * outputs[c * k + p]);
    double loss = 0.0;
    for (int64_t p = 0; p < k; p++) loss += double(alpha * outputs[classes[p] * k + p] - top[p]);
    for (int64_t c = 0; c < n; c++)
        for (int64_t p = 0; p < k; p++) outputs[c * k + p] = alpha * outputs[c * k + p] - top[p];
    return loss;
}

template <typename T>
double softmax_gradient(T* exponentials, const int64_t* classes, T* gradient_t, int64_t n,
                        int64_t k, double factor, double factor_t) {
    const T scale = T(factor), scale_t = T(factor_t);
    std::vector<T>& inverse = scratch<T>();
    if (int64_t(inverse.size()) < k) inverse.resize(k);
    for (int64_t p = 0; p < k; p++) inverse[p] = exponentials[p];
    for (int64_t c = 1; c < n; c++)
        for (int64_t p = 0; p < k; p++) inverse[p] += exponentials[c * k + p];
    double loss = 0.0;
    for (int64_t p = 0; p < k; p++) {
        loss -= std::log(double(inverse[p]));
        inverse[p] = T(1) / inverse[p];
    }
    for (int64_t c = 0; c < n; c++)
        for (int64_t p = 0; p < k; p++)
            exponentials[c * k + p] =
                exponentials[c * k + p] * inverse[p] - (classes[p] == c ? T(1) : T(0));
    // the transposed copy in bands of 16 pairs, whose rows of G̃ stay in cache
    for (int64_t band = 0; band < k; band += 16) {
        const int64_t end = std::min(k, band + 16);
        for (int64_t p = band; p < end; p++)
            for (int64_t c = 0; c < n; c++) gradient_t[p * n + c] = scale_t * exponentials[c * k + p];
    }
    for (int64_t index = 0; index < n * k; index++) exponentials[index] *= scale;
    return loss;
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

template <typename T>
void activate_pairs(const T* a, const T* b, int64_t n, int64_t width, int64_t start,
                    int64_t rows, int code, T* out, int threads) {
    switch (code) {  // one loop per activation, each vectorised for its own σ
        case SQUARE: return activate_rows<T, SQUARE>(a, b, n, width, start, rows, out, threads);
        case RELU: return activate_rows<T, RELU>(a, b, n, width, start, rows, out, threads);
        case ABS: return activate_rows<T, ABS>(a, b, n, width, start, rows, out, threads);
        case IDENTITY: return activate_rows<T, IDENTITY>(a, b, n, width, start, rows, out, threads);
        case TANH: return activate_rows<T, TANH>(a, b, n, width, start, rows, out, threads);
        default: return activate_rows<T, GELU>(a, b, n, width, start, rows, out, threads);
    }
}

template <typename T>
void pair_gradient_sums(const T* d, const T* a, const T* b, int64_t n, int64_t width,
                        int64_t start, int64_t rows, int code, T* out_first, T* out_second,
                        bool accumulate, int threads) {
#define SUM_ROWS(CODE) \
    sum_rows<T, CODE>(d, a, b, n, width, start, rows, out_first, out_second, accumulate, threads)
    switch (code) {
        case SQUARE: return SUM_ROWS(SQUARE);
        case RELU: return SUM_ROWS(RELU);
        case ABS: return SUM_ROWS(ABS);
        case IDENTITY: return SUM_ROWS(IDENTITY);
        case TANH: return SUM_ROWS(TANH);
        default: return SUM_ROWS(GELU);
    }
#undef SUM_ROWS
}

}  // namespace

#define ENTRY_POINTS(T, SUFFIX)                                                              \
    extern "C" void activate_pairs_##SUFFIX(const T* a, const T* b, int64_t n, int64_t width, \
                                            int64_t start, int64_t rows, int code, T* out,    \
                                            int threads) {                                    \
        activate_pairs<T>(a, b, n, width, start, rows, code, out, threads);                  \
    }                                                                                         \
    extern "C" void pair_gradient_sums_##SUFFIX(                                              \
        const T* d, const T* a, const T* b, int64_t n, int64_t width, int64_t start,          \
        int64_t rows, int code, T* out_first, T* out_second, int accumulate, int threads) {   \
        pair_gradient_sums<T>(d, a, b, n, width, start, rows, code, out_first, out_second,   \
                              accumulate != 0, threads);                                      \
    }                                                                                         \
    extern "C" double shift_by_maximum_##SUFFIX(T* outputs, const int64_t* classes,          \
                                                int64_t n, int64_t k, double scale) {         \
        return shift_by_maximum<T>(outputs, classes, n, k, scale);                            \
    }                                                                                         \
    extern "C" double softmax_gradient_##SUFFIX(T* exponentials, const int64_t* classes,     \
                                                T* gradient_t, int64_t n, int64_t k,          \
                                                double factor, double factor_t) {             \
        return softmax_gradient<T>(exponentials, classes, gradient_t, n, k, factor, factor_t); \
    }                                                                                         \
    extern "C" double squared_error_block_##SUFFIX(T* outputs, const T* targets,             \
                                                   T* gradient_t, int64_t n, int64_t k,       \
                                                   double scale, double factor,               \
                                                   double factor_t) {                         \
        return squared_error_block<T>(outputs, targets, gradient_t, n, k, scale, factor,     \
                                      factor_t);                                              \
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
