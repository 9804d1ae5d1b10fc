// Loading the AVX2 and AVX-512 copies of the core (core/isa_entry.cpp) with
// dlopen, and choosing one per call. R compiles packages for the baseline
// ISA; each copy is a separate library whose symbols stay private, so its
// template code never mixes with the baseline copy's. POSIX-only: elsewhere
// (or with CONVTRANSPOSE_NO_POSIX) the built-in baseline copy runs.
#include "isa_loader.h"

#if (defined(__unix__) || defined(__APPLE__)) && !defined(CONVTRANSPOSE_NO_POSIX)
#define CONVTRANSPOSE_POSIX 1
#include <dlfcn.h>
#endif

#include <cstdlib>
#include <cstring>

#include "core/instantiate.hpp"
#include "core/isa_entry.h"
#include "core/run_operation.hpp"

namespace {

namespace ct = convtranspose;

typedef int (*IsaRun)(int, int, const ct::ConvGeometry*, const double*, const double*,
                      const double*, double*, const ct::ComputeOptions*, char*, int);
typedef int (*IsaLevel)();

struct IsaLibrary {
  const char* name;
  int level;  // what convtranspose_isa_level() must say
  void* handle;
  IsaRun run;
};

// Best first.
IsaLibrary libraries[] = {{"avx512", 512, nullptr, nullptr}, {"avx2", 2, nullptr, nullptr}};

#ifdef CONVTRANSPOSE_POSIX
bool cpu_has(const char* name) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (std::strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(name, "avx512") == 0)  // (libgcc also checks the OS saves zmm state)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           cpu_has("avx2");
#else
  (void)name;
#endif
  return false;
}
#endif

// The loaded library the next call uses, or null for the baseline copy.
const IsaLibrary* current_library() {
  const char* wanted = std::getenv("CONVTRANSPOSE_ISA");
  if (wanted != nullptr && std::strcmp(wanted, "baseline") == 0) return nullptr;
  // a value naming no build is no request: the best one
  bool allowed = true;
  for (const IsaLibrary& lib : libraries)
    if (wanted != nullptr && std::strcmp(wanted, lib.name) == 0) allowed = false;
  for (const IsaLibrary& lib : libraries) {
    if (!allowed && std::strcmp(wanted, lib.name) == 0) allowed = true;
    if (allowed && lib.run != nullptr) return &lib;
  }
  return nullptr;
}

}  // namespace

std::string load_isa_libraries(const std::string& libs_dir) {
#ifdef CONVTRANSPOSE_POSIX
  for (IsaLibrary& lib : libraries) {
    if (lib.handle != nullptr || !cpu_has(lib.name)) continue;
    const std::string path = libs_dir + "/convtranspose_" + lib.name + ".so";
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) continue;
    IsaRun run = reinterpret_cast<IsaRun>(dlsym(handle, CONVTRANSPOSE_ISA_ENTRY));
    // a copy the compiler built for the baseline (clang) is no faster: skip it
    IsaLevel level = reinterpret_cast<IsaLevel>(dlsym(handle, CONVTRANSPOSE_ISA_LEVEL));
    if (run == nullptr || level == nullptr || level() != lib.level) {
      dlclose(handle);
      continue;
    }
    lib.handle = handle;
    lib.run = run;
  }
#else
  (void)libs_dir;
#endif
  return current_isa();
}

void unload_isa_libraries() {
  for (IsaLibrary& lib : libraries) {
#ifdef CONVTRANSPOSE_POSIX
    if (lib.handle != nullptr) dlclose(lib.handle);
#endif
    lib.handle = nullptr;
    lib.run = nullptr;
  }
}

std::string current_isa() {
  const IsaLibrary* lib = current_library();
  return lib != nullptr ? lib->name : "baseline";
}

ct::Status run_on_current_isa(int operation, bool single_precision, const ct::ConvGeometry& g,
                              const double* first, const double* second, const double* bias,
                              double* out, const ct::ComputeOptions& options) {
  const IsaLibrary* lib = current_library();
  if (lib == nullptr)
    return ct::run_operation(operation, single_precision, g, first, second, bias, out, options);
  char message[512] = {0};
  const int code = lib->run(operation, single_precision ? 1 : 0, &g, first, second, bias, out,
                            &options, message, sizeof message);
  return code == 0 ? ct::Status::success()
                   : ct::Status::error(static_cast<ct::StatusCode>(code), message);
}
