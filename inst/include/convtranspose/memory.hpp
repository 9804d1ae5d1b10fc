// Working memory of the kernels: aligned buffers, huge-page advice and the
// first touch of fresh pages.
#ifndef CONVTRANSPOSE_MEMORY_HPP
#define CONVTRANSPOSE_MEMORY_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace convtranspose {

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
// on virtual machines faults taken by two threads at once cost far more
// than the same faults taken by one. Below that size malloc mostly reuses
// memory already in place.
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
// aligned one: glibc serves posix_memalign from its arenas and keeps the
// per-round scratch resident, where operator new maps and unmaps it.
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

}  // namespace convtranspose

#endif
