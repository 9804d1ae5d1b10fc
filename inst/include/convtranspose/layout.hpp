// Memory layouts.
//
// R stores an array with dim c(N, C, d1, d2, d3) column-major: the batch index
// varies fastest. Within one sample that is already channels-last (channel
// fastest, then d1, d2, d3), the layout in which a transposed convolution is a
// plain GEMM over a (channels x pixels) matrix. The kernels therefore work on
// "sample-major" arrays (index c + C * (pixel + P * n)); going between the two
// is a single 2-D transpose of an (N x C*P) matrix, and nothing at all when
// N == 1.
#ifndef CONVTRANSPOSE_LAYOUT_HPP
#define CONVTRANSPOSE_LAYOUT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "parallel.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace convtranspose {

// dst (cols x rows, column-major, leading dimension dst_ld) = transpose of
// src (rows x cols, column-major, leading dimension src_ld), converting the
// scalar type on the way. Blocked for cache use and parallel over column
// blocks. With leading dimensions larger than the sizes, it moves a block of
// rows: a chunk of samples out of, or into, an R array.
template <class Src, class Dst>
void transpose_convert(const Src* src, Dst* dst, std::int64_t rows, std::int64_t cols,
                       int num_threads, std::int64_t src_ld = 0, std::int64_t dst_ld = 0) {
  constexpr std::int64_t kBlock = 64;
  if (src_ld == 0) src_ld = rows;
  if (dst_ld == 0) dst_ld = cols;
  // Blocks over both dimensions: one of them is often a handful of samples,
  // so splitting only that one would leave a single block for the team.
  const std::int64_t row_blocks = (rows + kBlock - 1) / kBlock;
  const std::int64_t col_blocks = (cols + kBlock - 1) / kBlock;
  (void)num_threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(num_threads) \
    schedule(static) if (rows * cols > (std::int64_t(1) << 16))
#endif
  for (std::int64_t block = 0; block < row_blocks * col_blocks; ++block) {
    const std::int64_t i0 = (block % row_blocks) * kBlock, i1 = std::min(rows, i0 + kBlock);
    const std::int64_t j0 = (block / row_blocks) * kBlock, j1 = std::min(cols, j0 + kBlock);
    for (std::int64_t j = j0; j < j1; ++j)
      for (std::int64_t i = i0; i < i1; ++i)
        dst[j + dst_ld * i] = static_cast<Dst>(src[i + src_ld * j]);
  }
}

// A large buffer is fresh memory: each 4 KB page costs a fault on first
// write, which on virtual machines can take as long as computing the layer.
// Transparent huge pages, where the system offers them on request, cut the
// faults 512-fold. Only advice about this buffer's own whole 2 MB pages
// (the callers' results and copies), nothing process-wide.
constexpr std::size_t kHugePage = std::size_t(2) << 20;
// The vector kernels' loads of 64 bytes span two cache lines unless their
// data start on this boundary.
constexpr std::size_t kCacheLine = 64;

// The first address from `address` on that is a multiple of `alignment` (a
// power of two).
inline std::uintptr_t align_up(std::uintptr_t address, std::size_t alignment) {
  return (address + alignment - 1) & ~std::uintptr_t(alignment - 1);
}

