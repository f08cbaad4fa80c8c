/* SPDX-License-Identifier: MIT */
/* CRC32C (Castagnoli).  Freestanding: usable in crest-restart without libc. */
#ifndef CREST_CRC32C_H
#define CREST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, buf, len) for a fresh one. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
