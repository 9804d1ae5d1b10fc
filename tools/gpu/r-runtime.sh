#!/bin/sh
# Builds .gpu-deps/r-runtime.tar.xz: a relocatable R for the GPU machines,
# which have no R: Debian's R 4.2 (its binary, libR and base packages, no
# docs), the shared libraries they need (the reference BLAS/LAPACK, ICU,
# ...; not glibc or the C++ runtime, which the machine has; no LAPACK
# module), Rcpp,
# testthat with its dependencies, jsonlite, and this package from the
# current tree built with CUDA for sm_90 + PTX. cuDNN is not in it: the
# GPU machine's PyTorch wheel provides it through LD_LIBRARY_PATH.
# Unpacked anywhere, it runs as
#   <dir>/r-runtime/bin/R-run --vanilla -f script.R   (or -e 'expr')
# with LD_LIBRARY_PATH holding cuDNN's folder. Checked here under env -i
# (R_RUNTIME_CHECK=0 skips): the package's CPU tests pass in it.
# Usage: sh tools/gpu/r-runtime.sh
set -eu
cd "$(dirname "$0")/../.."
repo=$(pwd)
work=$(mktemp -d)
[ -n "${R_RUNTIME_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
root=$work/r-runtime
mkdir -p "$root/bin" "$root/lib" "$root/library" .gpu-deps

# 1. R: /usr/lib/R with its base packages only, etc/ copied (a symlink to
#    /etc/R on Debian), R's share files; no docs, help, tests or translations.
mkdir -p "$root/lib/R"
for d in bin lib modules library; do cp -a "/usr/lib/R/$d" "$root/lib/R/"; done
rm -rf "$root/lib/R/etc" && cp -rL /usr/lib/R/etc "$root/lib/R/etc"
mkdir -p "$root/share" && cp -rL /usr/share/R/share "$root/share/share"
base="base compiler datasets graphics grDevices grid methods parallel splines stats stats4 tools utils"
for p in "$root"/lib/R/library/*; do
  case " $base " in *" $(basename "$p") "*) ;; *) rm -rf "$p" ;; esac
done
# no display there, and no linear algebra in the tests: the modules that
# would pull in X11, cairo and LAPACK (with gfortran) stay behind (sockets,
# for PSOCK workers, keep internet.so)
rm -f "$root/lib/R/modules/R_X11.so" "$root/lib/R/modules/R_de.so" \
  "$root/lib/R/modules/lapack.so" "$root/lib/R/library/grDevices/libs/cairo.so"

# 2. The R packages, from this machine's library, and this package with CUDA.
pkgs=$(Rscript -e 'ip <- installed.packages(); d <- tools::package_dependencies(c("testthat", "Rcpp", "jsonlite"), db = ip, which = c("Depends", "Imports", "LinkingTo"), recursive = TRUE); cat(setdiff(unique(c("testthat", "Rcpp", "jsonlite", unlist(d))), rownames(ip)[ip[, "Priority"] %in% "base"]))')
for p in $pkgs; do
  cp -a "$(Rscript -e "cat(find.package('$p'))")" "$root/library/"
done
CUDA_ARCHS=90 R CMD INSTALL --no-multiarch --no-docs --library="$root/library" "$repo" \
  > "$work/install.log" 2>&1 || { tail -n 30 "$work/install.log"; exit 1; }
grep -q "building with CUDA" "$work/install.log" ||
  { echo "r-runtime: the package was built without CUDA:"; grep "convtranspose: building" "$work/install.log"; exit 1; }
for p in "$root"/library/* "$root"/lib/R/library/*; do
  rm -rf "$p/doc" "$p/html" "$p/help" "$p/demo" "$p/tests" "$p/examples" "$p/include"
done
find "$root" -name "*.so" -exec strip --strip-debug {} + 2>/dev/null || true

# 3. Shared libraries: what the binaries and packages need beyond glibc and
#    the C++ runtime; the reference BLAS and LAPACK for R's own.
# Not bundled: glibc and the C++ runtime; cuDNN and the driver (from the
# machine); OpenBLAS (the reference BLAS/LAPACK below replace it); and
# libraries that Ubuntu 24.04's base system has under the same SONAME
# (TLS, Kerberos, compression), which keeps the archive under 35 MiB.
skip='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcudnn|libcuda|libopenblas|libssl|libcrypto|libgnutls|libp11-kit|libkrb5|libk5crypto|libgssapi_krb5|libkrb5support|libcom_err|libkeyutils|libz|libzstd|liblzma|libbz2|libgmp|libnettle|libhogweed|libidn2|libtasn1|libffi)\.'
find "$root" -name "*.so*" -type f > "$work/objects"
echo "$root/lib/R/bin/exec/R" >> "$work/objects"
while read -r obj; do ldd "$obj" 2>/dev/null; done < "$work/objects" |
  awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u > "$work/needed"
while read -r name path; do
  echo "$name" | grep -Eq "$skip" && continue
  case "$name" in libblas.so.3|liblapack.so.3) continue ;; esac
  [ -f "$root/lib/$name" ] || cp -L "$path" "$root/lib/$name"
done < "$work/needed"
cp -L /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 "$root/lib/libblas.so.3"
cp -L /usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3 "$root/lib/liblapack.so.3"  # (stats.so)
for f in "$root"/lib/*.so*; do strip --strip-unneeded "$f" 2>/dev/null || true; done

# 4. The launcher: what R's shell front end sets, relative to the folder.
cat > "$root/bin/R-run" <<'LAUNCHER'
#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
R_HOME=$here/lib/R R_SHARE_DIR=$here/share/share R_INCLUDE_DIR=$here/lib/R/include
R_DOC_DIR=$here/lib/R/doc R_LIBS=$here/library R_LIBS_SITE=$here/library R_LIBS_USER=$here/library
LD_LIBRARY_PATH=$here/lib:$here/lib/R/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export R_HOME R_SHARE_DIR R_INCLUDE_DIR R_DOC_DIR R_LIBS R_LIBS_SITE R_LIBS_USER LD_LIBRARY_PATH
exec "$R_HOME/bin/exec/R" "$@"
LAUNCHER
chmod +x "$root/bin/R-run"

tar -C "$work" -cf - r-runtime | xz -9 -T2 > .gpu-deps/r-runtime.tar.xz
size=$(du -m .gpu-deps/r-runtime.tar.xz | cut -f1)
echo "r-runtime: .gpu-deps/r-runtime.tar.xz, ${size} MiB"
[ "$size" -lt 35 ] || { echo "r-runtime: over 35 MiB ($work)"; exit 1; }

# 5. The check: unpacked elsewhere, with an empty environment, the CPU tests.
if [ "${R_RUNTIME_CHECK:-1}" = 1 ]; then
  check=$work/check
  mkdir -p "$check" && tar -xJf .gpu-deps/r-runtime.tar.xz -C "$check"
  (cd "$repo/tests" && env -i HOME="$work" PATH=/usr/bin:/bin "$check/r-runtime/bin/R-run" \
     --vanilla --no-echo -e 'library(testthat); library(convtranspose)
       cat("runtime:", R.version.string, "; convtranspose", format(packageVersion("convtranspose")),
           "; kernels", cvt_kernel_isa(), "; CUDA built:", convtranspose:::cuda_info()$built, "\n")
       test_check("convtranspose")') > "$work/check.log" 2>&1 || true
  grep -E "^runtime:|\[ FAIL" "$work/check.log" | tail -n 2
  grep -q "\[ FAIL 0 " "$work/check.log" || { tail -n 40 "$work/check.log"; exit 1; }
fi
