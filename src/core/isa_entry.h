/* The C ABI between the glue and a per-ISA copy of the core (isa_entry.cpp).
 * Geometry and options are the core's own plain structs, compiled from the
 * same headers on both sides. Returns a convtranspose::StatusCode; on failure
 * the message is copied into `message`. */
#ifndef CONVTRANSPOSE_ISA_ENTRY_H
#define CONVTRANSPOSE_ISA_ENTRY_H

enum {
  CONVTRANSPOSE_COARSE_TO_FINE = 1,  /* a = coarse, b = weight, out = fine */
  CONVTRANSPOSE_FINE_TO_COARSE = 2,  /* a = fine, b = weight, out = coarse */
  CONVTRANSPOSE_WEIGHT_GRADIENT = 3  /* a = coarse, b = fine, out = grad_weight */
};

#define CONVTRANSPOSE_ISA_ENTRY "convtranspose_isa_run"
/* What a copy was compiled for: 2 (AVX2 + FMA), 512 (AVX-512) or 0 where
 * the compiler could not be told (clang has no `#pragma GCC target`). */
#define CONVTRANSPOSE_ISA_LEVEL "convtranspose_isa_level"

#endif