inline void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || bytes < kHugePage) return;
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = align_up(start, kHugePage);
  const std::uintptr_t end = (start + bytes) & ~std::uintptr_t(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// Writes one byte of each 4 KB page of a buffer of at least
// kAlwaysFreshBytes, on the calling thread, before the parallel kernels
// write it. glibc maps allocations that large afresh every time (its
// largest mmap threshold), so each call faults all of a large result in;
// on this package's test machine (a virtual machine), faults taken by two
// threads at once cost far more than the same faults taken by one thread
// (a parallel touch giving each thread its own 2 MB stretches was no
// better): whole-call medians with results kept, one thread touching
// first against the kernels' own first touch:
// hifigan_up3 forward 18-26 vs 24-42 ms, unet_up4 forward 11-16 vs 16-24.
// Below that size malloc mostly reuses memory already in place, and the
// pass was measured as no better (dcgan_g4 forward's 8 MB result).
constexpr std::size_t kAlwaysFreshBytes = std::size_t(32) << 20;
constexpr std::size_t kPage = 4096;
inline void touch_fresh_pages(void* data, std::size_t bytes) {
  if (data == nullptr || bytes < kAlwaysFreshBytes) return;
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(data), end = start + bytes;
  for (std::uintptr_t page = start; page < end; page = align_up(page + 1, kPage))
    *reinterpret_cast<volatile char*>(page) = 0;
}

// Uninitialised working memory for n values of T (a packed weight, a layout
// copy), on a cache-line boundary. From 2 MB up it starts on a 2 MB boundary
// and is advised as huge pages before its first touch, so that all of it
// can be served by huge pages (the alignment costs address space only,
// never touched).
template <class T>
class WorkBuffer {
 public:
  WorkBuffer() = default;
  explicit WorkBuffer(std::size_t n) { reset(n); }
  // Discards the contents; throws std::bad_alloc.
  void reset(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    const std::size_t alignment = bytes >= kHugePage ? kHugePage : kCacheLine;
    raw_.reset(new char[bytes + alignment]);
    data_ = reinterpret_cast<T*>(align_up(reinterpret_cast<std::uintptr_t>(raw_.get()), alignment));
    advise_huge_pages(data_, bytes);
  }
  T* data() const { return data_; }

 private:
  std::unique_ptr<char[]> raw_;
  T* data_ = nullptr;
};

// A std::vector allocator for cache-line aligned storage (the packed
// operands, which the micro-kernels load a vector at a time). Plain operator
// new with room to align, the block's own address kept just before the
// aligned one: glibc served posix_memalign (_mm_malloc) from its arenas and
// kept the per-round scratch resident, up to 4.7 MB against 1.2 MB
// (bench/memory.R, dcgan_g4 x 256), where operator new maps and unmaps it.
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    if (n > (static_cast<std::size_t>(-1) - kCacheLine) / sizeof(T)) throw std::bad_alloc();
    // (operator new's blocks are 16-byte aligned, so at least 16 bytes lie
    // before the aligned address: room for the block's own)
    char* block = static_cast<char*>(::operator new(n * sizeof(T) + kCacheLine));
    char* aligned =
        reinterpret_cast<char*>(align_up(reinterpret_cast<std::uintptr_t>(block) + 1, kCacheLine));
    reinterpret_cast<char**>(aligned)[-1] = block;
    return reinterpret_cast<T*>(aligned);
  }
  void deallocate(T* p, std::size_t) {
    if (p != nullptr) ::operator delete(reinterpret_cast<char**>(p)[-1]);
  }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const {
    return false;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

// A sample-major array of `pixels` vectors of `channels` values set to the
// bias (or zeros): the starting point of kernels that add into it.
template <class T>
void fill_with_bias(T* data, std::int64_t pixels, std::int64_t channels, const T* bias,
                    int num_threads) {
  (void)num_threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(num_threads) \
    schedule(static) if (pixels * channels > (std::int64_t(1) << 16))
#endif
  for (std::int64_t p = 0; p < pixels; ++p) {
    T* dst = data + p * channels;
    for (std::int64_t c = 0; c < channels; ++c) dst[c] = bias != nullptr ? bias[c] : T(0);
  }
}

// Element-wise conversion (for a weight or bias in another scalar type).
template <class Src, class Dst>
void convert(const Src* src, Dst* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
}

// Per-channel sums of an R-layout array (batch fastest, then channel, then
// pixels): the gradient of a bias. out has `channels` values. Each
// (sample, channel) is summed over the pixels element by element (vector
// adds, on the team: a 32 MB gradient took 1.2-1.7 ms on one thread summing
// each channel's samples a value at a time), then the samples of each
// channel in order. The order of the additions never depends on the number
// of threads: short pixels are summed in blocks of about 2^16 values, each
// into its own partial sum (together about a sixteenth of the array at
// most), added up in block order; long pixels are split by value.
template <class T>
void channel_sums(const T* data, std::int64_t batch, std::int64_t channels, std::int64_t pixels,
                  T* out, int num_threads) {
  std::fill(out, out + channels, T(0));
  const std::int64_t per_pixel = batch * channels;
  if (per_pixel == 0 || pixels == 0) return;
  constexpr std::int64_t kBlockValues = std::int64_t(1) << 16;
  const bool by_pixels = per_pixel <= kBlockValues / 16;
  const std::int64_t block = by_pixels ? kBlockValues / per_pixel : pixels;
  const std::int64_t blocks = (pixels + block - 1) / block;
  // by values: pieces of at least 2^10 values
  const std::int64_t piece = by_pixels ? per_pixel : std::int64_t(1) << 10;
  const std::int64_t pieces = (per_pixel + piece - 1) / piece;
  std::vector<T> sums(static_cast<std::size_t>(blocks * per_pixel), T(0));
  (void)num_threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(num_threads) \
    schedule(static) if (blocks * pieces > 1 && pixels * per_pixel > kBlockValues)
#endif
  for (std::int64_t item = 0; item < blocks * pieces; ++item) {
    const std::int64_t b = item / pieces, i0 = (item % pieces) * piece;
    const std::int64_t width = std::min(piece, per_pixel - i0);
    T* sum = sums.data() + b * per_pixel + i0;
    const std::int64_t p1 = std::min(pixels, (b + 1) * block);
    for (std::int64_t p = b * block; p < p1; ++p) {
      const T* values = data + p * per_pixel + i0;
      CONVTRANSPOSE_SIMD
      for (std::int64_t i = 0; i < width; ++i) sum[i] += values[i];
    }
  }
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t n = 0; n < batch; ++n)
        out[c] += sums[static_cast<std::size_t>(b * per_pixel + c * batch + n)];
}

}  // namespace convtranspose

#endif
