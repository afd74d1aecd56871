// Most shims are header-only (static inline); CRC-32C lives in crc32c.c.
#include "CCaskSupport.h"
