# Set-up and checks for convtranspose. The README's two commands:
#   make demo    install what is missing, install the package, run the examples
#   make check   install what is missing, R CMD build + R CMD check the tarball
R       ?= R
RSCRIPT ?= Rscript
PKG     := convtranspose
VERSION := $(shell sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz

# R CMD check --as-cran, offline: no CRAN or time-server look-ups.
CHECK_ENV := _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_CRAN_INCOMING_=false \
	_R_CHECK_SYSTEM_CLOCK_=0 _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false \
	_R_CHECK_LIMIT_CORES_=TRUE OMP_THREAD_LIMIT=2

.PHONY: deps install demo check test fixtures document clean bench fuzz sanitize valgrind tsan gctorture reliability site portability

deps:
	@sh tools/install-deps.sh

install: deps
	$(R) CMD INSTALL --no-multiarch .

demo: install
	$(RSCRIPT) tools/demo.R

# Builds the tarball (vignettes included), checks it, and ends with the
# test totals on one line; fails on any ERROR or WARNING.
check: deps
	rm -rf check && mkdir -p check
	cd check && $(R) CMD build .. && \
		env $(CHECK_ENV) $(R) CMD check --as-cran --no-manual $(TARBALL); \
		status=$$?; sh ../tools/check-summary.sh $(PKG).Rcheck $$status

# The tests alone, on the installed package (quicker than check).
test: install
	cd tests && $(RSCRIPT) testthat.R

# Regenerates the PyTorch fixtures (needs Debian's python3-torch).
fixtures:
	@sh tools/install-deps.sh python3-torch
	/usr/bin/python3 tools/make-fixtures.py

# Regenerates RcppExports and the roxygen2 docs (NAMESPACE, man/).
document: deps
	$(RSCRIPT) -e 'Rcpp::compileAttributes(".")' \
		-e 'roxygen2::roxygenise(".", load_code = roxygen2::load_source)'

# The pkgdown site in site/, built offline (Debian's r-cran-pkgdown), then
# checked in headless Chromium: links, example errors, screenshots in
# site-check/ (tools/site-check.R).
site: install
	@sh tools/install-deps.sh r-cran-pkgdown chromium
	$(RSCRIPT) -e 'options(pkgdown.internet = FALSE)' \
		-e 'pkgdown::build_site(".", install = FALSE, new_process = FALSE, preview = FALSE)'
	$(RSCRIPT) tools/site-check.R site site-check

# The package built with clang++ and without OpenMP (as on macOS), its tests
# run on that build (tools/portability.sh).
portability: deps
	sh tools/portability.sh

clean:
	rm -rf check src/*.o src/*.so src/core/*.o src/core/*.so src/cuda/*.o src/Makevars

# Times the package beside its anchors on the benchmark suite, in one run
# (bench/run.sh): PyTorch CPU on OpenBLAS (Debian's python3-torch), oneDNN's
# deconvolution (Debian's libdnnl-dev, float32) and the machine's FMA peak;
# writes bench/results/ (report.md, compared with the previous run's summary).
BENCH_SUITE ?= $(firstword $(wildcard ../shared/bench-suite.tsv) bench/bench-suite.tsv)
bench: install
	@sh tools/install-deps.sh python3-torch libopenblas0-pthread libdnnl-dev g++
	@if [ -f ../shared/bench-suite.tsv ] && ! cmp -s ../shared/bench-suite.tsv bench/bench-suite.tsv; then \
		echo "note: bench/bench-suite.tsv differs from ../shared/bench-suite.tsv; copy it over"; fi
	mkdir -p bench/results
	if [ -f bench/results/summary.tsv ]; then \
		cp bench/results/summary.tsv bench/results/previous-summary.tsv; fi
	BENCH_THREADS=2 RSCRIPT="$(RSCRIPT)" sh bench/run.sh $(BENCH_SUITE) bench/results
	BENCH_THREADS=2 $(RSCRIPT) bench/report.R bench/results
	cp bench/results/speedup.png vignettes/speedup.png  # the vignette's chart

# Reliability (see tools/): the fuzzer (FUZZ_N cases), the test suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, valgrind's memcheck on
# every native code path (tools/valgrind.sh --full runs the whole suite),
# ThreadSanitizer and gctorture.
FUZZ_N    ?= 2000
FUZZ_SEED ?= 1
fuzz: install
	$(RSCRIPT) tools/fuzz.R --n $(FUZZ_N) --seed $(FUZZ_SEED)

sanitize: deps
	sh tools/sanitize.sh

valgrind: install
	@sh tools/install-deps.sh valgrind
	sh tools/valgrind.sh

# ThreadSanitizer on every CPU kernel path, forced, on 2 and 3 threads
# (tools/tsan/run.sh, after checking the setup on a planted race).
tsan: deps
	sh tools/tsan/run.sh

# The glue's entry points under gctorture(TRUE); GCTORTURE_ARGS=--short
# for the calls straight into native code only.
gctorture: install
	$(RSCRIPT) tools/gctorture.R $(GCTORTURE_ARGS)

reliability: fuzz sanitize valgrind tsan
	$(MAKE) gctorture GCTORTURE_ARGS=--short
