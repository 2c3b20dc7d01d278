# SPDX-License-Identifier: MIT
# WEFT_FUZZ: the libFuzzer targets (tests/fuzz/, and weft-imgproc's readers
# in tools/imgproc/), clang only. Included by the folders that build
# them; sets the cache entry WEFT_FUZZ_ENABLED: ON when WEFT_FUZZ is ON and
# the compiler links -fsanitize=fuzzer (else a warning, once).
include_guard(GLOBAL)
option(WEFT_FUZZ "Build the libFuzzer targets (tests/fuzz/, weft-imgproc's readers; clang)" OFF)
set(WEFT_FUZZ_ENABLED OFF CACHE INTERNAL "libFuzzer targets are built")
if(WEFT_FUZZ)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_c_source_compiles("
    #include <stddef.h>
    #include <stdint.h>
    int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
    WEFT_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang" AND WEFT_HAVE_LIBFUZZER)
    set(WEFT_FUZZ_ENABLED ON CACHE INTERNAL "libFuzzer targets are built")
  else()
    message(WARNING "WEFT_FUZZ=ON needs clang with -fsanitize=fuzzer: fuzzers not built")
  endif()
endif()
