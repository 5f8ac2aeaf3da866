/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
 * crc32c(0, "123456789", 9) == 0xE3069283, the standard check value. */
#ifndef DL_DISK_CRC32C_H
#define DL_DISK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over more bytes: start with crc = 0. */
uint32_t dl__crc32c(uint32_t crc, const void *data, size_t len);

#endif
