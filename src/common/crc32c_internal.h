// The two CRC32C implementations behind Crc32cExtend (digest.h), exposed so
// tests can check them against each other. Not for use outside src/common.
#pragma once

#include <cstdint>
#include <span>

namespace feilong::crc32c_internal {

// Table-driven (slicing-by-8) implementation; runs on any CPU.
uint32_t ExtendPortable(uint32_t crc, std::span<const uint8_t> data);

// True when the CPU has the SSE4.2 crc32 instruction.
bool HardwareAvailable();

// SSE4.2 implementation. REQUIRES: HardwareAvailable().
uint32_t ExtendHardware(uint32_t crc, std::span<const uint8_t> data);

}  // namespace feilong::crc32c_internal
