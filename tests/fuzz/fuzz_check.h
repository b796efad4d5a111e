// FUZZ_CHECK(cond, detail): an invariant of a fuzz target. When it does not
// hold, prints the condition and `detail` (anything streamable) and aborts,
// so libFuzzer saves the input as a crash reproducer.
#pragma once

#include <cstdlib>
#include <iostream>

#define FUZZ_CHECK(cond, detail)                                                     \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": invariant failed: " #cond "\n"; \
      std::cerr << "  " << detail << "\n";                                           \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
